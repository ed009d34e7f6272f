"""The doctor's AWS adapter on paths moto does not serve, driven by botocore Stubber:
IAM's policy simulator, and a single-arch image's config blob read through ECR."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tasks.core.aws import AwsFactory
from tasks.core.commands import CommandRunner
from tasks.core.console import Console
from tasks.core.platforms import parse_platform
from tasks.core.runtime import Runtime
from tasks.provision.doctor import Facts, NetworkFacts, RoleFacts, SecretFacts
from tasks.provision.facts import read_image, simulate
from tasks.provision.policy import Decision
from tests.helpers.doctor_data import SECRET_ARN, SETTINGS


def runtime(**clients: Any) -> Runtime:
    console = Console(io.StringIO(), io.StringIO(), color=False)
    aws = AwsFactory(SETTINGS, max_attempts=1)
    aws._clients.update(clients)
    return Runtime(SETTINGS, console, aws, CommandRunner(console.redactor, {}), console.redactor)


def client(service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",  # never reached: Stubber answers
    )


def test_simulator_results_become_outcomes() -> None:
    iam = client("iam")
    role = RoleFacts("r", "arn:aws:iam::123456789012:role/r", exists=True)
    facts = Facts(
        settings=SETTINGS,
        network=NetworkFacts("vpc-1", ("subnet-a",), ("sg-1",)),
        secret=SecretFacts("app/db", True, SECRET_ARN),
    )
    from tasks.provision.requirements import needs

    wanted = needs(SETTINGS, subnets=("subnet-a",), groups=("sg-1",), secret_arn=SECRET_ARN)
    groups: dict[tuple[str, Any], list[str]] = {}
    for need in wanted:
        groups.setdefault((need.resource, tuple(sorted(need.context.items()))), []).append(
            need.action
        )
    assert len(groups) < len(wanted)  # actions sharing a resource go in one call
    with Stubber(iam) as stub:
        for (resource, context), actions in groups.items():
            results = [
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": "explicitDeny" if "GetSecretValue" in action else "allowed",
                    "MatchedStatements": [{"SourcePolicyId": "guardrail"}]
                    if "GetSecretValue" in action
                    else [],
                }
                for action in actions
            ]
            entries = [
                {"ContextKeyName": k, "ContextKeyValues": list(v), "ContextKeyType": "stringList"}
                for k, v in context
            ]
            stub.add_response(
                "simulate_principal_policy",
                {"EvaluationResults": results},
                {
                    "PolicySourceArn": role.arn,
                    "ActionNames": actions,
                    "ResourceArns": [resource],
                    "ContextEntries": entries,
                },
            )
        outcomes = simulate(runtime(iam=iam), role, facts)
        stub.assert_no_pending_responses()
    assert outcomes is not None
    assert set(outcomes) == {(n.action, n.resource) for n in wanted}
    secret = outcomes[("secretsmanager:GetSecretValue", SECRET_ARN)]
    assert secret.decision is Decision.DENIED and secret.statements == ("guardrail",)
    assert outcomes[("ecr:GetAuthorizationToken", "*")].decision is Decision.ALLOWED


def test_simulator_unavailable_falls_back() -> None:
    iam = client("iam")
    role = RoleFacts("r", "arn:aws:iam::123456789012:role/r", exists=True)
    facts = Facts(settings=SETTINGS)
    with Stubber(iam) as stub:
        stub.add_client_error("simulate_principal_policy", "AccessDenied", http_status_code=403)
        assert simulate(runtime(iam=iam), role, facts) is None


def test_single_arch_config_blob_through_ecr() -> None:
    ecr = client("ecr")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"digest": "sha256:" + "c" * 64, "size": 10},
        "layers": [],
    }
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return json.dumps({"os": "linux", "architecture": "arm64"}).encode()

    with Stubber(ecr) as stub:
        stub.add_response(
            "describe_repositories", {"repositories": [{"repositoryName": "backend"}]}
        )
        stub.add_response(
            "batch_get_image",
            {
                "images": [
                    {
                        "imageId": {"imageDigest": "sha256:" + "d" * 64, "imageTag": "latest"},
                        "imageManifest": json.dumps(manifest),
                        "imageManifestMediaType": manifest["mediaType"],
                    }
                ],
                "failures": [],
            },
        )
        stub.add_response(
            "get_download_url_for_layer",
            {"downloadUrl": "https://example.invalid/blob", "layerDigest": "sha256:" + "c" * 64},
            # the registry's account travels as registryId (a registry of another account)
            {
                "registryId": "123456789012",
                "repositoryName": "backend",
                "layerDigest": "sha256:" + "c" * 64,
            },
        )
        image = read_image(runtime(ecr=ecr), fetch)
    assert fetched == ["https://example.invalid/blob"]
    assert image.platforms == (parse_platform("linux/arm64"),)


def test_unreachable_endpoint_is_one_error_not_twelve_warnings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    from tasks.core.errors import AwsError
    from tasks.provision.facts import doctor

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "x")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings = replace(SETTINGS, endpoint_url="http://127.0.0.1:9")
    console = Console(io.StringIO(), io.StringIO(), color=False)
    rt = Runtime(
        settings,
        console,
        AwsFactory(settings, max_attempts=1),
        CommandRunner(console.redactor, {}),
        console.redactor,
    )
    with pytest.raises(AwsError) as raised:
        doctor(rt)
    assert "cannot reach the AWS endpoint" in raised.value.message
