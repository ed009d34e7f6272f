"""Working as a normal user after `sudo scripts/quickstart.sh` (issue 10, item 3), with a real
unprivileged user made here (useradd) running the real `invoke` through runuser."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.codebuild.model import EnvVar, StartRequest
from tasks.local import environment as localenv
from tasks.local.backend import LocalBackend
from tests.conftest import ROOT, STATE

pytestmark = [pytest.mark.slow]
BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo migrated\n"


@pytest.fixture(scope="session")
def user_invoke() -> Path:
    """Debian's python3 with the runtime requirements in a venv every user can run."""
    venv = STATE / "user-venv"
    invoke = venv / "bin" / "invoke"
    if not invoke.exists():
        shutil.rmtree(venv, ignore_errors=True)
        system = shutil.which("python3", path="/usr/bin") or "python3"
        subprocess.run([system, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "-r",
                str(ROOT / "requirements.txt"),
            ],
            check=True,
            timeout=600,
        )
    return invoke


@pytest.fixture
def user() -> Iterator[str]:
    name = f"rsuser{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True
    )
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture
def made_by_sudo_quickstart() -> Iterator[Path]:
    """A project whose state root made, as `sudo scripts/quickstart.sh` leaves it: the
    credentials (0600), a finished local build, the engine's own directory, a .venv."""
    project = Path(tempfile.mkdtemp(prefix="sudo-", dir="/tmp"))
    project.chmod(0o755)
    # copies, not symlinks: the checkout may sit where the user cannot read (/root/project)
    for name in ("tasks.py", "invoke.yaml"):
        shutil.copy(ROOT / name, project / name)
    for name in ("tasks", "scripts", "buildspec"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    state = project / ".release-local"
    environ = {**os.environ, "RELEASE_LOCAL_DIR": str(state)}
    state.mkdir(mode=0o711)
    localenv.save_credentials(
        {"registry": {"username": "AWS", "password": "pw-" + secrets.token_hex(8)}}, environ
    )
    spec = project / "buildspec.yml"
    spec.write_text(BUILDSPEC)
    backend = LocalBackend(buildspec_path=spec, secret="", root=state / "builds", environ=environ)
    build = backend.start(
        StartRequest(
            project="daadaar-migrations-local",
            action="migrate",
            env_overrides=(EnvVar("RUN_MIGRATIONS", "true"),),
            image="img@sha256:00",
            idempotency_token="t1",
        )
    )
    deadline = time.monotonic() + 60
    while not build.final and time.monotonic() < deadline:
        time.sleep(0.1)
        build = backend.get(build.id)
    assert build.final
    (state / "dockerd" / "data").mkdir(parents=True)
    (project / ".venv" / "bin").mkdir(parents=True)
    yield project
    shutil.rmtree(project, ignore_errors=True)


def as_user(user: str, invoke: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{invoke.parent}:/usr/bin:/bin",
        "HOME": "/tmp",
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "RELEASE_LOCAL_DIR": str(project / ".release-local"),
        "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
    }
    return subprocess.run(
        [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user, "--", str(invoke), *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_hand_over_the_user_gets_one_line_saying_what_to_run(
    user: str, user_invoke: Path, made_by_sudo_quickstart: Path
) -> None:
    done = as_user(user, user_invoke, made_by_sudo_quickstart, "build.list", "--env", "local")
    assert done.returncode == 22, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unexpected" not in done.stderr and "Traceback" not in done.stderr
    assert lines[0].startswith("error: permission denied: ") and "belongs to root" in lines[0]
    assert f"not to {user}" in lines[0]
    assert f"Fix: sudo {made_by_sudo_quickstart / 'scripts' / 'hand_over.sh'}" in lines[0]


def test_after_the_hand_over_the_user_works_as_themselves(
    user: str, user_invoke: Path, made_by_sudo_quickstart: Path
) -> None:
    project = made_by_sudo_quickstart
    state = project / ".release-local"
    handed = subprocess.run(
        ["bash", str(project / "scripts" / "hand_over.sh")],
        env={**os.environ, "SUDO_USER": user, "RELEASE_LOCAL_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert handed.returncode == 0, handed.stderr
    uid = int(subprocess.run(["id", "-u", user], capture_output=True, text=True, check=True).stdout)
    assert state.stat().st_uid == uid and (project / ".venv" / "bin").stat().st_uid == uid
    creds = state / "credentials.json"
    assert creds.stat().st_uid == uid and stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert (state / "dockerd" / "data").stat().st_uid == 0  # the engine's files stay root's

    done = as_user(user, user_invoke, project, "build.list", "--env", "local", "--json")

    assert done.returncode == 0, done.stderr
    assert "unexpected" not in done.stderr
    listed = json.loads(done.stdout)
    assert [b["status"] for b in listed["builds"]] == ["SUCCEEDED"]


def test_a_user_outside_the_docker_group_is_told_how_to_get_in(
    user: str, user_invoke: Path, made_by_sudo_quickstart: Path, docker_host: str
) -> None:
    """The engine answers root on its socket; the user is refused there. Not "dockerd is not
    installed" (what the user's PATH and the refused socket used to add up to)."""
    project = made_by_sudo_quickstart
    subprocess.run(
        ["bash", str(project / "scripts" / "hand_over.sh")],
        env={**os.environ, "SUDO_USER": user, "RELEASE_LOCAL_DIR": str(project / ".release-local")},
        capture_output=True,
        check=True,
        timeout=60,
    )
    done = as_user(user, user_invoke, project, "local.up", "--env", "local")
    assert done.returncode == 22, done.stderr
    socket = docker_host.removeprefix("unix://")
    assert done.stderr.strip().splitlines() == [
        f"error: the Docker Engine's socket {socket} refuses {user} (permission denied). Fix: "
        f"sudo usermod -aG docker {user}, then log in again (the docker group is "
        "root-equivalent), or run the task with sudo"
    ]
