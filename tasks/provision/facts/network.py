"""Reads of the database (RDS instance or cluster) and of the VPC: subnets, routes, security
groups, endpoints, DNS attributes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from ...core.aws import ReadRefused
from ...core.runtime import Runtime
from ..doctor import (
    DatabaseFacts,
    Endpoint,
    NetworkFacts,
    Route,
    Rule,
    SecurityGroup,
    Subnet,
)
from .calls import read_or_code, read_refusable


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
        found, _ = read_or_code(lambda: rds.describe_db_subnet_groups(DBSubnetGroupName=group_name))
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
        found, code = read_or_code(
            lambda: rds.describe_db_instances(DBInstanceIdentifier=s.database_instance)
        )
        if found is None:
            return _db_missing(s.database_instance, code, "DBInstanceNotFound")
        return _instance_facts(found["DBInstances"][0], "configured")
    if s.database_cluster:
        found, code = read_or_code(
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


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterable[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key) or []


def _listed(action: str, client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a paginated read, as one soft-failing call."""
    return read_refusable(action, lambda: list(pages(client, operation, key, **kwargs)))


def _database_by_host(rt: Runtime, host: str) -> DatabaseFacts:
    rds = rt.aws.client("rds")
    try:
        instances = read_refusable(
            "listing RDS instances",
            lambda: list(pages(rds, "describe_db_instances", "DBInstances")),
        )
        for inst in instances:
            if str((inst.get("Endpoint") or {}).get("Address", "")).lower() == host:
                return _instance_facts(inst, "secret host")
        clusters = read_refusable(
            "listing RDS clusters", lambda: list(pages(rds, "describe_db_clusters", "DBClusters"))
        )
    except ReadRefused as err:
        return DatabaseFacts(error=str(err))
    for cluster in clusters:
        hosts = {str(cluster.get(k, "")).lower() for k in ("Endpoint", "ReaderEndpoint")}
        if host in hosts:
            return _cluster_facts(rt, cluster, "secret host")
    return DatabaseFacts()


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


def _security_group(group: Mapping[str, Any]) -> SecurityGroup:
    """A DescribeSecurityGroups entry as the doctor reads it."""
    return SecurityGroup(
        group["GroupId"],
        group.get("VpcId", ""),
        _rules(group.get("IpPermissions") or []),
        _rules(group.get("IpPermissionsEgress") or []),
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
    for table in pages(
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
        found, _ = read_or_code(
            partial(ec2.describe_vpc_attribute, VpcId=vpc_id, Attribute=attribute)
        )
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
        found = read_refusable(
            "reading subnets",
            lambda: list(
                pages(
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
        found = read_refusable(
            "reading security groups",
            lambda: list(
                pages(
                    ec2,
                    "describe_security_groups",
                    "SecurityGroups",
                    Filters=[{"Name": "group-id", "Values": group_ids}],
                )
            ),
        )
        for g in found:
            groups[g["GroupId"]] = _security_group(g)
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
            groups[g["GroupId"]] = _security_group(g)
    return replace(
        base,
        subnets=subnets,
        groups=groups,
        nat_states=nat_states,
        endpoints=tuple(endpoints),
        dns_support=dns_support,
        dns_hostnames=dns_hostnames,
    )
