"""``setup`` against moto over HTTP (update_project and IAM timing via Stubber): plan on an empty
account, apply, a second apply changes nothing, and doctor then passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.stub import Stubber

from tasks.core.errors import ExitCode, SuiteError, UsageError
from tasks.local.buildspec import project_buildspec
from tasks.provision import setup
from tasks.provision.doctor import CHECK_IDS
from tasks.provision.facts import doctor
from tasks.provision.requirements import INLINE_POLICY_NAME, role_name
from tests.helpers import aws_world as aw
from tests.helpers.aws_world import make_rt

ROOT = Path(__file__).resolve().parents[2]
BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo migrate\n"


@pytest.fixture
def buildspec(tmp_path: Path) -> str:
    path = tmp_path / "migrations.yml"
    path.write_text(BUILDSPEC)
    return str(path)


def configured(w: aw.World, buildspec: str) -> Any:
    return aw.settings(
        w.endpoint,
        vpc_id=w.vpc,
        subnets=",".join(w.private_subnets),
        security_groups=w.build_group,
        buildspec=buildspec,
    )


def actions(changes: list[setup.Change]) -> dict[str, str]:
    return {c.kind: c.action for c in changes}


def test_plan_on_an_empty_account_names_what_setup_never_creates(
    aws_env: str, buildspec: str
) -> None:
    s = aw.settings(aws_env, buildspec=buildspec)
    rt, _, _ = make_rt(s)
    changes = setup.plan(s, setup.read_state(rt))
    assert actions(changes) == {
        "vpc": "missing",
        "subnets": "missing",
        "security_groups": "missing",
        "secret": "missing",
        "database": "missing",
        "repository": "missing",
        "role": "create",
        "role_policy": "create",
        "log_group": "create",
        "project": "create",
    }
    secret = next(c for c in changes if c.kind == "secret")
    assert any("aws secretsmanager create-secret" in d for d in secret.details)
    with pytest.raises(SuiteError) as raised:
        setup.apply(rt, changes)
    assert raised.value.code == ExitCode.SETUP_BLOCKED
    assert "vpc" in raised.value.message and "secret" in raised.value.message
    iam = aw.client("iam", aws_env)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role_name(s))  # nothing was created


def test_apply_then_second_apply_changes_nothing_and_doctor_passes(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env, with_role_and_project=False)
    s = configured(w, buildspec)
    rt, _, _ = make_rt(s)
    first = setup.plan(s, setup.read_state(rt))
    assert {c.kind for c in first if c.action == "create"} == {
        "role",
        "role_policy",
        "log_group",
        "project",
    }
    assert not setup.blockers(first)
    done = setup.apply(rt, first)
    assert [c.kind for c in done] == ["role", "role_policy", "log_group", "project"]

    second = setup.plan(s, setup.read_state(rt))
    assert {c.action for c in second} == {"none"}, [c for c in second if c.action != "none"]
    assert setup.apply(rt, second) == []

    project = aw.client("codebuild", aws_env).batch_get_projects(names=[s.project])["projects"][0]
    env = project["environment"]
    assert env["type"] == "LINUX_CONTAINER" and env["privilegedMode"] is True
    assert project["concurrentBuildLimit"] == 1 and project["autoRetryLimit"] == 0
    stored = project["source"]["buildspec"]
    assert stored == project_buildspec(Path(buildspec), s.secret)
    assert "echo migrate" in stored
    by_name = {v["name"]: v for v in env["environmentVariables"]}
    assert by_name["DATABASE_URL"] == {
        "name": "DATABASE_URL",
        "type": "SECRETS_MANAGER",
        "value": aw.SECRET_NAME,
    }

    checks = {c.id: c for c in doctor(make_rt(s)[0])}
    assert {i: c.status for i, c in checks.items()} == {i: "pass" for i in CHECK_IDS}


def test_stored_policy_passes_parliament(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from parliament import analyze_policy_string  # type: ignore[import-untyped]

    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env, with_role_and_project=False)
    s = configured(w, buildspec)
    rt, _, _ = make_rt(s)
    setup.apply(rt, setup.plan(s, setup.read_state(rt)))
    stored = aw.client("iam", aws_env).get_role_policy(
        RoleName=role_name(s), PolicyName=INLINE_POLICY_NAME
    )["PolicyDocument"]
    findings = analyze_policy_string(json.dumps(stored)).findings
    assert [(f.issue, f.detail) for f in findings] == []
    resources = json.dumps(stored)
    assert w.secret_arn in resources and "repository/daadaar-backend" in resources


def test_changed_project_is_updated_with_update_project(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto has no update_project: the read and plan run on moto, the call on a Stubber."""
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env)
    s = configured(w, buildspec)
    rt, _, _ = make_rt(s)
    aw.replace_project(w, privilegedMode=False)
    changes = setup.plan(s, setup.read_state(rt))
    project = next(c for c in changes if c.kind == "project")
    assert project.action == "update"
    assert "environment.privilegedMode: False -> True" in project.details
    assert "buildspec: replaced with the suite's buildspec" in project.details

    stubbed = boto3.client("codebuild", region_name=aw.REGION, endpoint_url=aws_env)
    with Stubber(stubbed) as stub:
        stub.add_response(
            "update_project",
            {"project": {"name": s.project}},
            expected_params=dict(project.request),
        )
        rt.aws._clients["codebuild"] = stubbed
        done = setup.apply(rt, changes)
        stub.assert_no_pending_responses()
    assert "project" in [c.kind for c in done]
    assert project.request["environment"]["privilegedMode"] is True
    assert project.request["concurrentBuildLimit"] == 1


IAM_LAG = "Not authorized to perform DescribeSecurityGroups"  # aws/aws-cdk#11815, #2652


def test_new_role_waits_for_iam_propagation_fake_lag_answers(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env, with_role_and_project=False)
    s = configured(w, buildspec)
    rt, _, err = make_rt(s)
    slept: list[float] = []
    rt.sleep = slept.append
    changes = setup.plan(s, setup.read_state(rt))
    calls = aw.codebuild_fault(
        rt.aws.client("codebuild"), "CreateProject", "InvalidInputException", IAM_LAG, 2
    )
    setup.apply(rt, changes)
    assert len(calls) == 3 and len(slept) == 2
    progress = err.getvalue()
    assert progress.count("iam_propagation: InvalidInputException; retry") == 2
    assert "waiting for IAM to propagate the role's policy" in progress
    assert aw.client("codebuild", aws_env).batch_get_projects(names=[s.project])["projects"]


def test_changed_policy_on_an_existing_role_waits_for_iam_before_fake_update_project(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The role exists; setup rewrites its policy, then UpdateProject meets IAM's lag (today
    only a role created in the same run was waited for)."""
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env)
    s = configured(w, buildspec)
    rt, _, err = make_rt(s)
    rt.sleep = lambda _: None
    changes = setup.plan(s, setup.read_state(rt))
    assert {c.kind: c.action for c in changes if c.action != "none"} == {
        "role_policy": "create",
        "log_group": "create",
        "project": "update",
    }
    calls = aw.codebuild_fault(
        rt.aws.client("codebuild"), "UpdateProject", "InvalidInputException", IAM_LAG, 1
    )
    setup.apply(rt, changes)
    assert len(calls) == 2
    assert "iam_propagation: InvalidInputException; retry 1/7" in err.getvalue()
    project = aw.client("codebuild", aws_env).batch_get_projects(names=[s.project])["projects"][0]
    assert project["source"]["buildspec"] == project_buildspec(Path(buildspec), s.secret)
    assert project["autoRetryLimit"] == 0


def test_other_invalid_input_fails_at_once_with_aws_message_fake_answer(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # wording from hashicorp/terraform-provider-aws#37748 (a real CreateProject answer)
    limit = (
        "Project-level concurrent build limit cannot exceed the account-level concurrent "
        "build limit of 1."
    )
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env, with_role_and_project=False)
    s = configured(w, buildspec)
    rt, _, err = make_rt(s)
    slept: list[float] = []
    rt.sleep = slept.append
    changes = setup.plan(s, setup.read_state(rt))
    calls = aw.codebuild_fault(
        rt.aws.client("codebuild"), "CreateProject", "InvalidInputException", limit, 5
    )
    with pytest.raises(SuiteError) as raised:
        setup.apply(rt, changes)
    assert len(calls) == 1 and slept == []
    line = raised.value.line()
    assert "\n" not in line and line.startswith("create project daadaar-migrations-test")
    assert f"InvalidInputException: {limit.rstrip('.')}" in line
    assert raised.value.code == ExitCode.AWS
    assert "iam_propagation" not in err.getvalue()


def test_fake_iam_lag_that_outlasts_the_policy_says_what_to_do(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env, with_role_and_project=False)
    s = configured(w, buildspec)
    rt, _, _ = make_rt(s)
    rt.sleep = lambda _: None
    changes = setup.plan(s, setup.read_state(rt))
    calls = aw.codebuild_fault(
        rt.aws.client("codebuild"), "CreateProject", "InvalidInputException", IAM_LAG, 50
    )
    with pytest.raises(SuiteError) as raised:
        setup.apply(rt, changes)
    assert len(calls) == 8  # the named policy's bound
    line = raised.value.line()
    assert "CodeBuild still cannot use role daadaar-migrations-test-codebuild" in line
    assert IAM_LAG in line and "rerun `invoke setup --apply --env test`" in line


def test_fake_iam_answer_without_a_role_change_is_not_waited_for(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """setup did not touch the role: the answer means the role lacks the permission."""
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env, with_role_and_project=False)
    s = configured(w, buildspec)
    rt, _, _ = make_rt(s)
    rt.sleep = lambda _: None
    setup.apply(rt, setup.plan(s, setup.read_state(rt)))
    aw.recreate_project(
        w, environment={**aw.project_request(w)["environment"], "privilegedMode": False}
    )
    rt, _, err = make_rt(s)
    slept: list[float] = []
    rt.sleep = slept.append
    changes = setup.plan(s, setup.read_state(rt))
    assert [c.kind for c in changes if c.action != "none"] == ["project"]
    calls = aw.codebuild_fault(
        rt.aws.client("codebuild"), "UpdateProject", "InvalidInputException", IAM_LAG, 5
    )
    with pytest.raises(SuiteError) as raised:
        setup.apply(rt, changes)
    assert len(calls) == 1 and slept == []
    line = raised.value.line()
    assert IAM_LAG in line and "allow ec2:DescribeSecurityGroups" in line
    assert "iam_propagation" not in err.getvalue()


def test_trust_with_conditions_for_another_project_is_extended_not_replaced(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env)
    s = configured(w, buildspec)
    iam = aw.client("iam", aws_env)
    theirs = {
        "Sid": "OtherProject",
        "Effect": "Allow",
        "Principal": {"Service": "codebuild.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": aw.ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:us-east-1:{aw.ACCOUNT}:project/x"},
        },
    }
    iam.update_assume_role_policy(
        RoleName=role_name(s),
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [theirs]}),
    )
    before = {c.id: c for c in doctor(make_rt(s)[0])}["service_role"]
    assert before.status == "fail" and "project/x" in before.message
    rt, _, _ = make_rt(s)
    rt.sleep = lambda _: None
    changes = setup.plan(s, setup.read_state(rt))
    assert {c.kind: c.action for c in changes}["trust_policy"] == "update"
    setup.apply(rt, changes)
    stored = iam.get_role(RoleName=role_name(s))["Role"]["AssumeRolePolicyDocument"]
    if isinstance(stored, str):
        stored = json.loads(unquote(stored))
    assert stored["Statement"][0] == theirs  # never removed, conditions kept
    assert stored["Statement"][1]["Condition"]["ArnLike"]["aws:SourceArn"].endswith(
        f"project/{s.project}"
    )
    after = {c.id: c for c in doctor(make_rt(s)[0])}["service_role"]
    assert after.status == "pass", after


def test_custom_ecr_build_image_is_pulled_with_the_service_role(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env, with_role_and_project=False)
    image = f"{aw.ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/build-images:1"
    s = aw.settings(
        w.endpoint,
        vpc_id=w.vpc,
        subnets=",".join(w.private_subnets),
        security_groups=w.build_group,
        buildspec=buildspec,
        build_image=image,
    )
    rt, _, _ = make_rt(s)
    rt.sleep = lambda _: None
    setup.apply(rt, setup.plan(s, setup.read_state(rt)))
    project = aw.client("codebuild", aws_env).batch_get_projects(names=[s.project])["projects"][0]
    env = project["environment"]
    assert (env["image"], env["imagePullCredentialsType"]) == (image, "SERVICE_ROLE")
    stored = aw.client("iam", aws_env).get_role_policy(
        RoleName=role_name(s), PolicyName=INLINE_POLICY_NAME
    )["PolicyDocument"]
    assert f"arn:aws:ecr:us-east-1:{aw.ACCOUNT}:repository/build-images" in json.dumps(stored)
    checks = {c.id: c for c in doctor(make_rt(s)[0])}
    assert checks["service_role"].status == "pass", checks["service_role"]
    assert checks["environment_image"].status == "warn"  # custom image: dockerd is on you


def test_missing_buildspec_is_one_clear_error(aws_env: str, tmp_path: Path) -> None:
    s = aw.settings(aws_env, buildspec=str(tmp_path / "absent.yml"))
    rt, _, _ = make_rt(s)
    with pytest.raises(UsageError) as raised:
        setup.read_state(rt)
    assert "does not exist" in raised.value.message
    assert "buildspec" in raised.value.remedy


def test_invoke_setup_plan_apply_and_rerun(
    aws_env: str, buildspec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aw.patch_moto_codebuild(monkeypatch)
    w = aw.build_world(aws_env, with_role_and_project=False)
    env = {
        **os.environ,
        "RELEASE_PROJECT": w.settings.project,
        "RELEASE_SECRET": w.settings.secret,
        "RELEASE_SERVICE_ROLE": w.settings.service_role,
        "RELEASE_REPOSITORY": w.settings.repository,
        "RELEASE_DATABASE_INSTANCE": w.settings.database_instance,
        "RELEASE_ACCOUNT": aw.ACCOUNT,
        "RELEASE_VPC_ID": w.vpc,
        "RELEASE_SUBNETS": ",".join(w.private_subnets),
        "RELEASE_SECURITY_GROUPS": w.build_group,
        "RELEASE_BUILDSPEC": buildspec,
        "NO_COLOR": "1",
    }

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "invoke", "setup", "--env", "staging", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    plan = invoke()
    assert plan.returncode == 0, plan.stderr
    assert "+ role" in plan.stdout and "+ project" in plan.stdout
    assert "invoke setup --apply" in plan.stdout
    applied = invoke("--apply", "--json")
    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert result["applied"] is True and len(result["done"]) == 4
    again = invoke("--apply", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["done"] == []
    for proc in (plan, applied, again):
        assert aw.PASSWORD not in proc.stdout + proc.stderr


TRAPS = """# a comment that must reach CodeBuild too
version: 0.2
env:
  variables:
    FLAG: on
    VERSION: 1.10
    OCTAL: 0123
    EMPTY:
  secrets-manager:
    DATABASE_URL: "@DATABASE_SECRET@"
phases:
  build:
    commands:
      - echo "FLAG=$FLAG VERSION=$VERSION OCTAL=$OCTAL EMPTY=[$EMPTY]"
"""


def test_the_project_gets_the_files_own_text_with_only_the_placeholder_replaced(
    aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: re-serialising turned on -> true, 1.10 -> 1.1, 0123 -> 83, empty -> null."""
    aw.patch_moto_codebuild(monkeypatch)
    path = tmp_path / "traps.yml"
    path.write_text(TRAPS)
    w = aw.build_world(aws_env, with_role_and_project=False)
    s = configured(w, str(path))
    rt, _, _ = make_rt(s)
    setup.apply(rt, setup.plan(s, setup.read_state(rt)))
    project = aw.client("codebuild", aws_env).batch_get_projects(names=[s.project])["projects"][0]
    assert project["source"]["buildspec"] == TRAPS.replace("@DATABASE_SECRET@", s.secret)
