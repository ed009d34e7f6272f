"""Pure parts of the CodeBuild adapter: parsing, URLs, the AwsCaller's retry rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import tenacity

from tasks.codebuild.client import AwsCaller, console_url, logs_url, parse_build
from tasks.core.errors import AwsAuthError, AwsError


class FakeClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code, "Message": f"{code} happened"}}


RAW: dict[str, Any] = {
    "id": "daadaar-migrations:0f0e",
    "arn": "arn:aws:codebuild:us-east-1:123456789012:build/daadaar-migrations:0f0e",
    "buildStatus": "FAILED",
    "currentPhase": "COMPLETED",
    "startTime": datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC),
    "endTime": datetime(2026, 1, 1, 10, 1, 0, tzinfo=UTC),
    "phases": [
        {
            "phaseType": "BUILD",
            "phaseStatus": "FAILED",
            "durationInSeconds": 42,
            "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "exit 1"}],
        }
    ],
    "environment": {
        "image": "aws/codebuild/standard:7.0",
        "environmentVariables": [{"name": "RUN_SEED", "value": "true", "type": "PLAINTEXT"}],
    },
    "exportedEnvironmentVariables": [{"name": "APPLIED", "value": "3"}],
    "logs": {"cloudWatchLogs": {"status": "ENABLED"}},
    "initiator": "ci-role/session",
    "buildComplete": True,
}


def test_parse_build_with_fallback_log_location() -> None:
    b = parse_build(RAW, region="us-east-1")
    assert b.status == "FAILED" and b.complete and b.action == "seed"
    assert b.logs.group == "/aws/codebuild/daadaar-migrations" and b.logs.stream == "0f0e"
    assert b.phases[0].contexts[0].message == "exit 1"
    assert b.duration(0.0) == 60.0
    assert b.exported_variables == (("APPLIED", "3"),)
    assert (
        "123456789012/projects/daadaar-migrations/build/daadaar-migrations%3A0f0e" in b.console_url
    )


def test_parse_build_prefers_reported_log_location_and_prefix() -> None:
    raw = {**RAW, "logs": {"groupName": "/custom", "streamName": "s/0f0e"}}
    assert parse_build(raw, region="us-east-1").logs.stream == "s/0f0e"
    raw = {**RAW, "logs": {"cloudWatchLogs": {"groupName": "/g", "streamName": "pre"}}}
    loc = parse_build(raw, region="us-east-1").logs
    assert (loc.group, loc.stream) == ("/g", "pre/0f0e")


def test_urls() -> None:
    assert console_url("eu-west-1", "1", "p:u").endswith(
        "/projects/p/build/p%3Au/?region=eu-west-1"
    )
    assert "log-group/$252Faws$252Fcodebuild$252Fp/log-events/u" in logs_url(
        "r", "/aws/codebuild/p", "u"
    )


def _caller(**kw: Any) -> AwsCaller:
    return AwsCaller(sleep=lambda s: None, wait=tenacity.wait_none(), **kw)


def test_caller_retries_throttling_and_tracks_pressure() -> None:
    caller = _caller()
    answers = [
        FakeClientError("ThrottlingException"),
        FakeClientError("TooManyRequestsException"),
        {"ok": 1},
    ]

    def fn() -> Any:
        item = answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert caller("X", fn) == {"ok": 1}
    assert caller.calls == 3
    assert caller.pressure == 1.0  # 2 throttles, halved by the success
    caller("X", lambda: None)
    assert caller.pressure == 0.5


def test_caller_refreshes_expired_credentials_once() -> None:
    refreshed: list[int] = []
    caller = _caller(refresh=lambda: refreshed.append(1))
    answers: list[Any] = [FakeClientError("ExpiredTokenException"), "fine"]

    def fn() -> Any:
        item = answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert caller("X", fn) == "fine" and refreshed == [1]
    with pytest.raises(AwsAuthError):
        caller("X", lambda: (_ for _ in ()).throw(FakeClientError("ExpiredToken")))


def test_caller_translates_other_errors_by_code() -> None:
    with pytest.raises(AwsError) as info:
        _caller()(
            "CodeBuild StartBuild",
            lambda: (_ for _ in ()).throw(FakeClientError("InvalidInputException")),
        )
    assert info.value.details["aws_code"] == "InvalidInputException"
    assert info.value.message.startswith("CodeBuild StartBuild: InvalidInputException")


def test_one_phase_reader_for_boto3_the_cli_and_saved_files() -> None:
    """``phase_from_api`` serves the client and ``diagnose --build-json``: boto3 gives
    datetimes, aws cli v1 epoch numbers, v2 (and saved files) ISO 8601 text."""
    from tasks.codebuild.model import Context, epoch, phase_from_api

    at = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    for value in (at, at.timestamp(), "2026-01-01T10:00:00+00:00", "2026-01-01T10:00:00Z"):
        assert epoch(value) == at.timestamp()
    assert epoch(None) is None and epoch("yesterday") is None
    phase = phase_from_api(
        {
            "phaseType": "BUILD",
            "phaseStatus": "FAILED",
            "startTime": "2026-01-01T10:00:00.000000+00:00",
            "durationInSeconds": 7,
            "contexts": [{"statusCode": None, "message": "boom"}],
        }
    )
    assert (phase.name, phase.status, phase.start, phase.duration) == (
        "BUILD",
        "FAILED",
        at.timestamp(),
        7.0,
    )
    assert phase.contexts == (Context("", "boom"),)
    assert phase_from_api({"phaseType": "BUILD", "phaseStatus": ""}).status is None


def test_a_saved_build_json_is_read_by_the_client_s_own_reader() -> None:
    """One reader of a CodeBuild build object: ``invoke diagnose --build-json`` (aws cli
    output, ISO times, PascalCase or camelCase) gets the Build the client would have made."""
    from tasks.diagnose.facts import build_from_json

    raw = {**RAW, "projectName": "daadaar-migrations"}
    saved = {
        **raw,
        "startTime": "2026-01-01T10:00:00+00:00",
        "endTime": "2026-01-01T10:01:00+00:00",
    }
    pascal = {k[:1].upper() + k[1:]: v for k, v in saved.items()}
    client = parse_build(raw, region="us-east-1")
    assert build_from_json({"builds": [saved]}) == client
    assert build_from_json({"Builds": [pascal]}) == client
    assert client.environment and client.logs.known and client.console_url  # all carried over
    # what a file leaves out stays unknown, not CodeBuild's defaults
    bare = build_from_json({"id": "p:1"})
    assert (bare.project, bare.status, bare.current_phase) == ("", "", "")
