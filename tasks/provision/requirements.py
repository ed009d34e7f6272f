"""What a migration build needs in AWS, as data: shared by ``doctor`` (checks) and ``setup``
(creates). Pure module.

One list of permissions feeds both the least-privilege policy ``setup`` writes and the
``service_role`` check, so the two can never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.config import DEFAULT_COMPUTE_TYPE as DEFAULT_COMPUTE_TYPE  # re-exported
from ..core.config import Settings
from ..core.errors import UsageError

DEFAULT_IMAGE = "aws/codebuild/standard:7.0"
ENVIRONMENT_TYPE = "LINUX_CONTAINER"
DEFAULT_TIMEOUT_MINUTES = 60
INLINE_POLICY_NAME = "release-suite-migrations"
CODEBUILD_SERVICE = "codebuild.amazonaws.com"
REQUIRED_VARIABLES = ("DATABASE_URL", "IMAGE_URI", "RUN_MIGRATIONS", "RUN_SEED")
DEFAULT_VARIABLES = {"RUN_MIGRATIONS": "true", "RUN_SEED": "false"}

ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
LOGS_WRITE = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
# CodeBuild's documented VPC actions. Describe* take no resource scoping; the ENI actions are
# scoped to network interfaces and our subnets / security groups (parliament: no RESOURCE_STAR).
EC2_ENI = ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface")
EC2_DESCRIBE = (
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)


def role_name(settings: Settings) -> str:
    """``service_role`` may be a name or an ARN (``arn:aws:iam::123:role/path/name``)."""
    configured = settings.service_role or f"{settings.project}-codebuild"
    return configured.rsplit("/", 1)[-1]


def role_path(settings: Settings) -> str:
    """The IAM path of a role given as an ARN (``role/service-role/x`` -> ``/service-role/``)."""
    if not settings.service_role.startswith("arn:"):
        return "/"
    resource = settings.service_role.split(":", 5)[-1]  # role/path/name
    parts = resource.split("/")[1:-1]
    return "/" + "".join(f"{p}/" for p in parts) if parts else "/"


def role_arn(settings: Settings, name: str | None = None) -> str:
    if settings.service_role.startswith("arn:"):
        return settings.service_role
    return f"arn:aws:iam::{settings.account}:role/{name or role_name(settings)}"


def log_group_name(settings: Settings) -> str:
    return settings.log_group or f"/aws/codebuild/{settings.project}"


def repository_arn(s: Settings) -> str:
    """The image repository's ARN: in the registry's own account and region when the registry
    is an ECR host of another account or region (a central image account)."""
    return ecr_image_repository_arn(s.image_name) or (
        f"arn:aws:ecr:{s.region}:{s.account}:repository/{s.repository}"
    )


def log_group_arns(s: Settings) -> tuple[str, str]:
    base = f"arn:aws:logs:{s.region}:{s.account}:log-group:{log_group_name(s)}"
    return base, f"{base}:*"


def subnet_arns(s: Settings, subnets: Sequence[str]) -> list[str]:
    return [f"arn:aws:ec2:{s.region}:{s.account}:subnet/{sub}" for sub in subnets]


def group_arns(s: Settings, groups: Sequence[str]) -> list[str]:
    return [f"arn:aws:ec2:{s.region}:{s.account}:security-group/{g}" for g in groups]


def eni_arn(s: Settings, eni: str = "*") -> str:
    return f"arn:aws:ec2:{s.region}:{s.account}:network-interface/{eni}"


_ECR_IMAGE = re.compile(
    r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)"
)


def ecr_image_repository_arn(image: str) -> str:
    """The repository ARN of an ECR image reference ('' for any other registry)."""
    found = _ECR_IMAGE.match(image)
    if not found:
        return ""
    account, region, repository = found.groups()
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


def image_uri(s: Settings) -> str:
    return f"{s.image_name}:{s.tag}"


@dataclass(frozen=True)
class Need:
    """One permission the build uses: why, the action, the resource and request context."""

    purpose: str
    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]]


def needs(
    s: Settings,
    *,
    subnets: Sequence[str],
    groups: Sequence[str],
    secret_arn: str,
    kms_key_arn: str = "",
    build_image: str = "",
) -> list[Need]:
    """Every (action, resource) the migration build performs with its service role.

    ``build_image``: the project's build image when CodeBuild pulls it with the service role
    (``imagePullCredentialsType: SERVICE_ROLE``); an ECR one then needs pull rights too."""
    out: list[Need] = [Need("ECR auth", "ecr:GetAuthorizationToken", "*", {})]
    out += [Need("ECR pull", a, repository_arn(s), {}) for a in ECR_PULL]
    build_repo = ecr_image_repository_arn(build_image)
    if build_repo and build_repo != repository_arn(s):
        out += [Need("build image pull", a, build_repo, {}) for a in ECR_PULL]
    stream = f"{log_group_arns(s)[0]}:log-stream:build"
    out += [Need("CloudWatch Logs", a, stream, {}) for a in LOGS_WRITE]
    out += [Need("VPC networking", a, "*", {}) for a in EC2_DESCRIBE]
    eni = eni_arn(s, "eni-0example")
    out += [Need("VPC networking", a, eni, {}) for a in EC2_ENI]
    for arn in subnet_arns(s, subnets) + group_arns(s, groups):
        out.append(Need("VPC networking", "ec2:CreateNetworkInterface", arn, {}))
    for subnet in subnet_arns(s, subnets) or [""]:
        ctx = {"ec2:AuthorizedService": (CODEBUILD_SERVICE,)}
        if subnet:
            ctx["ec2:Subnet"] = (subnet,)
        out.append(Need("VPC networking", "ec2:CreateNetworkInterfacePermission", eni, ctx))
    if secret_arn:
        out.append(Need("database secret", "secretsmanager:GetSecretValue", secret_arn, {}))
    if kms_key_arn:
        via = (f"secretsmanager.{s.region}.amazonaws.com",)
        out.append(Need("secret's KMS key", "kms:Decrypt", kms_key_arn, {"kms:ViaService": via}))
    return out


def _allow(sid: str, action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def project_arn(s: Settings) -> str:
    return f"arn:aws:codebuild:{s.region}:{s.account}:project/{s.project}"


def trust_context(s: Settings, arn: str = "") -> dict[str, tuple[str, ...]]:
    """The values CodeBuild supplies when it assumes the service role: the project's account
    and ARN (the ``aws:SourceAccount`` / ``aws:SourceArn`` keys of AWS's confused-deputy
    guidance for service roles)."""
    arn = arn or project_arn(s)
    account = arn.split(":")[4] if arn.count(":") >= 5 else s.account
    return {"aws:SourceAccount": (account or s.account,), "aws:SourceArn": (arn,)}


def trust_statement(s: Settings) -> dict[str, Any]:
    """CodeBuild may assume the role, for this account's project only.

    AWS's CodeBuild user guide ("Allow CodeBuild to interact with other AWS services", the
    create-role.json example) scopes the trust with ``aws:SourceAccount`` and
    ``aws:SourceArn`` conditions against the confused-deputy problem; without a known account
    (no ``account`` in the config) the conditions cannot be written and are left out.
    """
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": CODEBUILD_SERVICE},
        "Action": "sts:AssumeRole",
    }
    if s.account:
        statement["Condition"] = {
            "StringEquals": {"aws:SourceAccount": s.account},
            "ArnLike": {"aws:SourceArn": project_arn(s)},
        }
    return statement


def trust_policy(s: Settings) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [trust_statement(s)]}


def role_policy(
    s: Settings,
    *,
    subnets: Sequence[str],
    groups: Sequence[str],
    secret_arn: str,
    kms_key_arn: str = "",
    build_image: str = "",
) -> dict[str, Any]:
    """The least-privilege inline policy: exactly :func:`needs`, scoped to our resources."""
    build_repo = ecr_image_repository_arn(build_image)
    statements: list[dict[str, Any]] = [
        _allow("EcrAuth", "ecr:GetAuthorizationToken", "*"),
        _allow("EcrPull", list(ECR_PULL), repository_arn(s)),
        *(
            [_allow("BuildImagePull", list(ECR_PULL), build_repo)]
            if build_repo and build_repo != repository_arn(s)
            else []
        ),
        _allow("Logs", list(LOGS_WRITE), list(log_group_arns(s))),
        _allow("VpcDescribe", list(EC2_DESCRIBE), "*"),
        _allow(
            "VpcNetworkInterfaces",
            list(EC2_ENI),
            [eni_arn(s), *subnet_arns(s, subnets), *group_arns(s, groups)],
        ),
        {
            "Sid": "VpcNetworkInterfacePermission",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterfacePermission",
            "Resource": eni_arn(s),
            "Condition": {
                "StringEquals": {"ec2:AuthorizedService": CODEBUILD_SERVICE},
                "ArnEquals": {"ec2:Subnet": subnet_arns(s, subnets)},
            },
        },
        _allow("DatabaseSecret", "secretsmanager:GetSecretValue", secret_arn),
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "DatabaseSecretKey",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{s.region}.amazonaws.com"}
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def snapshot_needs(s: Settings) -> list[Need]:
    """What the CALLER (not the build role) needs for ``backup: snapshot``: create (and tag) a
    manual snapshot of the database, describe it while waiting, list and delete the suite's
    own older ones (retention). Snapshot names start with the project (release/snapshot.py).
    Empty when no database is configured."""
    prefix = f"arn:aws:rds:{s.region}:{s.account}"
    name = f"{s.project or s.env}-*"
    if s.database_cluster:
        db = f"{prefix}:cluster:{s.database_cluster}"
        return _snapshot_actions("DBCluster", db, f"{prefix}:cluster-snapshot:{name}")
    if s.database_instance:
        db = f"{prefix}:db:{s.database_instance}"
        return [
            Need("Single-AZ check", "rds:DescribeDBInstances", db, {}),
            *_snapshot_actions("DB", db, f"{prefix}:snapshot:{name}"),
        ]
    return []


def _snapshot_actions(kind: str, db: str, snap: str) -> list[Need]:
    """Create, tag, describe and delete snapshots of one ``kind`` (``DB``: an instance's,
    ``DBCluster``: a cluster's); the same rds:* actions, named by kind."""
    return [
        Need("pre-migration snapshot", f"rds:Create{kind}Snapshot", db, {}),
        Need("pre-migration snapshot", f"rds:Create{kind}Snapshot", snap, {}),
        Need("pre-migration snapshot", "rds:AddTagsToResource", snap, {}),
        Need("snapshot wait, retention", f"rds:Describe{kind}Snapshots", db, {}),
        Need("snapshot wait, retention", f"rds:Describe{kind}Snapshots", snap, {}),
        Need("snapshot retention", f"rds:Delete{kind}Snapshot", snap, {}),
    ]


# -- the snapshot before a migration (issue 15): who decides, and what the caller needs ------

MODES = ("snapshot", "none")
DEFAULT_KEEP = Settings.backup_keep  # the Settings field's default


@dataclass(frozen=True)
class BackupPolicy:
    """What to do before a migration in this environment."""

    mode: str  # snapshot | none
    keep: int
    kind: str  # instance | cluster | '' (no database configured)
    database: str
    region: str

    @property
    def enabled(self) -> bool:
        return self.mode == "snapshot" and bool(self.database)


def backup_policy(settings: Settings) -> BackupPolicy:
    """``backup`` defaults to ``snapshot`` where ``confirm: true``, else ``none``. The keys are
    Settings fields (invoke.yaml, RELEASE_BACKUP*, checked by ``core.config``)."""
    mode = settings.backup or ("snapshot" if settings.confirm else "none")
    where = f"release.environments.{settings.env}"
    if mode not in MODES:  # a Settings made without load_settings
        raise UsageError(
            f"environment {settings.env!r}: backup must be snapshot or none, not {mode!r}",
            f"set {where}.backup: snapshot (or none) in invoke.yaml",
        )
    if settings.database_cluster:
        kind, database = "cluster", str(settings.database_cluster)
    elif settings.database_instance:
        kind, database = "instance", str(settings.database_instance)
    else:
        kind, database = "", ""
    if mode == "snapshot" and not database and settings.backup:
        raise UsageError(
            f"environment {settings.env!r} asks for backup: snapshot but names no database",
            f"set {where}.database_instance (RDS) or database_cluster (Aurora)",
        )
    return BackupPolicy(mode, settings.backup_keep, kind, database, str(settings.region))
