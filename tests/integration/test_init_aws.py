"""``release-suite init --env prod`` reads the account, ECR and CodeBuild (moto server, a fake
of AWS) and writes where each value came from; a second run changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
import yaml

from tasks.cli.program import main
from tasks.core.config import load_settings
from tests.conftest import ROOT


def test_init_prod_fills_account_repository_project_from_the_fake_aws(
    aws_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    boto3.client("ecr", endpoint_url=aws_env).create_repository(repositoryName="orders-api")
    boto3.client("codebuild", endpoint_url=aws_env).create_project(
        name="orders-migrations",
        source={"type": "S3", "location": "bucket/source.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole="arn:aws:iam::123456789012:role/orders-migrations",
    )
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "backend", repo)
    monkeypatch.chdir(repo)
    main(["release-suite", "init", "--env", "prod", "--yes"])
    out = capsys.readouterr().out
    assert "found account: 123456789012 (sts get-caller-identity)" in out
    assert "found region: us-east-1 (your AWS configuration)" in out
    assert "found repository: orders-api (ECR describe-repositories (first of 1))" in out
    assert "found project: orders-migrations (CodeBuild list-projects (first of 1))" in out
    text = (repo / "invoke.yaml").read_text()
    prod = load_settings(yaml.safe_load(text)["release"], env="prod", environ={})
    assert (prod.account, prod.repository, prod.project) == (
        "123456789012",
        "orders-api",
        "orders-migrations",
    )
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "release.yml").read_text())
    assert workflow["jobs"]["release"]["steps"][-1]["with"] == {"env": "prod"}
    before = {
        p: p.read_bytes() for p in (repo / "invoke.yaml", repo / ".github/workflows/release.yml")
    }
    main(["release-suite", "init", "--env", "prod", "--yes"])
    again = capsys.readouterr().out
    assert "invoke.yaml: unchanged" in again and ".github/workflows/release.yml: unchanged" in again
    assert {p: p.read_bytes() for p in before} == before
