"""What `.ci/run` starts it stops, and nothing else (issue 10, item 5), on a real dockerd and
PostgreSQL started here on a private socket / port (never the shared engine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.local import daemons
from tasks.local import environment as localenv
from tests.conftest import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
SCRIPT = ROOT / "scripts" / "ci_services.py"


@pytest.fixture
def private() -> Iterator[dict[str, str]]:
    """A state dir, docker socket and PostgreSQL port of this test alone; stopped afterwards.
    A short path: containerd's socket under it must fit a unix socket address (108 bytes)."""
    short = Path(tempfile.mkdtemp(prefix="ci-", dir="/tmp"))
    short.chmod(0o755)  # the postgres user reaches its data dir through it
    state = short / "state"
    env = {
        **os.environ,
        "RELEASE_TEST_STATE": str(state),
        "RELEASE_TEST_PG_PORT": str(daemons.free_port()),
        "DOCKER_HOST": f"unix://{short}/docker.sock",
    }
    yield env
    daemons.stop_postgres(state / "postgres")
    daemons.stop_dockerd(state / "dockerd")
    shutil.rmtree(short, ignore_errors=True)


def _ci(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _start_both(env: dict[str, str]) -> None:
    state = Path(env["RELEASE_TEST_STATE"])
    daemons.ensure_dockerd(state / "dockerd", env["DOCKER_HOST"])
    daemons.ensure_postgres(state / "postgres", int(env["RELEASE_TEST_PG_PORT"]))


def _leftovers(env: dict[str, str]) -> list[str]:
    state = Path(env["RELEASE_TEST_STATE"])
    procs = [" ".join(daemons._cmdline(p)) for p in daemons.pids_using(state)]
    mounts = daemons.mounts_under(Path("/proc/mounts").read_text(), state.resolve())
    port = int(env["RELEASE_TEST_PG_PORT"])
    return procs + mounts + (["postgres port"] if daemons.port_open("127.0.0.1", port) else [])


def test_ci_stops_the_engine_containerd_mounts_and_postgres_it_started(
    private: dict[str, str], tmp_path: Path
) -> None:
    snapshot = tmp_path / "snapshot.json"
    assert _ci(private, "snapshot", str(snapshot)).returncode == 0
    started = _ci(private, "start-docker")
    assert started.returncode == 0, started.stderr
    _start_both(private)  # what the test harness does during the run
    state = Path(private["RELEASE_TEST_STATE"])
    running = " ".join(" ".join(daemons._cmdline(p)) for p in daemons.pids_using(state))
    assert "dockerd" in running and "containerd" in running and "postgres" in running
    assert daemons.mounts_under(Path("/proc/mounts").read_text(), state.resolve())

    stopped = _ci(private, "stop", str(snapshot))

    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout == "" and stopped.stderr == ""  # pytest's summary stays the last line
    assert _leftovers(private) == []
    assert not daemons.docker_answers(private["DOCKER_HOST"])


def test_ci_leaves_running_what_ran_before_it(private: dict[str, str], tmp_path: Path) -> None:
    _start_both(private)
    snapshot = tmp_path / "snapshot.json"
    assert _ci(private, "snapshot", str(snapshot)).returncode == 0
    assert _ci(private, "start-docker").returncode == 0

    assert _ci(private, "stop", str(snapshot)).returncode == 0

    assert daemons.docker_answers(private["DOCKER_HOST"])
    assert daemons.port_open("127.0.0.1", int(private["RELEASE_TEST_PG_PORT"]))


def test_local_down_never_stops_an_engine_it_did_not_start(
    private: dict[str, str], tmp_path: Path
) -> None:
    """A pidfile under .release-local naming another engine (the tests' one, a reused pid)
    must not make local.down stop that engine as if it were its own."""
    state = Path(private["RELEASE_TEST_STATE"])
    daemons.ensure_dockerd(state / "dockerd", private["DOCKER_HOST"])
    foreign_pid = (state / "dockerd" / "dockerd.pid").read_text().strip()
    root = tmp_path / "release-local"
    (root / "dockerd").mkdir(parents=True)
    (root / "dockerd" / "dockerd.pid").write_text(foreign_pid)
    environ = {**private, "RELEASE_LOCAL_DIR": str(root)}
    said: list[str] = []

    result = localenv.down(_local_settings(environ), environ, said.append)

    assert "dockerd" not in result["stopped"]
    assert daemons.docker_answers(private["DOCKER_HOST"])
    assert not any("Docker Engine" in line for line in said)


def _local_settings(environ: dict[str, str]):  # type: ignore[no-untyped-def]
    from tasks.core.config import load_settings, load_yaml_file

    raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
    return load_settings(raw, env="local", environ=environ)
