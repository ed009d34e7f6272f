"""The executor: the only code that changes AWS, and only the changes the plan lists."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...core.aws import translate
from ...core.errors import AwsError, SuiteError
from ...core.retrying import POLICIES, error_code, is_iam_lag, retrying
from ...core.runtime import Runtime
from ..requirements import (
    role_name,
)
from .model import CREATE, UPDATE, Change, blocked_error, blockers

ROLE_KINDS = frozenset({"role", "trust_policy", "role_policy"})


def apply(rt: Runtime, changes: Sequence[Change]) -> list[Change]:
    """Carry out the plan's create/update changes in order; returns those applied."""
    if blockers(changes):
        raise blocked_error(blockers(changes), rt.settings.env)
    iam = rt.aws.client("iam")
    done: list[Change] = []
    for change in changes:
        if change.action not in (CREATE, UPDATE):
            continue
        req = dict(change.request)
        rt.console.step(f"{change.action} {change.kind} {change.name}")
        try:
            if change.kind == "role":
                iam.create_role(
                    RoleName=req["RoleName"],
                    Path=req["Path"],
                    AssumeRolePolicyDocument=json.dumps(req["AssumeRolePolicyDocument"]),
                    Description="CodeBuild service role for database migrations (release suite)",
                )
            elif change.kind == "trust_policy":
                iam.update_assume_role_policy(
                    RoleName=req["RoleName"], PolicyDocument=json.dumps(req["PolicyDocument"])
                )
            elif change.kind == "role_policy":
                iam.put_role_policy(
                    RoleName=req["RoleName"],
                    PolicyName=req["PolicyName"],
                    PolicyDocument=json.dumps(req["PolicyDocument"]),
                )
            elif change.kind == "log_group":
                rt.aws.client("logs").create_log_group(logGroupName=req["logGroupName"])
            elif change.kind == "project":
                role_changed = any(c.kind in ROLE_KINDS for c in done)
                _write_project(rt, change, req, wait_for_iam=role_changed)
        except SuiteError:
            raise
        except Exception as exc:
            raise translate(exc, f"{change.action} {change.kind} {change.name}") from None
        rt.console.ok(f"{change.action}d {change.kind} {change.name}")
        done.append(change)
    return done


def _write_project(
    rt: Runtime, change: Change, req: Mapping[str, Any], *, wait_for_iam: bool
) -> None:
    """create_project / update_project; after setup wrote the role or its policies, CodeBuild
    may not see them yet (IAM is eventually consistent): that one answer is retried."""
    cb = rt.aws.client("codebuild")
    call = cb.create_project if change.action == CREATE else cb.update_project
    s = rt.settings
    if not wait_for_iam:
        try:
            call(**req)
        except Exception as exc:
            if not is_iam_lag(exc):
                raise
            raise AwsError(
                f"{change.action} project {change.name}: CodeBuild cannot use role "
                f"{role_name(s)} to read the VPC (AWS: {_aws_message(exc)})",
                f"allow ec2:DescribeSecurityGroups in the role's policy (`invoke doctor --env "
                f"{s.env}` names what is missing); if it was changed in the last minute, rerun "
                "setup once IAM has caught up",
                details={"aws_code": error_code(exc)},
            ) from None
        return
    policy = POLICIES["iam_propagation"]
    try:
        for attempt in retrying("iam_propagation", on_retry=_iam_progress(rt), sleep=rt.sleep):
            with attempt:
                call(**req)
    except Exception as exc:
        if not is_iam_lag(exc):
            raise
        raise AwsError(
            f"{change.action} project {change.name}: CodeBuild still cannot use role "
            f"{role_name(s)} after {policy.attempts} tries in up to {policy.max_seconds:.0f}s "
            f"(AWS: {_aws_message(exc)})",
            f"IAM is slow to propagate the role's new policy: rerun `invoke setup --apply --env "
            f"{s.env}` in a minute; if it keeps failing, check that the role allows "
            "ec2:DescribeSecurityGroups (`invoke doctor`)",
            details={"aws_code": error_code(exc)},
        ) from None


def _iam_progress(rt: Runtime) -> Callable[[str], None]:
    def tell(line: str) -> None:
        rt.console.warn(f"{line} (waiting for IAM to propagate the role's policy)")

    return tell


def _aws_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return " ".join(str(response.get("Error", {}).get("Message", "")).split())
