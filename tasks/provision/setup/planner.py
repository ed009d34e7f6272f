"""The planner (pure): current state + settings -> the list of changes. It only reads the state
it is given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...core.config import Settings
from ...core.errors import UsageError
from ..policy import evaluate_trust
from ..requirements import (
    CODEBUILD_SERVICE,
    INLINE_POLICY_NAME,
    log_group_name,
    project_arn,
    role_name,
    role_path,
    trust_context,
    trust_policy,
    trust_statement,
)
from .desired import canonical, desired_policy, desired_project, project_differences
from .model import CREATE, MISSING, NONE, UPDATE, Change, SetupState, as_document


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
    current = as_document((st.role or {}).get("AssumeRolePolicyDocument"))
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
