"""Pure doctor checks over hand-made facts: the edge cases moto cannot stage."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tasks.core.platforms import parse_platform
from tasks.image.registry import platforms_of_manifest
from tasks.provision.doctor import (
    FAIL,
    PASS,
    WARN,
    BuildHistory,
    DatabaseFacts,
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
    check_auto_retry,
    check_concurrency,
    check_egress,
    check_environment,
    check_image,
    check_logs,
    check_role,
    check_secret,
    check_timeout,
    check_variables,
    database_path,
    parse_database_url,
    secret_matches,
    split_secret_reference,
)
from tasks.provision.facts.identity import _parse_secret
from tasks.provision.policy import Decision, NamedDocument, Outcome
from tasks.provision.requirements import needs, role_policy, trust_policy
from tests.helpers.doctor_data import SECRET_ARN, SETTINGS


def project(**env: Any) -> dict[str, Any]:
    return {
        "name": "mig",
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "privilegedMode": True,
            "environmentVariables": [
                {"name": "DATABASE_URL", "type": "SECRETS_MANAGER", "value": "app/db"},
                {"name": "IMAGE_URI", "type": "PLAINTEXT", "value": "x"},
                {"name": "RUN_MIGRATIONS", "type": "PLAINTEXT", "value": "true"},
                {"name": "RUN_SEED", "type": "PLAINTEXT", "value": "false"},
            ],
            **env,
        },
        "concurrentBuildLimit": 1,
        "timeoutInMinutes": 60,
    }


def network(**changes: Any) -> NetworkFacts:
    routes = (Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "nat-1"))
    base = NetworkFacts(
        vpc_id="vpc-1",
        subnet_ids=("subnet-a",),
        group_ids=("sg-build",),
        subnets={"subnet-a": Subnet("subnet-a", "vpc-1", "10.0.1.0/24", "rtb-1", routes)},
        groups={
            "sg-build": SecurityGroup(
                "sg-build", "vpc-1", (), (Rule("-1", None, None, (), ("0.0.0.0/0",)),)
            ),
            "sg-db": SecurityGroup("sg-db", "vpc-1", (Rule("tcp", 5432, 5432, ("sg-build",)),)),
        },
        nat_states={"nat-1": "available"},
    )
    return replace(base, **changes)


def facts(**changes: Any) -> Facts:
    base = Facts(
        settings=SETTINGS,
        project=project(),
        network=network(),
        database=DatabaseFacts(
            True, "db", "instance", "configured", ("db.example",), 5432, "vpc-1", ("sg-db",)
        ),
        secret=SecretFacts(
            "app/db",
            True,
            SECRET_ARN,
            readable=True,
            url=parse_database_url("postgresql://u:p@db.example:5432/app"),
        ),
        image=ImageFacts(True, True, "sha256:1", platforms=(parse_platform("linux/amd64"),)),
    )
    return replace(base, **changes)


def test_database_url_parsing_never_echoes_the_value() -> None:
    url = parse_database_url("postgres://app:s3cr%40t@db.example:6543/main")
    assert (url.host, url.port, url.database, url.has_password) == (
        "db.example",
        6543,
        "main",
        True,
    )
    for bad in (
        "mysql://app:hunter22@db/x",
        "postgresql://app:hunter22@/x",
        "postgresql://app:hunter22@db",
    ):
        with pytest.raises(ValueError) as raised:
            parse_database_url(bad)
        assert "hunter22" not in str(raised.value)


def test_secret_json_forms() -> None:
    url, problem = _parse_secret('{"username": "u", "password": "hunter22"}', "")
    assert url is None and "holds JSON" in problem and "hunter22" not in problem
    url, _ = _parse_secret('{"url": "postgresql://u:hunter22@h/db"}', "url")
    assert url is not None and url.host == "h"
    url, problem = _parse_secret('{"x": 1}', "url")
    assert url is None and "no key 'url'" in problem


def test_secret_references() -> None:
    assert split_secret_reference("app/db") == ("app/db", "")
    assert split_secret_reference("app/db:url:AWSCURRENT") == ("app/db", "url")
    assert split_secret_reference(SECRET_ARN + ":url") == (SECRET_ARN, "url")
    found = SecretFacts("app/db", True, SECRET_ARN)
    assert secret_matches("app/db", found, "app/db")
    assert secret_matches(SECRET_ARN, found, "app/db")
    assert secret_matches(SECRET_ARN.removesuffix("-AbCdEf"), found, "app/db")  # partial ARN
    assert not secret_matches("other/db", found, "app/db")


def test_variables_pointing_at_another_secret_or_parameter_store() -> None:
    other = project(
        environmentVariables=[
            {"name": "DATABASE_URL", "type": "SECRETS_MANAGER", "value": "other/db"},
            {"name": "IMAGE_URI", "type": "PLAINTEXT", "value": "x"},
        ]
    )
    check = check_variables(facts(project=other))
    assert check.status == FAIL
    assert "reads secret 'other/db'" in check.message
    assert "missing RUN_MIGRATIONS, RUN_SEED" in check.message
    plaintext_token = project(
        environmentVariables=[
            *project()["environment"]["environmentVariables"],
            {"name": "API_TOKEN", "type": "PLAINTEXT", "value": "abc"},
        ]
    )
    assert (
        "API_TOKEN stored as PLAINTEXT" in check_variables(facts(project=plaintext_token)).message
    )


def test_index_platforms_skip_attestations() -> None:
    index = {
        "manifests": [
            {"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"platform": {"os": "unknown", "architecture": "unknown"}},
        ]
    }
    assert platforms_of_manifest(index) == (parse_platform("linux/arm64"),)
    assert platforms_of_manifest({"schemaVersion": 1, "architecture": "amd64"}) == (
        parse_platform("linux/amd64"),
    )
    assert platforms_of_manifest({"schemaVersion": 2, "config": {"digest": "sha256:1"}}) is None


def test_single_arch_image_is_a_warning_not_a_pass() -> None:
    image = ImageFacts(True, True, "sha256:1", "application/vnd.oci.image.manifest.v1+json")
    check = check_image(facts(image=replace(image, note="config blob unreadable: X")))
    assert check.status == WARN
    assert "platform is unverified via the API" in check.message
    assert "imagetools inspect" in check.fix
    assert check_image(facts(image=ImageFacts(True, False))).status == FAIL


def test_concurrency_limit() -> None:
    unset = {k: v for k, v in project().items() if k != "concurrentBuildLimit"}
    assert check_concurrency(facts(project=unset)).status == WARN
    assert check_concurrency(facts(project={**project(), "concurrentBuildLimit": 3})).status == FAIL
    assert check_concurrency(facts()).status == PASS


def test_build_timeout_headroom() -> None:
    assert check_timeout(facts(builds=BuildHistory((10.0, 20.0)))).status == PASS
    tight = check_timeout(facts(builds=BuildHistory((10.0, 50.0))))
    assert tight.status == WARN and "50.0 of 60 min" in tight.message
    assert "--timeout-in-minutes 120" in tight.fix
    timed_out = check_timeout(facts(builds=BuildHistory((60.0,), timed_out=1)))
    assert timed_out.status == WARN and "timed out" in timed_out.message


def test_lambda_compute_and_custom_image() -> None:
    lam = check_environment(facts(project=project(computeType="BUILD_LAMBDA_1GB")))
    assert lam.status == FAIL and "cannot run Docker" in lam.message
    custom = check_environment(facts(project=project(image="123.dkr.ecr/x:1")))
    assert custom.status == WARN


def _with_route(route: Route, **net: Any) -> Facts:
    sub = Subnet("subnet-a", "vpc-1", "10.0.1.0/24", "rtb-1", (route,))
    return facts(network=network(subnets={"subnet-a": sub}, **net))


def test_egress_blackhole_unavailable_nat_and_transit_gateway() -> None:
    blackhole = check_egress(_with_route(Route("0.0.0.0/0", "nat-1", "blackhole")))
    assert blackhole.status == FAIL and "blackhole" in blackhole.message
    deleted = check_egress(
        _with_route(Route("0.0.0.0/0", "nat-1"), nat_states={"nat-1": "deleted"})
    )
    assert deleted.status == FAIL and "(deleted)" in deleted.message
    tgw = check_egress(_with_route(Route("0.0.0.0/0", "tgw-1")))
    assert tgw.status == WARN


ENDPOINT_NAMES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")
NO_ROUTE = Route("10.0.0.0/16", "local")


def _endpoints(**changes: Any) -> tuple[Endpoint, ...]:
    interface = Endpoint("x", "Interface", "available", id="vpce-1", groups=("sg-vpce",))
    return (
        *(replace(interface, service=name, **changes) for name in ENDPOINT_NAMES),
        Endpoint("s3", "Gateway", "available", ("rtb-1",)),
    )


def _endpoint_groups(*ingress: Rule) -> dict[str, SecurityGroup]:
    return {**network().groups, "sg-vpce": SecurityGroup("sg-vpce", "vpc-1", ingress)}


HTTPS_FROM_BUILD = Rule("tcp", 443, 443, ("sg-build",))


def _via_endpoints(endpoints: tuple[Endpoint, ...], **net: Any) -> Facts:
    net.setdefault("groups", _endpoint_groups(HTTPS_FROM_BUILD))
    net.setdefault("dns_support", True)
    net.setdefault("dns_hostnames", True)
    return _with_route(NO_ROUTE, endpoints=endpoints, **net)


def test_endpoints_need_kms_with_a_customer_key() -> None:
    endpoints = _endpoints()
    assert check_egress(_via_endpoints(endpoints)).status == PASS
    with_key = replace(
        _via_endpoints(endpoints),
        secret=replace(facts().secret, kms_key_arn="arn:aws:kms:us-east-1:1:key/k"),
    )
    check = check_egress(with_key)
    assert check.status == FAIL and "kms" in check.message


def test_database_in_another_vpc() -> None:
    db = replace(facts().database, vpc_id="vpc-2")
    check = database_path(facts(database=db))
    assert check.status == FAIL and "is in vpc-2 but the build runs in vpc-1" in check.message


def test_build_group_without_egress_to_the_port() -> None:
    groups = dict(network().groups)
    groups["sg-build"] = SecurityGroup(
        "sg-build", "vpc-1", (), (Rule("tcp", 443, 443, (), ("0.0.0.0/0",)),)
    )
    check = database_path(facts(network=network(groups=groups)))
    assert check.status == FAIL and "outbound tcp 5432" in check.message


def test_secret_host_or_port_mismatch() -> None:
    wrong_host = replace(
        facts().secret, url=parse_database_url("postgresql://u:p@old.example:5432/app")
    )
    check = check_secret(facts(secret=wrong_host))
    assert check.status == FAIL and "points at host old.example" in check.message
    wrong_port = replace(
        facts().secret, url=parse_database_url("postgresql://u:p@db.example:6432/app")
    )
    assert "port 6432" in check_secret(facts(secret=wrong_port)).message
    deleted = check_secret(facts(secret=replace(facts().secret, deleted=True)))
    assert deleted.status == FAIL and "restore-secret" in deleted.fix


def _role(policy: dict[str, Any], **changes: Any) -> RoleFacts:
    role = RoleFacts(
        "mig-role",
        "arn:aws:iam::123456789012:role/mig-role",
        exists=True,
        trust=trust_policy(SETTINGS),
        documents=(NamedDocument("inline:p", policy),),
    )
    return replace(role, **changes)


def _policy() -> dict[str, Any]:
    return role_policy(SETTINGS, subnets=("subnet-a",), groups=("sg-build",), secret_arn=SECRET_ARN)


def test_role_generated_policy_passes_and_is_scoped() -> None:
    assert check_role(facts(role=_role(_policy()))).status == PASS
    # the same policy does not cover a subnet it was not written for
    moved = network(subnet_ids=("subnet-z",))
    check = check_role(facts(role=_role(_policy()), network=moved))
    assert check.status == FAIL and "subnet/subnet-z" in check.message


def test_role_trust_and_conditions() -> None:
    untrusted = _role(_policy(), trust={"Statement": []})
    assert "cannot be assumed by CodeBuild" in check_role(facts(role=untrusted)).message
    conditional = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ]
    }
    check = check_role(facts(role=_role(conditional)))
    assert check.status == WARN and "only under conditions" in check.message


def test_role_uses_the_simulator_when_it_answered() -> None:
    wanted = needs(SETTINGS, subnets=("subnet-a",), groups=("sg-build",), secret_arn=SECRET_ARN)
    simulated = {(n.action, n.resource): Outcome(Decision.ALLOWED) for n in wanted}
    simulated[("secretsmanager:GetSecretValue", SECRET_ARN)] = Outcome(
        Decision.DENIED, ("scp-guard",)
    )
    check = check_role(facts(role=_role({}, simulated=simulated)))  # documents would deny all
    assert check.status == FAIL
    assert "denies secretsmanager:GetSecretValue" in check.message
    assert "explicit Deny in scp-guard" in check.message
    assert "IAM policy simulator" in check.evidence[0]


def test_without_a_project_or_network_settings_only_the_cause_fails() -> None:
    from tasks.provision.doctor import run_checks

    bare = facts(project=None, network=NetworkFacts(source="settings"), role=_role(_policy()))
    checks = {c.id: c for c in run_checks(bare)}
    fails = {i for i, c in checks.items() if c.status == FAIL}
    assert fails == {"codebuild_project"}
    assert checks["vpc_config"].message == "not checked: the CodeBuild project does not exist"


def test_fixes_name_the_environment_so_they_can_be_pasted() -> None:
    """`invoke setup --apply` alone targets release.env (prod), not the environment checked."""
    f = facts()
    env = f.settings.env
    off = check_concurrency(facts(project={**project(), "concurrentBuildLimit": 3}))
    assert f"`invoke setup --apply --env {env}`" in off.fix
    missing = check_image(facts(image=replace(f.image, tag_exists=False)))
    assert f"`invoke release --env {env}`" in missing.fix


def test_endpoint_counts_only_with_private_dns_and_vpc_dns_attributes() -> None:
    dns_off = check_egress(_via_endpoints(_endpoints(private_dns=False)))
    assert dns_off.status == FAIL
    assert "logs endpoint vpce-1 has private DNS off" in dns_off.message
    assert "private DNS on" in dns_off.fix
    no_hostnames = check_egress(_via_endpoints(_endpoints(), dns_hostnames=False))
    assert no_hostnames.status == FAIL
    assert "the VPC has enableDnsHostnames off" in no_hostnames.message
    no_support = check_egress(_via_endpoints(_endpoints(), dns_support=False))
    assert "enableDnsSupport off" in no_support.message
    unknown = check_egress(_via_endpoints(_endpoints(), dns_support=None, dns_hostnames=None))
    assert unknown.status == PASS  # not readable: no failure claimed


def test_endpoint_security_group_must_admit_https_from_the_build() -> None:
    wrong_port = _endpoint_groups(Rule("tcp", 80, 80, ("sg-build",)))
    check = check_egress(_via_endpoints(_endpoints(), groups=wrong_port))
    assert check.status == FAIL
    assert "security groups (sg-vpce) do not admit tcp 443 from the build" in check.message
    from_subnet = _endpoint_groups(Rule("tcp", 443, 443, (), ("10.0.0.0/16",)))
    assert check_egress(_via_endpoints(_endpoints(), groups=from_subnet)).status == PASS
    other_cidr = _endpoint_groups(Rule("tcp", 443, 443, (), ("192.168.0.0/16",)))
    assert check_egress(_via_endpoints(_endpoints(), groups=other_cidr)).status == FAIL


def test_build_group_must_allow_https_egress() -> None:
    groups = dict(network().groups)
    groups["sg-build"] = SecurityGroup(
        "sg-build", "vpc-1", (), (Rule("tcp", 5432, 5432, ("sg-db",)),)
    )
    check = check_egress(facts(network=network(groups=groups)))
    assert check.status == FAIL
    assert "allow no outbound tcp 443" in check.message
    assert "authorize-security-group-egress --group-id sg-build --protocol tcp --port 443" in (
        check.fix
    )
    to_prefix_list = SecurityGroup(
        "sg-build", "vpc-1", (), (Rule("tcp", 443, 443, prefix_lists=("pl-1",)),)
    )
    groups["sg-build"] = to_prefix_list
    assert check_egress(facts(network=network(groups=groups))).status == PASS


def _conditional_trust(account: str, arn: str, operator: str = "ArnLike") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    operator: {"aws:SourceArn": arn},
                },
            }
        ],
    }


def test_trust_with_confused_deputy_conditions_is_evaluated() -> None:
    project_arn = "arn:aws:codebuild:us-east-1:123456789012:project/mig"
    for arn, operator in (
        (project_arn, "ArnEquals"),
        (project_arn, "StringEquals"),
        ("arn:aws:codebuild:us-east-1:123456789012:project/*", "ArnLike"),
        ("arn:aws:codebuild:*:123456789012:project/mi?", "StringLike"),
    ):
        role = _role(_policy(), trust=_conditional_trust("123456789012", arn, operator))
        assert check_role(facts(role=role)).status == PASS, (arn, operator)
    other_project = _conditional_trust("123456789012", project_arn.replace("/mig", "/other"))
    check = check_role(facts(role=_role(_policy(), trust=other_project)))
    assert check.status == FAIL
    assert "trusts CodeBuild only under conditions this project does not meet" in check.message
    assert "project/other" in check.message and f"CodeBuild supplies {project_arn}" in (
        check.message
    )
    assert f"match {project_arn}" in check.fix and "keeps yours" in check.fix
    other_account = _conditional_trust("999999999999", project_arn)
    check = check_role(facts(role=_role(_policy(), trust=other_account)))
    assert check.status == FAIL and "aws:SourceAccount 999999999999" in check.message


def test_trust_policy_setup_writes_carries_the_conditions() -> None:
    statement = trust_policy(SETTINGS)["Statement"][0]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:codebuild:us-east-1:123456789012:project/mig"},
    }
    assert check_role(facts(role=_role(_policy()))).status == PASS


def test_auto_retry_limit_above_zero_fails() -> None:
    check = check_auto_retry(facts(project={**project(), "autoRetryLimit": 2}))
    assert check.status == FAIL
    assert "autoRetryLimit is 2" in check.message and "half-migrated" in check.message
    assert "--auto-retry-limit 0" in check.fix
    assert check_auto_retry(facts()).status == PASS
    assert check_auto_retry(facts(project={**project(), "autoRetryLimit": 0})).status == PASS


def test_logs_only_in_s3_fail_naming_the_location() -> None:
    s3_only = {
        "cloudWatchLogs": {"status": "DISABLED"},
        "s3Logs": {"status": "ENABLED", "location": "build-logs-bucket/migrations"},
    }
    check = check_logs(facts(project={**project(), "logsConfig": s3_only}))
    assert check.status == FAIL
    assert "CloudWatch Logs are disabled" in check.message
    assert "only to S3 at s3://build-logs-bucket/migrations" in check.message
    assert "cloudWatchLogs={status=ENABLED}" in check.fix
    nowhere = {"cloudWatchLogs": {"status": "DISABLED"}}
    assert "nowhere" in check_logs(facts(project={**project(), "logsConfig": nowhere})).message
    assert check_logs(facts()).status == PASS


ECR_IMAGE = "{account}.dkr.ecr.us-east-1.amazonaws.com/build-images:1"


def test_private_ecr_build_image_needs_service_role_credentials() -> None:
    cross = ECR_IMAGE.format(account="210987654321")
    check = check_environment(
        facts(project=project(image=cross, imagePullCredentialsType="CODEBUILD"))
    )
    assert check.status == FAIL
    assert "another account (210987654321)" in check.message
    assert "imagePullCredentialsType to SERVICE_ROLE" in check.fix
    same = ECR_IMAGE.format(account="123456789012")
    check = check_environment(facts(project=project(image=same)))
    assert check.status == WARN and "repository policy trusts codebuild" in check.message
    ok = check_environment(
        facts(project=project(image=same, imagePullCredentialsType="SERVICE_ROLE"))
    )
    assert ok.status == WARN and "x86_64" in ok.message  # still a custom image
    curated = check_environment(facts(project=project(imagePullCredentialsType="SERVICE_ROLE")))
    assert curated.status == FAIL and "must be pulled with CODEBUILD" in curated.message


def test_custom_image_with_docker_steps_must_start_dockerd() -> None:
    buildspec = "version: 0.2\nphases:\n  build:\n    commands:\n      - docker pull x\n"
    image = ECR_IMAGE.format(account="123456789012")
    with_docker = {
        **project(image=image, imagePullCredentialsType="SERVICE_ROLE"),
        "source": {"type": "NO_SOURCE", "buildspec": buildspec},
    }
    check = check_environment(facts(project=with_docker))
    assert check.status == WARN
    assert "the buildspec runs docker" in check.message
    assert "nohup /usr/local/bin/dockerd" in check.fix
    starts = buildspec.replace("- docker pull", "- nohup dockerd & docker pull")
    own = {**with_docker, "source": {"type": "NO_SOURCE", "buildspec": starts}}
    assert "runs docker" not in check_environment(facts(project=own)).message
    curated = {**project(), "source": {"type": "NO_SOURCE", "buildspec": buildspec}}
    assert check_environment(facts(project=curated)).status == PASS


def test_service_role_must_pull_a_build_image_it_is_trusted_to_pull() -> None:
    image = ECR_IMAGE.format(account="123456789012")
    pulled = project(image=image, imagePullCredentialsType="SERVICE_ROLE")
    check = check_role(facts(project=pulled, role=_role(_policy())))
    assert check.status == FAIL
    assert "ecr:BatchGetImage on arn:aws:ecr:us-east-1:123456789012:repository/build-images" in (
        check.message
    )
    policy = role_policy(
        SETTINGS,
        subnets=("subnet-a",),
        groups=("sg-build",),
        secret_arn=SECRET_ARN,
        build_image=image,
    )
    assert check_role(facts(project=pulled, role=_role(policy))).status == PASS


def test_trust_condition_on_a_key_codebuild_may_not_supply_is_a_warning() -> None:
    trust = trust_policy(SETTINGS)
    trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = "abc"
    check = check_role(facts(role=_role(_policy(), trust=trust)))
    assert check.status == WARN
    assert "trust condition StringEquals sts:ExternalId" in check.message
