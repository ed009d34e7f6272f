"""``doctor`` against moto over HTTP: a correct world passes every check; breaking exactly one
thing fails exactly the right check with the right fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.codebuild.commands import project_variables
from tasks.provision.doctor import CHECK_IDS, Check
from tasks.provision.facts import doctor, network_path_checks
from tests.helpers import aws_world as aw
from tests.helpers.aws_world import make_rt

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[aw.World]:
    aw.patch_moto_codebuild(monkeypatch)
    yield aw.build_world(aws_env)


def run(w: aw.World, **overrides: Any) -> dict[str, Check]:
    settings = aw.settings(w.endpoint, **overrides) if overrides else w.settings
    rt, out, err = make_rt(settings)
    checks = doctor(rt)
    assert [c.id for c in checks] == list(CHECK_IDS)
    text = out.getvalue() + err.getvalue() + json.dumps([c.as_dict() for c in checks])
    assert aw.PASSWORD not in text
    return {c.id: c for c in checks}


def failing(checks: dict[str, Check]) -> set[str]:
    return {i for i, c in checks.items() if c.status == "fail"}


def test_correct_world_passes_every_check(world: aw.World) -> None:
    checks = run(world)
    assert {i: c.status for i, c in checks.items()} == {i: "pass" for i in CHECK_IDS}
    assert "linux/amd64" in checks["ecr_image"].message
    assert "tcp 5432" in checks["database_path"].message


def test_ingress_on_3306_instead_of_5432(world: aw.World) -> None:
    ec2 = world.c("ec2")
    rule = {"IpProtocol": "tcp", "UserIdGroupPairs": [{"GroupId": world.build_group}]}
    ec2.revoke_security_group_ingress(
        GroupId=world.db_group, IpPermissions=[{**rule, "FromPort": 5432, "ToPort": 5432}]
    )
    ec2.authorize_security_group_ingress(
        GroupId=world.db_group, IpPermissions=[{**rule, "FromPort": 3306, "ToPort": 3306}]
    )
    checks = run(world)
    assert failing(checks) == {"database_path"}
    check = checks["database_path"]
    assert "tcp 3306" in check.message and "not tcp 5432" in check.message
    assert f"--group-id {world.db_group} --protocol tcp --port 5432" in check.fix
    assert f"--source-group {world.build_group}" in check.fix


def test_rule_from_the_wrong_group(world: aw.World) -> None:
    ec2 = world.c("ec2")
    rule = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432}
    ec2.revoke_security_group_ingress(
        GroupId=world.db_group,
        IpPermissions=[{**rule, "UserIdGroupPairs": [{"GroupId": world.build_group}]}],
    )
    ec2.authorize_security_group_ingress(
        GroupId=world.db_group,
        IpPermissions=[{**rule, "UserIdGroupPairs": [{"GroupId": world.other_group}]}],
    )
    checks = run(world)
    assert failing(checks) == {"database_path"}
    assert f"only from {world.other_group}" in checks["database_path"].message
    assert f"--source-group {world.build_group}" in checks["database_path"].fix


def test_cidr_rule_covering_the_subnets_is_accepted(world: aw.World) -> None:
    ec2 = world.c("ec2")
    rule = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432}
    ec2.revoke_security_group_ingress(
        GroupId=world.db_group,
        IpPermissions=[{**rule, "UserIdGroupPairs": [{"GroupId": world.build_group}]}],
    )
    ec2.authorize_security_group_ingress(
        GroupId=world.db_group, IpPermissions=[{**rule, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}]
    )
    assert run(world)["database_path"].status == "pass"


def test_private_subnet_routed_through_an_internet_gateway(world: aw.World) -> None:
    ec2 = world.c("ec2")
    ec2.replace_route(
        RouteTableId=world.private_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=world.igw
    )
    checks = run(world)
    assert failing(checks) == {"subnet_egress"}
    check = checks["subnet_egress"]
    assert f"only default route is internet gateway {world.igw}" in check.message
    assert "no public address" in check.message
    assert "NAT gateway" in check.fix


def test_no_route_and_no_endpoints(world: aw.World) -> None:
    ec2 = world.c("ec2")
    ec2.delete_route(RouteTableId=world.private_table, DestinationCidrBlock="0.0.0.0/0")
    checks = run(world)
    assert failing(checks) == {"subnet_egress"}
    check = checks["subnet_egress"]
    assert "no default route" in check.message
    for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "s3"):
        assert service in check.message
    assert "NAT gateway" in check.fix and "VPC endpoints" in check.fix


def _endpoint_world(world: aw.World, **interface: Any) -> str:
    """No default route; every endpoint a build needs, as AWS needs them (unless overridden):
    private DNS on, the VPC's DNS attributes on, a security group admitting 443 from the
    build's group. Returns the endpoints' security group."""
    ec2 = world.c("ec2")
    ec2.delete_route(RouteTableId=world.private_table, DestinationCidrBlock="0.0.0.0/0")
    ec2.modify_vpc_attribute(VpcId=world.vpc, EnableDnsHostnames={"Value": True})
    group = ec2.create_security_group(
        GroupName="daadaar-endpoints", Description="endpoints", VpcId=world.vpc
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": world.build_group}],
            }
        ],
    )
    for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager"):
        ec2.create_vpc_endpoint(
            VpcId=world.vpc,
            ServiceName=f"com.amazonaws.us-east-1.{service}",
            VpcEndpointType="Interface",
            SubnetIds=world.private_subnets,
            **{"SecurityGroupIds": [group], "PrivateDnsEnabled": True, **interface},
        )
    ec2.create_vpc_endpoint(
        VpcId=world.vpc,
        ServiceName="com.amazonaws.us-east-1.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[world.private_table],
    )
    return str(group)


def test_no_route_but_every_endpoint_passes(world: aw.World) -> None:
    _endpoint_world(world)
    checks = run(world)
    assert checks["subnet_egress"].status == "pass", checks["subnet_egress"]
    assert "endpoints" in " ".join(checks["subnet_egress"].evidence)


def test_endpoints_without_private_dns_do_not_count(world: aw.World) -> None:
    _endpoint_world(world, PrivateDnsEnabled=False)
    checks = run(world)
    assert failing(checks) == {"subnet_egress"}
    assert "logs endpoint vpce-" in checks["subnet_egress"].message
    assert "has private DNS off" in checks["subnet_egress"].message


def test_endpoints_in_a_vpc_without_dns_hostnames_do_not_count(world: aw.World) -> None:
    _endpoint_world(world)
    world.c("ec2").modify_vpc_attribute(VpcId=world.vpc, EnableDnsHostnames={"Value": False})
    checks = run(world)
    assert failing(checks) == {"subnet_egress"}
    assert "the VPC has enableDnsHostnames off" in checks["subnet_egress"].message
    assert "enableDnsHostnames on" in checks["subnet_egress"].fix


def test_endpoints_whose_group_does_not_admit_the_build_do_not_count(world: aw.World) -> None:
    _endpoint_world(world, SecurityGroupIds=[world.other_group])
    checks = run(world)
    assert failing(checks) == {"subnet_egress"}
    assert (
        f"security groups ({world.other_group}) do not admit tcp 443 from the build"
        in checks["subnet_egress"].message
    )


def _revoke_all_egress(world: aw.World) -> Any:
    ec2 = world.c("ec2")
    ec2.revoke_security_group_egress(
        GroupId=world.build_group,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    return ec2


def test_build_group_without_https_egress(world: aw.World) -> None:
    ec2 = _revoke_all_egress(world)
    ec2.authorize_security_group_egress(
        GroupId=world.build_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": world.db_group}],
            }
        ],
    )
    checks = run(world)
    assert failing(checks) == {"subnet_egress"}
    assert "allow no outbound tcp 443" in checks["subnet_egress"].message
    assert f"--group-id {world.build_group} --protocol tcp --port 443" in (
        checks["subnet_egress"].fix
    )


def test_build_group_with_https_but_not_database_egress(world: aw.World) -> None:
    ec2 = _revoke_all_egress(world)
    ec2.authorize_security_group_egress(
        GroupId=world.build_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    checks = run(world)
    assert failing(checks) == {"database_path"}
    assert "does not allow outbound tcp 5432" in checks["database_path"].message


def test_trust_policy_conditions_for_another_project(world: aw.World) -> None:
    other = f"arn:aws:codebuild:us-east-1:{aw.ACCOUNT}:project/someone-else"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": aw.ACCOUNT},
                    "StringLike": {"aws:SourceArn": other},
                },
            }
        ],
    }
    world.c("iam").update_assume_role_policy(
        RoleName=world.settings.service_role, PolicyDocument=json.dumps(trust)
    )
    checks = run(world)
    assert failing(checks) == {"service_role"}
    check = checks["service_role"]
    assert "only under conditions this project does not meet" in check.message
    assert f"StringLike aws:SourceArn {other}" in check.message
    assert f"project/{world.settings.project}" in check.fix


def test_auto_retry_limit_on_the_project_kept_by_the_fake(world: aw.World) -> None:
    aw.recreate_project(world, autoRetryLimit=2)
    checks = run(world)
    assert failing(checks) == {"auto_retry"}
    assert "autoRetryLimit is 2" in checks["auto_retry"].message
    assert "--auto-retry-limit 0" in checks["auto_retry"].fix


def test_logs_to_s3_only(world: aw.World) -> None:
    logs = {
        "cloudWatchLogs": {"status": "DISABLED"},
        "s3Logs": {"status": "ENABLED", "location": "daadaar-build-logs/migrations"},
    }
    aw.recreate_project(world, logsConfig=logs)
    checks = run(world)
    assert failing(checks) == {"build_logs"}
    assert "s3://daadaar-build-logs/migrations" in checks["build_logs"].message
    assert "cloudWatchLogs={status=ENABLED}" in checks["build_logs"].fix


def test_cross_account_ecr_build_image_with_codebuild_credentials(world: aw.World) -> None:
    image = "210987654321.dkr.ecr.us-east-1.amazonaws.com/build-images:1"
    aw.replace_project(world, image=image, imagePullCredentialsType="CODEBUILD")
    checks = run(world)
    assert failing(checks) == {"environment_image"}
    assert "another account (210987654321)" in checks["environment_image"].message
    assert "SERVICE_ROLE" in checks["environment_image"].fix


def test_custom_image_with_the_suites_docker_buildspec_warns(world: aw.World) -> None:
    from tasks.provision.setup import read_buildspec

    image = f"{aw.ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/build-images:1"
    env = {**aw.project_request(world)["environment"], "image": image}
    env["imagePullCredentialsType"] = "SERVICE_ROLE"
    source = {"type": "NO_SOURCE", "buildspec": read_buildspec(world.settings)}
    aw.recreate_project(world, environment=env, source=source)
    checks = run(world)
    check = checks["environment_image"]
    assert check.status == "warn" and "the buildspec runs docker" in check.message
    assert "dockerd" in check.fix and "privileged mode" in check.fix


def test_privileged_mode_off(world: aw.World) -> None:
    aw.replace_project(world, privilegedMode=False)
    checks = run(world)
    assert failing(checks) == {"privileged_mode"}
    assert "Cannot connect to the Docker daemon" in checks["privileged_mode"].message
    assert "Privileged" in checks["privileged_mode"].fix


def test_arm_environment(world: aw.World) -> None:
    aw.replace_project(
        world, type="ARM_CONTAINER", image="aws/codebuild/amazonlinux2-aarch64-standard:3.0"
    )
    checks = run(world)
    assert failing(checks) == {"environment_image"}
    assert "ARM environment" in checks["environment_image"].message
    assert "LINUX_CONTAINER" in checks["environment_image"].fix


def test_database_url_as_plaintext(world: aw.World) -> None:
    url = f"postgresql://app:{aw.PASSWORD}@{world.db_host}:5432/daadaar"
    variables = [
        {"name": "DATABASE_URL", "type": "PLAINTEXT", "value": url},
        {"name": "IMAGE_URI", "type": "PLAINTEXT", "value": "x"},
        {"name": "RUN_MIGRATIONS", "type": "PLAINTEXT", "value": "true"},
        {"name": "RUN_SEED", "type": "PLAINTEXT", "value": "false"},
        *_command_variables(world),
    ]
    aw.replace_project(world, environmentVariables=variables)
    checks = run(world)  # run() asserts the password appears nowhere in the output
    assert failing(checks) == {"environment_variables"}
    check = checks["environment_variables"]
    assert "DATABASE_URL stored as PLAINTEXT" in check.message
    assert "SECRETS_MANAGER" in check.fix and "rotate" in check.fix


def _command_variables(world: aw.World, **changed: str) -> list[dict[str, str]]:
    values = {**project_variables(world.settings), **changed}
    return [{"name": n, "type": "PLAINTEXT", "value": v} for n, v in values.items()]


def test_a_project_whose_seed_allow_list_drifted_from_invoke_yaml_fails(world: aw.World) -> None:
    """issue 9 #15: invoke.yaml is the one source; a project set up with another allow-list
    (or by hand) is caught here, not by CodeBuild refusing in BUILD."""
    base = [
        {"name": "DATABASE_URL", "type": "SECRETS_MANAGER", "value": world.settings.secret},
        {"name": "IMAGE_URI", "type": "PLAINTEXT", "value": "x"},
        {"name": "RUN_MIGRATIONS", "type": "PLAINTEXT", "value": "true"},
        {"name": "RUN_SEED", "type": "PLAINTEXT", "value": "false"},
    ]
    stale = _command_variables(world, SEED_COMMANDS='{"demo": ["bun", "seed-demo.ts"]}')
    aw.replace_project(world, environmentVariables=base + stale)
    checks = run(world)
    assert failing(checks) == {"run_commands"}
    check = checks["run_commands"]
    assert check.message.startswith(
        "the project's commands differ from invoke.yaml: SEED_COMMANDS is "
        '{"demo": ["bun", "seed-demo.ts"]} (invoke.yaml: {"organizations": '
    )
    assert check.fix.startswith(f"run `invoke setup --apply --env {world.settings.env}`")
    aw.replace_project(world, environmentVariables=base)  # set up before the commands existed
    missing = run(world)["run_commands"]
    assert "MIGRATE_COMMAND is missing" in missing.message and missing.status == "fail"


def test_missing_secret(world: aw.World) -> None:
    world.c("secretsmanager").delete_secret(
        SecretId=aw.SECRET_NAME, ForceDeleteWithoutRecovery=True
    )
    checks = run(world)
    assert failing(checks) == {"database_secret"}
    assert "does not exist" in checks["database_secret"].message
    assert "aws secretsmanager create-secret" in checks["database_secret"].fix


def _without_secret_statement(w: aw.World) -> dict[str, Any]:
    policy = aw.default_policy(w)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "DatabaseSecret"]
    return policy


def test_role_without_get_secret_value(world: aw.World) -> None:
    aw.put_policy(world, _without_secret_statement(world))
    checks = run(world)
    assert failing(checks) == {"service_role"}
    check = checks["service_role"]
    assert f"does not allow secretsmanager:GetSecretValue on {world.secret_arn}" in check.message
    assert "invoke setup --apply" in check.fix


def test_role_with_get_secret_value_on_another_secret(world: aw.World) -> None:
    other = aw.create_secret(world.endpoint, world.db_host, name="someone/else")
    policy = _without_secret_statement(world)
    policy["Statement"].append(
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": other}
    )
    aw.put_policy(world, policy)
    checks = run(world)
    assert failing(checks) == {"service_role"}
    assert f"GetSecretValue on {world.secret_arn}" in checks["service_role"].message


def test_explicit_deny(world: aw.World) -> None:
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NoSecrets", "Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"}
        ],
    }
    aw.put_policy(world, deny, name="guardrail")
    checks = run(world)
    assert failing(checks) == {"service_role"}
    check = checks["service_role"]
    assert "denies secretsmanager:GetSecretValue" in check.message
    assert "explicit Deny in inline:guardrail#NoSecrets" in check.message
    assert "remove or narrow the explicit Deny" in check.fix


def test_arm64_only_image(world: aw.World) -> None:
    aw.push_index(world.endpoint, world.settings.repository, "arm-only", ["arm64"])
    checks = run(world, tag="arm-only")
    assert failing(checks) == {"ecr_image"}
    check = checks["ecr_image"]
    assert "holds linux/arm64, not linux/amd64" in check.message
    assert "--platform linux/amd64" in check.fix


def test_network_path_checks_for_diagnose(world: aw.World) -> None:
    rt, _, _ = make_rt(world.settings)
    checks = network_path_checks(rt)
    assert [(c.id, c.status) for c in checks] == [
        ("subnet_egress", "pass"),
        ("database_path", "pass"),
    ]
    on_mysql_port = network_path_checks(rt, 3306)
    assert on_mysql_port[1].status == "fail" and "3306" in on_mysql_port[1].fix


def _invoke(w: aw.World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RELEASE_PROJECT": w.settings.project,
        "RELEASE_SECRET": w.settings.secret,
        "RELEASE_SERVICE_ROLE": w.settings.service_role,
        "RELEASE_REPOSITORY": w.settings.repository,
        "RELEASE_DATABASE_INSTANCE": w.settings.database_instance,
        "RELEASE_TAG": w.settings.tag,
        "RELEASE_ACCOUNT": aw.ACCOUNT,
        "RELEASE_REGION": aw.REGION,
        "RELEASE_ENDPOINT_URL": w.endpoint,
        "NO_COLOR": "1",
    }
    invoke = [sys.executable, "-m", "invoke"]
    return subprocess.run(
        [*invoke, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_invoke_doctor_json_exit_codes_and_no_secret(world: aw.World) -> None:
    ok = _invoke(world, "doctor", "--env", "staging", "--json")
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)  # exactly one JSON object, nothing else on stdout
    assert ok.stdout.strip().count("\n") == 0
    assert [c["id"] for c in result["checks"]] == list(CHECK_IDS)
    assert all(set(c) >= {"id", "status", "message", "fix"} for c in result["checks"])
    aw.replace_project(world, privilegedMode=False)
    bad = _invoke(world, "doctor", "--env", "staging", "--json")
    assert bad.returncode == 20, bad.stderr
    result = json.loads(bad.stdout)
    assert result["ok"] is False
    assert [c["id"] for c in result["checks"] if c["status"] == "fail"] == ["privileged_mode"]
    assert "privileged_mode" in bad.stderr.splitlines()[-1]
    human = _invoke(world, "doctor", "--env", "staging", "--verbose")
    assert human.returncode == 20
    assert "FAIL  privileged_mode" in human.stdout and "fix:" in human.stdout
    for proc in (ok, bad, human):
        assert aw.PASSWORD not in proc.stdout + proc.stderr
