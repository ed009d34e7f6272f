"""``invoke setup``: create the role and the CodeBuild project a migration needs, idempotently.

Three stages, one rule each (after chalice's deployer):
- ``read_state`` only reads AWS (what exists now);
- ``plan`` is pure: current state + settings -> a list of frozen :class:`Change` records
  (``create`` | ``update`` | ``none``, or ``missing`` for what setup never creates);
- ``apply`` is the only code that changes AWS, and only the changes the plan lists.

Setup never creates or changes the VPC, subnets, security groups, the database or the secret's
value: those are reported as ``missing`` with the command that creates them, and ``--apply``
refuses to run while one the project needs is missing. It owns: the service role and its trust
policy, one least-privilege inline policy (``tasks.provision.requirements.role_policy``), the log group, and
the project's source/buildspec, environment, variables, VPC config, logs and concurrency.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..codebuild.commands import COMMAND_VARIABLES, project_variables
from ..core.aws import ReadRefused, read_aws, translate
from ..core.config import Settings
from ..core.errors import AwsError, ExitCode, SuiteError, UsageError
from ..core.retrying import POLICIES, error_code, is_iam_lag, retrying
from ..core.runtime import Runtime
from .facts import customer_key_arn
from .policy import evaluate_trust
from .requirements import (
    CODEBUILD_SERVICE,
    DEFAULT_COMPUTE_TYPE,
    DEFAULT_IMAGE,
    DEFAULT_TIMEOUT_MINUTES,
    DEFAULT_VARIABLES,
    ENVIRONMENT_TYPE,
    INLINE_POLICY_NAME,
    image_uri,
    log_group_name,
    project_arn,
    role_arn,
    role_name,
    role_path,
    role_policy,
    trust_context,
    trust_policy,
    trust_statement,
)

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


# -- desired state (pure) ----------------------------------------------------------------


def buildspec_path(settings: Settings) -> Path:
    from ..core.resources import buildspec_path as resolve

    return resolve(settings.buildspec)


def read_buildspec(settings: Settings) -> str:
    """The buildspec the project embeds: validated, with the secret and the DB probe filled in.

    The same text the local runner executes, so what the local tests prove is what CodeBuild
    gets; a missing or invalid file is one clear error naming the file and line.
    """
    from ..local.buildspec import project_buildspec

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
            "computeType": str(s.extra.get("compute_type") or DEFAULT_COMPUTE_TYPE),
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


# -- comparison (pure) -------------------------------------------------------------------


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


# -- the plan (pure) ---------------------------------------------------------------------


def _prerequisites(s: Settings, st: SetupState) -> list[Change]:
    out: list[Change] = []
    vpc_fix = (
        "setup never creates network resources: create them (or choose existing ones) and "
        f"set them under release.environments.{s.env} in invoke.yaml"
    )
    if not st.vpc_id or not st.vpc_exists:
        what = f"VPC {st.vpc_id} does not exist" if st.vpc_id else "no VPC configured"
        out.append(Change("vpc", st.vpc_id or "-", MISSING, (what, f"set vpc_id; {vpc_fix}")))
    else:
        out.append(Change("vpc", st.vpc_id, NONE, ("exists",)))
    sub_problems = [f"subnet {i} not found" for i in st.subnet_ids if i not in st.subnets]
    sub_problems += [
        f"subnet {i} is in {v}, not {st.vpc_id}"
        for i, v in st.subnets.items()
        if st.vpc_id and v != st.vpc_id
    ]
    if not st.subnet_ids:
        sub_problems.append("no subnets configured (private subnets with a NAT route)")
    out.append(
        Change("subnets", ",".join(st.subnet_ids) or "-", MISSING, (*sub_problems, vpc_fix))
        if sub_problems
        else Change("subnets", ",".join(st.subnet_ids), NONE, ("exist in the VPC",))
    )
    sg_problems = [f"security group {i} not found" for i in st.group_ids if i not in st.groups]
    sg_problems += [
        f"security group {i} is in {v}, not {st.vpc_id}"
        for i, v in st.groups.items()
        if st.vpc_id and v != st.vpc_id
    ]
    if not st.group_ids:
        sg_problems.append(
            "no security group for the build: aws ec2 create-security-group --group-name "
            f"{s.project}-build --description 'migrations build' --vpc-id {st.vpc_id or 'VPC'}"
            " (then allow it on the database's group, tcp 5432)"
        )
    out.append(
        Change("security_groups", ",".join(st.group_ids) or "-", MISSING, (*sg_problems, vpc_fix))
        if sg_problems
        else Change("security_groups", ",".join(st.group_ids), NONE, ("exist in the VPC",))
    )
    if not s.secret or not st.secret_arn:
        out.append(
            Change(
                "secret",
                s.secret or "-",
                MISSING,
                (
                    "setup never creates the secret or its value",
                    "aws secretsmanager create-secret --name "
                    f"{s.secret or 'NAME'} --secret-string "
                    "'postgresql://USER:PASSWORD@HOST:5432/DB' (and set secret in invoke.yaml)",
                ),
            )
        )
    else:
        out.append(Change("secret", s.secret, NONE, ("exists (value not read)",)))
    if st.database_found is False:
        ident = s.database_instance or s.database_cluster
        out.append(
            Change(
                "database",
                ident,
                MISSING,
                (
                    f"RDS {ident} not found; setup never creates databases",
                    "create it in RDS or fix database_instance / database_cluster",
                ),
            )
        )
    if not st.repository_exists:
        out.append(
            Change(
                "repository",
                s.repository or "-",
                MISSING,
                (f"aws ecr create-repository --repository-name {s.repository or 'NAME'}",),
            )
        )
    return out


def _trust_change(s: Settings, st: SetupState, name: str) -> Change:
    """Keep a trust policy that lets CodeBuild assume the role for this project; otherwise add
    our statement beside the existing ones (their conditions are never removed)."""
    current = _doc((st.role or {}).get("AssumeRolePolicyDocument"))
    arn = str((st.project or {}).get("arn") or project_arn(s))
    trust = evaluate_trust(current, CODEBUILD_SERVICE, trust_context(s, arn))
    if trust.trusted:
        return Change("role", name, NONE, ("exists; CodeBuild may assume it",))
    if trust.denied:
        return Change(
            "trust_policy",
            name,
            MISSING,
            (
                f"a Deny statement ({', '.join(trust.statements)}) stops {CODEBUILD_SERVICE} "
                "from assuming the role; setup never removes statements",
                "remove or narrow that Deny in the role's trust policy, then rerun setup",
            ),
        )
    statements = [*_as_statements(current.get("Statement")), trust_statement(s)]
    document = {"Version": str(current.get("Version") or "2012-10-17"), "Statement": statements}
    why = (
        "its conditions do not match this project: " + "; ".join(trust.mismatched)
        if trust.mismatched
        else f"it does not trust {CODEBUILD_SERVICE}"
    )
    return Change(
        "trust_policy",
        name,
        UPDATE,
        (
            f"trust policy: {why}",
            f"add a statement letting {CODEBUILD_SERVICE} assume it for {arn}; the existing "
            "statements and their conditions are kept",
        ),
        {"RoleName": name, "PolicyDocument": document},
    )


def _as_statements(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _role_changes(s: Settings, st: SetupState) -> list[Change]:
    name = role_name(s)
    out: list[Change] = []
    if st.role is None:
        trust = trust_policy(s)
        out.append(
            Change(
                "role",
                name,
                CREATE,
                (f"trust: {CODEBUILD_SERVICE} may assume it (for {project_arn(s)})",),
                {"RoleName": name, "Path": role_path(s), "AssumeRolePolicyDocument": trust},
            )
        )
    else:
        out.append(_trust_change(s, st, name))
    policy = desired_policy(s, st)
    request = {"RoleName": name, "PolicyName": INLINE_POLICY_NAME, "PolicyDocument": policy}
    scope = (
        f"ECR repository {s.repository}, log group {log_group_name(s)}, secret "
        f"{st.secret_arn or s.secret}, network interfaces in {', '.join(st.subnet_ids) or '-'}"
    )
    if st.inline_policy is None:
        out.append(Change("role_policy", INLINE_POLICY_NAME, CREATE, (scope,), request))
    elif canonical(st.inline_policy) != canonical(policy):
        out.append(
            Change("role_policy", INLINE_POLICY_NAME, UPDATE, ("rewrite to " + scope,), request)
        )
    else:
        out.append(Change("role_policy", INLINE_POLICY_NAME, NONE, ("up to date",)))
    return out


def _doc(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        from urllib.parse import unquote

        return dict(json.loads(unquote(value)))
    return dict(value or {})


def _project_summary(want: Mapping[str, Any]) -> tuple[str, ...]:
    env, vpc = want["environment"], want["vpcConfig"]
    names = ", ".join(v["name"] for v in env["environmentVariables"])
    return (
        f"environment {env['type']} {env['image']} {env['computeType']}, privileged mode on",
        f"vpc {vpc['vpcId']} subnets {', '.join(vpc['subnets'])} groups "
        f"{', '.join(vpc['securityGroupIds'])}",
        f"variables {names} (DATABASE_URL from Secrets Manager)",
        f"concurrentBuildLimit 1, autoRetryLimit 0, timeout {want['timeoutInMinutes']} min",
        f"logs to {want['logsConfig']['cloudWatchLogs']['groupName']}, buildspec embedded",
    )


def plan(s: Settings, st: SetupState) -> list[Change]:
    """Everything setup would do, in the order the executor must do it."""
    if not s.project:
        raise UsageError(
            "no CodeBuild project name is configured",
            f"set project under release.environments.{s.env} in invoke.yaml",
        )
    changes = _prerequisites(s, st)
    changes += _role_changes(s, st)
    group = log_group_name(s)
    changes.append(
        Change("log_group", group, NONE, ("exists",))
        if st.log_group_exists
        else Change(
            "log_group",
            group,
            CREATE,
            ("CloudWatch Logs group for build logs",),
            {"logGroupName": group},
        )
    )
    want = desired_project(s, st)
    if st.project is None:
        changes.append(Change("project", s.project, CREATE, _project_summary(want), want))
    else:
        diffs = project_differences(st.project, want)
        changes.append(
            Change("project", s.project, UPDATE, tuple(diffs), want)
            if diffs
            else Change("project", s.project, NONE, ("up to date",))
        )
    return changes


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


# -- AWS adapter: reads ------------------------------------------------------------------


Reader = Callable[[], Any]


def _maybe(fn: Reader, *missing_codes: str) -> Any:
    """The call's result, or None when AWS says the thing does not exist."""
    try:
        return read_aws(fn, "reading AWS for setup", answers=missing_codes)
    except ReadRefused:
        return None


def _by_id(
    ec2: Any, operation: str, key: str, id_key: str, name: str, ids: Sequence[str]
) -> dict[str, str]:
    """{id: its VPC} for the ids that exist (a filter, so missing ids are simply absent)."""
    if not ids:
        return {}
    found = _maybe(lambda: getattr(ec2, operation)(Filters=[{"Name": name, "Values": list(ids)}]))
    return {str(x[id_key]): str(x["VpcId"]) for x in (found or {}).get(key, [])}


def _read_role(rt: Runtime, name: str) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    iam = rt.aws.client("iam")
    got = _maybe(lambda: iam.get_role(RoleName=name), "NoSuchEntity")
    if not got:
        return None, None
    found = _maybe(
        lambda: iam.get_role_policy(RoleName=name, PolicyName=INLINE_POLICY_NAME), "NoSuchEntity"
    )
    return got["Role"], (_doc(found["PolicyDocument"]) if found else None)


def _read_secret(rt: Runtime, secret_id: str) -> tuple[str, str]:
    """(ARN, customer-managed key ARN) of a live secret, or ("", "")."""
    if not secret_id:
        return "", ""
    sm = rt.aws.client("secretsmanager")
    found = _maybe(lambda: sm.describe_secret(SecretId=secret_id), "ResourceNotFoundException")
    if not found or found.get("DeletedDate"):
        return "", ""
    return str(found["ARN"]), customer_key_arn(rt, str(found.get("KmsKeyId") or ""))


def _log_group_exists(rt: Runtime, group: str) -> bool:
    logs = rt.aws.client("logs")
    found = _maybe(lambda: logs.describe_log_groups(logGroupNamePrefix=group)) or {}
    return any(g.get("logGroupName") == group for g in found.get("logGroups", []))


def _repository_exists(rt: Runtime, repository: str) -> bool:
    if not repository:
        return False
    from ..image.ecr import client_for

    ecr, registry_id = client_for(rt)  # the registry's own account and region
    owner = {"registryId": registry_id} if registry_id else {}
    return bool(
        _maybe(
            lambda: ecr.describe_repositories(**owner, repositoryNames=[repository]),
            "RepositoryNotFoundException",
        )
    )


def read_state(rt: Runtime) -> SetupState:
    """Only reads AWS (and the buildspec file). Network ids come from the settings, or from
    the existing project when the settings name none."""
    s: Settings = rt.settings
    buildspec = read_buildspec(s)
    role, inline = _read_role(rt, role_name(s))
    cb, ec2 = rt.aws.client("codebuild"), rt.aws.client("ec2")
    projects = (_maybe(lambda: cb.batch_get_projects(names=[s.project])) or {}).get("projects")
    project = projects[0] if projects else None
    project_vpc = (project or {}).get("vpcConfig") or {}
    subnet_ids = tuple(s.subnets or project_vpc.get("subnets") or ())
    group_ids = tuple(s.security_groups or project_vpc.get("securityGroupIds") or ())
    subnets = _by_id(ec2, "describe_subnets", "Subnets", "SubnetId", "subnet-id", subnet_ids)
    groups = _by_id(
        ec2, "describe_security_groups", "SecurityGroups", "GroupId", "group-id", group_ids
    )
    vpc_id = s.vpc_id or str(project_vpc.get("vpcId") or "") or next(iter(subnets.values()), "")
    vpcs = (
        _maybe(lambda: ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]))
        if vpc_id
        else None
    )
    secret_arn, key_arn = _read_secret(rt, s.secret)
    return SetupState(
        role=role,
        inline_policy=inline,
        log_group_exists=_log_group_exists(rt, log_group_name(s)),
        project=project,
        vpc_id=vpc_id,
        vpc_exists=bool((vpcs or {}).get("Vpcs")),
        subnets=subnets,
        groups=groups,
        subnet_ids=subnet_ids,
        group_ids=group_ids,
        secret_arn=secret_arn,
        kms_key_arn=key_arn,
        database_found=_database_found(rt),
        repository_exists=_repository_exists(rt, s.repository),
        buildspec=buildspec,
    )


def _database_found(rt: Runtime) -> bool | None:
    s: Settings = rt.settings
    rds = rt.aws.client("rds")
    if s.database_instance:
        return bool(
            _maybe(
                lambda: rds.describe_db_instances(DBInstanceIdentifier=s.database_instance),
                "DBInstanceNotFound",
                "DBInstanceNotFoundFault",
            )
        )
    if s.database_cluster:
        return bool(
            _maybe(
                lambda: rds.describe_db_clusters(DBClusterIdentifier=s.database_cluster),
                "DBClusterNotFoundFault",
            )
        )
    return None


# -- AWS adapter: the executor -----------------------------------------------------------


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


_SIGNS = {"create": "+", "update": "~", "none": "=", "missing": "!"}
_KINDS = {"create": "ok", "update": "warn", "none": "", "missing": "error"}


def render_plan(console: Any, changes: Sequence[Change]) -> None:
    """The plan for humans: one line per change, its details below."""
    for change in changes:
        what = "no change" if change.action == "none" else change.action
        if change.action == "missing":
            what = "missing: setup never creates it" if change.blocking else "missing (advisory)"
        line = f"  {_SIGNS[change.action]} {change.kind:<16} {change.name} ({what})"
        console.line(line, _KINDS[change.action])
        if change.action != "none":
            for detail in change.details:
                console.line(f"      {detail}")


def run_setup(rt: Runtime, *, carry_out: bool) -> dict[str, Any]:
    """``invoke setup``: read, plan, print; with ``carry_out`` apply the plan (unless blocked)."""
    s = rt.settings
    rt.console.step(f"setup: {s.env} ({s.region}), project {s.project or '-'}")
    changes = plan(s, read_state(rt))
    render_plan(rt.console, changes)
    counts = summary(changes)
    blocked = blockers(changes)
    result: dict[str, Any] = {
        "applied": False,
        "changes": [ch.as_dict() for ch in changes],
        "summary": counts,
        "blocked": [f"{ch.kind} {ch.name}" for ch in blocked],
    }
    pending = counts["create"] + counts["update"]
    if not carry_out:
        tail = f"run `invoke setup --apply --env {s.env}` to apply" if pending else "nothing to do"
        rt.console.line(
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['none']} unchanged, {counts['missing']} missing; {tail}"
        )
        if blocked:
            rt.console.warn(blocked_error(blocked, s.env).line())
        return result
    if blocked:
        err = blocked_error(blocked, s.env)
        err.details.update(result)
        raise err
    done = apply(rt, changes)
    rt.console.line(f"Applied {len(done)} change(s)" if done else "No changes: up to date")
    rt.console.line(
        f"Next: `invoke doctor --env {s.env}` proves the whole path (network, database, image)"
    )
    return {**result, "applied": True, "done": [f"{c.action} {c.kind} {c.name}" for c in done]}
