"""Start the local daemons the suite and its tests use, idempotently.

Docker Engine (Debian's docker.io, rootful, no iptables/bridge, vfs), a Registry v2 with
htpasswd basic auth on 127.0.0.1 (mirrors ECR's ``AWS:<token>`` login), and PostgreSQL in a
private data directory. Each ``ensure_*`` returns at once when the service already answers.
Only loopback addresses are used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import LocalEnvError
from ..core.probes import tcp_answers

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    return tcp_answers(host, port, timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(
    predicate: Callable[[], bool], seconds: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tail = ""
    if log and log.exists():
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    raise LocalEnvError(
        f"{what} did not come up within {seconds:.0f}s {tail}".strip(), f"see {log}"
    )


# -- Docker Engine ------------------------------------------------------------------------
def docker_answers(host: str = DEFAULT_DOCKER_HOST) -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    env = {**os.environ, "DOCKER_HOST": host}
    proc = subprocess.run(
        [docker, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
        check=False,
    )
    return proc.returncode == 0


def ensure_dockerd(state_dir: Path, host: str = DEFAULT_DOCKER_HOST, timeout: float = 60) -> str:
    """A daemon answering on ``host``; starts Debian's dockerd there when none does."""
    if docker_answers(host):
        return host
    sock = host.removeprefix("unix://") if host.startswith("unix://") else ""
    if sock and os.path.exists(sock) and not os.access(sock, os.R_OK | os.W_OK):
        import getpass

        user = getpass.getuser()
        raise LocalEnvError(
            f"the Docker Engine's socket {sock} refuses {user} (permission denied)",
            f"sudo usermod -aG docker {user}, then log in again (the docker group is "
            "root-equivalent), or run the task with sudo",
        )
    dockerd = shutil.which("dockerd")
    if not dockerd:
        raise LocalEnvError(
            "no Docker Engine answers and dockerd is not installed",
            "apt-get install docker.io (or start Docker Desktop) and retry",
        )
    if os.geteuid() != 0:
        raise LocalEnvError(
            "no Docker Engine answers and starting dockerd needs root", "start Docker yourself"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "dockerd.log"
    argv = [
        dockerd,
        "--iptables=false",
        "--bridge=none",
        "--storage-driver=vfs",
        "-H",
        host,
        "--data-root",
        str(state_dir / "data"),
        "--exec-root",
        str(state_dir / "exec"),
        "--pidfile",
        str(state_dir / "dockerd.pid"),
    ]
    with log.open("ab") as out:
        subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
    _wait(lambda: docker_answers(host), timeout, "dockerd", log)
    return host


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def pids_using(state_dir: Path) -> list[int]:
    """Processes whose command line names a path under ``state_dir``: the dockerd started with
    its data, exec root and pidfile there, and the containerd (and shims) that dockerd started
    with its config under the exec root. A process that merely answers on the same socket but
    keeps its state elsewhere is never among them."""
    base = str(state_dir.resolve())
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        pid = int(proc.name)
        if pid == os.getpid():
            continue
        if any(arg == base or arg.startswith(base + "/") for arg in _cmdline(pid)):
            found.append(pid)
    return sorted(found)


def mounts_under(proc_mounts: str, directory: Path) -> list[str]:
    """Mount points at or below ``directory`` in /proc/mounts text, deepest first."""
    base = str(directory).rstrip("/")
    points = []
    for line in proc_mounts.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = fields[1].replace("\\040", " ")
        if point == base or point.startswith(base + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_under(directory: Path) -> None:
    """dockerd leaves its data root bind-mounted and ``<exec-root>/netns/default`` mounted."""
    try:
        text = Path("/proc/mounts").read_text()
    except OSError:
        return
    for point in mounts_under(text, directory.resolve()):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False, timeout=30)


def _terminate(pids: list[int], timeout: float) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _running(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def stop_dockerd(state_dir: Path, timeout: float = 30) -> bool:
    """Stop the dockerd started with its state under ``state_dir`` (ensure_dockerd), then the
    containerd it started, then unmount what they left mounted there. Never touches an engine
    whose state lives elsewhere, even one answering on the same socket. False: none ran."""
    pid = 0
    with contextlib.suppress(OSError, ValueError):
        pid = int((state_dir / "dockerd.pid").read_text().strip())
    pidfile = str((state_dir / "dockerd.pid").resolve())
    ours = pid > 0 and _running(pid) and pidfile in _cmdline(pid)
    if ours:
        _terminate([pid], timeout)  # dockerd stops its containerd on a clean shutdown
    left = pids_using(state_dir)
    if left:
        _terminate(left, 10)
    unmount_under(state_dir)
    with contextlib.suppress(OSError):
        (state_dir / "dockerd.pid").unlink()
    return ours or bool(left)


# -- Registry -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    pid: int
    root: Path


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """bcrypt entries via htpasswd, the password on stdin (never in argv)."""
    path.write_text("")
    htpasswd = shutil.which("htpasswd")
    if not htpasswd:
        raise LocalEnvError("htpasswd is not installed", "apt-get install apache2-utils")
    for user, password in users.items():
        proc = subprocess.run(
            [htpasswd, "-iB", str(path), user],
            input=password,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise LocalEnvError(f"htpasswd failed: {proc.stderr.strip()}", "check apache2-utils")


def start_registry(root: Path, port: int, users: dict[str, str] | None = None) -> Registry:
    """A Registry v2 on 127.0.0.1:port storing under root (its pid in root/registry.pid);
    basic auth when users are given."""
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if not binary:
        raise LocalEnvError("docker-registry is not installed", "apt-get install docker-registry")
    root.mkdir(parents=True, exist_ok=True)
    auth = ""
    if users:
        write_htpasswd(root / "htpasswd", users)
        auth = f"auth:\n  htpasswd:\n    realm: release-suite\n    path: {root / 'htpasswd'}\n"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n" + auth
    )
    log = root / "registry.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [binary, "serve", str(config)], stdout=out, stderr=out, start_new_session=True
        )
    # recorded before waiting for it: a Ctrl-C during the wait must not leave a registry
    # running (in its own session, the Ctrl-C does not reach it) that nothing knows about
    (root / "registry.pid").write_text(str(proc.pid))
    _wait(lambda: port_open("127.0.0.1", port), 20, "the registry", log)
    return Registry(f"127.0.0.1:{port}", proc.pid, root)


# -- PostgreSQL ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    root: Path
    socket_dir: Path

    def url(self, user: str, password: str, database: str) -> str:
        """Userinfo percent-encoded: a password with '@', ':' or '/' must not end the host part."""
        from urllib.parse import quote

        return (
            f"postgres://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}"
            f"/{database}"
        )


def _pg_bin(name: str) -> str:
    for directory in PG_BIN_CANDIDATES:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if not found:
        raise LocalEnvError(f"PostgreSQL's {name} is not installed", "apt-get install postgresql")
    return found


def _as_postgres(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def ensure_postgres(root: Path, port: int) -> Postgres:
    """A PostgreSQL server on 127.0.0.1:port with its data under root (initialised once)."""
    socket_dir = root / "run"
    pg = Postgres("127.0.0.1", port, root, socket_dir)
    if port_open("127.0.0.1", port):
        return pg
    data = root / "data"
    root.mkdir(parents=True, exist_ok=True)
    socket_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(socket_dir, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        proc = _as_postgres(
            [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        )
        if proc.returncode != 0:
            raise LocalEnvError(
                f"initdb failed: {proc.stderr.strip()[-300:]}", "check the PostgreSQL install"
            )
        hba = data / "pg_hba.conf"
        hba.write_text(
            "local all postgres trust\nlocal all all scram-sha-256\n"
            "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
    log = root / "postgres.log"
    opts = f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    proc = _as_postgres(
        [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"]
    )
    if proc.returncode != 0 and not port_open("127.0.0.1", port):
        raise LocalEnvError(f"PostgreSQL did not start: {proc.stderr.strip()[-300:]}", f"see {log}")
    _wait(lambda: port_open("127.0.0.1", port), 30, "PostgreSQL", log)
    return pg


def psql(pg: Postgres, sql: str, database: str = "postgres") -> str:
    """Run SQL as the postgres superuser over the private socket; SQL on stdin, not argv."""
    proc = _as_postgres(
        [
            _pg_bin("psql"),
            "-h",
            str(pg.socket_dir),
            "-p",
            str(pg.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-f",
            "-",
        ],
        input=sql,
    )
    if proc.returncode != 0:
        raise LocalEnvError(f"psql failed: {proc.stderr.strip()}", "check the SQL")
    return proc.stdout


def ensure_database(pg: Postgres, database: str, user: str, password: str) -> str:
    """Role and database (idempotent); returns the URL. The password goes through SQL, not argv."""
    quoted = password.replace("'", "''")
    exists = psql(pg, f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'").strip()
    verb = "ALTER" if exists else "CREATE"
    psql(pg, f"{verb} ROLE \"{user}\" LOGIN PASSWORD '{quoted}'")
    if not psql(pg, f"SELECT 1 FROM pg_database WHERE datname = '{database}'").strip():
        psql(pg, f'CREATE DATABASE "{database}" OWNER "{user}"')
    return pg.url(user, password, database)


def stop_postgres(root: Path) -> bool:
    """Stop the server whose data lives under root; False when it was not running."""
    data = root / "data"
    if not (data / "postmaster.pid").exists():
        return False
    proc = _as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    if proc.returncode != 0:
        raise LocalEnvError(
            f"PostgreSQL did not stop: {proc.stderr.strip()[-300:]}", f"see {root / 'postgres.log'}"
        )
    return True
