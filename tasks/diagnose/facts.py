"""A build's structured facts as the diagnosis ranks them: status, phases and their contexts.

Read from a ``tasks.codebuild.model.Build`` (``facts_from_build``: the model the wait loop
follows) or from a saved ``batch-get-builds`` JSON (``facts_from_json``). Pure module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..codebuild.model import failed_phases

SUCCEEDED = "SUCCEEDED"


@dataclass(frozen=True)
class PhaseFacts:
    name: str
    status: str  # "" while running
    contexts: tuple[tuple[str, str], ...] = ()  # (statusCode, message)


@dataclass(frozen=True)
class BuildFacts:
    id: str = ""
    project: str = ""
    status: str = ""
    current_phase: str = ""
    phases: tuple[PhaseFacts, ...] = ()

    def failed_phases(self) -> list[str]:
        return [p.name for p in failed_phases(self.phases)]

    def failed_phase(self) -> PhaseFacts | None:
        found = failed_phases(self.phases)
        return found[0] if found else None

    def as_dict(self) -> dict[str, Any]:
        failed = self.failed_phase()
        return {
            "id": self.id,
            "project": self.project,
            "status": self.status,
            "current_phase": self.current_phase,
            "failed_phase": failed.name if failed else None,
            "phases": [
                {
                    "name": p.name,
                    "status": p.status,
                    "contexts": [{"status_code": c, "message": m} for c, m in p.contexts],
                }
                for p in self.phases
            ],
        }


def _get(raw: Mapping[str, Any], *names: str) -> Any:
    """A key in camelCase (boto3, aws cli) or PascalCase (some tools and issues)."""
    for name in names:
        for key in (name, name[:1].upper() + name[1:]):
            if key in raw:
                return raw[key]
    return None


def facts_from_json(raw: Mapping[str, Any]) -> BuildFacts:
    """A saved ``aws codebuild batch-get-builds`` response (or one build object of it)."""
    builds = _get(raw, "builds")
    if isinstance(builds, list):
        if not builds:
            return BuildFacts()
        raw = builds[0]
    phases = []
    for item in _get(raw, "phases") or ():
        contexts = tuple(
            (str(_get(c, "statusCode") or ""), str(_get(c, "message") or ""))
            for c in _get(item, "contexts") or ()
        )
        phases.append(
            PhaseFacts(
                str(_get(item, "phaseType") or ""), str(_get(item, "phaseStatus") or ""), contexts
            )
        )
    return BuildFacts(
        id=str(_get(raw, "id") or ""),
        project=str(_get(raw, "projectName") or ""),
        status=str(_get(raw, "buildStatus") or ""),
        current_phase=str(_get(raw, "currentPhase") or ""),
        phases=tuple(phases),
    )


def facts_from_build(build: Any) -> BuildFacts:
    """From a ``tasks.codebuild.model.Build`` (duck-typed: id, project, status, current_phase, phases)."""
    return BuildFacts(
        id=str(build.id),
        project=str(getattr(build, "project", "")),
        status=str(build.status or ""),
        current_phase=str(getattr(build, "current_phase", "") or ""),
        phases=tuple(
            PhaseFacts(
                str(p.name),
                str(p.status or ""),
                tuple((str(c.status_code), str(c.message)) for c in p.contexts),
            )
            for p in build.phases
        ),
    )


__all__ = ["BuildFacts", "PhaseFacts", "facts_from_build", "facts_from_json"]
