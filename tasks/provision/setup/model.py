"""The plan's records: a :class:`Change`, the state read from AWS, and the blocked error."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...codebuild.commands import COMMAND_VARIABLES
from ...core.errors import ExitCode, SuiteError

CREATE, UPDATE, NONE, MISSING = "create", "update", "none", "missing"


# Prerequisites whose absence is reported but does not stop --apply (the project works
# without them at creation time; doctor fails until they exist).
ADVISORY = frozenset({"database", "repository"})


@dataclass(frozen=True)
class Change:
    kind: str  # role | trust_policy | role_policy | log_group | project | vpc | subnets ...
    name: str
    action: str  # create | update | none | missing
    details: tuple[str, ...] = ()
    request: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def blocking(self) -> bool:
        return self.action == MISSING and self.kind not in ADVISORY

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "details": list(self.details),
        }
        if self.request and self.action in (CREATE, UPDATE):
            out["request"] = _values_hidden(self.request)
        return out


# PLAINTEXT variables whose values the suite itself sets and may show (never secrets)
_SHOWN_VARIABLES = frozenset(
    {"IMAGE_URI", "RUN_MIGRATIONS", "RUN_SEED", "SEED_SCRIPT", *COMMAND_VARIABLES}
)


def _values_hidden(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request as --json shows it: the user's own PLAINTEXT variables (kept on update, and
    maybe a password doctor would flag) are masked; SECRETS_MANAGER values are only names."""
    out = dict(request)
    env = out.get("environment")
    if isinstance(env, Mapping) and env.get("environmentVariables"):
        out["environment"] = {
            **env,
            "environmentVariables": [
                {**v, "value": "***"}
                if v.get("type", "PLAINTEXT") == "PLAINTEXT"
                and v.get("name") not in _SHOWN_VARIABLES
                else dict(v)
                for v in env["environmentVariables"]
            ],
        }
    return out


@dataclass(frozen=True)
class SetupState:
    """What exists now (read by :func:`read_state`)."""

    role: Mapping[str, Any] | None = None  # get_role()["Role"]
    inline_policy: Mapping[str, Any] | None = None
    log_group_exists: bool = False
    project: Mapping[str, Any] | None = None
    vpc_id: str = ""  # the VPC the build goes into (configured or the subnets')
    vpc_exists: bool = False
    subnets: Mapping[str, str] = field(default_factory=dict)  # id -> its VPC
    groups: Mapping[str, str] = field(default_factory=dict)  # id -> its VPC
    subnet_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    secret_arn: str = ""
    kms_key_arn: str = ""
    database_found: bool | None = None  # None: none configured
    repository_exists: bool = False
    buildspec: str = ""


def as_document(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        from urllib.parse import unquote

        return dict(json.loads(unquote(value)))
    return dict(value or {})


def summary(changes: Sequence[Change]) -> dict[str, int]:
    return {a: sum(1 for c in changes if c.action == a) for a in (CREATE, UPDATE, NONE, MISSING)}


def blockers(changes: Sequence[Change]) -> list[Change]:
    return [c for c in changes if c.blocking]


class SetupBlocked(SuiteError):
    code = ExitCode.SETUP_BLOCKED


def blocked_error(missing: Sequence[Change], env: str = "") -> SetupBlocked:
    names = ", ".join(f"{c.kind} {c.name}" for c in missing)
    flag = f" --env {env}" if env else ""
    return SetupBlocked(
        f"setup cannot create the project: missing {names}",
        "create them (see the plan's lines for the commands; setup never creates network, "
        f"database or secret values), then rerun `invoke setup --apply{flag}`",
    )
