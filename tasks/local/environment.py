"""The local environment: what ``invoke release --env local`` needs on this machine.

``up`` idempotently brings up a Docker Engine (only when none answers), a Registry v2 with
htpasswd basic auth on the configured loopback address (``registry: 127.0.0.1:5000``, user
``registry_username``), PostgreSQL on 127.0.0.1 with the application's database and user, and
the locally made bun base image the sample backend's Dockerfile starts from. ``down`` stops what
``up`` started (never a daemon it found running).

Generated passwords live in ``.release-local/credentials.json`` (mode 0600 in a 0711 directory, never printed):
the registry password, and the value of each "secret" the local runner resolves for the
buildspec's ``env.secrets-manager`` (the environment's ``secret`` -> the database URL).
``attach_credentials`` hands the registry password to the suite through the environment
variable named by ``registry_password_env``, exactly as a user would export it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core import resources
from ..core.config import Settings
from ..core.errors import LocalEnvError
from . import daemons
from .backend import running_builds
from .processes import pid_alive
from .state import local_dir

DATABASE = "daadaar"
DB_USER = "daadaar"
LOCAL_PG_PORT = 55439
Say = Callable[[str], None]


# -- credentials ---------------------------------------------------------------------------
def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    return local_dir(environ) / "credentials.json"


def load_credentials(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    path = credentials_path(environ)
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def save_credentials(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Path:
    """Write atomically with 0600 from the first byte (the directory is 0700)."""
    path = credentials_path(environ)
    path.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    tmp = path.with_name(".credentials.json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path


def attach_credentials(settings: Settings, environ: dict[str, str]) -> dict[str, str]:
    """For ``runner: local``: the local registry password in ``registry_password_env``.

    An explicitly exported value wins; nothing happens before ``invoke local.up`` ran.
    """
    if settings.runner != "local" or settings.registry_auth != "basic":
        return environ
    if environ.get(settings.registry_password_env):
        return environ
    password = (load_credentials(environ).get("registry") or {}).get("password")
    if password:
        environ[settings.registry_password_env] = str(password)
    return environ


# -- pieces ----------------------------------------------------------------------------------
def _registry_port(settings: Settings) -> int:
    host, _, port = settings.registry.partition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        raise LocalEnvError(
            f"the local environment needs a loopback registry, not {settings.registry!r}",
            "set registry: 127.0.0.1:5000 under release.environments.local in invoke.yaml",
        )
    return int(port)


def registry_accepts(host: str, username: str, password: str, timeout: float = 3.0) -> bool | None:
    """True: /v2/ answers 200 with these credentials; False: 401; None: no registry there."""
    import base64

    request = urllib.request.Request(f"http://{host}/v2/")
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        return False if exc.code == 401 else None
    except OSError:
        return None


def _pid_from(path: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return 0


def _alive(pid: int) -> bool:
    return pid_alive(pid)  # a zombie child (a registry this process started) counts as dead


def ensure_registry(root: Path, settings: Settings, password: str, say: Say) -> dict[str, Any]:
    port = _registry_port(settings)
    host = f"127.0.0.1:{port}"
    user = settings.registry_username or "AWS"
    if daemons.port_open("127.0.0.1", port):
        verdict = registry_accepts(host, user, password)
        if verdict:
            say(f"registry {host} already running")
            return {"registry": host, "registry_started": False}
        raise LocalEnvError(
            f"something else listens on {host} and "
            + ("refuses the local password" if verdict is False else "is not a Registry v2"),
            "stop it (or run invoke local.down), or set another registry port under "
            "release.environments.local in invoke.yaml",
        )
    daemons.start_registry(root / "registry", port, {user: password})  # writes registry.pid
    say(f"registry {host} started (basic auth, user {user})")
    return {"registry": host, "registry_started": True}


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in (path, *path.parents) if p.exists())


def postgres_root(root: Path) -> Path:
    """Where the cluster lives: under ``root``, or, when root runs this and the ``postgres``
    user cannot reach ``root`` (a checkout under /root), under /var/lib/release-suite."""
    marker = root / "postgres-location"
    if marker.exists():
        return Path(marker.read_text().strip())
    inside = root / "postgres"
    if os.geteuid() != 0 or inside.exists() or _traversable_by_others(root):
        return inside
    import hashlib

    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    outside = Path("/var/lib/release-suite") / digest / "postgres"
    outside.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    os.chmod(outside.parent.parent, 0o711)
    marker.write_text(str(outside) + "\n")
    return outside


def ensure_db(
    root: Path, settings: Settings, password: str, say: Say
) -> tuple[str, dict[str, Any]]:
    port = LOCAL_PG_PORT if settings.database_port == 5432 else settings.database_port
    pg_root = postgres_root(root)
    if daemons.port_open("127.0.0.1", port) and not (pg_root / "data" / "postmaster.pid").exists():
        raise LocalEnvError(
            f"another PostgreSQL (not the local environment's) listens on 127.0.0.1:{port}",
            "stop it, or set database_port under release.environments.local in invoke.yaml",
        )
    was_up = daemons.port_open("127.0.0.1", port)
    pg = daemons.ensure_postgres(pg_root, port)
    url = daemons.ensure_database(pg, DATABASE, DB_USER, password)
    say(
        f"PostgreSQL 127.0.0.1:{port} {'already running' if was_up else 'started'}, "
        f"database {DATABASE}, user {DB_USER}"
    )
    return url, {
        "postgres": f"127.0.0.1:{port}",
        "database": DATABASE,
        "user": DB_USER,
        "postgres_started": not was_up,
    }


def ensure_base_image(root: Path, environ: Mapping[str, str], say: Say) -> dict[str, Any]:
    """The bun binary from npm and the locally made base image the sample Dockerfile uses."""
    env = {**environ, "RELEASE_LOCAL_DIR": str(root)}
    if not any((root / "bun").glob("*/bun")):
        say("fetching bun from the npm registry (@oven/bun-linux-x64, ~40 MB, first run only)")
    with resources.as_path("fetch_bun.sh") as script:
        fetch = subprocess.run(
            ["bash", str(script), str(root / "bun")],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=900,
        )
    if fetch.returncode != 0:
        raise LocalEnvError(
            "could not fetch bun from the npm registry: "
            + " ".join(fetch.stderr.strip().splitlines()[-2:]),
            "check that npm is installed and reaches its registry (npm ping)",
        )
    binary = fetch.stdout.strip().splitlines()[-1]
    with resources.as_path("make_bun_base.sh") as script:
        made = subprocess.run(
            ["bash", str(script), binary],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=900,
        )
    if made.returncode != 0:
        raise LocalEnvError(
            f"could not build the bun base image: {made.stderr.strip()[-300:]}",
            "check that docker answers (docker version) and retry invoke local.up",
        )
    image = made.stdout.strip().splitlines()[-1]
    say(f"base image {image} ready (bun {Path(binary).parent.name} from npm)")
    return {"base_image": image, "bun": binary}


# -- up / down -------------------------------------------------------------------------------
def up(settings: Settings, environ: Mapping[str, str], say: Say) -> dict[str, Any]:
    """Bring everything up; idempotent. Returns facts (never a password)."""
    if settings.runner != "local":
        raise LocalEnvError(
            f"environment {settings.env!r} is not a local one (runner: {settings.runner})",
            "run invoke local.up --env local",
        )
    root = local_dir(environ)
    # 0711: the postgres user must traverse it to its data directory; no one else may list it
    root.mkdir(mode=0o711, parents=True, exist_ok=True)
    os.chmod(root, 0o711)
    docker_host = environ.get("DOCKER_HOST") or daemons.DEFAULT_DOCKER_HOST
    docker_was_up = daemons.docker_answers(docker_host)
    if not docker_was_up and not docker_host.startswith("unix://"):
        # never start a daemon listening on TCP (unauthenticated root access) or elsewhere
        raise LocalEnvError(
            f"no Docker Engine answers at DOCKER_HOST={docker_host}",
            "start that engine, or unset DOCKER_HOST so that invoke local.up starts one on "
            f"{daemons.DEFAULT_DOCKER_HOST}",
        )
    daemons.ensure_dockerd(root / "dockerd", docker_host)
    say(
        f"Docker Engine {docker_host} "
        + (
            "already running (not started by local.up: local.down leaves it running)"
            if docker_was_up
            else "started"
        )
    )
    creds = load_credentials(environ)
    registry = dict(creds.get("registry") or {})
    if not registry.get("password"):
        registry = {
            "username": settings.registry_username or "AWS",
            "password": secrets.token_urlsafe(24),
        }
    database_password = str(creds.get("database_password") or secrets.token_urlsafe(24))
    creds.update(registry=registry, database_password=database_password)
    save_credentials(creds, environ)
    facts: dict[str, Any] = {"docker_host": docker_host, "docker_started": not docker_was_up}
    facts.update(ensure_registry(root, settings, str(registry["password"]), say))
    url, db_facts = ensure_db(root, settings, database_password, say)
    facts.update(db_facts)
    creds.setdefault("secrets", {})[settings.secret] = url
    path = save_credentials(creds, {**environ, "RELEASE_LOCAL_DIR": str(root)})
    facts.update(ensure_base_image(root, {**environ, "DOCKER_HOST": docker_host}, say))
    facts.update(state_dir=str(root), credentials=str(path), secret=settings.secret)
    return facts


def _stop_pid(pid_file: Path, what: str, say: Say, timeout: float = 20) -> bool:
    pid = _pid_from(pid_file)
    if not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        pid_file.unlink()
    say(f"{what} stopped")
    return True


mounts_under = daemons.mounts_under  # kept for callers and tests of this module


def down(
    settings: Settings, environ: Mapping[str, str], say: Say, purge: bool = False
) -> dict[str, Any]:
    """Stop what ``up`` started; ``purge`` also deletes the state (data, passwords, builds)."""
    root = local_dir(environ)
    running = running_builds(root / "builds") if purge else []
    if running:  # its database, registry and log would vanish under it
        build, flag = running[0], f" --env {settings.env}"
        raise LocalEnvError(
            f"build {build.id} is still running ({build.current_phase}); purging now would "
            "delete its database and log under it",
            f"wait for it (`invoke build.wait {build.id}{flag}`) or stop it "
            f"(`invoke build.stop {build.id}{flag}`), then purge",
        )
    stopped: list[str] = []
    if _stop_pid(root / "registry" / "registry.pid", "registry", say):
        stopped.append("registry")
    pg_root = postgres_root(root) if root.exists() else root / "postgres"
    if daemons.stop_postgres(pg_root):
        stopped.append("postgres")
        say("PostgreSQL stopped")
    # only the engine started with its state under root/dockerd: never one found running
    if (root / "dockerd").exists() and daemons.stop_dockerd(root / "dockerd"):
        stopped.append("dockerd")
        say("Docker Engine (started by local.up) stopped")
    if not stopped:
        say("nothing of the local environment was running")
    if purge and root.exists():
        if pg_root.parent != root:
            shutil.rmtree(pg_root.parent, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        if root.exists():
            raise LocalEnvError(
                f"could not remove all of {root} (something still uses it)",
                f"check `grep {root} /proc/mounts` and `fuser -vm {root}`, then delete it",
            )
        say(f"removed {root}")
    return {"stopped": stopped, "purged": bool(purge), "state_dir": str(root)}
