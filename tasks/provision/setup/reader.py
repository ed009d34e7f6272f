"""Reads AWS (only reads): what exists now, as a :class:`SetupState`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...core.aws import ReadRefused, read_aws
from ...core.config import Settings
from ...core.runtime import Runtime
from ..facts import customer_key_arn
from ..requirements import (
    INLINE_POLICY_NAME,
    log_group_name,
    role_name,
)
from .desired import read_buildspec
from .model import SetupState, as_document

Reader = Callable[[], Any]


def read_or_none(fn: Reader, *missing_codes: str) -> Any:
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
    found = read_or_none(
        lambda: getattr(ec2, operation)(Filters=[{"Name": name, "Values": list(ids)}])
    )
    return {str(x[id_key]): str(x["VpcId"]) for x in (found or {}).get(key, [])}


def _read_role(rt: Runtime, name: str) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    iam = rt.aws.client("iam")
    got = read_or_none(lambda: iam.get_role(RoleName=name), "NoSuchEntity")
    if not got:
        return None, None
    found = read_or_none(
        lambda: iam.get_role_policy(RoleName=name, PolicyName=INLINE_POLICY_NAME), "NoSuchEntity"
    )
    return got["Role"], (as_document(found["PolicyDocument"]) if found else None)


def _read_secret(rt: Runtime, secret_id: str) -> tuple[str, str]:
    """(ARN, customer-managed key ARN) of a live secret, or ("", "")."""
    if not secret_id:
        return "", ""
    sm = rt.aws.client("secretsmanager")
    found = read_or_none(
        lambda: sm.describe_secret(SecretId=secret_id), "ResourceNotFoundException"
    )
    if not found or found.get("DeletedDate"):
        return "", ""
    return str(found["ARN"]), customer_key_arn(rt, str(found.get("KmsKeyId") or ""))


def _log_group_exists(rt: Runtime, group: str) -> bool:
    logs = rt.aws.client("logs")
    found = read_or_none(lambda: logs.describe_log_groups(logGroupNamePrefix=group)) or {}
    return any(g.get("logGroupName") == group for g in found.get("logGroups", []))


def _repository_exists(rt: Runtime, repository: str) -> bool:
    if not repository:
        return False
    from ...image.ecr import client_for

    ecr, registry_id = client_for(rt)  # the registry's own account and region
    owner = {"registryId": registry_id} if registry_id else {}
    return bool(
        read_or_none(
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
    projects = (read_or_none(lambda: cb.batch_get_projects(names=[s.project])) or {}).get(
        "projects"
    )
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
        read_or_none(lambda: ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]))
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
            read_or_none(
                lambda: rds.describe_db_instances(DBInstanceIdentifier=s.database_instance),
                "DBInstanceNotFound",
                "DBInstanceNotFoundFault",
            )
        )
    if s.database_cluster:
        return bool(
            read_or_none(
                lambda: rds.describe_db_clusters(DBClusterIdentifier=s.database_cluster),
                "DBClusterNotFoundFault",
            )
        )
    return None
