"""``build_timeout``: the environment's build timeout, sent with every start as StartBuild's
``timeoutInMinutesOverride`` (the local runner reads it from the same request), shown by the
dry run, and the limit doctor measures recent builds against."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest

from tasks.codebuild.model import request_params
from tasks.codebuild.services import Services
from tasks.core.aws import AwsFactory
from tasks.core.commands import CommandRunner
from tasks.core.config import Settings, load_settings
from tasks.core.console import Console
from tasks.core.errors import UsageError
from tasks.core.runtime import Runtime
from tasks.provision.doctor import BuildHistory, check_timeout
from tasks.release import collaborators, db_actions
from tasks.release.state import ReleaseState
from tasks.wiring import wire
from tests.helpers.fake_backend import FakeBackend, build
from tests.unit.test_doctor_checks import facts

PINNED = "r/x@sha256:" + "a" * 64
RAW: dict[str, Any] = {"environments": {"prod": {"project": "proj", "build_timeout": 90}}}


def _rt(**settings: Any) -> tuple[Runtime, FakeBackend]:
    s = Settings(env="prod", project="proj", **settings)
    console = Console(out=io.StringIO(), err=io.StringIO(), color=False)
    rt = Runtime(
        s, console, AwsFactory(s), CommandRunner(console.redactor, {}), console.redactor, {}
    )
    wire(rt)
    backend = FakeBackend(snapshots=[build()])
    rt.part(Services).backend = backend
    return rt, backend


def test_read_from_invoke_yaml_and_release_build_timeout() -> None:
    assert load_settings(RAW, env="prod").build_timeout == 90
    assert (
        load_settings(RAW, env="prod", environ={"RELEASE_BUILD_TIMEOUT": "120"}).build_timeout
        == 120
    )
    unset = {"environments": {"prod": {"project": "proj"}}}
    assert load_settings(unset, env="prod").build_timeout is None


@pytest.mark.parametrize("value", [4, 2161, "1.5", 1.5, "ninety", True, "９０"])
def test_outside_codebuild_s_range_is_one_line_naming_the_key(value: object) -> None:
    raw = {"environments": {"prod": {"project": "proj", "build_timeout": value}}}
    with pytest.raises(UsageError) as info:
        load_settings(raw, env="prod")
    assert info.value.message.startswith("build_timeout must be a whole number of minutes from 5")
    assert "2160" in info.value.message and "build_timeout" in info.value.remedy


def test_every_start_sends_it_as_timeout_in_minutes_override() -> None:
    rt, backend = _rt(build_timeout=90)
    db_actions.run_action(rt, "seed", image=PINNED, detach=True, force=True)
    [request] = backend.started
    assert request.timeout_minutes == 90
    assert request_params(request)["timeoutInMinutesOverride"] == 90


def test_unset_sends_no_override_and_the_timeout_is_part_of_the_idempotency_token() -> None:
    rt, backend = _rt()
    db_actions.run_action(rt, "seed", image=PINNED, detach=True, force=True)
    [request] = backend.started
    assert request.timeout_minutes is None
    assert "timeoutInMinutesOverride" not in request_params(request)
    other, _ = _rt(build_timeout=90)
    other.part(ReleaseState).invocation_id = collaborators.invocation_id(rt)  # the same run
    assert (
        db_actions.start_request(other, "seed", PINNED, "organizations").idempotency_token
        != db_actions.start_request(rt, "seed", PINNED, "organizations").idempotency_token
    )


def test_the_dry_run_shows_it() -> None:
    rt, backend = _rt(build_timeout=45)
    planned = db_actions.run_action(rt, "migrate", image=PINNED, dry_run=True)
    assert planned["start_build"]["timeoutInMinutesOverride"] == 45
    assert backend.started == []


def test_doctor_measures_recent_builds_against_it() -> None:
    with_override = facts(builds=BuildHistory((10.0, 50.0)))
    with_override = replace(
        with_override, settings=replace(with_override.settings, build_timeout=200)
    )
    roomy = check_timeout(with_override)
    assert roomy.status == "pass" and "timeout 200 min" in roomy.message
    assert "build_timeout=200 (timeoutInMinutesOverride)" in roomy.evidence
    tight = check_timeout(replace(with_override, builds=BuildHistory((10.0, 190.0))))
    assert tight.status == "warn" and "190.0 of 200 min" in tight.message
    assert "raise build_timeout to 400 in release.environments." in tight.fix
