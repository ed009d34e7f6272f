"""`bash .ci/run` itself (issue 10, items 1 and 5), on a private Docker socket, state dir and
PostgreSQL port: it runs lint, types and the selected tests from .venv, ends with pytest's
summary line and exit code, and leaves nothing it started running or mounted."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tasks.local import daemons
from tests.conftest import ROOT, STATE

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
INNER = "tests/integration/test_redaction_real.py::test_local_up_database_url_percent_encodes_the_password"


def test_ci_run_ends_with_pytest_and_stops_what_it_started() -> None:
    short = Path(tempfile.mkdtemp(prefix="cirun-", dir="/tmp"))  # containerd's socket path fits
    short.chmod(0o755)
    state = short / "state"
    (state / "busybox").mkdir(parents=True)
    for deb in (STATE / "busybox").glob("busybox-static_*_arm64.deb"):
        shutil.copy(deb, state / "busybox")  # else .ci/run downloads it again
    port = daemons.free_port()
    env = {
        **os.environ,
        "CI": "true",
        "RELEASE_TEST_STATE": str(state),
        "RELEASE_TEST_PG_PORT": str(port),
        "DOCKER_HOST": f"unix://{short}/docker.sock",
    }
    try:
        done = subprocess.run(
            ["bash", str(ROOT / ".ci" / "run"), INNER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert lines[-1].startswith("1 passed in "), lines[-3:]
        assert "--- lint and types" in done.stdout
        assert (ROOT / ".venv" / "bin" / "python").exists()
        assert daemons.pids_using(state) == []  # dockerd, containerd, postgres: all stopped
        assert daemons.mounts_under(Path("/proc/mounts").read_text(), state.resolve()) == []
        assert not daemons.port_open("127.0.0.1", port)
        assert not daemons.docker_answers(env["DOCKER_HOST"])
    finally:
        daemons.stop_postgres(state / "postgres")
        daemons.stop_dockerd(state / "dockerd")
        shutil.rmtree(short, ignore_errors=True)
