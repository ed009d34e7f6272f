"""Read-only AWS adapter for ``doctor``: gathers :class:`tasks.provision.doctor.Facts`, decides nothing.

Every call goes through ``rt.aws.client(...)`` and only reads. A read that AWS refuses for
this one resource (AccessDenied, not found) becomes a fact (``error`` / ``exists=False``) so
the matching check can say so; a failure that makes every read pointless (no or expired
credentials, no endpoint) is raised as a ``SuiteError``. The secret's value is parsed here
and dropped at once: only the parsed host/port/database and a has-password flag leave this
module, and the raw value is registered with the redactor in case anything echoes it.

Quirks handled: IAM may return policy documents URL-encoded; ``describe_nat_gateways`` takes
``Filter`` (singular); a subnet without an explicit route-table association uses the VPC's
main table; IAM's simulator is absent in moto (HTTP 500) and may be denied to the caller, so
policy documents are evaluated instead.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote

from ..codebuild.client import AwsCaller, CodeBuildBackend
from ..codebuild.model import IN_PROGRESS, TIMED_OUT
from ..core.aws import ReadRefused, read_aws, translate
from ..core.errors import ExitCode, SuiteError
from ..core.retrying import EXPIRED_CODES, INVALID_CREDENTIAL_CODES, error_code, is_expired
from ..core.runtime import Runtime
from ..image.registry import MANIFEST_TYPES, platform_of_config, platforms_of_manifest
from .doctor import (
    BuildHistory,
    Check,
    DatabaseFacts,
    DbUrl,
    Endpoint,
    Facts,
    ImageFacts,
    NetworkFacts,
    RoleFacts,
    Route,
    Rule,
    SecretFacts,
    SecurityGroup,
    Subnet,
    failed,
    network_checks,
    parse_database_url,
    pulled_with_role,
    run_checks,
    split_secret_reference,
    summary,
)
from .policy import Decision, NamedDocument, Outcome
from .requirements import needs, role_name

T = TypeVar("T")
RECENT_BUILDS = 20
LISTED_BUILDS = 100  # ids listed to find RECENT_BUILDS completed ones
Fetch = Callable[[str], bytes]


def _call(action: str, fn: Callable[[], T]) -> T:
    """One AWS read; a refusal of this resource is ReadRefused (its check reports it)."""
    return read_aws(fn, action)


def _code_of(fn: Callable[[], T]) -> tuple[T | None, str]:
    """(result, '') or (None, error code) for reads where 'not found' is an answer."""
    try:
        return read_aws(fn, "reading AWS"), ""
    except ReadRefused as refused:
        return None, refused.code


def _document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return dict(json.loads(unquote(value)))
    return dict(value or {})


# -- CodeBuild ---------------------------------------------------------------------------


def read_project(rt: Runtime) -> tuple[Mapping[str, Any] | None, str]:
    name = rt.settings.project
    if not name:
        return None, ""
    client = rt.aws.client("codebuild")
    try:
        found = _call(
            "reading the CodeBuild project", lambda: client.batch_get_projects(names=[name])
        )
    except ReadRefused as err:
        return None, str(err)
    projects = found.get("projects") or []
    return (projects[0] if projects else None), ""


def read_builds(rt: Runtime, project: str) -> BuildHistory:
    """The durations of the newest completed builds, read by the CodeBuild adapter the release
    waits with (one implementation of "recent builds"); a refused read is the check's fact."""
    backend = CodeBuildBackend(
        lambda service: rt.aws.client(service, suite_retries=True),
        AwsCaller(refresh=rt.aws.refresh, source=rt.aws.credential_source, sleep=rt.sleep),
        region=rt.settings.region,
    )
    try:
        builds = backend.recent(project, LISTED_BUILDS)
    except SuiteError as err:
        code = str(err.details.get("aws_code") or "")
        if not code or code in INVALID_CREDENTIAL_CODES or code in EXPIRED_CODES:
            raise
        return BuildHistory(error=err.message.split(": ", 1)[-1])
    done = [b for b in builds if b.start and b.end and b.status != IN_PROGRESS]
    recent = done[:RECENT_BUILDS]  # newest first, as ``recent`` sorts them
    durations = tuple((b.end - b.start) / 60 for b in recent if b.end and b.start)
    timed_out = sum(1 for b in recent if b.status == TIMED_OUT)
    return BuildHistory(durations, timed_out)


# -- Secrets Manager / KMS ---------------------------------------------------------------


def read_secret(rt: Runtime, json_key: str = "") -> SecretFacts:
    ref = rt.settings.secret
    if not ref:
        return SecretFacts("")
    sm = rt.aws.client("secretsmanager")
    described, code = _code_of(lambda: sm.describe_secret(SecretId=ref))
    if described is None:
        if code == "ResourceNotFoundException":
            return SecretFacts(ref)
        return SecretFacts(ref, error=code)
    facts = SecretFacts(
        ref,
        exists=True,
        arn=str(described.get("ARN", "")),
        kms_key_arn=customer_key_arn(rt, str(described.get("KmsKeyId") or "")),
        deleted=bool(described.get("DeletedDate")),
    )
    if facts.deleted:
        return facts
    value, code = _code_of(lambda: sm.get_secret_value(SecretId=ref))
    if value is None:
        return replace(facts, error=code)
    text = value.get("SecretString")
    if text is None:
        return replace(facts, readable=True, parse_error="the secret holds binary, not a string")
    rt.redactor.add(str(text))
    url, problem = _parse_secret(str(text), json_key)
    if url is not None:
        return replace(facts, readable=True, url=url)
    return replace(facts, readable=True, parse_error=problem)


def _parse_secret(text: str, json_key: str) -> tuple[DbUrl | None, str]:
    """Parse without ever putting the value into an error message."""
    if json_key or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None, "the variable names a JSON key but the secret is not JSON"
        if not json_key:
            keys = ", ".join(sorted(data)) if isinstance(data, dict) else "?"
            return None, (
                f"it holds JSON (keys: {keys}), not a URL; store the URL itself or reference "
                "a key holding it as DATABASE_URL=secret-id:KEY"
            )
        if not isinstance(data, dict) or json_key not in data:
            return None, f"the secret's JSON has no key {json_key!r}"
        text = str(data[json_key])
    try:
        return parse_database_url(text), ""
    except ValueError as err:
        return None, str(err)


def customer_key_arn(rt: Runtime, key_id: str) -> str:
    """The key's ARN when it is customer-managed (those need kms:Decrypt in the role)."""
    if not key_id or key_id in ("alias/aws/secretsmanager",):
        return ""
    kms = rt.aws.client("kms")
    described, _code = _code_of(lambda: kms.describe_key(KeyId=key_id))
    if described is None:  # cannot tell: assume the stricter case when it is an ARN
        return key_id if key_id.startswith("arn:") else ""
    meta = described.get("KeyMetadata") or {}
    return str(meta.get("Arn", "")) if meta.get("KeyManager") == "CUSTOMER" else ""


# -- RDS ---------------------------------------------------------------------------------


def _instance_facts(inst: Mapping[str, Any], how: str) -> DatabaseFacts:
    endpoint = inst.get("Endpoint") or {}
    return DatabaseFacts(
        found=True,
        identifier=str(inst.get("DBInstanceIdentifier", "")),
        kind="instance",
        how=how,
        hosts=tuple(h for h in [endpoint.get("Address")] if h),
        port=endpoint.get("Port"),
        vpc_id=str((inst.get("DBSubnetGroup") or {}).get("VpcId", "")),
        group_ids=tuple(g["VpcSecurityGroupId"] for g in inst.get("VpcSecurityGroups") or []),
    )


def _cluster_facts(rt: Runtime, cluster: Mapping[str, Any], how: str) -> DatabaseFacts:
    vpc = ""
    group_name = cluster.get("DBSubnetGroup")
    if group_name:
        rds = rt.aws.client("rds")
        found, _ = _code_of(lambda: rds.describe_db_subnet_groups(DBSubnetGroupName=group_name))
        groups = (found or {}).get("DBSubnetGroups") or []
        vpc = str(groups[0].get("VpcId", "")) if groups else ""
    hosts = [cluster.get("Endpoint"), cluster.get("ReaderEndpoint")]
    return DatabaseFacts(
        found=True,
        identifier=str(cluster.get("DBClusterIdentifier", "")),
        kind="cluster",
        how=how,
        hosts=tuple(str(h) for h in hosts if h),
        port=cluster.get("Port"),
        vpc_id=vpc,
        group_ids=tuple(g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups") or []),
    )


def read_database(rt: Runtime, host: str = "") -> DatabaseFacts:
    s = rt.settings
    rds = rt.aws.client("rds")
    if s.database_instance:
        found, code = _code_of(
            lambda: rds.describe_db_instances(DBInstanceIdentifier=s.database_instance)
        )
        if found is None:
            return _db_missing(s.database_instance, code, "DBInstanceNotFound")
        return _instance_facts(found["DBInstances"][0], "configured")
    if s.database_cluster:
        found, code = _code_of(
            lambda: rds.describe_db_clusters(DBClusterIdentifier=s.database_cluster)
        )
        if found is None:
            return _db_missing(s.database_cluster, code, "DBClusterNotFoundFault")
        return _cluster_facts(rt, found["DBClusters"][0], "configured")
    if not host:
        return DatabaseFacts()
    return _database_by_host(rt, host.lower())


def _db_missing(identifier: str, code: str, not_found: str) -> DatabaseFacts:
    if code == not_found or code.startswith("DBInstanceNotFound") or code.startswith("DBCluster"):
        return DatabaseFacts(identifier=identifier)
    return DatabaseFacts(identifier=identifier, error=code)


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterable[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key) or []


def _listed(action: str, client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a paginated read, as one soft-failing call."""
    return _call(action, lambda: list(_pages(client, operation, key, **kwargs)))


def _database_by_host(rt: Runtime, host: str) -> DatabaseFacts:
    rds = rt.aws.client("rds")
    try:
        instances = _call(
            "listing RDS instances",
            lambda: list(_pages(rds, "describe_db_instances", "DBInstances")),
        )
        for inst in instances:
            if str((inst.get("Endpoint") or {}).get("Address", "")).lower() == host:
                return _instance_facts(inst, "secret host")
        clusters = _call(
            "listing RDS clusters", lambda: list(_pages(rds, "describe_db_clusters", "DBClusters"))
        )
    except ReadRefused as err:
        return DatabaseFacts(error=str(err))
    for cluster in clusters:
        hosts = {str(cluster.get(k, "")).lower() for k in ("Endpoint", "ReaderEndpoint")}
        if host in hosts:
            return _cluster_facts(rt, cluster, "secret host")
    return DatabaseFacts()


# -- EC2 ---------------------------------------------------------------------------------


def _rules(permissions: Sequence[Mapping[str, Any]]) -> tuple[Rule, ...]:
    return tuple(
        Rule(
            protocol=str(p.get("IpProtocol", "-1")),
            from_port=p.get("FromPort"),
            to_port=p.get("ToPort"),
            groups=tuple(str(g.get("GroupId")) for g in p.get("UserIdGroupPairs") or []),
            cidrs=tuple(
                [str(r.get("CidrIp")) for r in p.get("IpRanges") or []]
                + [str(r.get("CidrIpv6")) for r in p.get("Ipv6Ranges") or []]
            ),
            prefix_lists=tuple(str(r.get("PrefixListId")) for r in p.get("PrefixListIds") or []),
        )
        for p in permissions
    )


def _route_target(route: Mapping[str, Any]) -> str:
    for key in (
        "NatGatewayId",
        "GatewayId",
        "TransitGatewayId",
        "NetworkInterfaceId",
        "InstanceId",
        "VpcPeeringConnectionId",
        "VpcEndpointId",
    ):
        if route.get(key):
            return str(route[key])
    return "unknown"


def _tables(ec2: Any, vpc_id: str) -> tuple[dict[str, Mapping[str, Any]], Mapping[str, Any] | None]:
    by_subnet: dict[str, Mapping[str, Any]] = {}
    main = None
    for table in _pages(
        ec2,
        "describe_route_tables",
        "RouteTables",
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
    ):
        for assoc in table.get("Associations") or []:
            if assoc.get("Main"):
                main = table
            if assoc.get("SubnetId"):
                by_subnet[str(assoc["SubnetId"])] = table
    return by_subnet, main


def _endpoint(item: Mapping[str, Any], region: str) -> Endpoint:
    name = str(item.get("ServiceName", ""))
    prefix = f"com.amazonaws.{region}."
    return Endpoint(
        service=name[len(prefix) :] if name.startswith(prefix) else name,
        kind=str(item.get("VpcEndpointType", "")),
        state=str(item.get("State", "")),
        route_tables=tuple(item.get("RouteTableIds") or []),
        private_dns=bool(item.get("PrivateDnsEnabled", True)),
        id=str(item.get("VpcEndpointId", "")),
        groups=tuple(str(g.get("GroupId")) for g in item.get("Groups") or []),
    )


def _vpc_dns(ec2: Any, vpc_id: str) -> tuple[bool | None, bool | None]:
    """The VPC's enableDnsSupport and enableDnsHostnames (None when the read is refused)."""
    values: list[bool | None] = []
    for attribute, key in (
        ("enableDnsSupport", "EnableDnsSupport"),
        ("enableDnsHostnames", "EnableDnsHostnames"),
    ):
        found, _ = _code_of(partial(ec2.describe_vpc_attribute, VpcId=vpc_id, Attribute=attribute))
        values.append(None if found is None else bool((found.get(key) or {}).get("Value")))
    return values[0], values[1]


def read_network(
    rt: Runtime,
    project: Mapping[str, Any] | None,
    extra_groups: Sequence[str] = (),
) -> NetworkFacts:
    """The build's VPC as the project declares it (or as the settings do without a project)."""
    s = rt.settings
    if project is not None:
        vpc = project.get("vpcConfig") or {}
        base = NetworkFacts(
            vpc_id=str(vpc.get("vpcId") or ""),
            subnet_ids=tuple(vpc.get("subnets") or ()),
            group_ids=tuple(vpc.get("securityGroupIds") or ()),
            source="project",
        )
    else:
        base = NetworkFacts(s.vpc_id, s.subnets, s.security_groups, source="settings")
    ec2 = rt.aws.client("ec2")
    try:
        return _read_vpc(rt, ec2, base, extra_groups)
    except ReadRefused as err:
        return replace(base, error=str(err))


def _read_vpc(
    rt: Runtime, ec2: Any, base: NetworkFacts, extra_groups: Sequence[str]
) -> NetworkFacts:
    subnets: dict[str, Subnet] = {}
    if base.subnet_ids:
        found = _call(
            "reading subnets",
            lambda: list(
                _pages(
                    ec2,
                    "describe_subnets",
                    "Subnets",
                    Filters=[{"Name": "subnet-id", "Values": list(base.subnet_ids)}],
                )
            ),
        )
        for sub in found:
            subnets[sub["SubnetId"]] = Subnet(
                sub["SubnetId"],
                sub["VpcId"],
                sub.get("CidrBlock", ""),
                maps_public_ip=bool(sub.get("MapPublicIpOnLaunch")),
            )
    group_ids = list(dict.fromkeys([*base.group_ids, *extra_groups]))
    groups: dict[str, SecurityGroup] = {}
    if group_ids:
        found = _call(
            "reading security groups",
            lambda: list(
                _pages(
                    ec2,
                    "describe_security_groups",
                    "SecurityGroups",
                    Filters=[{"Name": "group-id", "Values": group_ids}],
                )
            ),
        )
        for g in found:
            groups[g["GroupId"]] = SecurityGroup(
                g["GroupId"],
                g.get("VpcId", ""),
                _rules(g.get("IpPermissions") or []),
                _rules(g.get("IpPermissionsEgress") or []),
            )
    vpc_ids = sorted({base.vpc_id, *(sub.vpc_id for sub in subnets.values())} - {""})
    nat_states: dict[str, str] = {}
    endpoints: list[Endpoint] = []
    for vpc_id in vpc_ids:
        by_subnet, main = _tables(ec2, vpc_id)
        for sid, known in list(subnets.items()):
            if known.vpc_id != vpc_id:
                continue
            table = by_subnet.get(sid) or main or {}
            routes = tuple(
                Route(
                    str(
                        r.get("DestinationCidrBlock")
                        or r.get("DestinationPrefixListId")
                        or r.get("DestinationIpv6CidrBlock")
                        or ""
                    ),
                    _route_target(r),
                    str(r.get("State", "active")),
                )
                for r in table.get("Routes") or []
            )
            subnets[sid] = replace(
                known, route_table=str(table.get("RouteTableId", "")), routes=routes
            )
        by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        nats = _listed(
            "reading NAT gateways", ec2, "describe_nat_gateways", "NatGateways", Filter=by_vpc
        )
        nat_states.update({str(n["NatGatewayId"]): str(n.get("State", "")) for n in nats})
        items = _listed(
            "reading VPC endpoints", ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=by_vpc
        )
        endpoints += [_endpoint(e, rt.settings.region) for e in items]
    dns_support, dns_hostnames = _vpc_dns(ec2, base.vpc_id) if base.vpc_id else (None, None)
    endpoint_groups = {g for e in endpoints for g in e.groups} - set(groups)
    if endpoint_groups:  # the endpoints' own groups: do they admit the build on 443?
        found = _listed(
            "reading security groups",
            ec2,
            "describe_security_groups",
            "SecurityGroups",
            Filters=[{"Name": "group-id", "Values": sorted(endpoint_groups)}],
        )
        for g in found:
            groups[g["GroupId"]] = SecurityGroup(
                g["GroupId"],
                g.get("VpcId", ""),
                _rules(g.get("IpPermissions") or []),
                _rules(g.get("IpPermissionsEgress") or []),
            )
    return replace(
        base,
        subnets=subnets,
        groups=groups,
        nat_states=nat_states,
        endpoints=tuple(endpoints),
        dns_support=dns_support,
        dns_hostnames=dns_hostnames,
    )


# -- IAM ---------------------------------------------------------------------------------


def read_role(rt: Runtime, project: Mapping[str, Any] | None) -> RoleFacts | None:
    configured = str((project or {}).get("serviceRole") or rt.settings.service_role or "")
    if not configured and not rt.settings.project:
        return None
    name = configured.rsplit("/", 1)[-1] if configured else role_name(rt.settings)
    iam = rt.aws.client("iam")
    got, code = _code_of(lambda: iam.get_role(RoleName=name))
    if got is None:
        return RoleFacts(name, configured, error="" if code == "NoSuchEntity" else code)
    role = got["Role"]
    docs: list[NamedDocument] = []
    unreadable: list[str] = []
    try:
        for attached in _call(
            "listing role policies",
            lambda: list(
                _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
            ),
        ):
            doc = _managed_document(iam, str(attached["PolicyArn"]))
            if doc is None:
                unreadable.append(str(attached["PolicyArn"]))
            else:
                docs.append(doc)
        for policy_name in _call(
            "listing inline policies",
            lambda: list(_pages(iam, "list_role_policies", "PolicyNames", RoleName=name)),
        ):
            got_inline = _call(
                "reading an inline policy",
                partial(iam.get_role_policy, RoleName=name, PolicyName=policy_name),
            )
            docs.append(
                NamedDocument(f"inline:{policy_name}", _document(got_inline["PolicyDocument"]))
            )
    except ReadRefused as err:
        return RoleFacts(name, str(role["Arn"]), exists=True, error=str(err))
    boundary_arn = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    boundary = _managed_document(iam, str(boundary_arn)) if boundary_arn else None
    return RoleFacts(
        name,
        str(role["Arn"]),
        exists=True,
        trust=_document(role.get("AssumeRolePolicyDocument")),
        documents=tuple(docs),
        boundary=boundary,
        unreadable=tuple(unreadable),
    )


def _managed_document(iam: Any, arn: str) -> NamedDocument | None:
    policy, _ = _code_of(lambda: iam.get_policy(PolicyArn=arn))
    if policy is None:
        return None
    version_id = policy["Policy"]["DefaultVersionId"]
    version, _ = _code_of(lambda: iam.get_policy_version(PolicyArn=arn, VersionId=version_id))
    if version is None:
        return None
    return NamedDocument(arn, _document(version["PolicyVersion"]["Document"]))


_SIM = {
    "allowed": Decision.ALLOWED,
    "explicitDeny": Decision.DENIED,
    "implicitDeny": Decision.IMPLICIT_DENY,
}


def simulate(
    rt: Runtime, role: RoleFacts, facts: Facts
) -> Mapping[tuple[str, str], Outcome] | None:
    """Ask IAM's policy simulator; None when it does not answer (moto, or not allowed)."""
    iam = rt.aws.client("iam")
    wanted = needs(
        rt.settings,
        subnets=facts.network.subnet_ids,
        groups=facts.network.group_ids,
        secret_arn=facts.secret.arn,
        kms_key_arn=facts.secret.kms_key_arn,
        build_image=pulled_with_role(facts.project),
    )
    # one call per (resource, context): IAM evaluates every listed action against it
    groups: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], list[str]] = {}
    for need in wanted:
        key = (need.resource, tuple(sorted(need.context.items())))
        groups.setdefault(key, []).append(need.action)
    results: dict[tuple[str, str], Outcome] = {}
    for (resource, context), actions in groups.items():
        entries = [
            {"ContextKeyName": k, "ContextKeyValues": list(v), "ContextKeyType": "stringList"}
            for k, v in context
        ]
        try:
            answer = iam.simulate_principal_policy(
                PolicySourceArn=role.arn,
                ActionNames=actions,
                ResourceArns=[resource],
                ContextEntries=entries,
            )
        except Exception as exc:
            if error_code(exc) in INVALID_CREDENTIAL_CODES or is_expired(exc):
                raise translate(exc, "simulating the role's policies") from None
            return None  # moto answers 500; a caller may lack iam:SimulatePrincipalPolicy
        by_name = {a.lower(): a for a in actions}
        for item in answer.get("EvaluationResults") or []:
            action = by_name.get(str(item.get("EvalActionName", "")).lower())
            if action is not None:
                results[(action, resource)] = _outcome(item)
    return results


def _outcome(item: Mapping[str, Any]) -> Outcome:
    decision = _SIM.get(str(item.get("EvalDecision")), Decision.IMPLICIT_DENY)
    missing = tuple(str(m) for m in item.get("MissingContextValues") or [])
    if decision is Decision.IMPLICIT_DENY and missing:
        decision = Decision.CONDITIONAL
    sources = tuple(str(m.get("SourcePolicyId", "")) for m in item.get("MatchedStatements") or [])
    return Outcome(decision, sources, missing)


# -- ECR ---------------------------------------------------------------------------------


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=15) as response:
        return bytes(response.read(1_000_000))


def read_image(rt: Runtime, fetch: Fetch = _fetch) -> ImageFacts:
    s = rt.settings
    if not s.repository:
        return ImageFacts(error="no repository configured")
    from ..image.ecr import client_for

    ecr, registry_id = client_for(rt)  # the registry's own account and region
    owner = {"registryId": registry_id} if registry_id else {}
    found, code = _code_of(
        lambda: ecr.describe_repositories(**owner, repositoryNames=[s.repository])
    )
    if found is None:
        return ImageFacts() if code == "RepositoryNotFoundException" else ImageFacts(error=code)
    got, code = _code_of(
        lambda: ecr.batch_get_image(
            **owner,
            repositoryName=s.repository,
            imageIds=[{"imageTag": s.tag}],
            acceptedMediaTypes=MANIFEST_TYPES,
        )
    )
    if got is None:
        return ImageFacts(repository_exists=True, error=code)
    images = got.get("images") or []
    if not images:
        return ImageFacts(repository_exists=True)
    image = images[0]
    manifest = json.loads(image.get("imageManifest") or "{}")
    media_type = str(image.get("imageManifestMediaType") or manifest.get("mediaType") or "")
    base = ImageFacts(
        repository_exists=True,
        tag_exists=True,
        digest=str((image.get("imageId") or {}).get("imageDigest", "")),
        media_type=media_type,
    )
    platforms = platforms_of_manifest(manifest)
    if platforms is not None:
        return replace(base, platforms=platforms)
    config_digest = str((manifest.get("config") or {}).get("digest", ""))
    if not config_digest:
        return replace(base, note="the manifest names no config blob")
    url, code = _code_of(
        lambda: ecr.get_download_url_for_layer(
            **owner, repositoryName=s.repository, layerDigest=config_digest
        )
    )
    if url is None:
        return replace(base, note=f"config blob unreadable: {code}")
    try:
        config = json.loads(fetch(str(url["downloadUrl"])))
    except (OSError, ValueError) as err:
        return replace(base, note=f"config blob unreadable: {type(err).__name__}")
    found_platform = platform_of_config(config)
    return replace(base, platforms=(found_platform,) if found_platform else None)


# -- orchestration -----------------------------------------------------------------------


def _secret_key(project: Mapping[str, Any] | None) -> str:
    """The JSON key DATABASE_URL reads from the secret (``secret-id:KEY``), if any."""
    for var in ((project or {}).get("environment") or {}).get("environmentVariables") or []:
        if var.get("name") == "DATABASE_URL" and var.get("type") == "SECRETS_MANAGER":
            return split_secret_reference(str(var.get("value", "")))[1]
    return ""


def gather(rt: Runtime, *, use_simulator: bool = True, fetch: Fetch = _fetch) -> Facts:
    s = rt.settings
    project, project_error = read_project(rt)
    secret = read_secret(rt, _secret_key(project))
    database = read_database(rt, secret.url.host if secret.url else "")
    network = read_network(rt, project, database.group_ids)
    facts = Facts(
        settings=s,
        project=project,
        project_error=project_error,
        network=network,
        database=database,
        secret=secret,
        image=read_image(rt, fetch),
        builds=read_builds(rt, s.project) if project is not None else BuildHistory(),
    )
    role = read_role(rt, project)
    if role is not None and role.exists and not role.error and use_simulator:
        role = replace(role, simulated=simulate(rt, role, facts))
    return replace(facts, role=role)


def doctor(rt: Runtime) -> list[Check]:
    from .backup import backup_checks

    return run_checks(gather(rt)) + backup_checks(rt)


def network_path_checks(rt: Runtime, port: int | None = None) -> list[Check]:
    """``subnet_egress`` and ``database_path`` only: for ``diagnose`` after a DB timeout.

    ``port`` overrides the database's own port (e.g. the one in the failing URL).
    """
    project, _ = read_project(rt)
    secret = read_secret(rt, _secret_key(project))
    database = read_database(rt, secret.url.host if secret.url else "")
    network = read_network(rt, project, database.group_ids)
    facts = Facts(
        settings=rt.settings, project=project, network=network, database=database, secret=secret
    )
    return network_checks(facts, port)


def render_checks(console: Any, checks: Any, *, verbose: bool = False) -> None:
    """One line per check; the fix under each warn/fail; evidence with --verbose."""
    kinds = {"pass": "ok", "warn": "warn", "fail": "error"}
    for check in checks:
        label = check.status.upper()
        console.line(f"{label:<5} {check.id:<22} {check.message}", kinds[check.status])
        if check.status != "pass" and check.fix:
            console.line(f"{'':<5} {'':<22} fix: {check.fix}")
        if verbose:
            for item in check.evidence:
                console.line(f"{'':<5} {'':<22} - {item}")


def run_doctor(rt: Runtime, *, verbose: bool = False) -> dict[str, Any]:
    """``invoke doctor``: every check, printed; DOCTOR_FAILED when any fails."""
    s = rt.settings
    rt.console.step(f"doctor: {s.env} ({s.region}), project {s.project or '-'}")
    checks = doctor(rt)
    render_checks(rt.console, checks, verbose=verbose)
    counts = summary(checks)
    rt.console.line(
        f"{len(checks)} checks: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail"
    )
    bad = failed(checks)
    result = {"ok": not bad, "checks": [ch.as_dict() for ch in checks], "summary": counts}
    if bad:
        raise SuiteError(
            f"doctor: {len(bad)} check(s) failed ({', '.join(ch.id for ch in bad)})",
            f"apply the fix shown under each failed check, then rerun `invoke doctor --env {s.env}`",
            code=ExitCode.DOCTOR_FAILED,
            details=result,
        )
    return result
