"""Ctrl-C is ours to handle (issue 10, item 7): the real ``invoke`` on ``--env local``, the real
local runner and its worker, real signals.

- Ctrl-C in the first milliseconds of a build ends it STOPPED (exit 14), never FAULT (12): CI
  may retry a FAULT and so run the migration twice.
- From the suite's first line on, Ctrl-C is exit 130 (nothing started) or 14 (the build it had
  started, stopped): no traceback, no build left running; also when SIGINT was inherited
  ignored (a background job of a script, some CI runners).
- Ctrl-C during ``local.up`` leaves nothing that ``local.down`` does not know about.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.core.errors import ExitCode
from tests.conftest import ROOT

PINNED = "127.0.0.1:5000/daadaar-backend@sha256:" + "ab" * 32
IGNORING_SIGINT = (  # exec the command with SIGINT ignored, as a script's background job has it
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


@pytest.fixture
def local_setup(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A local environment for db.migrate: a remote-looking database (no probe), a socket that
    answers as the registry, and a buildspec whose build phase takes 30 s."""
    local = tmp_path / "release-local"
    local.mkdir()
    url = "postgres://app:Sup3r-Secret-pw@db.internal:5432/app"
    (local / "credentials.json").write_text(json.dumps({"secrets": {"local/database-url": url}}))
    spec = tmp_path / "buildspec.yml"
    spec.write_text("version: 0.2\nphases:\n  build:\n    commands:\n      - echo ran; sleep 30\n")
    with socket.socket() as registry:
        registry.bind(("127.0.0.1", 0))
        registry.listen(16)
        env = {
            **os.environ,
            "RELEASE_LOCAL_DIR": str(local),
            "RELEASE_BUILDSPEC": str(spec),
            "RELEASE_REGISTRY": f"127.0.0.1:{registry.getsockname()[1]}",
            "NO_COLOR": "1",
        }
        env.pop("RELEASE_REGISTRY_PASSWORD", None)
        yield env
    _stop_leftovers(local)


def _states(local: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(local.glob("builds/*/state.json"))]


def _stop_leftovers(local: Path) -> None:
    """Whatever a failing test left running: stop it (bounded)."""
    from tasks.local.backend import LocalBackend

    b = LocalBackend(buildspec_path=local, secret="", root=local / "builds")
    for build in [x for x in b._all(None) if not x.final]:
        b.stop(build.id)


def _all_final(local: Path, seconds: float = 20) -> list[dict[str, object]]:
    from tasks.local.backend import LocalBackend

    b = LocalBackend(buildspec_path=local, secret="", root=local / "builds")
    deadline = time.monotonic() + seconds
    while any(not x.final for x in b._all(None)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [x.as_dict() for x in b._all(None)]


def _migrate(env: dict[str, str], *wrapper: str) -> subprocess.Popen[str]:
    argv = [*wrapper, "invoke", "db.migrate", "--env", "local", "--json", "--image", PINNED]
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_ctrl_c_in_the_first_milliseconds_of_a_local_build_ends_stopped(
    local_setup: dict[str, str],
) -> None:
    local = Path(local_setup["RELEASE_LOCAL_DIR"])
    for attempt in range(2):
        before = len(_states(local))
        proc = _migrate(local_setup)
        deadline = time.monotonic() + 30
        while len(_states(local)) == before and proc.poll() is None:
            assert time.monotonic() < deadline, "no build was started"
            time.sleep(0.002)
        proc.send_signal(signal.SIGINT)  # the build exists; its worker is milliseconds old
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == ExitCode.BUILD_STOPPED, (attempt, err[-3000:])
        assert "Traceback" not in err and len(_errors(err)) == 1, err[-3000:]
        assert json.loads(out)["status"] == "STOPPED"
        builds = _all_final(local)
        assert [b["status"] for b in builds] == ["STOPPED"] * (attempt + 1), builds


def _claimed_sigint(pid: int) -> bool:
    """Our handler is installed (SigCgt has SIGINT) while it was inherited ignored (past the
    wrapper's exec: the wrapper, a Python too, catches SIGINT until it ignores it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if b"execvp" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False
    except OSError:
        return False
    caught = int(next(x for x in status.splitlines() if x.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGINT - 1)))


@pytest.mark.parametrize("offset", [0.0, 0.05, 0.15, 0.4, 0.8, 1.6])
def test_ctrl_c_from_the_first_line_of_the_suite_even_if_inherited_ignored(
    local_setup: dict[str, str], offset: float
) -> None:
    """SIGINT inherited as ignored is taken back; wherever the Ctrl-C lands from then on
    (start-up, guards, the start, the wait) the outcome is exit 130 with nothing started, or
    exit 14 with the started build STOPPED; one error line, never a traceback."""
    local = Path(local_setup["RELEASE_LOCAL_DIR"])
    proc = _migrate(local_setup, sys.executable, "-c", IGNORING_SIGINT)
    try:
        deadline = time.monotonic() + 30
        while not _claimed_sigint(proc.pid):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "SIGINT stayed ignored: Ctrl-C would do nothing"
            time.sleep(0.002)
        time.sleep(offset)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err[-3000:]
    assert len(_errors(err)) == 1, err[-3000:]
    assert json.loads(out)["ok"] is False  # --json: exactly one object, also when interrupted
    builds = _all_final(local)
    if proc.returncode == ExitCode.INTERRUPTED:
        assert builds == [], builds  # nothing was started
        assert _errors(err)[0].startswith("error: interrupted")
    else:
        assert proc.returncode == ExitCode.BUILD_STOPPED, err[-3000:]
        assert [b["status"] for b in builds] == ["STOPPED"], builds
    if offset == 0.0:  # right after the claim, still starting up
        assert proc.returncode == ExitCode.INTERRUPTED, err[-3000:]


def _processes_under(directory: Path) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if str(directory) in text:
            found.append(int(cmdline.parent.name))
    return found


@pytest.mark.docker
def test_ctrl_c_during_local_up_leaves_nothing_local_down_does_not_know(
    tmp_path: Path, docker_host: str
) -> None:
    """A terminal's Ctrl-C (SIGINT to the foreground process group) while local.up waits for
    the registry it just started: the registry runs in its own session, so it lives on; it
    must be on record, so that local.down stops it."""
    from tasks.local import daemons

    local = tmp_path / "release-local"
    env = {
        **os.environ,
        "RELEASE_LOCAL_DIR": str(local),
        "RELEASE_REGISTRY": f"127.0.0.1:{daemons.free_port()}",
        "RELEASE_DATABASE_PORT": str(daemons.free_port()),
        "NO_COLOR": "1",
    }
    proc = subprocess.Popen(
        ["invoke", "local.up", "--env", "local"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 60
        while not _processes_under(local / "registry"):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the registry never started"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED, err[-3000:]
    assert "Traceback" not in err and len(_errors(out + err)) == 1, out + err
    down = subprocess.run(
        ["invoke", "local.down", "--env", "local"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert down.returncode == 0, down.stdout + down.stderr
    deadline = time.monotonic() + 20
    while _processes_under(local) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _processes_under(local)
    for pid in left:  # (a failing run must not leave it behind either)
        os.kill(pid, signal.SIGKILL)
    assert left == [], "still running after local.down: " + ", ".join(map(str, left))
