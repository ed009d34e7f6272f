"""What setup wants (pure): the buildspec, the project and the inline policy, and how a
current project differs from the wanted one."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...codebuild.commands import COMMAND_VARIABLES, project_variables
from ...core.config import Settings
from ..requirements import (
    DEFAULT_IMAGE,
    DEFAULT_TIMEOUT_MINUTES,
    DEFAULT_VARIABLES,
    ENVIRONMENT_TYPE,
    image_uri,
    log_group_name,
    role_arn,
    role_policy,
)
from .model import SetupState


def buildspec_path(settings: Settings) -> Path:
    from ...core.resources import buildspec_path as resolve

    return resolve(settings.buildspec)


def read_buildspec(settings: Settings) -> str:
    """The buildspec the project embeds: validated, with the secret and the DB probe filled in.

    The same text the local runner executes, so what the local tests prove is what CodeBuild
    gets; a missing or invalid file is one clear error naming the file and line.
    """
    from ...local.buildspec import project_buildspec

    return project_buildspec(buildspec_path(settings), settings.secret)


def _variables(s: Settings, existing: Mapping[str, Any] | None) -> list[dict[str, str]]:
    ours = {
        "DATABASE_URL": {"name": "DATABASE_URL", "type": "SECRETS_MANAGER", "value": s.secret},
        "IMAGE_URI": {"name": "IMAGE_URI", "type": "PLAINTEXT", "value": image_uri(s)},
        # the commands and the seed allow-list: invoke.yaml is their one source
        **{
            name: {"name": name, "type": "PLAINTEXT", "value": value}
            for name, value in project_variables(s).items()
        },
    }
    current = ((existing or {}).get("environment") or {}).get("environmentVariables") or []
    kept = {str(v["name"]): dict(v) for v in current if v["name"] not in COMMAND_VARIABLES}
    for name, value in DEFAULT_VARIABLES.items():  # keep the user's defaults if set
        ours[name] = kept.get(name) or {"name": name, "type": "PLAINTEXT", "value": value}
    merged = {**kept, **ours}
    return [
        {"name": v["name"], "type": v.get("type", "PLAINTEXT"), "value": v["value"]}
        for v in sorted(merged.values(), key=lambda v: str(v["name"]))
    ]


def build_image(s: Settings) -> str:
    return str(s.extra.get("build_image") or DEFAULT_IMAGE)


def image_pull_credentials(image: str) -> str:
    """CODEBUILD for CodeBuild's curated images, SERVICE_ROLE for any other.

    AWS (ProjectEnvironment.imagePullCredentialsType): "When you use a cross-account or private
    registry image, you must use SERVICE_ROLE credentials. When you use an CodeBuild curated
    image, you must use CODEBUILD credentials."
    """
    return "CODEBUILD" if image.startswith("aws/codebuild/") else "SERVICE_ROLE"


def desired_project(s: Settings, state: SetupState) -> dict[str, Any]:
    """The create/update_project request setup wants (timeout kept when already set)."""
    existing = state.project or {}
    return {
        "name": s.project,
        "description": "Database migrations and seeds (release suite)",
        "source": {"type": "NO_SOURCE", "buildspec": state.buildspec},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": ENVIRONMENT_TYPE,
            "image": build_image(s),
            "computeType": s.compute_type,
            "privilegedMode": True,
            "imagePullCredentialsType": image_pull_credentials(build_image(s)),
            "environmentVariables": _variables(s, state.project),
        },
        "serviceRole": str((state.role or {}).get("Arn") or role_arn(s)),
        "timeoutInMinutes": int(existing.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES),
        "vpcConfig": {
            "vpcId": state.vpc_id,
            "subnets": list(state.subnet_ids),
            "securityGroupIds": list(state.group_ids),
        },
        "logsConfig": {"cloudWatchLogs": {"status": "ENABLED", "groupName": log_group_name(s)}},
        "concurrentBuildLimit": 1,
        # a migration that failed half-way must not be re-run by CodeBuild on its own
        "autoRetryLimit": 0,
    }


def desired_policy(s: Settings, state: SetupState) -> dict[str, Any]:
    image = build_image(s)
    return role_policy(
        s,
        subnets=state.subnet_ids,
        groups=state.group_ids,
        secret_arn=state.secret_arn,
        kms_key_arn=state.kms_key_arn,
        build_image=image if image_pull_credentials(image) == "SERVICE_ROLE" else "",
    )


def canonical(value: Any) -> Any:
    """Policy JSON as IAM compares it: one-element lists equal their element, order-free."""
    if isinstance(value, Mapping):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        items = [canonical(v) for v in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _vars_view(variables: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    return {str(v["name"]): (str(v.get("type", "PLAINTEXT")), str(v["value"])) for v in variables}


def project_differences(current: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    """What update_project would change, as lines that never show a variable's value."""
    diffs: list[str] = []
    cur_env, want_env = current.get("environment") or {}, want["environment"]
    for key in ("type", "image", "computeType", "privilegedMode", "imagePullCredentialsType"):
        if cur_env.get(key) != want_env[key]:
            diffs.append(f"environment.{key}: {cur_env.get(key)} -> {want_env[key]}")
    have = _vars_view(cur_env.get("environmentVariables") or [])
    for name, (kind, value) in _vars_view(want_env["environmentVariables"]).items():
        if name not in have:
            diffs.append(f"variable {name}: add ({kind})")
        elif have[name] != (kind, value):
            old_kind = have[name][0]
            change = f"{old_kind} -> {kind}" if old_kind != kind else "new value"
            if kind != "PLAINTEXT" or name == "IMAGE_URI":
                change += f" ({value})"
            diffs.append(f"variable {name}: {change}")
    source = current.get("source") or {}
    if source.get("type") != "NO_SOURCE" or source.get("buildspec") != want["source"]["buildspec"]:
        diffs.append("buildspec: replaced with the suite's buildspec")
    if (current.get("artifacts") or {}).get("type") != "NO_ARTIFACTS":
        diffs.append("artifacts: -> NO_ARTIFACTS")
    if current.get("serviceRole") != want["serviceRole"]:
        diffs.append(f"serviceRole: {current.get('serviceRole')} -> {want['serviceRole']}")
    cur_vpc = current.get("vpcConfig") or {}
    want_vpc = want["vpcConfig"]
    if (
        cur_vpc.get("vpcId") != want_vpc["vpcId"]
        or sorted(cur_vpc.get("subnets") or []) != sorted(want_vpc["subnets"])
        or sorted(cur_vpc.get("securityGroupIds") or []) != sorted(want_vpc["securityGroupIds"])
    ):
        diffs.append(
            f"vpcConfig: -> {want_vpc['vpcId']} subnets {', '.join(want_vpc['subnets'])} "
            f"groups {', '.join(want_vpc['securityGroupIds'])}"
        )
    cur_logs = ((current.get("logsConfig") or {}).get("cloudWatchLogs")) or {}
    want_logs = want["logsConfig"]["cloudWatchLogs"]
    if cur_logs.get("status") != "ENABLED" or cur_logs.get("groupName") != want_logs["groupName"]:
        diffs.append(f"logsConfig: -> CloudWatch Logs group {want_logs['groupName']}")
    if current.get("concurrentBuildLimit") != 1:
        diffs.append(f"concurrentBuildLimit: {current.get('concurrentBuildLimit')} -> 1")
    if int(current.get("autoRetryLimit") or 0) != 0:
        diffs.append(f"autoRetryLimit: {current.get('autoRetryLimit')} -> 0")
    return diffs
