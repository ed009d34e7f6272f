"""Prerequisite checks for a migration build: facts in, ``Check`` results out. Pure module.

``tasks/provision/facts.py`` reads AWS and fills :class:`Facts`; every decision is made here, so
each check is tested with plain data. A check never raises: what it cannot verify becomes a
``warn`` with the reason. Statuses: ``pass`` | ``warn`` | ``fail``; only ``fail`` fails the run.
Secret values never reach this module: the adapter hands over a parsed :class:`DbUrl` whose
password is reduced to a flag.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from ..codebuild.commands import COMMAND_VARIABLES, display, mismatches
from ..core.config import Settings
from ..core.platforms import Platform, describe
from .policy import (
    Decision,
    NamedDocument,
    Outcome,
    Request,
    Trust,
    evaluate,
    evaluate_trust,
    intersect,
)
from .requirements import (
    CODEBUILD_SERVICE,
    ENVIRONMENT_TYPE,
    REQUIRED_VARIABLES,
    Need,
    ecr_image_repository_arn,
    image_uri,
    needs,
    project_arn,
    trust_context,
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
# Interface endpoints a build without a NAT route needs (S3 is the gateway type: ECR layers).
ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")
STANDARD_IMAGE_PREFIXES = (
    "aws/codebuild/standard:",
    "aws/codebuild/amazonlinux2-x86_64-standard:",
    "aws/codebuild/amazonlinux-x86_64-standard:",
)


def setup_fix(s: Settings) -> str:
    """The remedy most checks share, with the environment so it can be pasted as is."""
    return f"run `invoke setup --apply --env {s.env}`"


TIMEOUT_HEADROOM = 0.8


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


# -- facts -------------------------------------------------------------------------------


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


# -- helpers -----------------------------------------------------------------------------


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


def _variables(project: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    env = project.get("environment") or {}
    return {
        str(v.get("name")): {"type": str(v.get("type", "PLAINTEXT")), "value": str(v.get("value"))}
        for v in env.get("environmentVariables") or []
    }


def _project_missing(check_id: str) -> Check:
    return Check(
        check_id, WARN, "not checked: the CodeBuild project does not exist", "see codebuild_project"
    )


_SECRET_NAME_HINTS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "DATABASE_URL", "PRIVATE_KEY")


def _looks_secret(name: str, value: str) -> bool:
    upper = name.upper()
    if any(hint in upper for hint in _SECRET_NAME_HINTS) or upper.endswith("_KEY"):
        return True
    try:
        return bool(urlsplit(value).password)
    except ValueError:
        return False


def _in_any(cidr_texts: Sequence[str], subnet_cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(subnet_cidr, strict=False)
    except ValueError:
        return False
    for text in cidr_texts:
        try:
            if net.subnet_of(ipaddress.ip_network(text, strict=False)):  # type: ignore[arg-type]
                return True
        except (ValueError, TypeError):
            continue
    return False


# -- checks ------------------------------------------------------------------------------


def check_project(f: Facts) -> Check:
    s = f.settings
    if not s.project:
        return Check(
            "codebuild_project",
            FAIL,
            "no CodeBuild project is configured",
            f"set project under release.environments.{s.env} in invoke.yaml",
        )
    if f.project is None:
        if f.project_error:
            return Check(
                "codebuild_project",
                FAIL,
                f"cannot read CodeBuild project {s.project!r}: {f.project_error}",
                "allow codebuild:BatchGetProjects for the identity running doctor",
            )
        return Check(
            "codebuild_project",
            FAIL,
            f"CodeBuild project {s.project!r} does not exist in {s.region}",
            f"{setup_fix(f.settings)} to create it (or fix project / region in invoke.yaml)",
        )
    return Check(
        "codebuild_project",
        PASS,
        f"CodeBuild project {s.project!r} exists in {s.region}",
        evidence=(str(f.project.get("arn", "")),),
    )


def check_environment(f: Facts) -> Check:
    if f.project is None:
        return _project_missing("environment_image")
    env = f.project.get("environment") or {}
    kind, image, compute = env.get("type", ""), env.get("image", ""), env.get("computeType", "")
    evidence: tuple[str, ...] = (f"type={kind}", f"image={image}", f"computeType={compute}")
    fix = (
        "use environment type LINUX_CONTAINER with image aws/codebuild/standard:7.0 "
        f"and a BUILD_GENERAL1_* compute type ({setup_fix(f.settings)})"
    )
    if kind != ENVIRONMENT_TYPE:
        why = "an ARM environment" if "ARM" in str(kind) else f"type {kind or 'unset'}"
        return Check(
            "environment_image",
            FAIL,
            f"the project runs {why}, but the image is {f.settings.platform} "
            "(needs an x86_64 LINUX_CONTAINER)",
            fix,
            evidence,
        )
    if not str(compute).startswith("BUILD_GENERAL1_"):
        return Check(
            "environment_image",
            FAIL,
            f"compute type {compute or 'unset'} cannot run Docker in the build",
            fix,
            evidence,
        )
    pull = str(env.get("imagePullCredentialsType") or "CODEBUILD")
    evidence = (*evidence, f"imagePullCredentialsType={pull}")
    if str(image).startswith("aws/codebuild/"):
        if pull != "CODEBUILD":
            return Check(
                "environment_image",
                FAIL,
                f"curated image {image} with imagePullCredentialsType {pull}: CodeBuild's own "
                "images must be pulled with CODEBUILD credentials",
                f"set imagePullCredentialsType to CODEBUILD ({setup_fix(f.settings)})",
                evidence,
            )
        if str(image).startswith(STANDARD_IMAGE_PREFIXES):
            return Check(
                "environment_image",
                PASS,
                f"x86_64 {kind} on {image} ({compute})",
                evidence=evidence,
            )
    return _custom_image(f, str(image), pull, evidence)


# a docker command in a buildspec line (docker, docker-compose), not the word in a message
_DOCKER_STEP = re.compile(r"(?:^|[\s;&|(`$])docker(?:-compose)?\s+[a-z]", re.MULTILINE)


def _custom_image(f: Facts, image: str, pull: str, evidence: tuple[str, ...]) -> Check:
    """A build image that is not one of CodeBuild's curated standard images.

    AWS (ProjectEnvironment.imagePullCredentialsType): "When you use a cross-account or private
    registry image, you must use SERVICE_ROLE credentials"; with CODEBUILD credentials an ECR
    image is pulled only when "you modify your ECR repository policy to trust CodeBuild's
    service principal". AWS (ProjectEnvironment.privilegedMode): with a custom image "You can
    initialize the Docker daemon during the install phase of your build" (nohup dockerd ...):
    only the curated images start dockerd themselves.
    """
    fails: list[str] = []
    warns: list[str] = []
    fixes: list[str] = []
    repository = ecr_image_repository_arn(image)
    env = (f.project or {}).get("environment") or {}
    if repository and pull != "SERVICE_ROLE":
        owner = repository.split(":")[4]
        account = f.settings.account or str((f.project or {}).get("arn", "::::")).split(":")[4]
        if owner != account:
            fails.append(
                f"build image {image} is in another account ({owner}) but is pulled with "
                f"{pull} credentials: CodeBuild cannot pull it"
            )
        else:
            warns.append(
                f"private ECR build image {image} is pulled with {pull} credentials: that works "
                "only while its repository policy trusts codebuild.amazonaws.com"
            )
        fixes.append(
            "set imagePullCredentialsType to SERVICE_ROLE and allow the service role "
            "ecr:GetAuthorizationToken and ecr:BatchGetImage / GetDownloadUrlForLayer / "
            f"BatchCheckLayerAvailability on {repository} ({setup_fix(f.settings)} does both)"
            + (
                f"; in account {owner}, let the role pull in the repository's policy"
                if owner != account
                else ""
            )
        )
    elif env.get("registryCredential") and pull != "SERVICE_ROLE":
        fails.append(f"private registry image {image} needs SERVICE_ROLE credentials, not {pull}")
        fixes.append(f"set imagePullCredentialsType to SERVICE_ROLE ({setup_fix(f.settings)})")
    buildspec = str(((f.project or {}).get("source") or {}).get("buildspec") or "")
    curated = image.startswith("aws/codebuild/")
    if not curated and _DOCKER_STEP.search(buildspec) and "dockerd" not in buildspec:
        warns.append(
            f"custom build image {image}: the buildspec runs docker, but only CodeBuild's "
            "curated images start the Docker daemon"
        )
        fixes.append(
            "start it in the buildspec's install phase (nohup /usr/local/bin/dockerd "
            "--host=unix:///var/run/docker.sock --storage-driver=overlay2 & then wait for "
            "`docker info`), keep privileged mode on, or use aws/codebuild/standard:7.0"
        )
    if not (fails or warns):
        warns.append(f"custom build image {image!r}: it must be x86_64 and ship the docker CLI")
        fixes.append("prefer aws/codebuild/standard:7.0 unless you need this image")
    status = FAIL if fails else WARN
    return Check("environment_image", status, "; ".join(fails + warns), "; ".join(fixes), evidence)


def check_privileged(f: Facts) -> Check:
    if f.project is None:
        return _project_missing("privileged_mode")
    if (f.project.get("environment") or {}).get("privilegedMode"):
        return Check("privileged_mode", PASS, "privileged mode is on (docker works in the build)")
    return Check(
        "privileged_mode",
        FAIL,
        "privileged mode is off: docker inside the build cannot reach a daemon "
        '("Cannot connect to the Docker daemon")',
        f"turn on privileged mode: {setup_fix(f.settings)} (or in the console: project "
        f"{f.settings.project} > Edit > Environment > Privileged)",
    )


def check_variables(f: Facts) -> Check:
    if f.project is None:
        return _project_missing("environment_variables")
    s = f.settings
    found = _variables(f.project)
    problems: list[str] = []
    fixes: list[str] = []
    plaintext = sorted(
        n for n, v in found.items() if v["type"] == "PLAINTEXT" and _looks_secret(n, v["value"])
    )
    if plaintext:
        problems.append(
            f"{', '.join(plaintext)} stored as PLAINTEXT (readable by anyone who can "
            "read the project)"
        )
        fixes.append(
            f"store them in Secrets Manager and reference them with type SECRETS_MANAGER "
            f"(DATABASE_URL -> {s.secret or 'your secret'}); rotate the exposed password"
        )
    url = found.get("DATABASE_URL")
    if url is not None and url["type"] == "PARAMETER_STORE":
        problems.append("DATABASE_URL comes from Parameter Store, not Secrets Manager")
        fixes.append(
            f"set DATABASE_URL type SECRETS_MANAGER value {s.secret} ({setup_fix(f.settings)})"
        )
    elif url is not None and url["type"] == "SECRETS_MANAGER":
        reference, _ = split_secret_reference(url["value"])
        if s.secret and not secret_matches(reference, f.secret, s.secret):
            problems.append(
                f"DATABASE_URL reads secret {reference!r}, not the configured {s.secret!r}"
            )
            fixes.append(f"point DATABASE_URL at {s.secret} ({setup_fix(f.settings)})")
    missing = [n for n in REQUIRED_VARIABLES if n not in found]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
        fixes.append(
            f"add {', '.join(missing)} to the project's environment ({setup_fix(f.settings)})"
        )
    evidence = tuple(f"{n}: {v['type']}" for n, v in sorted(found.items()))
    if problems:
        return Check("environment_variables", FAIL, "; ".join(problems), "; ".join(fixes), evidence)
    return Check(
        "environment_variables",
        PASS,
        "DATABASE_URL comes from Secrets Manager; IMAGE_URI, RUN_MIGRATIONS, RUN_SEED are set",
        evidence=evidence,
    )


def pulled_with_role(project: Mapping[str, Any] | None) -> str:
    """The build image CodeBuild pulls with the service role ('' when it uses its own)."""
    env = (project or {}).get("environment") or {}
    if env.get("imagePullCredentialsType") != "SERVICE_ROLE":
        return ""
    return str(env.get("image") or "")


def check_commands(f: Facts) -> Check:
    """The project runs what invoke.yaml says: migrate_command, seed_commands (the seed
    allow-list), command_workdir and command_entrypoint, as ``invoke setup`` writes them."""
    if f.project is None:
        return _project_missing("run_commands")
    s = f.settings
    found = {name: v["value"] for name, v in _variables(f.project).items()}
    evidence = tuple(f"{n}={found[n]}" for n in COMMAND_VARIABLES if n in found)
    differences = mismatches(s, found)
    if differences:
        return Check(
            "run_commands",
            FAIL,
            "the project's commands differ from invoke.yaml: " + "; ".join(differences),
            f"{setup_fix(s)} (invoke.yaml is the one source of the commands and the seed "
            "allow-list)",
            evidence,
        )
    seeds = ", ".join(s.seed_commands) or "none"
    return Check(
        "run_commands",
        PASS,
        f"the project runs {display(s.migrate_command)} and allows seeds {seeds}, as configured",
        evidence=evidence,
    )


def _role_needs(f: Facts) -> tuple[list[Need], list[str]]:
    net = f.network
    notes: list[str] = []
    if not f.secret.arn:
        notes.append("secretsmanager:GetSecretValue not verified: the secret does not exist")
    return (
        needs(
            f.settings,
            subnets=net.subnet_ids,
            groups=net.group_ids,
            secret_arn=f.secret.arn,
            kms_key_arn=f.secret.kms_key_arn,
            build_image=pulled_with_role(f.project),
        ),
        notes,
    )


def _decide(role: RoleFacts, need: Need) -> tuple[Outcome, str]:
    if role.simulated is not None and (need.action, need.resource) in role.simulated:
        return role.simulated[(need.action, need.resource)], "IAM policy simulator"
    request = Request(need.action, need.resource, need.context)
    outcome = evaluate(role.documents, request)
    if role.boundary is not None:
        outcome = intersect(outcome, evaluate((role.boundary,), request))
    return outcome, "policy documents"


def _describe_need(need: Need) -> str:
    return need.action if need.resource == "*" else f"{need.action} on {need.resource}"


def _project_arn(f: Facts) -> str:
    return str((f.project or {}).get("arn") or project_arn(f.settings))


def _trust(f: Facts, role: RoleFacts) -> Trust:
    return evaluate_trust(role.trust, CODEBUILD_SERVICE, trust_context(f.settings, _project_arn(f)))


def _check_trust(f: Facts, role: RoleFacts) -> Check | None:
    """A failing check when CodeBuild cannot assume the role for this project, else None.

    CodeBuild supplies ``aws:SourceAccount`` and ``aws:SourceArn`` (the project's ARN) when it
    assumes the role; trust-policy conditions on them are evaluated against those values."""
    trust = _trust(f, role)
    arn = trust_context(f.settings, _project_arn(f))["aws:SourceArn"][0]
    if trust.trusted:
        return None
    if trust.denied:
        return Check(
            "service_role",
            FAIL,
            f"role {role.name!r}'s trust policy denies {CODEBUILD_SERVICE} "
            f"({', '.join(trust.statements)})",
            "remove or narrow that Deny statement in the role's trust policy",
        )
    if trust.mismatched:
        return Check(
            "service_role",
            FAIL,
            f"role {role.name!r} trusts CodeBuild only under conditions this project does not "
            f"meet: {'; '.join(trust.mismatched)}",
            f"make the trust policy's aws:SourceAccount / aws:SourceArn conditions match {arn} "
            f"(or {setup_fix(f.settings)}: it adds a matching statement and keeps yours)",
            (f"CodeBuild assumes the role for {arn}",),
        )
    return Check(
        "service_role",
        FAIL,
        f"role {role.name!r} cannot be assumed by CodeBuild (trust policy)",
        f"allow sts:AssumeRole for principal service {CODEBUILD_SERVICE} in the "
        f"role's trust policy ({setup_fix(f.settings)})",
    )


def check_role(f: Facts) -> Check:
    role = f.role
    if role is None:
        return Check(
            "service_role",
            FAIL,
            "no service role is set on the project or in the config",
            f"set service_role in invoke.yaml and {setup_fix(f.settings)}",
        )
    if role.error:
        return Check(
            "service_role",
            WARN,
            f"cannot read role {role.name!r}: {role.error}",
            "allow iam:GetRole, iam:ListAttachedRolePolicies, iam:GetPolicyVersion, "
            "iam:ListRolePolicies, iam:GetRolePolicy for the identity running doctor",
        )
    if not role.exists:
        return Check(
            "service_role",
            FAIL,
            f"service role {role.name!r} does not exist",
            setup_fix(f.settings),
        )
    trust_check = _check_trust(f, role)
    if trust_check is not None:
        return trust_check
    wanted, notes = _role_needs(f)
    denied: list[str] = []
    missing: list[str] = []
    # trust conditions on keys CodeBuild's request may not carry: not provable either way
    conditional: list[str] = [
        f"sts:AssumeRole by {CODEBUILD_SERVICE} (trust condition {c})"
        for c in _trust(f, role).unknown
    ]
    method = "policy documents"
    for need in wanted:
        outcome, method = _decide(role, need)
        text = _describe_need(need)
        if outcome.decision is Decision.DENIED:
            where = outcome.statements[0] if outcome.statements else "a policy"
            denied.append(f"{text} (explicit Deny in {where})")
        elif outcome.decision is Decision.IMPLICIT_DENY:
            missing.append(text)
        elif outcome.decision is Decision.CONDITIONAL:
            conditional.append(f"{text} (condition {', '.join(outcome.unknown_conditions)})")
    evidence = tuple(
        [f"evaluated with {method}"]
        + [f"policy {d.source}" for d in role.documents]
        + [f"unreadable policy {u}" for u in role.unreadable]
        + notes
    )
    if denied or missing:
        parts = []
        if missing:
            parts.append(f"does not allow {'; '.join(_unique(missing))}")
        if denied:
            parts.append(f"denies {'; '.join(_unique(denied))}")
        fix = f"{setup_fix(f.settings)} to write the least-privilege policy"
        if denied:
            fix = "remove or narrow the explicit Deny statement(s) named above, then " + fix
        return Check(
            "service_role", FAIL, f"role {role.name!r} " + " and ".join(parts), fix, evidence
        )
    if conditional or role.unreadable:
        what = "; ".join(_unique(conditional)) or "some policies could not be read"
        return Check(
            "service_role",
            WARN,
            f"role {role.name!r} allows the build's actions only under conditions: {what}",
            f"check that those conditions hold for CodeBuild, or rely on {setup_fix(f.settings)}'s policy",
            evidence,
        )
    return Check(
        "service_role",
        PASS,
        f"role {role.name!r} is assumable by CodeBuild and allows ECR pull, logs, VPC "
        "networking and the database secret",
        evidence=evidence,
    )


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check_vpc(f: Facts) -> Check:
    net = f.network
    s = f.settings
    if f.project is None and not (net.vpc_id or net.subnet_ids or net.group_ids):
        return _project_missing("vpc_config")
    fix = (
        f"attach the project to the VPC with private subnets and the build security group "
        f"(set vpc_id, subnets, security_groups in invoke.yaml and {setup_fix(f.settings)})"
    )
    if not (net.vpc_id and net.subnet_ids and net.group_ids):
        lacking = [
            n
            for n, v in (
                ("VPC", net.vpc_id),
                ("subnets", net.subnet_ids),
                ("security groups", net.group_ids),
            )
            if not v
        ]
        return Check(
            "vpc_config",
            FAIL,
            f"the project has no {', '.join(lacking)} (a build outside the VPC cannot reach RDS)",
            fix,
        )
    if net.error:
        return Check("vpc_config", WARN, f"cannot read the VPC: {net.error}", "allow ec2:Describe*")
    problems: list[str] = []
    for sid in net.subnet_ids:
        sub = net.subnets.get(sid)
        if sub is None:
            problems.append(f"subnet {sid} does not exist")
        elif sub.vpc_id != net.vpc_id:
            problems.append(f"subnet {sid} is in {sub.vpc_id}, not {net.vpc_id}")
    for gid in net.group_ids:
        group = net.groups.get(gid)
        if group is None:
            problems.append(f"security group {gid} does not exist")
        elif group.vpc_id != net.vpc_id:
            problems.append(f"security group {gid} is in {group.vpc_id}, not {net.vpc_id}")
    evidence = (
        f"vpc {net.vpc_id}",
        f"subnets {', '.join(net.subnet_ids)}",
        f"security groups {', '.join(net.group_ids)}",
    )
    if problems:
        return Check("vpc_config", FAIL, "; ".join(problems), fix, evidence)
    drift = []
    if s.vpc_id and s.vpc_id != net.vpc_id:
        drift.append(f"vpc {net.vpc_id} (config says {s.vpc_id})")
    if s.subnets and set(s.subnets) != set(net.subnet_ids):
        drift.append(f"subnets differ from config ({', '.join(s.subnets)})")
    if s.security_groups and set(s.security_groups) != set(net.group_ids):
        drift.append(f"security groups differ from config ({', '.join(s.security_groups)})")
    if drift:
        return Check(
            "vpc_config",
            WARN,
            "the project's VPC settings differ from invoke.yaml: " + "; ".join(drift),
            f"{setup_fix(f.settings)} to bring the project in line, or fix invoke.yaml",
            evidence,
        )
    return Check(
        "vpc_config",
        PASS,
        f"{len(net.subnet_ids)} subnet(s) and {len(net.group_ids)} security group(s) in "
        f"{net.vpc_id}",
        evidence=evidence,
    )


def _default_route(sub: Subnet) -> Route | None:
    return next((r for r in sub.routes if r.destination == "0.0.0.0/0"), None)


HTTPS = 443


def _admits_https(net: NetworkFacts, endpoint: Endpoint) -> bool:
    """Do the endpoint's security groups accept tcp 443 from the build's groups or subnets?
    (AWS PrivateLink: the endpoint's security groups must allow the traffic from the clients.)"""
    build = set(net.group_ids)
    cidrs = [net.subnets[s].cidr for s in net.subnet_ids if s in net.subnets]
    for gid in endpoint.groups:
        group = net.groups.get(gid)
        if group is None:
            return True  # unreadable: do not claim a failure we cannot see
        for rule in group.ingress:
            from_build = bool(build & set(rule.groups)) or (
                bool(cidrs) and all(_in_any(rule.cidrs, c) for c in cidrs)
            )
            if from_build and rule.covers_port(HTTPS):
                return True
    return False


def _endpoint_problem(net: NetworkFacts, endpoint: Endpoint) -> str:
    """Why an interface endpoint does not serve the build ('' when it does).

    AWS (CreateVpcEndpoint, PrivateDnsEnabled): the private hosted zone lets clients use the
    service's default DNS name; "To use a private hosted zone, you must set the following VPC
    attributes to true: enableDnsHostnames and enableDnsSupport". Without it the SDKs in the
    build resolve the public name and still need a NAT route.
    """
    name = f"{endpoint.service} endpoint {endpoint.id}".rstrip()
    if not endpoint.private_dns:
        return f"{name} has private DNS off"
    off = [
        attr
        for attr, value in (
            ("enableDnsSupport", net.dns_support),
            ("enableDnsHostnames", net.dns_hostnames),
        )
        if value is False
    ]
    if off:
        return f"the VPC has {' and '.join(off)} off, so no endpoint's private DNS applies"
    if not _admits_https(net, endpoint):
        groups = ", ".join(endpoint.groups) or "no security group"
        return f"{name}: its security groups ({groups}) do not admit tcp 443 from the build"
    return ""


def _missing_endpoints(
    net: NetworkFacts, sub: Subnet, extra: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(services without a working endpoint, why the existing ones do not count)."""
    live = [e for e in net.endpoints if e.state.lower() in ("available", "pending", "")]
    interface = [e for e in live if e.kind.lower() == "interface"]
    missing: list[str] = []
    reasons: list[str] = []
    for svc in (*ENDPOINT_SERVICES, *extra):
        found = [e for e in interface if e.service == svc]
        problems = [_endpoint_problem(net, e) for e in found]
        if found and not all(problems):
            continue
        missing.append(svc)
        reasons += problems
    s3 = [e for e in live if e.service == "s3" and e.kind.lower() == "gateway"]
    if not any(sub.route_table in e.route_tables for e in s3):
        missing.append("s3 (gateway, on this subnet's route table)")
    return missing, reasons


def _https_egress(net: NetworkFacts) -> Check | None:
    """The build's security groups must let it out on tcp 443 (every AWS API is HTTPS)."""
    if not net.group_ids:
        return None
    targets = {g for e in net.endpoints for g in e.groups}
    if _egress_allows(net, HTTPS, targets):
        return None
    groups = ", ".join(net.group_ids)
    return Check(
        "subnet_egress",
        FAIL,
        f"the build's security group(s) {groups} allow no outbound tcp 443: the build cannot "
        "reach ECR, CloudWatch Logs or Secrets Manager",
        f"allow egress tcp 443 on {net.group_ids[0]}: aws ec2 authorize-security-group-egress "
        f"--group-id {net.group_ids[0]} --protocol tcp --port 443 --cidr 0.0.0.0/0",
    )


def check_egress(f: Facts) -> Check:
    net = f.network
    if f.project is None and net.source == "project":
        return _project_missing("subnet_egress")
    if not net.subnet_ids:
        return Check("subnet_egress", WARN, "not checked: no subnets configured", "see vpc_config")
    blocked = _https_egress(net)
    if blocked is not None:
        return blocked
    extra = ("kms",) if f.secret.kms_key_arn else ()
    fails: list[str] = []
    fixes: list[str] = []
    evidence: list[str] = []
    endpoint_reasons: list[str] = []
    for sid in net.subnet_ids:
        sub = net.subnets.get(sid)
        if sub is None:
            continue
        route = _default_route(sub)
        table = sub.route_table or "no route table"
        if route is not None and route.target.startswith("igw-"):
            fails.append(
                f"subnet {sid}'s only default route is internet gateway {route.target} "
                "(CodeBuild's network interfaces get no public address, so this is no egress)"
            )
            fixes.append(
                f"route 0.0.0.0/0 in {table} through a NAT gateway (or use private subnets that do)"
            )
            continue
        if route is not None and route.state == "blackhole":
            fails.append(f"subnet {sid}'s default route to {route.target} is a blackhole")
            fixes.append(f"replace the 0.0.0.0/0 route in {table} with a live NAT gateway")
            continue
        if route is not None and route.target.startswith("nat-"):
            state = net.nat_states.get(route.target, "unknown")
            if state != "available":
                fails.append(f"subnet {sid} routes through NAT gateway {route.target} ({state})")
                fixes.append(f"use an available NAT gateway in {table}")
                continue
            evidence.append(f"{sid}: 0.0.0.0/0 -> {route.target} in {table}")
            continue
        if route is not None:  # transit gateway, NAT instance, firewall endpoint, peering
            evidence.append(f"{sid}: 0.0.0.0/0 -> {route.target} in {table} (not a NAT gateway)")
            continue
        missing, reasons = _missing_endpoints(net, sub, extra)
        if missing:
            endpoint_reasons += reasons
            fails.append(
                f"subnet {sid} has no default route and the VPC lacks working endpoints for "
                f"{', '.join(missing)}"
            )
            fixes.append(
                f"add 0.0.0.0/0 -> NAT gateway to {table}, or create VPC endpoints "
                f"com.amazonaws.{f.settings.region}.<{', '.join(missing)}> with private DNS "
                "on, in a VPC with enableDnsSupport and enableDnsHostnames on, whose security "
                "groups admit tcp 443 from the build's security group"
            )
        else:
            evidence.append(f"{sid}: no internet route; VPC endpoints cover ECR, S3, logs, secrets")
    if fails:
        if endpoint_reasons:  # the endpoints are the VPC's: say once why they do not count
            fails.append("endpoints that do not count: " + "; ".join(_unique(endpoint_reasons)))
        return Check(
            "subnet_egress", FAIL, "; ".join(fails), "; ".join(_unique(fixes)), tuple(evidence)
        )
    other = [e for e in evidence if "not a NAT gateway" in e]
    if other:
        return Check(
            "subnet_egress",
            WARN,
            "default route is not a NAT gateway; make sure it reaches ECR, S3, logs and "
            "Secrets Manager",
            "",
            tuple(evidence),
        )
    return Check(
        "subnet_egress",
        PASS,
        f"every build subnet reaches AWS APIs ({len(net.subnet_ids)} checked)",
        evidence=tuple(evidence),
    )


def _ingress_fix(db_group: str, build_group: str, port: int) -> str:
    return (
        f"allow tcp {port} from {build_group} on the database's group: aws ec2 "
        f"authorize-security-group-ingress --group-id {db_group} --protocol tcp --port {port} "
        f"--source-group {build_group}"
    )


def database_path(f: Facts, port: int | None = None) -> Check:
    """Does the database accept ``port`` from the build's security groups / subnets?"""
    net, db = f.network, f.database
    if f.project is None and net.source == "project":
        return _project_missing("database_path")
    if db.error:
        return Check(
            "database_path",
            WARN,
            f"cannot read the database: {db.error}",
            "allow rds:DescribeDBInstances and rds:DescribeDBClusters",
        )
    if not db.found:
        return Check(
            "database_path",
            WARN if not db.identifier else FAIL,
            f"database {db.identifier!r} not found"
            if db.identifier
            else "no database configured and none matches the secret's host",
            "set database_instance or database_cluster in invoke.yaml (the RDS identifier)",
        )
    port = port or db.port or f.settings.database_port
    name = f"{db.kind} {db.identifier!r}"
    if not net.group_ids:
        if f.project is None:
            return _project_missing("database_path")
        return Check(
            "database_path",
            FAIL,
            f"the build has no security group to reach {name}",
            "see vpc_config",
        )
    if net.vpc_id and db.vpc_id and db.vpc_id != net.vpc_id:
        return Check(
            "database_path",
            FAIL,
            f"{name} is in {db.vpc_id} but the build runs in {net.vpc_id}",
            f"attach the project to subnets of {db.vpc_id} (or peer the VPCs and route them)",
        )
    build = set(net.group_ids)
    cidrs = [net.subnets[s].cidr for s in net.subnet_ids if s in net.subnets]
    evidence: list[str] = [f"{name} at {', '.join(db.hosts)}:{port}"]
    wrong_port: list[str] = []
    wrong_source: list[str] = []
    for gid in db.group_ids:
        group = net.groups.get(gid)
        if group is None:
            evidence.append(f"database group {gid} not readable")
            continue
        for rule in group.ingress:
            from_build = bool(build & set(rule.groups)) or (
                bool(cidrs) and all(_in_any(rule.cidrs, c) for c in cidrs)
            )
            if from_build and rule.covers_port(port):
                if not _egress_allows(net, port, set(db.group_ids)):
                    return Check(
                        "database_path",
                        FAIL,
                        f"the build's security group does not allow outbound tcp {port}",
                        f"allow egress tcp {port} to {gid} on {', '.join(net.group_ids)}",
                        tuple(evidence),
                    )
                evidence.append(f"{gid} allows {rule.ports()} from the build")
                return Check(
                    "database_path",
                    PASS,
                    f"{name} accepts tcp {port} from the build's security group",
                    evidence=tuple(evidence),
                )
            if from_build:
                wrong_port.append(f"{gid} allows the build on {rule.ports()}")
            elif rule.covers_port(port):
                sources = ", ".join([*rule.groups, *rule.cidrs]) or "nobody"
                wrong_source.append(f"{gid} allows {port} only from {sources}")
    db_group = db.group_ids[0] if db.group_ids else "<database group>"
    fix = _ingress_fix(db_group, net.group_ids[0], port)
    if wrong_port:
        message = f"{name} listens on {port} but " + "; ".join(wrong_port) + f", not tcp {port}"
    elif wrong_source:
        message = (
            f"{name} does not accept the build's group {', '.join(net.group_ids)}: "
            + "; ".join(wrong_source)
        )
    else:
        message = f"{name}'s security groups have no rule for tcp {port} from the build"
    return Check("database_path", FAIL, message, fix, tuple(evidence))


def _egress_allows(net: NetworkFacts, port: int, db_groups: set[str]) -> bool:
    for gid in net.group_ids:
        group = net.groups.get(gid)
        if group is None:
            return True  # unknown: do not claim a failure we cannot see
        for rule in group.egress:
            if rule.covers_port(port) and (
                rule.cidrs or rule.prefix_lists or db_groups & set(rule.groups)
            ):
                return True
    return False


def check_secret(f: Facts) -> Check:
    sec, s = f.secret, f.settings
    if not s.secret:
        return Check(
            "database_secret",
            FAIL,
            "no database secret is configured",
            f"set secret under release.environments.{s.env} in invoke.yaml",
        )
    create = (
        f"create it (the value is yours to set): aws secretsmanager create-secret --name "
        f"{s.secret} --secret-string 'postgresql://USER:PASSWORD@HOST:5432/DB'"
    )
    if not sec.exists:
        if sec.error:
            return Check(
                "database_secret",
                FAIL,
                f"cannot describe secret {s.secret!r}: {sec.error}",
                "allow secretsmanager:DescribeSecret for the identity running doctor",
            )
        return Check("database_secret", FAIL, f"secret {s.secret!r} does not exist", create)
    if sec.deleted:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} is scheduled for deletion",
            f"aws secretsmanager restore-secret --secret-id {s.secret}",
        )
    if not sec.readable:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} cannot be read: {sec.error or 'no value'}",
            "allow secretsmanager:GetSecretValue (and kms:Decrypt on its key) for the identity "
            "running doctor, and make sure the secret has a current value",
        )
    if sec.url is None:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} is not a PostgreSQL URL: {sec.parse_error}",
            "put postgresql://USER:PASSWORD@HOST:PORT/DB in it (aws secretsmanager "
            f"put-secret-value --secret-id {s.secret} ...)",
        )
    url, db = sec.url, f.database
    evidence = (f"host {url.host}", f"port {url.port or 5432}", f"database {url.database}")
    if db.found and db.hosts and url.host.lower() not in {h.lower() for h in db.hosts}:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} points at host {url.host}, not the database "
            f"{db.identifier} ({', '.join(db.hosts)})",
            f"put the database endpoint {db.hosts[0]} in the secret's URL",
            evidence,
        )
    if db.found and db.port and url.port and url.port != db.port:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} uses port {url.port}, but the database listens on {db.port}",
            f"use port {db.port} in the secret's URL",
            evidence,
        )
    if not url.has_password:
        return Check(
            "database_secret",
            WARN,
            f"secret {s.secret!r} has no password in its URL",
            "fine with IAM auth; otherwise add the password",
            evidence,
        )
    matched = f", matching {db.kind} {db.identifier}" if db.found else ""
    return Check(
        "database_secret",
        PASS,
        f"secret {s.secret!r} is readable and a PostgreSQL URL{matched} (value not shown)",
        evidence=evidence,
    )


def check_image(f: Facts) -> Check:
    s, img = f.settings, f.image
    ref = image_uri(s)
    if img.error:
        return Check(
            "ecr_image",
            WARN,
            f"cannot read {ref}: {img.error}",
            "allow ecr:DescribeRepositories and ecr:BatchGetImage for doctor",
        )
    if not img.repository_exists:
        return Check(
            "ecr_image",
            FAIL,
            f"ECR repository {s.repository!r} does not exist in {s.region}",
            f"aws ecr create-repository --repository-name {s.repository}, then push the image "
            f"(`invoke release --env {s.env}`)",
        )
    if not img.tag_exists:
        return Check(
            "ecr_image",
            FAIL,
            f"{ref} does not exist (no image tagged {s.tag!r})",
            f"build and push it for {s.platform} (`invoke release --env {s.env}`)",
        )
    if img.platforms is None:
        return Check(
            "ecr_image",
            WARN,
            f"{ref} is a single-arch image; its platform is unverified via the API"
            + (f" ({img.note})" if img.note else ""),
            f"push a multi-platform index, or verify with the registry "
            f"(docker buildx imagetools inspect {ref})",
            (img.media_type,),
        )
    if any(s.platform.matches(p) for p in img.platforms):
        return Check(
            "ecr_image",
            PASS,
            f"{ref} holds {s.platform}",
            evidence=(img.digest, describe(img.platforms)),
        )
    return Check(
        "ecr_image",
        FAIL,
        f"{ref} holds {describe(img.platforms)}, not {s.platform} (CodeBuild runs x86_64: "
        "exec format error)",
        f"rebuild and push for {s.platform}: `invoke release --env {s.env}` (or docker buildx build "
        f"--platform {s.platform} --push)",
        (img.digest,),
    )


def check_concurrency(f: Facts) -> Check:
    if f.project is None:
        return _project_missing("concurrency_limit")
    limit = f.project.get("concurrentBuildLimit")
    fix = (
        f"set concurrentBuildLimit to 1 ({setup_fix(f.settings)}, or aws codebuild update-project --name "
        f"{f.settings.project} --concurrent-build-limit 1)"
    )
    if limit == 1:
        return Check(
            "concurrency_limit", PASS, "concurrentBuildLimit is 1: one migration at a time"
        )
    if limit is None:
        return Check(
            "concurrency_limit",
            WARN,
            "concurrentBuildLimit is unset: two migrations could run at once",
            fix,
        )
    return Check(
        "concurrency_limit",
        FAIL,
        f"concurrentBuildLimit is {limit}: two migrations could run at once",
        fix,
    )


def check_timeout(f: Facts) -> Check:
    if f.project is None:
        return _project_missing("build_timeout")
    timeout = int(f.project.get("timeoutInMinutes") or 60)
    hist = f.builds
    if hist.error:
        return Check(
            "build_timeout",
            WARN,
            f"timeout {timeout} min; recent builds unreadable: {hist.error}",
            "allow codebuild:ListBuildsForProject, BatchGetBuilds",
        )
    longest = max(hist.durations, default=0.0)
    evidence = (
        f"timeoutInMinutes={timeout}",
        f"{len(hist.durations)} recent build(s), longest {longest:.1f} min",
    )
    suggested = max(timeout * 2, int(longest * 1.5) + 1)
    fix = (
        f"raise the timeout: aws codebuild update-project --name {f.settings.project} "
        f"--timeout-in-minutes {min(suggested, 2160)}"
    )
    if hist.timed_out:
        return Check(
            "build_timeout",
            WARN,
            f"{hist.timed_out} recent build(s) timed out at {timeout} min",
            fix,
            evidence,
        )
    if longest > TIMEOUT_HEADROOM * timeout:
        return Check(
            "build_timeout",
            WARN,
            f"the longest recent build took {longest:.1f} of {timeout} min (over "
            f"{int(TIMEOUT_HEADROOM * 100)}%)",
            fix,
            evidence,
        )
    if not hist.durations:
        return Check(
            "build_timeout", PASS, f"timeout {timeout} min (no recent builds)", evidence=evidence
        )
    return Check(
        "build_timeout",
        PASS,
        f"timeout {timeout} min leaves room (longest recent build {longest:.1f} min)",
        evidence=evidence,
    )


def check_auto_retry(f: Facts) -> Check:
    """CodeBuild re-runs a failed build by itself when ``autoRetryLimit`` > 0: for a migration
    that failed half-way that is a second, unasked-for run against a half-migrated database."""
    if f.project is None:
        return _project_missing("auto_retry")
    limit = int(f.project.get("autoRetryLimit") or 0)
    if limit <= 0:
        return Check("auto_retry", PASS, "autoRetryLimit is 0: a failed build is never re-run")
    return Check(
        "auto_retry",
        FAIL,
        f"autoRetryLimit is {limit}: CodeBuild would re-run a failed migration by itself, up "
        f"to {limit} more time(s), against a half-migrated database",
        f"set autoRetryLimit to 0 ({setup_fix(f.settings)}, or aws codebuild update-project "
        f"--name {f.settings.project} --auto-retry-limit 0)",
        (f"autoRetryLimit={limit}",),
    )


def _s3_location(logs: Mapping[str, Any]) -> str:
    s3 = logs.get("s3Logs") or {}
    if str(s3.get("status", "")).upper() != "ENABLED" or not s3.get("location"):
        return ""
    return f"s3://{str(s3['location']).removeprefix('arn:aws:s3:::')}"


def check_logs(f: Facts) -> Check:
    """The suite follows and diagnoses a build through its CloudWatch Logs stream."""
    if f.project is None:
        return _project_missing("build_logs")
    logs = f.project.get("logsConfig") or {}
    cloudwatch = logs.get("cloudWatchLogs") or {}
    status = str(cloudwatch.get("status") or "ENABLED").upper()  # AWS's default is ENABLED
    s3 = _s3_location(logs)
    fix = (
        f"enable CloudWatch Logs for the project ({setup_fix(f.settings)}, or aws codebuild "
        f"update-project --name {f.settings.project} --logs-config "
        "'cloudWatchLogs={status=ENABLED}')"
    )
    evidence = tuple(
        x for x in (f"cloudWatchLogs.status={status}", f"s3Logs={s3}" if s3 else "") if x
    )
    if status == "ENABLED":
        group = cloudwatch.get("groupName") or f"/aws/codebuild/{f.settings.project}"
        return Check(
            "build_logs", PASS, f"build logs go to CloudWatch Logs group {group}", evidence=evidence
        )
    where = f"only to S3 at {s3}" if s3 else "nowhere (S3 logs are off too)"
    return Check(
        "build_logs",
        FAIL,
        f"CloudWatch Logs are disabled for the project: build logs go {where}, so "
        "db.migrate / release cannot follow a build or diagnose its failure",
        fix,
        evidence,
    )


CHECKS: tuple[Callable[[Facts], Check], ...] = (
    check_project,
    check_environment,
    check_privileged,
    check_variables,
    check_commands,
    check_role,
    check_vpc,
    check_egress,
    database_path,
    check_secret,
    check_image,
    check_concurrency,
    check_timeout,
    check_auto_retry,
    check_logs,
)


def run_checks(facts: Facts) -> list[Check]:
    return [check(facts) for check in CHECKS]


def network_checks(facts: Facts, port: int | None = None) -> list[Check]:
    """The network-path subset (for ``diagnose`` after a database timeout)."""
    return [check_egress(facts), database_path(facts, port)]


def failed(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if c.status == FAIL]


def summary(checks: Sequence[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in (PASS, WARN, FAIL)}
