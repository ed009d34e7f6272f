"""The network path of a build: VPC configuration, egress (NAT or endpoints) and the way to the
database."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .models import (
    FAIL,
    PASS,
    WARN,
    Check,
    Endpoint,
    Facts,
    NetworkFacts,
    Route,
    Subnet,
    project_missing,
    setup_fix,
    unique,
)

# Interface endpoints a build without a NAT route needs (S3 is the gateway type: ECR layers).
ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


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


def check_vpc(f: Facts) -> Check:
    net = f.network
    s = f.settings
    if f.project is None and not (net.vpc_id or net.subnet_ids or net.group_ids):
        return project_missing("vpc_config")
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
        return project_missing("subnet_egress")
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
            fails.append("endpoints that do not count: " + "; ".join(unique(endpoint_reasons)))
        return Check(
            "subnet_egress", FAIL, "; ".join(fails), "; ".join(unique(fixes)), tuple(evidence)
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
        return project_missing("database_path")
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
            return project_missing("database_path")
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
