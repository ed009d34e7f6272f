"""Ctrl-C / SIGTERM while waiting: this run stopped the build, so no diagnosis runs (a cancelled
CI job has seconds before it is killed) and the remedy says who stopped it."""

from __future__ import annotations

import io

import pytest

from tasks.codebuild.model import BuildUnsuccessful
from tasks.codebuild.services import Services
from tasks.core.aws import AwsFactory
from tasks.core.commands import CommandRunner
from tasks.core.config import Settings
from tasks.core.console import Console
from tasks.core.errors import ExitCode
from tasks.core.runtime import Runtime
from tasks.release import builds
from tests.helpers.fake_backend import FakeBackend, build, lines
from tests.helpers.scripted_codebuild import VirtualClock


def _rt(backend: FakeBackend, diagnosed: list[str]) -> Runtime:
    s = Settings(env="staging", project="proj")
    console = Console(out=io.StringIO(), err=io.StringIO(), color=False)
    clock = VirtualClock(0.0)
    rt = Runtime(
        s,
        console,
        AwsFactory(s),
        CommandRunner(console.redactor, {}),
        console.redactor,
        {},
        sleep=clock.sleep,
        now=clock.now,
        monotonic=clock.monotonic,
    )
    rt.part(Services).backend = backend
    rt.part(Services).on_failure = lambda b, tail: diagnosed.append(b.id) or "diagnosed"
    return rt


def test_interrupted_wait_skips_the_diagnosis_and_says_this_run_stopped_it() -> None:
    def ctrl_c(n: object) -> None:
        if n == 2:
            raise KeyboardInterrupt

    stopped = build("STOPPED", "COMPLETED", 7, initiator="alice")
    backend = FakeBackend([build()], lines(3), after_stop=[stopped], on_get=[ctrl_c])
    diagnosed: list[str] = []
    with pytest.raises(BuildUnsuccessful) as info:
        builds.follow_build(_rt(backend, diagnosed), build(), timeout=None)
    assert backend.stopped == ["proj:uuid-1"]
    assert info.value.code == ExitCode.BUILD_STOPPED
    assert info.value.remedy.startswith("this run stopped it (Ctrl-C or SIGTERM")
    assert diagnosed == []


def test_a_build_stopped_elsewhere_is_still_diagnosed() -> None:
    backend = FakeBackend([build("STOPPED", "COMPLETED", 7)], lines(3))
    diagnosed: list[str] = []
    with pytest.raises(BuildUnsuccessful) as info:
        builds.follow_build(_rt(backend, diagnosed), build(), timeout=None)
    assert info.value.remedy == "diagnosed" and diagnosed == ["proj:uuid-1"]
