"""The local runner: CodeBuild's phase semantics, log grammar, state across processes.

Real worker processes and real bash; no Docker needed (the e2e tests run the real buildspec).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tasks.builds import FAILED, FAULT, STOPPED, SUCCEEDED, TIMED_OUT, Build, EnvVar, StartRequest
from tasks.buildspec import BuildspecError
from tasks.localbuild import LocalBackend

SECRET_URL = "postgres://app:Sup3r-Secret-pw@127.0.0.1:5432/app"
STAMP = r"\[Container\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} "


@pytest.fixture
def local(tmp_path: Path) -> Path:
    (tmp_path / "credentials.json").write_text(
        json.dumps({"secrets": {"test/database-url": SECRET_URL}})
    )
    return tmp_path


def backend(local: Path, text: str, secret: str = "test/database-url") -> LocalBackend:
    spec = local / "buildspec.yml"
    spec.write_text(text)
    return LocalBackend(
        buildspec_path=spec,
        secret=secret,
        root=local / "builds",
        environ={**os.environ, "RELEASE_LOCAL_DIR": str(local)},
    )


def request(token: str = "t1", *extra: EnvVar, timeout: float | None = None) -> StartRequest:
    return StartRequest(
        project="proj",
        action="migrate",
        env_overrides=(EnvVar("RUN_MIGRATIONS", "true"), *extra),
        image="img@sha256:00",
        idempotency_token=token,
        timeout_minutes=timeout,  # type: ignore[arg-type]  # minutes; tests use fractions
    )


def wait(b: LocalBackend, build: Build, seconds: float = 30) -> Build:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        build = b.get(build.id)
        if build.final:
            return build
        time.sleep(0.05)
    raise AssertionError(f"build did not end within {seconds}s: {build}")


def log_of(b: LocalBackend, build: Build) -> list[str]:
    lines: list[str] = []
    token = None
    for _ in range(1000):
        page = b.read_logs(build.logs, token)
        lines += [e.message for e in page.events]
        if page.next_token == token:
            return lines
        token = page.next_token
    raise AssertionError("log never caught up")


def phases(build: Build) -> dict[str, str | None]:
    return {p.name: p.status for p in build.phases}


SEMANTICS = """version: 0.2
env:
  variables:
    A: from-buildspec
    B: kept
  secrets-manager:
    DATABASE_URL: "@DATABASE_SECRET@"
  exported-variables:
    - OUT
phases:
  install:
    commands:
      - echo "install A=$A B=$B"
      - export CARRIED=yes; cd /tmp
  pre_build:
    commands:
      - echo "carried=$CARRIED cwd=$(pwd)"
      - echo "url=$DATABASE_URL"
      - printf 'no newline'
  build:
    on-failure: CONTINUE
    commands:
      - echo building
      - exit 3
      - echo never
    finally:
      - echo "finally succeeding=$CODEBUILD_BUILD_SUCCEEDING"
  post_build:
    commands:
      - export OUT=done
      - echo post
"""


def test_phases_environment_session_and_log_grammar(local: Path) -> None:
    b = backend(local, SEMANTICS)
    build = wait(b, b.start(request("t1", EnvVar("A", "override"))))
    assert build.status == FAILED
    assert phases(build) == {
        "SUBMITTED": SUCCEEDED,
        "QUEUED": SUCCEEDED,
        "PROVISIONING": SUCCEEDED,
        "DOWNLOAD_SOURCE": SUCCEEDED,
        "INSTALL": SUCCEEDED,
        "PRE_BUILD": SUCCEEDED,
        "BUILD": FAILED,
        "POST_BUILD": SUCCEEDED,
        "UPLOAD_ARTIFACTS": SUCCEEDED,
        "FINALIZING": SUCCEEDED,
        "COMPLETED": None,
    }
    failed = build.failed_phase()
    assert failed is not None and failed.name == "BUILD"
    assert failed.contexts[0].status_code == "COMMAND_EXECUTION_ERROR"
    assert (
        failed.contexts[0].message == "Error while executing command: exit 3. Reason: exit status 3"
    )
    assert build.exported_variables == (("OUT", "done"),)
    assert build.complete and build.end is not None
    lines = log_of(b, build)
    text = "\n".join(lines)
    assert "install A=override B=kept" in lines  # start overrides beat buildspec variables
    assert "carried=yes cwd=/tmp" in lines  # one session: export and cd carry on
    assert "url=***" in lines and "Sup3r-Secret-pw" not in text  # secrets masked
    assert "no newline" in lines and "never" not in lines
    assert "finally succeeding=0" in lines
    assert "post" in lines  # a failed BUILD still runs POST_BUILD
    for expected in (
        "Entering phase BUILD",
        "Running command echo building",
        "Command did not exit successfully exit 3 exit status 3",
        "Phase complete: BUILD State: FAILED",
        "Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing "
        "command: exit 3. Reason: exit status 3",
        "Phase complete: POST_BUILD State: SUCCEEDED",
        "Phase context status code:  Message: ",
        "Phase is DOWNLOAD_SOURCE",
    ):
        assert any(re.fullmatch(STAMP + re.escape(expected), line) for line in lines), expected
    order = [line.split(" ", 3)[3] for line in lines if "Entering phase" in line]
    assert order == [f"Entering phase {p}" for p in ("INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD")]


def test_pre_build_failure_skips_to_finalizing(local: Path) -> None:
    text = (
        "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - echo probe\n"
        "      - 'false'\n    finally:\n      - echo cleanup\n"
        "  build:\n    commands:\n      - echo must-not-run\n"
        "  post_build:\n    commands:\n      - echo must-not-run-either\n"
    )
    b = backend(local, text)
    build = wait(b, b.start(request()))
    assert build.status == FAILED
    seen = phases(build)
    assert seen["PRE_BUILD"] == FAILED and "BUILD" not in seen and "POST_BUILD" not in seen
    assert seen["FINALIZING"] == SUCCEEDED
    lines = log_of(b, build)
    assert "cleanup" in lines and "must-not-run" not in lines
    assert lines[-1].endswith(
        "Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing "
        "command: false. Reason: exit status 1"
    )


def test_missing_secret_fails_download_source(local: Path) -> None:
    b = backend(local, SEMANTICS, secret="no/such-secret")
    build = wait(b, b.start(request()))
    assert build.status == FAILED
    failed = build.failed_phase()
    assert failed is not None and failed.name == "DOWNLOAD_SOURCE"
    assert failed.contexts[0].status_code == "Secrets Manager Error"
    assert "no/such-secret" in failed.contexts[0].message
    assert any(
        "Phase context status code: Secrets Manager Error Message: " in x for x in log_of(b, build)
    )


def test_stop_ends_a_running_build_as_stopped(local: Path) -> None:
    b = backend(
        local, "version: 0.2\nphases:\n  build:\n    commands:\n      - echo start; sleep 60\n"
    )
    build = b.start(request())
    deadline = time.monotonic() + 20
    while "start" not in log_of(b, build) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    b.stop(build.id)
    build = wait(b, build, 15)
    assert time.monotonic() - started < 10
    assert build.status == STOPPED
    assert phases(build)["BUILD"] == STOPPED


def test_build_timeout(local: Path) -> None:
    b = backend(local, "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 60\n")
    build = wait(b, b.start(request(timeout=0.02)), 20)  # 1.2 s
    assert build.status == TIMED_OUT
    assert build.phases[-2].contexts[0].status_code == "BUILD_TIMED_OUT"


def test_a_dead_worker_is_reported_as_fault(local: Path) -> None:
    b = backend(local, "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 60\n")
    build = b.start(request())
    state_file = local / "builds" / build.uuid / "state.json"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # until the build phase's shell runs
        state = json.loads(state_file.read_text())
        if state.get("current_phase") == "BUILD" and state.get("pgid"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the build phase never started: {state}")
    os.kill(int(state["pid"]), signal.SIGKILL)
    build = wait(b, build, 10)
    assert build.status == FAULT
    failed = build.failed_phase()
    assert failed is not None
    assert failed.contexts[0].status_code == "SINGLE_BUILD_CONTAINER_DEAD"
    # like CodeBuild's dead container, nothing of the build lives on: not the phase's shell
    # (with a migration container behind it), nor its private directory (its docker login)
    pgid = int(state["pgid"])
    for _ in range(100):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the dead build's shell (group {pgid}) still runs")
    assert not list((local / "builds" / build.uuid).glob("run-*"))


def test_idempotent_start_and_state_across_instances(local: Path) -> None:
    text = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n"
    first = backend(local, text)
    build = first.start(request("same-token"))
    again = backend(local, text).start(request("same-token"))  # a new process would do this
    assert again.id == build.id
    other = backend(local, text).start(request("other-token"))
    assert other.id != build.id
    wait(first, build)
    wait(first, other)
    fresh = backend(local, text)
    assert [x.id for x in fresh.recent("proj", 10)] == [other.id, build.id]
    assert fresh.recent("proj", 1)[0].id == other.id
    assert fresh.running("proj") == []
    assert fresh.get(build.id).status == SUCCEEDED
    assert fresh.get(build.id).action == "migrate"


def test_logs_page_losslessly(local: Path) -> None:
    text = "version: 0.2\nphases:\n  build:\n    commands:\n      - seq 1 25000\n"
    b = backend(local, text)
    build = wait(b, b.start(request()), 60)
    pages = []
    token = None
    for _ in range(100):
        page = b.read_logs(build.logs, token)
        pages.append(len(page.events))
        if page.next_token == token:
            break
        token = page.next_token
    assert max(pages) <= 10_000 and len(pages) >= 4
    numbers = [line for line in log_of(b, build) if line.isdigit()]
    assert numbers == [str(i) for i in range(1, 25001)]


def test_invalid_buildspec_is_refused_before_any_build(local: Path) -> None:
    b = backend(
        local,
        "version: 0.2\nphases:\n  build:\n    commands: [ls]\n  prebuild:\n    commands: [ls]\n",
    )
    with pytest.raises(BuildspecError) as caught:
        b.start(request())
    assert caught.value.line().startswith("buildspec.yml: line 5: unknown phase 'prebuild'") or (
        "line 5: unknown phase 'prebuild'" in caught.value.line()
    )
    assert b.recent("proj", 5) == []


def test_unknown_build_id(local: Path) -> None:
    from tasks.builds import BuildNotFound

    b = backend(local, SEMANTICS)
    with pytest.raises(BuildNotFound):
        b.get("proj:00000000-0000-0000-0000-000000000000")
    with pytest.raises(BuildNotFound):
        b.get("proj:../../etc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 0.2\nphases:\n  build:\n\tcommands: [ls]\n", "line 4: invalid YAML"),
        (
            "version: 0.2\nphases:\n  prebuild:\n    commands: [ls]\n",
            "line 3: unknown phase 'prebuild'",
        ),
        (
            "version: 0.2\nphases:\n  build:\n  post_build:\n    commands: [ls]\n",
            "line 3: phase 'build' has no commands",
        ),
    ],
)
def test_release_with_an_invalid_buildspec_is_one_line_before_any_build(
    tmp_path: Path, text: str, expected: str
) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    env = {
        **os.environ,
        "RELEASE_BUILDSPEC": str(bad),
        "RELEASE_LOCAL_DIR": str(tmp_path / "local"),
        "NO_COLOR": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "release", "--env", "local", "--json"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{bad}: {expected}" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is False and expected in result["error"]["message"]
    assert not (tmp_path / "local" / "builds").exists()


def test_release_before_local_up_says_to_run_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "RELEASE_LOCAL_DIR": str(tmp_path / "never-set-up"), "NO_COLOR": "1"}
    env.pop("RELEASE_REGISTRY_PASSWORD", None)
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "release", "--env", "local"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 22, proc.stdout + proc.stderr
    errors = [
        line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error:")
    ]
    assert len(errors) == 1
    assert "the local environment is not set up" in errors[0]
    assert errors[0].endswith("Fix: run invoke local.up")


def test_old_finished_builds_are_pruned(local: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tasks.localbuild as localbuild

    monkeypatch.setattr(localbuild, "KEEP_BUILDS", 2)
    b = backend(local, "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n")
    ids = []
    for index in range(4):
        build = wait(b, b.start(request(f"token-{index}")))
        ids.append(build.id)
        time.sleep(0.01)
    kept = [x.id for x in b.recent("proj", 10)]
    assert kept == [ids[3], ids[2]], (kept, ids)  # pruned at each start to KEEP_BUILDS
    tokens = json.loads((local / "builds" / "tokens.json").read_text())
    assert set(tokens.values()) == set(kept)


def test_check_ready_names_a_stopped_local_database(tmp_path: Path) -> None:
    """A release on --env local with PostgreSQL down stops in the guard (exit 22), not in a
    build whose failure would then be diagnosed."""
    import socket

    from tasks.errors import ExitCode, LocalEnvError

    with socket.socket() as registry, socket.socket() as db:
        registry.bind(("127.0.0.1", 0))
        registry.listen()
        db.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        reg_port, db_port = registry.getsockname()[1], db.getsockname()[1]
        url = f"postgres://app:Sup3r-Secret-pw@127.0.0.1:{db_port}/app"
        (tmp_path / "credentials.json").write_text(json.dumps({"secrets": {"s": url}}))
        b = backend(tmp_path, "version: 0.2\nphases:\n  build:\n    commands: [ls]\n", "s")
        with pytest.raises(LocalEnvError) as info:
            b.check_ready(f"127.0.0.1:{reg_port}")
        assert info.value.code == ExitCode.LOCAL_ENV
        assert info.value.line() == (
            f"the local PostgreSQL 127.0.0.1:{db_port} does not answer. "
            "Fix: start the local environment: invoke local.up"
        )
        assert "Sup3r" not in info.value.line()
        db.listen()
        b.check_ready(f"127.0.0.1:{reg_port}")  # both answer: ready
        remote = url.replace("127.0.0.1", "db.internal")
        (tmp_path / "credentials.json").write_text(json.dumps({"secrets": {"s": remote}}))
        db.close()
        b.check_ready(f"127.0.0.1:{reg_port}")  # a remote database is the probe's business
