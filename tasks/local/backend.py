"""``LocalBackend``: the ``BuildBackend`` of ``runner: local`` (start, get, stop, list, read the
log of builds that are worker processes on this machine), and how a reader judges a build
whose worker died (FAULT, or STOPPED when a stop had been asked for).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..codebuild.model import (
    FAULT,
    IN_PROGRESS,
    STOPPED,
    Build,
    BuildNotFound,
    LogEvent,
    LogLocation,
    LogPage,
    StartRequest,
)
from ..core.errors import LocalEnvError, UsageError
from ..core.probes import tcp_answers
from ..core.resources import buildspec_path, package_parent, project_root
from .buildspec import project_buildspec
from .processes import block_stop_signals, kill_containers, kill_orphans, pid_alive, restore_signals
from .shell import can_run_as
from .state import (
    build_from_state,
    display,
    local_dir,
    locked,
    read_json,
    remove_tree,
    write_json,
)

DEFAULT_TIMEOUT_MINUTES = 60

PAGE_EVENTS = 10_000  # at most this many events per log page (CloudWatch's own cap)
# at most this many events per log page (CloudWatch's own cap)
PAGE_BYTES = 1_048_576

KEEP_BUILDS = 200  # builds kept under .release-local/builds (older finished ones are pruned)
# builds kept under .release-local/builds (older finished ones are pruned)
# the worker's entry, under whatever name this package is installed as ("tasks", "release_suite")
WORKER_MODULE = f"{__package__}.runner"


def answers(host: str, port: str | int, timeout: float = 1.0) -> bool:
    return tcp_answers(host, int(port), timeout)


def loopback_database(url: str) -> tuple[str, int]:
    """``(host, port)`` of a database URL on this machine, else ``("", 0)`` (the probe in the
    buildspec judges remote databases)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 5432
    except ValueError:
        return "", 0
    return (host, port) if host in ("127.0.0.1", "localhost", "::1") else ("", 0)


class LocalBackend:
    """``BuildBackend`` for ``runner: local``: builds are worker processes on this machine."""

    def __init__(
        self,
        *,
        buildspec_path: Path,
        secret: str,
        region: str = "us-east-1",
        root: Path | None = None,
        src_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        initiator: str = "",
        spawn: Callable[[Path], int] | None = None,
        project_variables: Mapping[str, str] | None = None,
    ) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.root = (root or local_dir(self.environ) / "builds").absolute()
        self.buildspec_path = buildspec_path
        self.secret = secret
        self.region = region
        self.src_dir = src_dir or project_root()
        self.initiator = initiator or f"local/{current_user()}"
        self.spawn = spawn or self._spawn
        self.spec_error: UsageError | LocalEnvError | None = None
        self.env = ""  # the run's --env, for copy-pasteable commands in refusals
        # what a CodeBuild project's environmentVariables would hold (invoke setup writes them
        # there): the run commands; between the buildspec's variables and the start overrides
        self.project_variables = dict(project_variables or {})

    @classmethod
    def from_runtime(cls, rt: Any) -> LocalBackend:
        s = rt.settings
        src_dir = source_dir(s)
        path = buildspec_path(s.buildspec)
        from ..codebuild.commands import project_variables

        backend = cls(
            buildspec_path=path,
            secret=s.secret,
            region=s.region,
            environ=rt.environ,
            src_dir=src_dir,
            project_variables=project_variables(s),
        )
        backend.env = s.env
        try:
            if not src_dir.is_dir():
                raise UsageError(
                    f"source {src_dir} is not a directory",
                    "set source in invoke.yaml to the checkout the buildspec runs in "
                    "(CODEBUILD_SRC_DIR), or remove it to use this repository",
                )
            backend.load_buildspec()
            backend.check_ready(s.registry)
        except (UsageError, LocalEnvError) as err:
            # reported by running() (the guard every start passes first), so a broken buildspec
            # or a stopped environment stops a release before it builds anything, while
            # build.logs/list/wait still work
            backend.spec_error = err
        return backend

    def check_ready(self, registry: str) -> None:
        """The local environment is up: credentials written, the registry and the database
        (when the secret points at this machine) answering."""
        path = local_dir(self.environ) / "credentials.json"
        creds = read_json(path) if path.exists() else {}
        if self.secret not in (creds.get("secrets") or {}):
            raise LocalEnvError(
                f"the local environment is not set up (no secret {self.secret!r} in {path})",
                "run invoke local.up",
            )
        host, _, port = registry.rpartition(":")
        if host in ("127.0.0.1", "localhost") and port.isdigit() and not answers(host, port):
            raise LocalEnvError(
                f"the local registry {registry} does not answer",
                "start the local environment: invoke local.up",
            )
        db_host, db_port = loopback_database(str(creds["secrets"][self.secret]))
        if db_host and not answers(db_host, db_port):
            raise LocalEnvError(
                f"the local PostgreSQL {db_host}:{db_port} does not answer",
                "start the local environment: invoke local.up",
            )

    # Protocol ----------------------------------------------------------------------------
    def start(self, request: StartRequest) -> Build:
        spec_text = self.load_buildspec()
        self.root.mkdir(parents=True, exist_ok=True)
        with locked(self.root / ".lock"):
            tokens_path = self.root / "tokens.json"
            tokens = read_json(tokens_path) if tokens_path.exists() else {}
            known = tokens.get(request.idempotency_token)
            if known and (self.root / known.split(":", 1)[1] / "state.json").exists():
                return self.get(known)
            builds = self._all(request.project)
            running = [b for b in builds if b.status == IN_PROGRESS]
            if running:
                # concurrentBuildLimit: 1 (CodeBuild refuses with AccountLimitExceededException);
                # decided under this lock, so of two starts at the same instant one is refused
                from ..codebuild.client import conflict

                raise conflict(running[0], self.env)
            build_id = f"{request.project}:{uuid.uuid4()}"
            number = 1 + max((b.number or 0 for b in builds), default=0)
            directory = self.root / build_id.split(":", 1)[1]
            pid = 0
            # SIGINT/SIGTERM wait until the build is whole (in this process they are delivered
            # when this returns); the worker inherits them blocked and unblocks them once its
            # handlers are in place (``main``), so a stop in its first milliseconds is a stop
            blocked = block_stop_signals()
            try:
                self._create(build_id, number, request, spec_text)
                pid = self.spawn(directory)
                self._record_pid(directory, pid)
                tokens[request.idempotency_token] = build_id
                self._prune(tokens)
                write_json(tokens_path, tokens)
            except OSError as err:
                raise self._start_failed(directory, pid, err) from None
            finally:
                restore_signals(blocked)
        return self.get(build_id)

    @staticmethod
    def _record_pid(directory: Path, pid: int) -> None:
        with locked(directory / ".lock"):
            state = read_json(directory / "state.json")
            if not state.get("pid"):
                state["pid"] = pid
                write_json(directory / "state.json", state)

    def _start_failed(self, directory: Path, pid: int, err: OSError) -> LocalEnvError:
        """Nothing of a start that failed half-way stays behind: no worker, no IN_PROGRESS."""
        if pid and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        remove_tree(directory)
        reason = err.strerror or str(err)
        return LocalEnvError(
            f"could not start a local build: {reason} ({err.filename or self.root})",
            f"free space on the disk that holds {self.root} (df -h {self.root}) and retry"
            if err.errno == errno.ENOSPC
            else f"check {self.root} (permissions, disk) and retry",
        )

    def get(self, build_id: str) -> Build:
        directory = self._dir(build_id)
        state = self._state(directory)
        return build_from_state(state)

    def stop(self, build_id: str) -> Build:
        directory = self._dir(build_id)
        state = self._state(directory)
        if state["status"] == IN_PROGRESS:
            (directory / "stop-requested").write_text(str(time.time()))
            pid = int(state.get("pid") or 0)
            if pid and pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        return self.get(build_id)

    def running(self, project: str) -> list[Build]:
        if self.spec_error is not None:
            raise self.spec_error
        return [b for b in self._all(project) if b.status == IN_PROGRESS]

    def recent(self, project: str, limit: int) -> list[Build]:
        return self._all(project)[: max(0, limit)]

    def read_logs(self, logs: LogLocation, token: str | None) -> LogPage:
        path = Path(logs.group) / logs.stream / "build.log"
        if not logs.known or not path.exists():
            return LogPage((), token, missing=True)
        offset = int(token or 0)
        events: list[LogEvent] = []
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read(PAGE_BYTES)
        consumed = 0
        for raw in chunk.splitlines(keepends=True):
            if not raw.endswith(b"\n") or len(events) >= PAGE_EVENTS:
                break  # a line still being written, or a full page: next time
            consumed += len(raw)
            stamp_ms, _, message = raw.rstrip(b"\n").decode("utf-8", "replace").partition(" ")
            events.append(LogEvent(int(stamp_ms), message))
        return LogPage(tuple(events), str(offset + consumed))

    # helpers -----------------------------------------------------------------------------
    def load_buildspec(self) -> str:
        """Exactly what a CodeBuild project would embed: validated (errors name the line),
        the secret rendered, the probe program inside (see ``tasks.local.buildspec.for_codebuild``)."""
        return project_buildspec(self.buildspec_path, self.secret)

    def worker_request(self, request: StartRequest) -> dict[str, Any]:
        """What the worker of this start is handed (``request.json``); a dry run shows it."""
        return {
            "buildspec_source": display(self.buildspec_path),
            "src_dir": str(self.src_dir),
            "region": self.region,
            "timeout_minutes": request.timeout_minutes or DEFAULT_TIMEOUT_MINUTES,
            "project_variables": sorted(self.project_variables.items()),
            "overrides": [[v.name, v.value] for v in request.env_overrides],
            "credentials": str(local_dir(self.environ) / "credentials.json"),
            "docker_host": self.environ.get("DOCKER_HOST", ""),
        }

    def _create(self, build_id: str, number: int, request: StartRequest, text: str) -> Path:
        uid = build_id.split(":", 1)[1]
        directory = self.root / uid
        directory.mkdir(mode=0o700)
        (directory / ".lock").touch()  # later locks need no new space (a full disk)
        now = time.time()
        (directory / "buildspec.yml").write_text(text)
        (directory / "build.log").touch()
        write_json(directory / "request.json", self.worker_request(request))
        state = {
            "id": build_id,
            "project": request.project,
            "number": number,
            "status": IN_PROGRESS,
            "current_phase": "SUBMITTED",
            "phases": [{"name": "SUBMITTED", "status": None, "start": now}],
            "start": now,
            "end": None,
            "initiator": self.initiator,
            "image": request.image,
            "environment": [[v.name, v.value] for v in request.env_overrides],
            "exported": [],
            "complete": False,
            "log_group": str(self.root),
            "log_stream": uid,
            "log_path": str(directory / "build.log"),
            "pid": 0,
            "starter": os.getpid(),  # until the worker's pid is known, this process vouches
            "action": request.action,
        }
        write_json(directory / "state.json", state)
        return directory

    def _spawn(self, directory: Path) -> int:
        env = dict(self.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(package_parent()), env.get("PYTHONPATH", "")) if p
        )
        with (directory / "worker.log").open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, str(directory)],
                cwd=str(project_root()),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        # reap it in the background so a finished worker never lingers as a zombie
        threading.Thread(target=proc.wait, daemon=True).start()
        return proc.pid

    def _prune(self, tokens: dict[str, str]) -> None:
        """Keep the newest ``KEEP_BUILDS`` builds; older finished ones (and tokens) go."""
        found = []
        for directory in self.root.iterdir():
            with contextlib.suppress(OSError, ValueError, KeyError):
                state = read_json(directory / "state.json")
                found.append((float(state.get("start") or 0), state["status"], directory))
        found.sort(key=lambda item: item[0], reverse=True)
        for _, status, directory in found[KEEP_BUILDS:]:
            if status != IN_PROGRESS:
                remove_tree(directory)
        gone = {k for k, v in tokens.items() if not (self.root / v.split(":", 1)[1]).exists()}
        for key in gone:
            del tokens[key]

    def _dir(self, build_id: str) -> Path:
        uid = build_id.split(":", 1)[1] if ":" in build_id else build_id
        directory = self.root / uid
        if not re.fullmatch(r"[0-9a-f-]{36}", uid) or not (directory / "state.json").exists():
            raise BuildNotFound(
                f"no local build {build_id!r} under {self.root}",
                "list the local builds with invoke build.list --env local",
            )
        return directory

    def _state(self, directory: Path) -> dict[str, Any]:
        """state.json, marking a build whose worker died as FAULT (CodeBuild's dead container)."""
        state: dict[str, Any] = read_json(directory / "state.json")
        if state["status"] != IN_PROGRESS:
            return state
        if worker_gone(state):
            with locked(directory / ".lock"):
                state = read_json(directory / "state.json")
                if state["status"] == IN_PROGRESS and worker_gone(state):
                    state = mark_dead(directory, state)
        return state

    def _all(self, project: str | None) -> list[Build]:
        """The builds of ``project`` (None: of every project), newest first."""
        if not self.root.exists():
            return []
        found: list[tuple[float, Build]] = []
        for directory in self.root.iterdir():
            if not (directory / "state.json").exists():
                continue
            with contextlib.suppress(ValueError, KeyError, OSError):
                state = self._state(directory)
                if project is None or state["project"] == project:
                    found.append((float(state.get("start") or 0), build_from_state(state)))
        found.sort(key=lambda pair: pair[0], reverse=True)
        return [b for _, b in found]


def running_builds(root: Path) -> list[Build]:
    """The builds under ``root`` (``.release-local/builds``) still IN_PROGRESS, any project."""
    listing = LocalBackend(buildspec_path=root, secret="", root=root)
    return [b for b in listing._all(None) if b.status == IN_PROGRESS]


# Reading a local state file costs nothing, unlike an API call: poll briskly so a local
# release ends a few hundred milliseconds after its build (CodeBuild's cadence adds seconds).
LOCAL_POLL = {
    "status_quick": 0.2,
    "status_cap": 0.5,
    "logs_quick": 0.2,
    "logs_cap": 0.5,
    "drain_interval": 0.1,
}


def source_dir(settings: Any) -> Path:
    """CODEBUILD_SRC_DIR of a local build: the ``source`` setting (relative to this repository)
    or, without it, this repository."""
    source = str(getattr(settings, "source", "") or "")
    if not source:
        return project_root()
    path = Path(source).expanduser()
    return (path if path.is_absolute() else project_root() / path).absolute()


def check_buildspec(settings: Any, file: str | None) -> dict[str, Any]:
    """``invoke buildspec.check``: a file given on the command line (relative to the current
    directory), else the environment's ``buildspec`` (as the local runner finds it)."""
    from .buildspec import check

    if file:
        path = Path(file)
        shown = file
    else:
        path = buildspec_path(settings.buildspec)
        shown = display(path)
    return check(path, shown, can_run_as)


def current_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def worker_gone(state: Mapping[str, Any]) -> bool:
    """The worker died, or never started and the process that was starting it died (a start
    killed between writing the build and spawning its worker)."""
    pid = int(state.get("pid") or 0)
    if pid:
        return not pid_alive(pid)
    starter = int(state.get("starter") or 0)
    return not starter or not pid_alive(starter)


def mark_dead(directory: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The final state of a build whose worker is gone: FAULT, or STOPPED when a stop had been
    asked for (it killed a worker too young to handle it). Written when the disk allows."""
    kill_orphans(directory, int(state.get("pgid") or 0))
    with contextlib.suppress(OSError, ValueError):
        kill_containers(state["id"], read_json(directory / "request.json").get("docker_host", ""))
    for private in directory.glob("run-*"):  # the build's docker login lives there
        remove_tree(private)
    now = time.time()
    if (directory / "stop-requested").exists():
        status, context = STOPPED, ["BUILD_STOPPED", "Build was stopped by request"]
    elif state.get("pid"):
        status, context = (
            FAULT,
            [
                "SINGLE_BUILD_CONTAINER_DEAD",
                f"the local build worker (pid {state['pid']}) died; see {directory / 'worker.log'}",
            ],
        )
    else:
        status, context = (
            FAULT,
            [
                "CLIENT_ERROR",
                f"the process starting this build (pid {state.get('starter')}) died before its "
                "worker ran; nothing of the build ran",
            ],
        )
    phases = state["phases"]
    if phases and phases[-1].get("status") is None:
        phases[-1].update(
            status=status,
            end=now,
            duration=round(now - phases[-1]["start"]),
            contexts=[context],
        )
    phases.append({"name": "COMPLETED", "status": None, "start": now})
    state.update(status=status, current_phase="COMPLETED", end=now, complete=True)
    with contextlib.suppress(OSError):  # a full disk: report it dead all the same
        write_json(directory / "state.json", state)
    return state
