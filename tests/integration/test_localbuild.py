"""The local runner: CodeBuild's phase semantics, log grammar, state across processes.

Real worker processes and real bash; no Docker needed (the e2e tests run the real buildspec).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from tasks.codebuild.model import (
    FAILED,
    FAULT,
    STOPPED,
    SUCCEEDED,
    TIMED_OUT,
    Build,
    EnvVar,
    StartRequest,
)
from tasks.local.backend import LocalBackend
from tasks.local.buildspec import BuildspecError

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
    build = wait(b, build, 40)
    # stopped, not finished: well before the command's own 60 s (10 s was exceeded under load)
    assert time.monotonic() - started < 30
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
    wait(first, build)  # one at a time (concurrentBuildLimit: 1)
    other = backend(local, text).start(request("other-token"))
    assert other.id != build.id
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
    from tasks.codebuild.model import BuildNotFound

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
        (  # issue 10: the second phases: used to replace the first, and the release passed
            "version: 0.2\nphases:\n  build:\n    commands: [exit 1]\n"
            "phases:\n  build:\n    commands: [ls]\n",
            "line 5: duplicate key 'phases' (first at line 2)",
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
    import tasks.local.backend as localbuild

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

    from tasks.core.errors import ExitCode, LocalEnvError

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


# -- CodeBuild's guarantees under faults (issue 10, item 8; item 7 for early stops) ----------
_STARTER = """
import os, sys, time
from pathlib import Path
from tasks.codebuild.model import EnvVar, StartRequest
from tasks.core.errors import SuiteError
from tasks.local.backend import LocalBackend

local, go, token = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
b = LocalBackend(buildspec_path=local / "buildspec.yml", secret="test/database-url",
                 root=local / "builds", environ={**os.environ, "RELEASE_LOCAL_DIR": str(local)})
deadline = time.monotonic() + 20
while not go.exists() and time.monotonic() < deadline:
    pass  # spin: both starters leave this loop within microseconds of each other
req = StartRequest("proj", "migrate", (EnvVar("RUN_MIGRATIONS", "true"),), "img@sha256:00", token)
try:
    print("started", b.start(req).id)
except SuiteError as err:
    print("refused", int(err.code), err.line())
"""


def test_two_starts_at_the_same_instant_run_one_build(local: Path) -> None:
    """concurrentBuildLimit: 1, atomically: two processes start at once, one is refused."""
    import subprocess
    import sys

    backend(local, "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 3\n")
    go = local / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _STARTER, str(local), str(go), f"token-{n}"],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(2)
    ]
    time.sleep(1.5)  # both are spinning on the go file
    go.touch()
    outs = sorted(p.communicate(timeout=30)[0].strip() for p in procs)
    assert [o.split()[0] for o in outs] == ["refused", "started"], outs
    started = outs[1].split()[1]
    assert outs[0].startswith(f"refused 8 build {started} of project proj is already IN_PROGRESS")
    b = backend(local, "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 3\n")
    assert [x.id for x in b.recent("proj", 10)] == [started]


def _fill(path: Path, leave: int) -> None:
    """Fill the file system holding ``path`` until ``leave`` bytes are free (or it is full)."""
    st = os.statvfs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with contextlib.suppress(OSError):
            os.write(fd, b"x" * max(0, st.f_bavail * st.f_frsize - leave))
    finally:
        os.close(fd)


def test_a_start_on_a_full_disk_leaves_no_phantom_build(local: Path, tmp_path: Path) -> None:
    """A real full disk (a 64 KiB tmpfs), filled to each level a start can meet: the start
    either runs or fails in one line; never a build left IN_PROGRESS that blocks the next."""
    import subprocess

    from tasks.core.errors import ExitCode, LocalEnvError

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, mounted.stderr
    try:
        text = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n"
        (disk / "credentials.json").write_text((local / "credentials.json").read_text())
        b = backend(disk, text)
        failures = 0
        for free_kib in range(0, 32, 4):  # bounded: 8 levels
            filler = disk / "filler"
            shutil.rmtree(disk / "builds", ignore_errors=True)
            _fill(filler, leave=free_kib * 1024)
            try:
                build = b.start(request(f"full-{free_kib}"))
            except LocalEnvError as err:
                failures += 1
                assert err.code == ExitCode.LOCAL_ENV
                assert err.line().startswith("could not start a local build: No space left")
                assert err.line().endswith(
                    f"Fix: free space on the disk that holds {disk / 'builds'} (df -h {disk / 'builds'}) and retry"
                )
            else:
                filler.unlink()
                wait(b, build)  # it ends (SUCCEEDED, or FAULT when its worker hit the full disk)
            filler.unlink(missing_ok=True)
            assert b.running("proj") == []
            after = wait(b, b.start(request(f"after-{free_kib}")))  # never refused (exit 8)
            assert after.status == SUCCEEDED
        assert failures >= 3  # the disk was really full for several levels
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_start_killed_before_its_worker_ran_leaves_no_phantom_build(local: Path) -> None:
    import subprocess
    import sys

    from tasks.core.errors import LocalEnvError

    text = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n"
    backend(local, text)
    code = _STARTER.replace(
        'root=local / "builds",', 'root=local / "builds", spawn=lambda d: os.kill(os.getpid(), 9),'
    )
    (local / "go").touch()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(local), str(local / "go"), "killed"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    b = backend(local, text)
    assert b.running("proj") == []
    (dead,) = b.recent("proj", 5)
    assert dead.status == FAULT
    assert (
        dead.phases[-2]
        .contexts[0]
        .message.endswith("died before its worker ran; nothing of the build ran")
    )
    assert wait(b, b.start(request("next"))).status == SUCCEEDED

    def cannot_fork(directory: Path) -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    import errno

    failing = backend(local, text)
    failing.spawn = cannot_fork
    with pytest.raises(LocalEnvError, match="could not start a local build: Resource temporarily"):
        failing.start(request("no-fork"))
    assert [x.id for x in b.recent("proj", 5)][1:] == [dead.id]  # nothing new left behind
    assert b.running("proj") == []


def test_a_stop_in_the_first_milliseconds_ends_stopped(local: Path) -> None:
    """CI retries a FAULT, which would run the migration twice: a stop that lands while the
    worker is still starting (Python importing) is a STOPPED build."""
    b = backend(local, "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ran\n")
    for n in range(3):
        build = b.start(request(f"early-{n}"))
        b.stop(build.id)  # the worker is milliseconds old
        build = wait(b, build)
        assert build.status == STOPPED, build
        assert "ran" not in log_of(b, build)


def test_the_worker_entry_runs_under_the_name_the_package_is_installed_as(tmp_path: Path) -> None:
    """Installed as ``release_suite`` (issue 16), a build's worker is started as
    ``python -m release_suite.local.runner``: the module name comes from ``__package__``, not
    from a hard-coded ``tasks.``. Here the package is linked under that name beside nothing
    else, so a hard-coded ``tasks.local.runner`` could not be imported at all."""
    import subprocess
    import sys

    from tasks.local.state import PROJECT_ROOT

    (tmp_path / "release_suite").symlink_to(PROJECT_ROOT / "tasks")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path), "PYTHONNOUSERSITE": "1"}
    named = subprocess.run(
        [sys.executable, "-c", "import release_suite.local.backend as b; print(b.WORKER_MODULE)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert named.stdout.strip() == "release_suite.local.runner", named.stderr
    entry = subprocess.run(
        [sys.executable, "-m", "release_suite.local.runner"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert entry.returncode == 2, entry.stderr
    assert entry.stderr == "usage: python -m release_suite.local.runner BUILD_DIR\n"
