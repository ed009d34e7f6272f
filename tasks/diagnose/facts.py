"""A saved ``batch-get-builds`` response read into the one build model, and the report's view of it.

The diagnosis ranks a :class:`tasks.codebuild.model.Build`: the very snapshot the wait loop
followed, or one read here from a saved file (``invoke diagnose --build-json``). A saved file's
keys may be camelCase (boto3, aws cli) or PascalCase (some tools and issues); a build whose
status or current phase the file does not give keeps them as ``""`` (unknown). Pure module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..codebuild.model import Build, build_from_api

# A build nobody described: no id, status unknown (a diagnosis of a log alone)
UNKNOWN_BUILD = Build(id="", project="", status="", current_phase="")


def _camel(value: Any) -> Any:
    """Keys in camelCase at every level; a camelCase key wins over its PascalCase twin."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            camel = name[:1].lower() + name[1:]
            if camel not in out or name == camel:
                out[camel] = _camel(item)
        return out
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def build_from_json(raw: Mapping[str, Any]) -> Build:
    """A saved ``aws codebuild batch-get-builds`` response (or one build object of it), read by
    the CodeBuild client's own reader (``model.build_from_api``). What the file does not say
    stays unknown (``""``) rather than taking CodeBuild's defaults."""
    data = _camel(raw)
    builds = data.get("builds")
    if isinstance(builds, list):
        if not builds:
            return UNKNOWN_BUILD
        data = builds[0]
    arn = str(data.get("arn") or "")  # arn:aws:codebuild:REGION:ACCOUNT:build/ID
    region = arn.split(":")[3] if arn.count(":") >= 5 else ""
    return replace(
        build_from_api(data, region=region),
        project=str(data.get("projectName") or ""),
        status=str(data.get("buildStatus") or ""),
        current_phase=str(data.get("currentPhase") or ""),
    )


def build_dict(build: Build) -> dict[str, Any]:
    """The report's ``build`` object (a phase still running has the status ``""``)."""
    failed = build.failed_phase()
    return {
        "id": build.id,
        "project": build.project,
        "status": build.status,
        "current_phase": build.current_phase,
        "failed_phase": failed.name if failed else None,
        "phases": [
            {
                "name": p.name,
                "status": p.status or "",
                "contexts": [
                    {"status_code": c.status_code, "message": c.message} for c in p.contexts
                ],
            }
            for p in build.phases
        ],
    }


__all__ = ["UNKNOWN_BUILD", "build_dict", "build_from_json"]
