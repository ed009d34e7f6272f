"""The guards in front of StartBuild: confirmation, seed allow-list, pinned images."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tasks.codebuild.services import Services
from tasks.core.aws import AwsFactory
from tasks.core.commands import CommandRunner
from tasks.core.config import Settings
from tasks.core.console import Console
from tasks.core.errors import ConfirmationRequired, ExitCode, UsageError
from tasks.core.runtime import Runtime
from tasks.release import builds, db_actions, guards
from tasks.wiring import wire
from tests.helpers.fake_backend import FakeBackend, build


def _rt(answer: Any = "unused", **settings: Any) -> tuple[Runtime, list[str]]:
    seeds = {"organizations": ("bun", "seed-o.ts"), "demo": ("bun", "seed-d.ts")}
    values = {"project": "proj", "seed_commands": seeds, **settings}
    s = Settings(env="prod", **values)
    console = Console(out=io.StringIO(), err=io.StringIO(), color=False)
    rt = Runtime(
        s, console, AwsFactory(s), CommandRunner(console.redactor, {}), console.redactor, {}
    )
    wire(rt)
    asked: list[str] = []

    def ask(question: str) -> Any:
        asked.append(question)
        return answer

    rt.part(Services).ask = ask
    return rt, asked


def test_confirm_without_terminal_requires_yes() -> None:
    rt, asked = _rt(None, confirm=True)
    with pytest.raises(ConfirmationRequired) as info:
        guards.confirm(rt, "run migrations", yes=False)
    assert info.value.code == ExitCode.CONFIRM and "--yes" in info.value.remedy
    assert asked == ["run migrations in environment 'prod'?"]


def test_confirm_answers() -> None:
    rt, _ = _rt(False, confirm=True)
    with pytest.raises(ConfirmationRequired):
        guards.confirm(rt, "x", yes=False)
    rt, _ = _rt(True, confirm=True)
    guards.confirm(rt, "x", yes=False)
    rt, asked = _rt(None, confirm=True)
    guards.confirm(rt, "x", yes=True)
    rt2, asked2 = _rt(None, confirm=False)
    guards.confirm(rt2, "x", yes=False)
    assert asked == [] and asked2 == []


def test_seed_scripts_come_from_the_allow_list_only() -> None:
    rt, _ = _rt()
    assert guards.seed_script(rt, None) == "organizations"
    assert guards.seed_script(rt, "demo") == "demo"
    with pytest.raises(UsageError):
        guards.seed_script(rt, "../../etc/passwd")


def test_image_flag_must_be_pinned() -> None:
    rt, _ = _rt()
    with pytest.raises(UsageError):
        guards.pinned_image(rt, "repo:latest")
    pinned = "r/x@sha256:" + "a" * 64
    assert guards.pinned_image(rt, pinned) == pinned


def test_refused_before_start_when_a_build_runs_and_nothing_is_started() -> None:
    rt, _ = _rt(True, confirm=True)
    backend = FakeBackend(snapshots=[build()])
    rt.part(Services).backend = backend
    with pytest.raises(Exception) as info:
        db_actions.run_action(rt, "migrate", image="r/x@sha256:" + "a" * 64)
    assert getattr(info.value, "code", None) == ExitCode.BUILD_CONFLICT
    assert backend.started == []


def test_no_project_configured() -> None:
    rt, _ = _rt(project="")
    with pytest.raises(UsageError) as info:
        db_actions.run_action(rt, "migrate", image="r/x@sha256:" + "a" * 64)
    assert "project" in info.value.remedy


def test_failure_hook_names_the_cause_and_a_broken_hook_hides_nothing() -> None:
    from tasks.codebuild.model import BuildUnsuccessful

    failed = build("FAILED", "COMPLETED", 11)
    rt, _ = _rt()
    rt.part(Services).backend = FakeBackend(snapshots=[failed])
    rt.sleep = lambda s: None
    seen: list[Any] = []

    def diagnose(b: Any, tail: list[str]) -> str:
        seen.append(b.id)
        return "the security group does not allow 5432 from the build: add an ingress rule"

    rt.part(Services).on_failure = diagnose
    with pytest.raises(BuildUnsuccessful) as info:
        builds.follow_build(rt, failed, timeout=1)
    assert info.value.remedy.startswith("the security group") and seen == [failed.id]

    def broken(b: Any, tail: list[str]) -> str:
        raise RuntimeError("catalogue missing")

    rt.part(Services).on_failure = broken
    with pytest.raises(BuildUnsuccessful) as again:
        builds.follow_build(rt, failed, timeout=1)
    assert again.value.code == ExitCode.BUILD_FAILED
    assert "invoke diagnose" in again.value.remedy
    assert "diagnosis unavailable" in rt.console.err.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "image",
    [
        "repo@sha256:",
        "repo@sha256:abc",
        "@sha256:" + "a" * 64,
        "repo:latest",
        "repo@sha256:" + "A" * 64,
    ],
)
def test_image_must_be_pinned_to_a_whole_digest(image: str) -> None:
    """`--image repo@sha256:` once passed and started a build on no image at all."""
    rt, _ = _rt()
    with pytest.raises(UsageError) as info:
        guards.pinned_image(rt, image)
    assert info.value.code == ExitCode.USAGE and "is not pinned to a digest" in info.value.message
    good = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "0f" * 32
    assert guards.pinned_image(rt, good) == good
