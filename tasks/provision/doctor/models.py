"""The facts doctor judges, the check it returns and the parsing several areas share (the
database URL, the secret reference): plain data, filled by ``tasks.provision.facts``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from ...core.config import Settings
from ...core.platforms import Platform
from ..policy import (
    NamedDocument,
    Outcome,
)

PASS, WARN, FAIL = "pass", "warn", "fail"


CHECK_IDS = (
    "codebuild_project",
    "environment_image",
    "privileged_mode",
    "environment_variables",
    "run_commands",
    "service_role",
    "vpc_config",
    "subnet_egress",
    "database_path",
    "database_secret",
    "ecr_image",
    "concurrency_limit",
    "build_timeout",
    "auto_retry",
    "build_logs",
)


def setup_fix(s: Settings) -> str:
    """The remedy most checks share, with the environment so it can be pasted as is."""
    return f"run `invoke setup --apply --env {s.env}`"


@dataclass(frozen=True)
class Check:
    id: str
    status: str  # pass | warn | fail
    message: str
    fix: str = ""
    evidence: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "message": self.message,
            "fix": self.fix,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class DbUrl:
    """A parsed DATABASE_URL without its password."""

    scheme: str
    host: str
    port: int | None
    database: str
    has_password: bool


@dataclass(frozen=True)
class SecretFacts:
    reference: str  # the configured secret id (name or ARN)
    exists: bool = False
    arn: str = ""
    kms_key_arn: str = ""  # a customer-managed key only (the AWS-managed key needs no grant)
    deleted: bool = False
    readable: bool = False
    error: str = ""  # why it could not be read
    url: DbUrl | None = None
    parse_error: str = ""


@dataclass(frozen=True)
class Rule:
    protocol: str  # "tcp", "udp", "-1" (all)
    from_port: int | None
    to_port: int | None
    groups: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    prefix_lists: tuple[str, ...] = ()

    def covers_port(self, port: int) -> bool:
        if self.protocol in ("-1", "all"):
            return True
        if self.protocol not in ("tcp", "6"):
            return False
        if self.from_port is None or self.from_port == -1:
            return True
        high = 65535 if self.to_port is None else self.to_port
        return self.from_port <= port <= high

    def ports(self) -> str:
        if self.protocol in ("-1", "all"):
            return "all ports"
        if self.from_port == self.to_port:
            return f"{self.protocol} {self.from_port}"
        return f"{self.protocol} {self.from_port}-{self.to_port}"


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    vpc_id: str
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Route:
    destination: str
    target: str  # nat-…, igw-…, tgw-…, eni-…, pcx-…, vpce-…, local
    state: str = "active"


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    cidr: str
    route_table: str = ""
    routes: tuple[Route, ...] = ()
    maps_public_ip: bool = False


@dataclass(frozen=True)
class Endpoint:
    service: str  # the short name: "ecr.api", "s3", "logs"...
    kind: str  # Interface | Gateway
    state: str
    route_tables: tuple[str, ...] = ()
    private_dns: bool = True
    id: str = ""
    groups: tuple[str, ...] = ()  # an interface endpoint's security groups


@dataclass(frozen=True)
class NetworkFacts:
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    source: str = "project"  # where the ids came from: the project or the settings
    subnets: Mapping[str, Subnet] = field(default_factory=dict)
    groups: Mapping[str, SecurityGroup] = field(default_factory=dict)
    nat_states: Mapping[str, str] = field(default_factory=dict)
    endpoints: tuple[Endpoint, ...] = ()
    # the VPC's enableDnsSupport / enableDnsHostnames (None: not read)
    dns_support: bool | None = None
    dns_hostnames: bool | None = None
    error: str = ""


@dataclass(frozen=True)
class DatabaseFacts:
    found: bool = False
    identifier: str = ""
    kind: str = ""  # instance | cluster
    how: str = ""  # "configured", "secret host"
    hosts: tuple[str, ...] = ()
    port: int | None = None
    vpc_id: str = ""
    group_ids: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class RoleFacts:
    name: str
    arn: str
    exists: bool = False
    error: str = ""
    trust: Mapping[str, Any] = field(default_factory=dict)
    documents: tuple[NamedDocument, ...] = ()
    boundary: NamedDocument | None = None
    unreadable: tuple[str, ...] = ()
    # (action, resource) -> outcome from IAM's simulator; None when it did not answer
    simulated: Mapping[tuple[str, str], Outcome] | None = None


@dataclass(frozen=True)
class ImageFacts:
    repository_exists: bool = False
    tag_exists: bool = False
    digest: str = ""
    media_type: str = ""
    platforms: tuple[Platform, ...] | None = None  # None: not knowable through the API
    error: str = ""
    note: str = ""


@dataclass(frozen=True)
class BuildHistory:
    durations: tuple[float, ...] = ()  # minutes, completed builds, newest first
    timed_out: int = 0
    error: str = ""


@dataclass(frozen=True)
class Facts:
    settings: Settings
    project: Mapping[str, Any] | None = None
    project_error: str = ""
    role: RoleFacts | None = None
    network: NetworkFacts = field(default_factory=NetworkFacts)
    database: DatabaseFacts = field(default_factory=DatabaseFacts)
    secret: SecretFacts = field(default_factory=lambda: SecretFacts(""))
    image: ImageFacts = field(default_factory=ImageFacts)
    builds: BuildHistory = field(default_factory=BuildHistory)


def parse_database_url(value: str) -> DbUrl:
    """Parse a PostgreSQL URL; raises ValueError with a message that never contains it."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("not a URL (malformed host or port)") from None
    if parts.scheme not in ("postgres", "postgresql"):
        shown = parts.scheme or "none"
        raise ValueError(f"scheme is {shown!r}, not postgresql://")
    if not parts.hostname:
        raise ValueError("no host in the URL")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError("no database name in the URL path")
    return DbUrl(parts.scheme, parts.hostname, port, database, bool(parts.password))


def split_secret_reference(value: str) -> tuple[str, str]:
    """CodeBuild's SECRETS_MANAGER value: ``secret-id[:json-key[:stage[:version]]]``."""
    parts = value.split(":")
    head = 7 if value.startswith("arn:") else 1
    secret_id = ":".join(parts[:head])
    json_key = parts[head] if len(parts) > head else ""
    return secret_id, json_key


def secret_matches(reference: str, secret: SecretFacts, configured: str) -> bool:
    """Does a variable's secret id name the configured secret (by name, ARN or partial ARN)?"""
    if not reference:
        return False
    names = {configured}
    if secret.arn:
        names.add(secret.arn)
        if reference.startswith("arn:") and secret.arn.startswith(reference + "-"):
            return True
    if configured.startswith("arn:"):
        names.add(configured.split(":secret:", 1)[-1])
    return reference in names


def variables_of(project: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    env = project.get("environment") or {}
    return {
        str(v.get("name")): {"type": str(v.get("type", "PLAINTEXT")), "value": str(v.get("value"))}
        for v in env.get("environmentVariables") or []
    }


def project_missing(check_id: str) -> Check:
    return Check(
        check_id, WARN, "not checked: the CodeBuild project does not exist", "see codebuild_project"
    )


def pulled_with_role(project: Mapping[str, Any] | None) -> str:
    """The build image CodeBuild pulls with the service role ('' when it uses its own)."""
    env = (project or {}).get("environment") or {}
    if env.get("imagePullCredentialsType") != "SERVICE_ROLE":
        return ""
    return str(env.get("image") or "")


def unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))
