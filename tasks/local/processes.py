"""The processes of a local build: is a pid alive, the stop signals, and ending what a build
left running (its phase shell's process group, the containers it started by their label).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL of a stopped phase's processes
# seconds between SIGTERM and SIGKILL of a stopped phase's processes
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

# scripts/run_in_image.py labels the containers a build runs with this (and the build's id)
BUILD_LABEL = "release-suite.build-id"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def block_stop_signals() -> set[int | signal.Signals] | None:
    if threading.current_thread() is not threading.main_thread():
        return None  # the mask is per thread; only the main thread gets Python's signals
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def restore_signals(previous: set[int | signal.Signals] | None) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def kill_orphans(directory: Path, pgid: int) -> None:
    """A dead worker's phase shell lives on in its own session (and, through it, the migration
    container): end them as CodeBuild's dead container would. Only a group whose leader is
    still this build's shell (its driver script lies under ``directory``) is signalled."""
    if pgid <= 0:
        return
    try:
        cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return
    if str(directory) not in cmdline:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)  # docker run passes it on; the transaction rolls back
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:  # gone before its private directory is removed
            os.killpg(pgid, 0)
            time.sleep(0.05)
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return


def kill_containers(build_id: str, docker_host: str = "") -> list[str]:
    """Kill the containers a build started (by their label) and return their ids. On CodeBuild
    they die with the build container; here a docker CLI killed mid-run leaves its container
    running on the shared engine, still connected to the database."""
    docker = shutil.which("docker")
    if not docker:
        return []
    env = {**os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    label = f"label={BUILD_LABEL}={build_id}"
    try:
        listed = subprocess.run(
            [docker, "ps", "-q", "--filter", label],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        ids = listed.stdout.split()
        if ids:
            subprocess.run(
                [docker, "kill", *ids], capture_output=True, env=env, timeout=30, check=False
            )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ids
