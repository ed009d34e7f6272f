from __future__ import annotations

import io

import boto3
import pytest
import tenacity
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from botocore.stub import Stubber

from tasks.core.aws import AwsFactory, translate
from tasks.core.config import Settings
from tasks.core.console import Console
from tasks.core.errors import AwsAuthError, ExitCode
from tasks.core.retrying import is_expired, is_throttled, is_transient, retrying
from tasks.image.ecr import get_token
from tasks.wiring import runtime_for


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


def test_predicates_use_codes() -> None:
    assert is_throttled(client_error("ThrottlingException"))
    assert is_throttled(client_error("TooManyRequestsException"))
    assert is_throttled(client_error("RequestLimitExceeded"))
    assert not is_throttled(client_error("AccessDenied"))
    assert is_transient(EndpointConnectionError(endpoint_url="http://x"))
    assert is_transient(client_error("ServiceUnavailable"))
    assert is_expired(client_error("ExpiredTokenException"))


def test_policy_retries_throttling_then_succeeds() -> None:
    calls = {"n": 0}
    notes: list[str] = []

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise client_error("ThrottlingException")
        return "ok"

    r = retrying("aws_call", on_retry=notes.append, wait=tenacity.wait_none(), sleep=lambda s: None)
    assert r(flaky) == "ok" and calls["n"] == 3
    assert len(notes) == 2 and "ThrottlingException" in notes[0]


def test_policy_does_not_retry_access_denied() -> None:
    r = retrying("aws_call", wait=tenacity.wait_none(), sleep=lambda s: None)
    with pytest.raises(ClientError):
        r(lambda: (_ for _ in ()).throw(client_error("AccessDenied")))


def test_translate() -> None:
    assert translate(NoCredentialsError(), "x").code == ExitCode.AWS_AUTH
    expired = translate(client_error("ExpiredTokenException"), "ECR GetAuthorizationToken")
    assert isinstance(expired, AwsAuthError) and "expired" in expired.message
    assert "aws sso login" in expired.remedy
    assert translate(client_error("AccessDeniedException"), "x").code == ExitCode.AWS_AUTH
    assert translate(client_error("Weird"), "x").code == ExitCode.AWS


def test_ecr_token_expired_credentials_gives_fix() -> None:
    settings = Settings(env="t", account="123456789012")
    rt = runtime_for(settings, Console(out=io.StringIO(), err=io.StringIO()))
    client = boto3.client(
        "ecr", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_authorization_token", "ExpiredTokenException", "The security token expired"
        )
        rt.aws._clients["ecr"] = client
        with pytest.raises(AwsAuthError) as err:
            get_token(rt)
    assert err.value.code == 4 and "refresh" in err.value.remedy


def test_factory_honours_endpoint_and_profile_errors() -> None:
    f = AwsFactory(Settings(env="t", region="eu-west-1", endpoint_url="http://127.0.0.1:1"))
    client = f.client("sts")
    assert (
        client.meta.endpoint_url == "http://127.0.0.1:1" and client.meta.region_name == "eu-west-1"
    )
    bad = AwsFactory(Settings(env="t", profile="no-such-profile-xyz"))
    with pytest.raises(AwsAuthError) as err:
        bad.client("sts")
    assert "no-such-profile-xyz" in err.value.message


def test_unreachable_endpoint_fails_fast_but_lost_responses_keep_retrying() -> None:
    from botocore.exceptions import ConnectionClosedError

    notes: list[str] = []
    calls = {"n": 0}

    def refused() -> None:
        calls["n"] += 1
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    r = retrying("aws_call", on_retry=notes.append, wait=tenacity.wait_none(), sleep=lambda s: None)
    with pytest.raises(EndpointConnectionError):
        r(refused)
    assert calls["n"] == 3 and notes[-1].startswith("aws_call: EndpointConnectionError; retry 2/2")

    lost = {"n": 0}

    def lost_then_ok() -> str:
        lost["n"] += 1
        if lost["n"] < 6:
            raise ConnectionClosedError(endpoint_url="http://x")
        return "ok"

    r2 = retrying("aws_call", wait=tenacity.wait_none(), sleep=lambda s: None)
    assert r2(lost_then_ok) == "ok" and lost["n"] == 6


def test_iam_propagation_retries_only_the_describe_security_groups_answer() -> None:
    from tasks.core.retrying import is_iam_lag

    lag = ClientError(
        {
            "Error": {
                "Code": "InvalidInputException",
                "Message": "Not authorized to perform DescribeSecurityGroups",
            }
        },
        "CreateProject",
    )
    limit = ClientError(
        {
            "Error": {
                "Code": "InvalidInputException",
                "Message": "Project-level concurrent build limit cannot exceed the account-level "
                "concurrent build limit of 1.",
            }
        },
        "CreateProject",
    )
    assert is_iam_lag(lag) and not is_iam_lag(limit)
    calls: list[int] = []

    def create() -> None:
        calls.append(1)
        raise limit

    with pytest.raises(ClientError):
        for attempt in retrying("iam_propagation", sleep=lambda _: None):
            with attempt:
                create()
    assert len(calls) == 1  # final at once


def test_cloudwatch_logs_limit_exceeded_is_a_quota_not_throttling() -> None:
    from tasks.core.errors import QuotaExceeded
    from tasks.core.retrying import is_retryable

    err = ClientError(
        {
            "Error": {
                "Code": "LimitExceededException",
                "Message": "Resource limit exceeded.",
            }
        },
        "CreateLogGroup",
    )
    assert not is_throttled(err) and not is_retryable(err)
    quota = translate(err, "CloudWatch Logs CreateLogGroup")
    assert isinstance(quota, QuotaExceeded) and quota.code == ExitCode.AWS_QUOTA
    assert "quota" in quota.message and "Service Quotas" in quota.remedy


def test_ec2_request_expired_is_clock_skew_not_expired_credentials() -> None:
    err = client_error("RequestExpired")
    assert not is_expired(err)  # re-reading the credentials cannot fix a wrong clock
    said = translate(err, "EC2 DescribeVpcs")
    assert said.code == ExitCode.AWS and "clock" in said.message
    assert "expired" not in said.message.split("(")[0]
    assert "timedatectl" in said.remedy
