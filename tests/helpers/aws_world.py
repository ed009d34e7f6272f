"""A correct AWS world for a migration build, built in moto over HTTP (doctor/setup tests).

``build_world`` creates: a VPC with a public subnet (internet gateway + NAT gateway) and two
private subnets routed through the NAT; the database's and the build's security groups (5432
from the build group); an RDS PostgreSQL instance; the DATABASE_URL secret; the ECR repository
with an amd64+arm64 image index under the configured tag; the service role with the suite's
least-privilege policy; and the CodeBuild project. Variants mutate one piece afterwards.

``patch_moto_codebuild`` closes moto gaps in the in-process server: create_project drops
``concurrentBuildLimit`` / ``autoRetryLimit`` and demands a source ``location`` even for
NO_SOURCE (AWS does not), and update_project is missing (a fake written from AWS's docs).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from tasks.codebuild import commands as runcommands
from tasks.core.aws import AwsFactory
from tasks.core.commands import CommandRunner
from tasks.core.config import Settings, load_settings
from tasks.core.console import Console
from tasks.core.runtime import Runtime
from tasks.provision import requirements
from tasks.wiring import wire

ACCOUNT = "123456789012"
REGION = "us-east-1"
PASSWORD = "Sup3rSecretPassw0rd-XYZ"  # tests grep every output for this
SECRET_NAME = "daadaar/test/database-url"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        config=Config(retries={"total_max_attempts": 1}),
    )


def settings(endpoint: str, **overrides: Any) -> Settings:
    env = {
        "region": REGION,
        "account": ACCOUNT,
        "endpoint_url": endpoint,
        "project": "daadaar-migrations-test",
        "secret": SECRET_NAME,
        "service_role": "daadaar-migrations-test-codebuild",
        "repository": "daadaar-backend",
        "tag": "latest",
        "database_instance": "daadaar-db",
        **overrides,
    }
    return load_settings({"environments": {"test": env}}, env="test", environ={})


def patch_moto_codebuild(monkeypatch: Any) -> None:
    from moto.codebuild import responses

    original_validate = responses._validate_required_params_source
    original_create = responses.CodeBuildResponse.create_project

    def validate(source: dict[str, Any]) -> None:
        if source.get("type") == "NO_SOURCE":
            return
        original_validate(source)

    def create(self: Any) -> Any:
        result = original_create(self)
        project = self.codebuild_backend.codebuild_projects[self._get_param("name")]
        for key in _KEPT_BY_FAKE:
            value = self._get_param(key)
            if value is not None:
                project.project_metadata[key] = value
        return result

    def update(self: Any) -> Any:
        """A fake UpdateProject (moto answers HTTP 500). AWS (UpdateProject): "Changes the
        settings of a build project."; settings left out of the request keep their values."""
        name = self._get_param("name")
        project = self.codebuild_backend.codebuild_projects.get(name)
        if project is None:
            from moto.codebuild.exceptions import ResourceNotFoundException

            raise ResourceNotFoundException(f"Project cannot be found: {name}")
        for key in _UPDATABLE:
            value = self._get_param(key)
            if value is not None:
                project.project_metadata[key] = value
        return json.dumps({"project": project.project_metadata}, default=str)

    monkeypatch.setattr(responses, "_validate_required_params_source", validate)
    monkeypatch.setattr(responses.CodeBuildResponse, "create_project", create)
    monkeypatch.setattr(responses.CodeBuildResponse, "update_project", update, raising=False)


# CreateProject fields AWS stores and moto drops
_KEPT_BY_FAKE = ("concurrentBuildLimit", "autoRetryLimit")
_UPDATABLE = (
    "description",
    "source",
    "artifacts",
    "environment",
    "serviceRole",
    "timeoutInMinutes",
    "vpcConfig",
    "logsConfig",
    *_KEPT_BY_FAKE,
)


@dataclass
class World:
    endpoint: str
    settings: Settings
    vpc: str
    public_subnet: str
    private_subnets: list[str]
    private_table: str
    igw: str
    nat: str
    db_group: str
    build_group: str
    other_group: str
    db_host: str
    secret_arn: str

    def c(self, service: str) -> Any:
        return client(service, self.endpoint)


def build_network(endpoint: str) -> dict[str, Any]:
    ec2 = client("ec2", endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.0.0/24", AvailabilityZone="us-east-1a")
    public_id = public["Subnet"]["SubnetId"]
    private = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.20.1.0/24", "us-east-1a"), ("10.20.2.0/24", "us-east-1b"))
    ]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_table, SubnetId=public_id)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public_id, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    private_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    for sub in private:
        ec2.associate_route_table(RouteTableId=private_table, SubnetId=sub)
    groups = {
        name: ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        for name in ("daadaar-db", "daadaar-build", "daadaar-other")
    }
    ec2.authorize_security_group_ingress(
        GroupId=groups["daadaar-db"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": groups["daadaar-build"]}],
            }
        ],
    )
    return {
        "vpc": vpc,
        "public_subnet": public_id,
        "private_subnets": private,
        "private_table": private_table,
        "igw": igw,
        "nat": nat,
        "groups": groups,
    }


def build_database(endpoint: str, net: dict[str, Any]) -> str:
    rds = client("rds", endpoint)
    rds.create_db_subnet_group(
        DBSubnetGroupName="daadaar-db-subnets",
        DBSubnetGroupDescription="db",
        SubnetIds=net["private_subnets"],
    )
    inst = rds.create_db_instance(
        DBInstanceIdentifier="daadaar-db",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword=PASSWORD,
        AllocatedStorage=20,
        DBSubnetGroupName="daadaar-db-subnets",
        VpcSecurityGroupIds=[net["groups"]["daadaar-db"]],
        Port=5432,
    )["DBInstance"]
    described = rds.describe_db_instances(DBInstanceIdentifier=inst["DBInstanceIdentifier"])
    return str(described["DBInstances"][0]["Endpoint"]["Address"])


def create_secret(endpoint: str, host: str, name: str = SECRET_NAME) -> str:
    sm = client("secretsmanager", endpoint)
    url = f"postgresql://app:{PASSWORD}@{host}:5432/daadaar"
    return str(sm.create_secret(Name=name, SecretString=url)["ARN"])


def push_index(endpoint: str, repository: str, tag: str, archs: list[str]) -> str:
    """An OCI index whose entries are the given linux architectures (+ an attestation)."""
    ecr = client("ecr", endpoint)
    manifests: list[dict[str, Any]] = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + hashlib.sha256(arch.encode()).hexdigest(),
            "size": 500,
            "platform": {"os": "linux", "architecture": arch},
        }
        for arch in archs
    ]
    manifests.append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + hashlib.sha256(b"attestation").hexdigest(),
            "size": 300,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        }
    )
    body = json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests})
    digest = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    ecr.put_image(
        repositoryName=repository,
        imageManifest=body,
        imageManifestMediaType=INDEX_TYPE,
        imageTag=tag,
        imageDigest=digest,
    )
    return digest


def create_role(world_settings: Settings, endpoint: str, policy: dict[str, Any]) -> str:
    iam = client("iam", endpoint)
    name = requirements.role_name(world_settings)
    arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(requirements.trust_policy(world_settings)),
    )["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="migrations", PolicyDocument=json.dumps(policy))
    return str(arn)


def project_request(w: World, **environment: Any) -> dict[str, Any]:
    s = w.settings
    env = {
        "type": "LINUX_CONTAINER",
        "image": requirements.DEFAULT_IMAGE,
        "computeType": requirements.DEFAULT_COMPUTE_TYPE,
        "privilegedMode": True,
        "environmentVariables": [
            {"name": "DATABASE_URL", "type": "SECRETS_MANAGER", "value": s.secret},
            {"name": "IMAGE_URI", "type": "PLAINTEXT", "value": requirements.image_uri(s)},
            {"name": "RUN_MIGRATIONS", "type": "PLAINTEXT", "value": "true"},
            {"name": "RUN_SEED", "type": "PLAINTEXT", "value": "false"},
            *(
                {"name": name, "type": "PLAINTEXT", "value": value}
                for name, value in runcommands.project_variables(s).items()
            ),
        ],
        **environment,
    }
    return {
        "name": s.project,
        "source": {"type": "NO_SOURCE", "buildspec": "version: 0.2\n"},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": env,
        "serviceRole": requirements.role_arn(s),
        "timeoutInMinutes": 60,
        "vpcConfig": {
            "vpcId": w.vpc,
            "subnets": w.private_subnets,
            "securityGroupIds": [w.build_group],
        },
        "logsConfig": {"cloudWatchLogs": {"status": "ENABLED", "groupName": "/aws/codebuild/x"}},
        "concurrentBuildLimit": 1,
    }


def replace_project(w: World, **environment: Any) -> None:
    """Delete and create the project with the changed environment."""
    cb = w.c("codebuild")
    cb.delete_project(name=w.settings.project)
    cb.create_project(**project_request(w, **environment))


def recreate_project(w: World, **fields: Any) -> None:
    """Delete and create the project with changed top-level fields (logsConfig, source...)."""
    cb = w.c("codebuild")
    cb.delete_project(name=w.settings.project)
    cb.create_project(**{**project_request(w), **fields})


def codebuild_fault(client: Any, operation: str, code: str, message: str, times: int) -> list[int]:
    """Make ``operation`` answer ``code``/``message`` (HTTP 400) for its first ``times`` calls,
    then reach moto; returns the list of calls seen (one entry per HTTP request)."""
    from botocore.awsrequest import AWSResponse

    calls: list[int] = []

    class Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_: Any) -> Any:
            yield self.body

    def answer(**_: Any) -> Any:
        calls.append(1)
        if len(calls) > times:
            return None
        body = json.dumps({"__type": code, "message": message}).encode()
        return AWSResponse("https://codebuild.fake", 400, {}, Raw(body))

    client.meta.events.register(f"before-send.codebuild.{operation}", answer)
    return calls


def build_world(endpoint: str, *, with_role_and_project: bool = True) -> World:
    net = build_network(endpoint)
    host = build_database(endpoint, net)
    secret_arn = create_secret(endpoint, host)
    s = settings(endpoint)
    client("ecr", endpoint).create_repository(repositoryName=s.repository)
    push_index(endpoint, s.repository, s.tag, ["amd64", "arm64"])
    w = World(
        endpoint=endpoint,
        settings=s,
        vpc=net["vpc"],
        public_subnet=net["public_subnet"],
        private_subnets=net["private_subnets"],
        private_table=net["private_table"],
        igw=net["igw"],
        nat=net["nat"],
        db_group=net["groups"]["daadaar-db"],
        build_group=net["groups"]["daadaar-build"],
        other_group=net["groups"]["daadaar-other"],
        db_host=host,
        secret_arn=secret_arn,
    )
    if with_role_and_project:
        create_role(s, endpoint, default_policy(w))
        w.c("codebuild").create_project(**project_request(w))
    return w


def default_policy(w: World) -> dict[str, Any]:
    return requirements.role_policy(
        w.settings,
        subnets=w.private_subnets,
        groups=[w.build_group],
        secret_arn=w.secret_arn,
    )


def put_policy(w: World, policy: dict[str, Any], name: str = "migrations") -> None:
    client("iam", w.endpoint).put_role_policy(
        RoleName=requirements.role_name(w.settings),
        PolicyName=name,
        PolicyDocument=json.dumps(policy),
    )


def make_rt(settings: Any, json_mode: bool = False) -> tuple[Runtime, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, json_mode=json_mode, color=False)
    rt = Runtime(
        settings=settings,
        console=console,
        aws=AwsFactory(settings, max_attempts=1),
        commands=CommandRunner(console.redactor, {}),
        redactor=console.redactor,
    )
    wire(rt)
    return rt, out, err
