"""setup's pure planner: desired state, comparison, prerequisites, and a policy parliament
accepts."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from parliament import analyze_policy_string  # type: ignore[import-untyped]

from tasks.core.errors import UsageError
from tasks.provision import setup
from tasks.provision.requirements import INLINE_POLICY_NAME, role_policy, trust_policy
from tests.helpers.doctor_data import SECRET_ARN, SETTINGS

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
READY = setup.SetupState(
    vpc_id="vpc-1",
    vpc_exists=True,
    subnets={"subnet-a": "vpc-1", "subnet-b": "vpc-1"},
    groups={"sg-build": "vpc-1"},
    subnet_ids=("subnet-a", "subnet-b"),
    group_ids=("sg-build",),
    secret_arn=SECRET_ARN,
    repository_exists=True,
    buildspec="version: 0.2\n",
)


def by_kind(changes: list[setup.Change]) -> dict[str, setup.Change]:
    return {c.kind: c for c in changes}


@pytest.mark.parametrize("key", ["", KEY])
def test_generated_policy_has_no_parliament_findings(key: str) -> None:
    policy = role_policy(
        SETTINGS,
        subnets=("subnet-a", "subnet-b"),
        groups=("sg-build",),
        secret_arn=SECRET_ARN,
        kms_key_arn=key,
    )
    findings = analyze_policy_string(json.dumps(policy)).findings
    assert [(f.issue, f.detail) for f in findings] == []
    text = json.dumps(policy)
    assert '"Resource": "*"' in text  # only for GetAuthorizationToken and Describe*
    stars = [s["Sid"] for s in policy["Statement"] if s["Resource"] == "*"]
    assert stars == ["EcrAuth", "VpcDescribe"]
    assert ("kms:Decrypt" in text) is bool(key)


def test_empty_account_plans_creation_of_everything_setup_owns() -> None:
    changes = by_kind(setup.plan(SETTINGS, READY))
    assert {k: c.action for k, c in changes.items() if c.action != "none"} == {
        "role": "create",
        "role_policy": "create",
        "log_group": "create",
        "project": "create",
    }
    request = changes["project"].request
    assert request["concurrentBuildLimit"] == 1
    assert request["environment"]["privilegedMode"] is True
    assert request["environment"]["image"] == "aws/codebuild/standard:7.0"
    assert request["vpcConfig"] == {
        "vpcId": "vpc-1",
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroupIds": ["sg-build"],
    }
    assert request["source"] == {"type": "NO_SOURCE", "buildspec": "version: 0.2\n"}
    assert changes["role"].request["AssumeRolePolicyDocument"] == trust_policy(SETTINGS)


def test_existing_matching_state_plans_nothing() -> None:
    first = by_kind(setup.plan(SETTINGS, READY))
    state = replace(
        READY,
        role={
            "Arn": "arn:aws:iam::123456789012:role/mig-codebuild",
            "AssumeRolePolicyDocument": trust_policy(SETTINGS),
        },
        inline_policy=json.loads(json.dumps(first["role_policy"].request["PolicyDocument"])),
        log_group_exists=True,
    )
    state = replace(state, project=setup.desired_project(SETTINGS, state))
    assert {c.action for c in setup.plan(SETTINGS, state)} == {"none"}


def test_update_lines_never_show_a_secret_value() -> None:
    state = replace(READY, log_group_exists=True)
    current = setup.desired_project(SETTINGS, state)
    current["environment"] = {
        **current["environment"],
        "privilegedMode": False,
        "environmentVariables": [
            {"name": "DATABASE_URL", "type": "PLAINTEXT", "value": "postgresql://u:hunter22@h/db"},
            {"name": "EXTRA", "type": "PLAINTEXT", "value": "kept"},
        ],
    }
    current.pop("concurrentBuildLimit")
    change = by_kind(setup.plan(SETTINGS, replace(state, project=current)))["project"]
    assert change.action == "update"
    lines = "\n".join(change.details)
    assert "hunter22" not in lines
    assert "variable DATABASE_URL: PLAINTEXT -> SECRETS_MANAGER (app/db)" in lines
    assert "environment.privilegedMode: False -> True" in lines
    assert "concurrentBuildLimit: None -> 1" in lines
    names = [v["name"] for v in change.request["environment"]["environmentVariables"]]
    assert names == [
        "COMMAND_ENTRYPOINT",
        "DATABASE_URL",
        "EXTRA",
        "IMAGE_URI",
        "MIGRATE_COMMAND",
        "RUN_MIGRATIONS",
        "RUN_SEED",
        "SEED_COMMANDS",
    ]
    sent = {v["name"]: v["value"] for v in change.request["environment"]["environmentVariables"]}
    assert sent["EXTRA"] == "kept"
    # --json shows the request, but never a value of the user's own PLAINTEXT variables
    shown = {
        v["name"]: v["value"]
        for v in change.as_dict()["request"]["environment"]["environmentVariables"]
    }
    assert shown == {
        "COMMAND_ENTRYPOINT": "argv",
        "DATABASE_URL": "app/db",
        "EXTRA": "***",
        "IMAGE_URI": sent["IMAGE_URI"],
        "MIGRATE_COMMAND": '["bun", "src/db/migrate.ts"]',
        "RUN_MIGRATIONS": "true",
        "RUN_SEED": "false",
        "SEED_COMMANDS": '{"organizations": ["bun", "src/db/seed-organizations.ts"]}',
    }


def test_missing_network_and_secret_block_but_database_and_repository_do_not() -> None:
    state = replace(READY, vpc_exists=False, secret_arn="", subnets={"subnet-a": "vpc-9"})
    changes = setup.plan(SETTINGS, state)
    blocked = {c.kind for c in setup.blockers(changes)}
    assert blocked == {"vpc", "subnets", "secret"}
    subnets = by_kind(changes)["subnets"]
    assert "subnet subnet-b not found" in subnets.details
    assert "subnet subnet-a is in vpc-9, not vpc-1" in subnets.details
    advisory = setup.plan(SETTINGS, replace(READY, repository_exists=False, database_found=False))
    assert not setup.blockers(advisory)
    assert by_kind(advisory)["repository"].action == "missing"


def test_changed_policy_is_rewritten_and_canonical_form_ignores_order() -> None:
    policy = role_policy(
        SETTINGS, subnets=("subnet-a", "subnet-b"), groups=("sg-build",), secret_arn=SECRET_ARN
    )
    shuffled = {**policy, "Statement": list(reversed(policy["Statement"]))}
    assert setup.canonical(shuffled) == setup.canonical(policy)
    assert setup.canonical({"Action": ["a"]}) == setup.canonical({"Action": "a"})
    stale = replace(
        READY,
        role={"Arn": "arn", "AssumeRolePolicyDocument": trust_policy(SETTINGS)},
        inline_policy={"Statement": []},
    )
    change = by_kind(setup.plan(SETTINGS, stale))["role_policy"]
    assert (change.action, change.name) == ("update", INLINE_POLICY_NAME)


def test_role_without_codebuild_trust_gets_its_trust_updated() -> None:
    ec2_trust: dict[str, Any] = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    state = replace(READY, role={"Arn": "arn", "AssumeRolePolicyDocument": ec2_trust})
    assert by_kind(setup.plan(SETTINGS, state))["trust_policy"].action == "update"


def test_no_project_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        setup.plan(replace(SETTINGS, project=""), READY)


def test_role_given_as_an_arn_keeps_its_path() -> None:
    arn = "arn:aws:iam::123456789012:role/service-role/mig-runner"
    s = replace(SETTINGS, service_role=arn)
    changes = by_kind(setup.plan(s, READY))
    assert changes["role"].request["RoleName"] == "mig-runner"
    assert changes["role"].request["Path"] == "/service-role/"
    assert changes["project"].request["serviceRole"] == arn


def test_blocked_names_the_environment_to_rerun() -> None:
    state = replace(READY, vpc_exists=False)
    blocked = setup.blockers(setup.plan(SETTINGS, state))
    err = setup.blocked_error(blocked, "staging")
    assert err.remedy.endswith("then rerun `invoke setup --apply --env staging`")


PROJECT_ARN = "arn:aws:codebuild:us-east-1:123456789012:project/mig"


def _trust(arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Theirs",
                "Effect": "Allow",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": "123456789012"},
                    "StringLike": {"aws:SourceArn": arn},
                },
            }
        ],
    }


def test_conditional_trust_that_matches_is_kept() -> None:
    state = replace(READY, role={"Arn": "arn", "AssumeRolePolicyDocument": _trust(PROJECT_ARN)})
    assert by_kind(setup.plan(SETTINGS, state))["role"].action == "none"


def test_conditional_trust_for_another_project_gains_a_statement_and_keeps_its_conditions() -> None:
    theirs = _trust(PROJECT_ARN.replace("/mig", "/other"))
    state = replace(READY, role={"Arn": "arn", "AssumeRolePolicyDocument": theirs})
    change = by_kind(setup.plan(SETTINGS, state))["trust_policy"]
    assert change.action == "update"
    assert "conditions do not match this project" in change.details[0]
    written = change.request["PolicyDocument"]
    assert written["Statement"][0] == theirs["Statement"][0]  # untouched, conditions and all
    assert written["Statement"][1] == trust_policy(SETTINGS)["Statement"][0]
    assert written["Statement"][1]["Condition"]["ArnLike"] == {"aws:SourceArn": PROJECT_ARN}


def test_trust_deny_blocks_setup_which_never_removes_statements() -> None:
    deny = {
        "Statement": [
            *trust_policy(SETTINGS)["Statement"],
            {
                "Sid": "NoCodeBuild",
                "Effect": "Deny",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
        ]
    }
    state = replace(READY, role={"Arn": "arn", "AssumeRolePolicyDocument": deny})
    change = by_kind(setup.plan(SETTINGS, state))["trust_policy"]
    assert change.action == "missing" and change.blocking
    assert "trust#NoCodeBuild" in change.details[0]


def test_project_is_written_with_auto_retry_off_and_drift_is_updated() -> None:
    state = replace(READY, log_group_exists=True)
    request = by_kind(setup.plan(SETTINGS, state))["project"].request
    assert request["autoRetryLimit"] == 0
    current = {**setup.desired_project(SETTINGS, state), "autoRetryLimit": 3}
    change = by_kind(setup.plan(SETTINGS, replace(state, project=current)))["project"]
    assert change.action == "update"
    assert "autoRetryLimit: 3 -> 0" in change.details
    assert change.request["autoRetryLimit"] == 0


def test_custom_build_image_is_pulled_with_the_service_role() -> None:
    image = "210987654321.dkr.ecr.us-east-1.amazonaws.com/build-images:1"
    s = replace(SETTINGS, extra={"build_image": image})
    env = by_kind(setup.plan(s, READY))["project"].request["environment"]
    assert (env["image"], env["imagePullCredentialsType"]) == (image, "SERVICE_ROLE")
    env = by_kind(setup.plan(SETTINGS, READY))["project"].request["environment"]
    assert env["imagePullCredentialsType"] == "CODEBUILD"


def test_service_role_pulls_the_build_image_with_least_privilege() -> None:
    image = "210987654321.dkr.ecr.us-east-1.amazonaws.com/build-images:1"
    s = replace(SETTINGS, extra={"build_image": image})
    policy = by_kind(setup.plan(s, READY))["role_policy"].request["PolicyDocument"]
    pull = next(st for st in policy["Statement"] if st["Sid"] == "BuildImagePull")
    assert pull["Resource"] == "arn:aws:ecr:us-east-1:210987654321:repository/build-images"
    assert [(f.issue, f.detail) for f in analyze_policy_string(json.dumps(policy)).findings] == []
    curated = by_kind(setup.plan(SETTINGS, READY))["role_policy"].request["PolicyDocument"]
    assert "BuildImagePull" not in json.dumps(curated)


def test_setup_writes_the_commands_and_replaces_stale_ones() -> None:
    """invoke.yaml is the one source of the commands and the seed allow-list: setup writes
    them into the project and overwrites what an earlier setup (or a hand edit) left there."""
    settings = replace(
        SETTINGS,
        migrate_command=("node", "dist/migrate.js", "--to", "it's latest"),
        seed_commands={"demo": ("node", "seed.js", "$(rm -rf /); echo")},
        command_workdir="/srv",
    )
    state = replace(READY, log_group_exists=True)
    current = setup.desired_project(SETTINGS, state)
    current["environment"]["environmentVariables"].append(
        {"name": "COMMAND_WORKDIR", "type": "PLAINTEXT", "value": "/old"}
    )
    change = by_kind(setup.plan(settings, replace(state, project=current)))["project"]
    sent = {v["name"]: v["value"] for v in change.request["environment"]["environmentVariables"]}
    assert json.loads(sent["MIGRATE_COMMAND"]) == ["node", "dist/migrate.js", "--to", "it's latest"]
    assert json.loads(sent["SEED_COMMANDS"]) == {"demo": ["node", "seed.js", "$(rm -rf /); echo"]}
    assert sent["COMMAND_WORKDIR"] == "/srv"
    assert "variable SEED_COMMANDS: new value" in change.details
    # a workdir dropped from invoke.yaml is dropped from the project too
    back = by_kind(setup.plan(SETTINGS, replace(state, project=change.request)))["project"]
    names = {v["name"] for v in back.request["environment"]["environmentVariables"]}
    assert "COMMAND_WORKDIR" not in names
