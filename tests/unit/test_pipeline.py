"""The release pipeline as data: order, durations, first failure, dry run."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tasks.core.config import Settings
from tasks.core.console import Console
from tasks.core.errors import ExitCode, PlatformMismatch, UsageError
from tasks.release.pipeline import (
    DryRunExecutor,
    Executor,
    PipelineStopped,
    ReleaseOptions,
    Step,
    StepFunctions,
    release_steps,
)

SETTINGS = Settings(
    env="prod",
    project="daadaar-migrations",
    repository="daadaar-backend",
    registry="123456789012.dkr.ecr.us-east-1.amazonaws.com",
)


class Recorder:
    def __init__(self, fail: str = "") -> None:
        self.ran: list[str] = []
        self.fail = fail

    def fn(self, name: str) -> Any:
        def run(ctx: Any) -> dict[str, Any]:
            self.ran.append(name)
            if name == self.fail:
                raise PlatformMismatch(f"{name} broke", "rebuild for linux/amd64")
            return {"step": name}

        return run

    def functions(self) -> StepFunctions:
        return StepFunctions(
            **{n: self.fn(n) for n in ("guard", "check", "push", "resolve", "migrate", "seed")}
        )


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(out=out, err=io.StringIO(), color=False), out


def names(steps: list[Step]) -> list[str]:
    return [s.name for s in steps]


def test_default_release_order() -> None:
    steps = release_steps(SETTINGS, ReleaseOptions(), Recorder().functions())
    assert names(steps) == ["guard", "image.check", "image.push", "db.migrate"]


def test_options_shape_the_plan() -> None:
    fns = Recorder().functions()
    assert names(
        release_steps(SETTINGS, ReleaseOptions(seed=True, seed_script="organizations"), fns)
    ) == [
        "guard",
        "image.check",
        "image.push",
        "db.migrate",
        "db.seed",
    ]
    assert names(release_steps(SETTINGS, ReleaseOptions(skip_build=True), fns)) == [
        "guard",
        "image.resolve",
        "db.migrate",
    ]
    assert names(release_steps(SETTINGS, ReleaseOptions(migrate=False), fns)) == [
        "image.check",
        "image.push",
    ]
    with pytest.raises(UsageError):
        release_steps(SETTINGS, ReleaseOptions(seed=True, detach=True), fns)


def test_executor_runs_in_order_and_times_each_step() -> None:
    rec = Recorder()
    ticks = iter(range(100))
    console, out = _console()
    results = Executor(console, lambda: float(next(ticks))).run(
        release_steps(SETTINGS, ReleaseOptions(), rec.functions()), None
    )
    assert rec.ran == ["guard", "check", "push", "migrate"]
    assert [r.status for r in results] == ["ok"] * 4
    assert all(r.duration == 1.0 for r in results)
    assert "[3/4] image.push" in out.getvalue()


def test_executor_stops_at_the_first_failure_with_its_message_and_code() -> None:
    rec = Recorder(fail="push")
    console, _ = _console()
    with pytest.raises(PipelineStopped) as info:
        Executor(console).run(
            release_steps(
                SETTINGS, ReleaseOptions(seed=True, seed_script="organizations"), rec.functions()
            ),
            None,
        )
    assert rec.ran == ["guard", "check", "push"]
    err = info.value
    assert err.code == ExitCode.PLATFORM
    assert err.message == "release stopped at image.push: push broke"
    assert err.remedy == "rebuild for linux/amd64"
    assert [s["status"] for s in err.details["steps"]] == [
        "ok",
        "ok",
        "failed",
        "skipped",
        "skipped",
    ]


def test_dry_run_prints_every_command_and_runs_nothing() -> None:
    rec = Recorder()
    console, out = _console()
    results = DryRunExecutor(console).run(
        release_steps(
            SETTINGS, ReleaseOptions(seed=True, seed_script="organizations"), rec.functions()
        ),
        None,
    )
    assert rec.ran == []
    text = out.getvalue()
    assert "$ docker buildx build --platform linux/amd64" in text
    assert "$ docker login --username AWS --password-stdin" in text
    assert "CodeBuild StartBuild projectName=daadaar-migrations" in text
    assert "SEED_SCRIPT=organizations" in text
    assert all(r.status == "planned" for r in results)


def test_dry_run_of_a_local_release_shows_what_the_local_runner_does() -> None:
    """--env local: no CodeBuild or CloudWatch call is planned, the loopback registry is read
    over plain HTTP (as the verifier does), and the classic-builder fallback is shown."""
    local = Settings(
        env="local",
        runner="local",
        project="daadaar-migrations-local",
        repository="daadaar-backend",
        registry="127.0.0.1:5000",
        registry_auth="basic",
        registry_insecure=True,
    )
    rec = Recorder()
    console, out = _console()
    DryRunExecutor(console).run(
        release_steps(
            local, ReleaseOptions(seed=True, seed_script="organizations"), rec.functions()
        ),
        None,
    )
    text = out.getvalue()
    assert rec.ran == []
    assert "api  " not in text and "CloudWatch" not in text
    assert "http GET http://127.0.0.1:5000/v2/daadaar-backend/manifests/" in text
    assert "https://" not in text
    assert "the registry 127.0.0.1:5000 and the local database answer" in text
    assert "RUN_MIGRATIONS=false RUN_SEED=true SEED_SCRIPT=organizations" in text
    assert "$ docker build --platform linux/amd64 -f Dockerfile" in text
    # production keeps its API plan and HTTPS
    console, out = _console()
    DryRunExecutor(console).run(release_steps(SETTINGS, ReleaseOptions(), rec.functions()), None)
    assert "http GET https://123456789012.dkr.ecr" in out.getvalue()


def test_the_start_plan_is_rendered_from_the_request_it_would_send() -> None:
    """The plan of db.migrate shows the StartRequest ``start_request`` builds (issue 14's
    session overrides included), not text written beside it."""
    from tasks.codebuild.model import request_params
    from tasks.release.start import PINNED_PLACEHOLDER, start_request

    s = Settings(
        env="prod",
        project="daadaar-migrations",
        repository="daadaar-backend",
        registry="123456789012.dkr.ecr.us-east-1.amazonaws.com",
        extra={"lock_timeout": "5s", "status_command": ["npx", "prisma", "migrate", "status"]},
    )
    rec = Recorder()
    console, out = _console()
    (result,) = [
        r
        for r in DryRunExecutor(console).run(
            release_steps(s, ReleaseOptions(), rec.functions()), None
        )
        if r.name == "db.migrate"
    ]
    sent = request_params(start_request(s, s.project, "migrate", PINNED_PLACEHOLDER, None, "x"))
    shown = dict(result.result["start_build"])
    assert shown.pop("idempotencyToken").startswith("<")
    assert shown == sent
    text = out.getvalue()
    assert "PGOPTIONS='-c lock_timeout=5s'" in text and "STATUS_COMMAND=" in text
    assert result.result["docker_argv"][-3:] == ["bun", PINNED_PLACEHOLDER, "src/db/migrate.ts"]
