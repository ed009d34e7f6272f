"""Runs a buildspec on this machine with CodeBuild's semantics, as a ``BuildBackend``.

So ``db.migrate``, ``db.seed``, ``release``, ``build.wait``/``build.logs`` and ``diagnose`` work
unchanged on ``--env local`` (``runner: local``). What is reproduced is what buildspecs use:

- phases SUBMITTED .. COMPLETED in CodeBuild's order; ``install``, ``pre_build``, ``build``,
  ``post_build`` run their commands in ONE shell session each (``cd``/``export`` carry over
  between commands, and the environment and directory carry on into the next phase);
- ``env.variables`` < start overrides (the override wins, as on CodeBuild); ``env.shell``;
  ``env.secrets-manager`` resolved from the local environment's configuration (written by
  ``invoke local.up``), masked in the log like CodeBuild masks them; ``exported-variables``;
- ``version: 0.1``: each command in a shell of its own (nothing carries over);
- ``artifacts`` (and ``secondary-artifacts``): the matching files are copied into the build's
  ``artifacts/`` folder; no match fails UPLOAD_ARTIFACTS as CodeBuild does; ``run-as`` when the
  user exists and this process may switch to it; ``CODEBUILD_*`` variables it can know;
- ``on-failure: ABORT|CONTINUE``, ``finally`` blocks, ``CODEBUILD_BUILD_SUCCEEDING``; a failed
  INSTALL/PRE_BUILD skips to FINALIZING, a failed BUILD still runs POST_BUILD;
- phase statuses with contexts (``COMMAND_EXECUTION_ERROR``, ``Secrets Manager Error``...), a
  build status (SUCCEEDED/FAILED/FAULT/TIMED_OUT/STOPPED), the build timeout, StopBuild;
- the agent's log grammar: ``[Container] 2026/11/24 10:00:00.123456 Running command ...``.

What it does not carry out (``runtime-versions``, ``reports``, ``cache``, ``batch``, ``proxy``,
``git-credential-helper``, Parameter Store, RETRY, Windows shells) is named, one line each, at
the start of the build's log (``tasks.local.buildspec.local_warnings``).

A build runs in a detached worker process (``python -m tasks.local.runner DIR``), so it survives
``--detach`` and the invoking process. State lives under ``.release-local/builds/<uuid>/``:
``request.json`` (what was asked), ``state.json`` (rewritten atomically at each transition),
``build.log`` (``<epoch-ms> <line>``, append-only; log tokens are byte offsets).

CodeBuild's guarantees kept here: ``concurrentBuildLimit: 1`` (a start refuses while a build of
the project runs, decided under the same lock as the start itself, so two starts at the same
instant cannot both run); a start that fails (a full disk, a worker that cannot be spawned)
leaves no build behind; a start whose process died before its worker ran, or a worker that
died, is a FAULT, never an endless IN_PROGRESS; a stop that lands before the worker could
handle it still ends STOPPED.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..codebuild.model import (
    FAILED,
    FAULT,
    IN_PROGRESS,
    STOPPED,
    SUCCEEDED,
    TIMED_OUT,
    Build,
    BuildNotFound,
    Context,
    EnvVar,
    LogEvent,
    LogLocation,
    LogPage,
    Phase,
    StartRequest,
)
from ..core.errors import LocalEnvError, UsageError
from ..core.probes import tcp_answers
from ..core.redact import Redactor
from ..core.resources import buildspec_path, package_parent, project_root
from .buildspec import (
    WINDOWS_SHELLS,
    Buildspec,
    PhaseSpec,
    local_warnings,
    parse,
    project_buildspec,
    reference_parts,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT_MINUTES = 60
PAGE_EVENTS = 10_000  # at most this many events per log page (CloudWatch's own cap)
PAGE_BYTES = 1_048_576
KEEP_BUILDS = 200  # builds kept under .release-local/builds (older finished ones are pruned)
_STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL of a stopped phase's processes
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
# this module, run as the worker (tasks.local.runner here, release_suite.<...> installed)
WORKER_MODULE = __spec__.name if __spec__ is not None else __name__
# scripts/run_in_image.py labels the containers a build runs with this (and the build's id)
BUILD_LABEL = "release-suite.build-id"


def local_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the local environment keeps its state (``RELEASE_LOCAL_DIR`` overrides)."""
    env = os.environ if environ is None else environ
    return Path(env.get("RELEASE_LOCAL_DIR") or project_root() / ".release-local").absolute()


def stamp(epoch: float) -> str:
    """CodeBuild agent time: ``2026/11/24 10:00:00.123456`` (UTC)."""
    whole = int(epoch)
    micro = round((epoch - whole) * 1_000_000)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(whole)) + f".{micro:06d}"


def one_line(command: str) -> str:
    """A command as the agent quotes it in one-line messages (newlines folded)."""
    return " ".join(part.strip() for part in command.strip().splitlines() if part.strip())


# -- state files -----------------------------------------------------------------------------
def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: leave no half-written file behind
        raise
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def _answers(host: str, port: str | int, timeout: float = 1.0) -> bool:
    return tcp_answers(host, int(port), timeout)


def _loopback_database(url: str) -> tuple[str, int]:
    """``(host, port)`` of a database URL on this machine, else ``("", 0)`` (the probe in the
    buildspec judges remote databases)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 5432
    except ValueError:
        return "", 0
    return (host, port) if host in ("127.0.0.1", "localhost", "::1") else ("", 0)


def phase_from_dict(raw: Mapping[str, Any]) -> Phase:
    return Phase(
        name=str(raw["name"]),
        status=raw.get("status"),
        start=raw.get("start"),
        end=raw.get("end"),
        duration=raw.get("duration"),
        contexts=tuple(Context(c[0], c[1]) for c in raw.get("contexts") or ()),
    )


def build_from_state(state: Mapping[str, Any]) -> Build:
    return Build(
        id=state["id"],
        project=state["project"],
        status=state["status"],
        current_phase=state["current_phase"],
        phases=tuple(phase_from_dict(p) for p in state.get("phases", ())),
        start=state.get("start"),
        end=state.get("end"),
        initiator=state.get("initiator", ""),
        logs=LogLocation(state["log_group"], state["log_stream"], state.get("log_path", "")),
        environment=tuple(EnvVar(n, v) for n, v in state.get("environment", ())),
        exported_variables=tuple((n, v) for n, v in state.get("exported", ())),
        complete=bool(state.get("complete")),
        image=state.get("image", ""),
        number=state.get("number"),
        console_url="",
    )


# -- the backend (what the suite calls) ------------------------------------------------------
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
        self.initiator = initiator or f"local/{_user()}"
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
        creds = _read_json(path) if path.exists() else {}
        if self.secret not in (creds.get("secrets") or {}):
            raise LocalEnvError(
                f"the local environment is not set up (no secret {self.secret!r} in {path})",
                "run invoke local.up",
            )
        host, _, port = registry.rpartition(":")
        if host in ("127.0.0.1", "localhost") and port.isdigit() and not _answers(host, port):
            raise LocalEnvError(
                f"the local registry {registry} does not answer",
                "start the local environment: invoke local.up",
            )
        db_host, db_port = _loopback_database(str(creds["secrets"][self.secret]))
        if db_host and not _answers(db_host, db_port):
            raise LocalEnvError(
                f"the local PostgreSQL {db_host}:{db_port} does not answer",
                "start the local environment: invoke local.up",
            )

    # Protocol ----------------------------------------------------------------------------
    def start(self, request: StartRequest) -> Build:
        spec_text = self.load_buildspec()
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / ".lock"):
            tokens_path = self.root / "tokens.json"
            tokens = _read_json(tokens_path) if tokens_path.exists() else {}
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
            blocked = _block_stop_signals()
            try:
                self._create(build_id, number, request, spec_text)
                pid = self.spawn(directory)
                self._record_pid(directory, pid)
                tokens[request.idempotency_token] = build_id
                self._prune(tokens)
                _write_json(tokens_path, tokens)
            except OSError as err:
                raise self._start_failed(directory, pid, err) from None
            finally:
                _restore_signals(blocked)
        return self.get(build_id)

    @staticmethod
    def _record_pid(directory: Path, pid: int) -> None:
        with _locked(directory / ".lock"):
            state = _read_json(directory / "state.json")
            if not state.get("pid"):
                state["pid"] = pid
                _write_json(directory / "state.json", state)

    def _start_failed(self, directory: Path, pid: int, err: OSError) -> LocalEnvError:
        """Nothing of a start that failed half-way stays behind: no worker, no IN_PROGRESS."""
        if pid and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _remove_tree(directory)
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

    def _create(self, build_id: str, number: int, request: StartRequest, text: str) -> Path:
        uid = build_id.split(":", 1)[1]
        directory = self.root / uid
        directory.mkdir(mode=0o700)
        (directory / ".lock").touch()  # later locks need no new space (a full disk)
        now = time.time()
        (directory / "buildspec.yml").write_text(text)
        (directory / "build.log").touch()
        _write_json(
            directory / "request.json",
            {
                "buildspec_source": _display(self.buildspec_path),
                "src_dir": str(self.src_dir),
                "region": self.region,
                "timeout_minutes": request.timeout_minutes or DEFAULT_TIMEOUT_MINUTES,
                "project_variables": sorted(self.project_variables.items()),
                "overrides": [[v.name, v.value] for v in request.env_overrides],
                "credentials": str(local_dir(self.environ) / "credentials.json"),
                "docker_host": self.environ.get("DOCKER_HOST", ""),
            },
        )
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
        _write_json(directory / "state.json", state)
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
                state = _read_json(directory / "state.json")
                found.append((float(state.get("start") or 0), state["status"], directory))
        found.sort(key=lambda item: item[0], reverse=True)
        for _, status, directory in found[KEEP_BUILDS:]:
            if status != IN_PROGRESS:
                _remove_tree(directory)
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
        state: dict[str, Any] = _read_json(directory / "state.json")
        if state["status"] != IN_PROGRESS:
            return state
        if _worker_gone(state):
            with _locked(directory / ".lock"):
                state = _read_json(directory / "state.json")
                if state["status"] == IN_PROGRESS and _worker_gone(state):
                    state = _mark_dead(directory, state)
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


def backend_for(rt: Any) -> LocalBackend:
    """The factory ``tasks.release.actions.backend_for`` calls for ``runner: local``."""
    if "poll_policy" not in rt.extras:
        from ..codebuild.wait import PollPolicy

        rt.extras["poll_policy"] = PollPolicy(**LOCAL_POLL)
    return LocalBackend.from_runtime(rt)


def source_dir(settings: Any) -> Path:
    """CODEBUILD_SRC_DIR of a local build: the ``source`` setting (relative to this repository)
    or, without it, this repository."""
    source = str(getattr(settings, "source", "") or "")
    if not source:
        return project_root()
    path = Path(source).expanduser()
    return (path if path.is_absolute() else project_root() / path).absolute()


def can_run_as(user: str) -> bool:
    """This process can run commands as ``user``: the user exists and we are it, or root."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return False
    return os.geteuid() in (0, entry.pw_uid)


def check_buildspec(settings: Any, file: str | None) -> dict[str, Any]:
    """``invoke buildspec.check``: a file given on the command line (relative to the current
    directory), else the environment's ``buildspec`` (as the local runner finds it)."""
    from .buildspec import check

    if file:
        path = Path(file)
        shown = file
    else:
        path = buildspec_path(settings.buildspec)
        shown = _display(path)
    return check(path, shown, can_run_as)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(project_root()))
    except ValueError:
        return str(path)


def _worker_gone(state: Mapping[str, Any]) -> bool:
    """The worker died, or never started and the process that was starting it died (a start
    killed between writing the build and spawning its worker)."""
    pid = int(state.get("pid") or 0)
    if pid:
        return not pid_alive(pid)
    starter = int(state.get("starter") or 0)
    return not starter or not pid_alive(starter)


def _block_stop_signals() -> set[int | signal.Signals] | None:
    if threading.current_thread() is not threading.main_thread():
        return None  # the mask is per thread; only the main thread gets Python's signals
    return signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


def _restore_signals(previous: set[int | signal.Signals] | None) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _kill_orphans(directory: Path, pgid: int) -> None:
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
        deadline = time.monotonic() + _STOP_GRACE
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


def _mark_dead(directory: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The final state of a build whose worker is gone: FAULT, or STOPPED when a stop had been
    asked for (it killed a worker too young to handle it). Written when the disk allows."""
    _kill_orphans(directory, int(state.get("pgid") or 0))
    with contextlib.suppress(OSError, ValueError):
        kill_containers(state["id"], _read_json(directory / "request.json").get("docker_host", ""))
    for private in directory.glob("run-*"):  # the build's docker login lives there
        _remove_tree(private)
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
        _write_json(directory / "state.json", state)
    return state


# -- the worker (runs one build) -------------------------------------------------------------
class _Stopped(Exception):
    pass


@dataclass
class _Shell:
    """State carried from one command list to the next: environment and working directory."""

    env: dict[str, str]
    cwd: str


@dataclass
class Worker:
    """Executes one build directory to completion; the only writer of its state and log."""

    directory: Path
    now: Callable[[], float] = time.time
    redactor: Redactor = field(default_factory=Redactor)
    stop_requested: bool = False
    timed_out: bool = False
    current: subprocess.Popen[bytes] | None = None
    deadline: float = 0.0
    program: str = "bash"
    spec: Buildspec | None = None
    user: tuple[int, int] | None = None  # run-as: (uid, gid) of the current phase

    def __post_init__(self) -> None:
        self.request = _read_json(self.directory / "request.json")
        self.state = _read_json(self.directory / "state.json")
        self.log_file = (self.directory / "build.log").open("a", encoding="utf-8")
        self.private = Path(tempfile.mkdtemp(prefix="run-", dir=self.directory))
        self.scratch = self.private  # where the phase's scripts live (run-as: the user's own)

    # log ---------------------------------------------------------------------------------
    def emit(self, message: str, when: float | None = None) -> None:
        when = self.now() if when is None else when
        for part in message.split("\n") if message else [""]:
            self.log_file.write(f"{int(when * 1000)} {self.redactor.redact(part)}\n")
        self.log_file.flush()

    def agent(self, message: str) -> None:
        when = self.now()
        self.emit(f"[Container] {stamp(when)} {message}", when)

    # state -------------------------------------------------------------------------------
    def save(self) -> None:
        with _locked(self.directory / ".lock"):
            on_disk = _read_json(self.directory / "state.json")
            self.state["pid"] = self.state.get("pid") or on_disk.get("pid") or os.getpid()
            _write_json(self.directory / "state.json", self.state)

    def enter(self, name: str) -> None:
        phases = self.state["phases"]
        now = self.now()
        if phases and phases[-1].get("status") is None and phases[-1]["name"] != name:
            self.finish_phase(SUCCEEDED)
        phases.append({"name": name, "status": None, "start": now})
        self.state["current_phase"] = name
        self.save()

    def finish_phase(self, status: str, contexts: Sequence[tuple[str, str]] = ()) -> None:
        phase = self.state["phases"][-1]
        now = self.now()
        phase.update(
            status=status,
            end=now,
            duration=round(now - phase["start"]),
            contexts=[list(c) for c in contexts],
        )
        self.save()

    # the build ---------------------------------------------------------------------------
    def run(self) -> None:
        with _locked(self.directory / ".lock"):
            if _read_json(self.directory / "state.json").get("complete"):
                return  # judged dead before it ran (its starter died): run nothing
        self.state["pid"] = os.getpid()
        self.save()
        started = float(self.state["start"])
        self.deadline = started + 60 * float(self.request["timeout_minutes"])
        status = FAILED
        try:
            status = self._run()
        except _Stopped:
            status = TIMED_OUT if self.timed_out else STOPPED
            self.finish_phase(status, [self._stop_context()])
            self.agent(f"Phase complete: {self.state['current_phase']} State: {status}")
        except Exception as exc:  # the worker's own failure: CodeBuild would call it a FAULT
            status = FAULT
            self.emit(f"[Container] {stamp(self.now())} local runner error: {exc!r}")
            if self.state["phases"][-1].get("status") is None:
                self.finish_phase(FAULT, [("CLIENT_ERROR", f"local runner error: {exc}")])
        finally:
            if status in (STOPPED, TIMED_OUT, FAULT):  # nothing of it outlives the build
                kill_containers(self.state["id"], self.request.get("docker_host", ""))
            now = self.now()
            if self.state["phases"][-1].get("status") is None:
                self.finish_phase(status)
            self.state["phases"].append({"name": "COMPLETED", "status": None, "start": now})
            self.state.update(status=status, current_phase="COMPLETED", end=now, complete=True)
            self.save()
            self.log_file.close()
            _remove_tree(self.private)

    def _stop_context(self) -> tuple[str, str]:
        if self.timed_out:
            minutes = self.request["timeout_minutes"]
            return ("BUILD_TIMED_OUT", f"Build has timed out. Build timeout is {minutes} minutes")
        return ("BUILD_STOPPED", "Build was stopped by request")

    def _run(self) -> str:
        self.finish_phase(SUCCEEDED)  # SUBMITTED
        self.enter("QUEUED")
        self.enter("PROVISIONING")
        self.agent("Running on the release-suite local runner (CodeBuild semantics)")
        self.agent("Waiting for agent ping")
        self.agent("Waiting for DOWNLOAD_SOURCE")
        self.enter("DOWNLOAD_SOURCE")
        self.agent("Phase is DOWNLOAD_SOURCE")
        src = self.request["src_dir"]
        self.agent(f"CODEBUILD_SRC_DIR={src}")
        self.agent(f"YAML location is {Path(src) / self.request['buildspec_source']}")
        spec = parse(
            (self.directory / "buildspec.yml").read_text(), self.request["buildspec_source"]
        )
        for warning in local_warnings(spec, can_run_as):
            self.agent(f"local runner: {warning}")
        self.spec = spec
        self.agent("Processing environment variables")
        self.program = "bash" if spec.shell in ("bash", *WINDOWS_SHELLS) else spec.shell
        try:
            shell = self._environment(spec)
        except _SecretError as err:
            self.agent("Phase complete: DOWNLOAD_SOURCE State: FAILED")
            self.agent(f"Phase context status code: Secrets Manager Error Message: {err}")
            self.finish_phase(FAILED, [("Secrets Manager Error", str(err))])
            self.enter("FINALIZING")
            return FAILED
        self.agent(f"Moving to directory {src}")
        self._phase_done("DOWNLOAD_SOURCE", SUCCEEDED)
        failed = False
        abort_to_finalize = False
        for name in ("install", "pre_build", "build", "post_build"):
            if abort_to_finalize:
                break
            phase_type = name.upper()
            self.enter(phase_type)
            self.agent(f"Entering phase {phase_type}")
            phase = spec.phase(name)
            ok, context = (True, ("", "")) if phase is None else self._phase(phase, shell)
            status = SUCCEEDED if ok else FAILED
            self._phase_done(phase_type, status, context)
            if not ok:
                failed = True
                shell.env["CODEBUILD_BUILD_SUCCEEDING"] = "0"
                on_failure = phase.on_failure if phase else "ABORT"
                # INSTALL/PRE_BUILD failures skip to FINALIZING; BUILD still runs POST_BUILD
                # (and nothing follows a failed POST_BUILD anyway)
                if on_failure == "ABORT" and name != "build":
                    abort_to_finalize = True
        if not abort_to_finalize:
            self.enter("UPLOAD_ARTIFACTS")
            uploaded, context = self._artifacts(spec)
            self._phase_done("UPLOAD_ARTIFACTS", SUCCEEDED if uploaded else FAILED, context)
            failed = failed or not uploaded
        self.enter("FINALIZING")
        self._exports(spec, shell)
        self._phase_done("FINALIZING", SUCCEEDED, log=False)
        return FAILED if failed else SUCCEEDED

    def _phase_done(
        self, phase_type: str, status: str, context: tuple[str, str] = ("", ""), log: bool = True
    ) -> None:
        if log:
            self.agent(f"Phase complete: {phase_type} State: {status}")
            self.agent(f"Phase context status code: {context[0]} Message: {context[1]}")
        self.finish_phase(status, [context] if context[0] else [])

    def _environment(self, spec: Buildspec) -> _Shell:
        """The build's environment: host basics, CodeBuild's variables, buildspec, overrides."""
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "DOCKER_HOST", "TMPDIR", "USER")
        env = {k: v for k, v in os.environ.items() if k in keep}
        if self.request.get("docker_host"):
            env["DOCKER_HOST"] = self.request["docker_host"]
        docker_config = self.private / "docker-config"
        docker_config.mkdir(mode=0o700)
        uid = self.state["log_stream"]
        region = self.request["region"]
        env.update(_git_variables(self.request["src_dir"]))
        env.update(
            {
                "CODEBUILD_BUILD_ID": self.state["id"],
                "CODEBUILD_BUILD_NUMBER": str(self.state["number"]),
                "CODEBUILD_BUILD_ARN": f"arn:aws:codebuild:{region}:000000000000:build/"
                + self.state["id"],
                "CODEBUILD_BUILD_URL": (self.directory / "build.log").as_uri(),
                "CODEBUILD_BUILD_IMAGE": str(self.state.get("image") or ""),
                "CODEBUILD_START_TIME": str(int(float(self.state["start"]) * 1000)),
                "CODEBUILD_INITIATOR": self.state["initiator"],
                "CODEBUILD_SRC_DIR": self.request["src_dir"],
                "CODEBUILD_BUILD_SUCCEEDING": "1",
                "CODEBUILD_LOG_PATH": uid,
                "CODEBUILD_LOCAL_RUNNER": "true",
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "DOCKER_CONFIG": str(docker_config),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        env.update(dict(spec.variables))
        # StartBuild's overrides win ("environmentVariablesOverride: A set of environment
        # variables that overrides, for this build only, the latest ones already defined in the
        # build project"); the suite's project variables are never declared in the buildspec
        env.update(dict(self.request.get("project_variables") or ()))
        env.update(dict(self.request["overrides"]))
        creds = self._credentials()
        registry = creds.get("registry") or {}
        if registry.get("password"):
            env["REGISTRY_USERNAME"] = str(registry.get("username") or "AWS")
            env["REGISTRY_PASSWORD"] = str(registry["password"])
            self.redactor.add(env["REGISTRY_PASSWORD"])
        stored = creds.get("secrets") or {}
        for name, reference in spec.secrets_manager:
            value = _resolve_secret(stored, reference)
            env[name] = value
            self.redactor.add(value)
            password = _url_password(value)
            if password:
                self.redactor.add(password)
        return _Shell(env, self.request["src_dir"])

    def _credentials(self) -> dict[str, Any]:
        path = Path(self.request["credentials"])
        if not path.exists():
            return {}
        data: dict[str, Any] = _read_json(path)
        return data

    def _artifacts(self, spec: Buildspec) -> tuple[bool, tuple[str, str]]:
        """Copy each artifact's matching files under ``<build>/artifacts/[<identifier>/]``.

        The agent's lines and the failure are CodeBuild's, as its logs show them (e.g.
        aws-containers/hello-app-runner-nodejs issue 1): "Expanding base directory path: .",
        "Skipping invalid file path X", then UPLOAD_ARTIFACTS FAILED with "CLIENT_ERROR
        Message: no matching artifact paths found"."""
        import shutil

        src = Path(self.request["src_dir"])
        for artifact in spec.artifacts:
            base_text = artifact.base_directory or "."
            base = src / base_text
            self.agent(f"Expanding base directory path: {base_text}")
            self.agent("Assembling file list")
            self.agent(f"Expanding {base_text}")
            self.agent(f"Expanding file paths for base directory {base_text}")
            self.agent("Assembling file list")
            found: set[Path] = set()
            for pattern in artifact.files:
                self.agent(f"Expanding {pattern}")
                matched = _matching(base, pattern)
                if not matched:
                    self.agent(f"Skipping invalid file path {pattern}")
                found.update(matched)
            for pattern in artifact.exclude_paths:
                found.difference_update(_matching(base, pattern))
            if not found:
                return False, ("CLIENT_ERROR", "no matching artifact paths found")
            self.agent(f"Found {len(found)} file(s)")
            target = self.directory / "artifacts" / artifact.identifier
            for path in sorted(found):
                relative = Path(path.name) if artifact.discard_paths else path.relative_to(base)
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / relative)
            self.agent(f"local runner: {len(found)} artifact file(s) copied to {target}")
        return True, ("", "")

    def _exports(self, spec: Buildspec, shell: _Shell) -> None:
        exported = [(n, shell.env[n]) for n in spec.exported_variables if n in shell.env]
        self.state["exported"] = [[n, self.redactor.redact(v)] for n, v in exported]

    # commands ----------------------------------------------------------------------------
    def _phase(self, phase: PhaseSpec, shell: _Shell) -> tuple[bool, tuple[str, str]]:
        user = phase.run_as or (self.spec.run_as if self.spec else "")
        self.user = _switch_to(user) if user else None
        if self.user is not None:
            # the user cannot reach this build's private folder: its driver scripts and the
            # files that carry the session on live in a scratch folder of its own
            self.scratch = Path(tempfile.mkdtemp(prefix="codebuild-run-as-"))
            os.chown(self.scratch, *self.user)
        try:
            ok, context = True, ("", "")
            if phase.commands:
                ok, context = self._commands(phase.commands, shell, phase.name)
            if phase.finally_:
                if not ok:
                    shell.env["CODEBUILD_BUILD_SUCCEEDING"] = "0"
                fin_ok, fin_context = self._commands(phase.finally_, shell, f"{phase.name}-finally")
                if ok and not fin_ok:
                    ok, context = fin_ok, fin_context
        finally:
            if self.scratch != self.private:
                _remove_tree(self.scratch)
                self.scratch = self.private
        return ok, context

    def _commands(
        self, commands: Sequence[str], shell: _Shell, tag: str
    ) -> tuple[bool, tuple[str, str]]:
        """Run a command list in one shell session; the first failure ends it."""
        if self.stop_requested:
            raise _Stopped
        nonce = secrets.token_hex(12)
        driver = self._driver(commands, tag, nonce)
        switch: dict[str, Any] = {}
        if self.user is not None:  # run-as: the phase's files become the user's
            uid, gid = self.user
            for path in self.scratch.iterdir():
                os.chown(path, uid, gid)
            switch = {"user": uid, "group": gid, "extra_groups": []}
        self.current = subprocess.Popen(
            [self.program, str(driver)],
            cwd=shell.cwd,
            env=shell.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **switch,
        )
        self.state["pgid"] = self.current.pid  # for a reader that finds this worker dead
        self.save()
        last = -1
        end_rc: int | None = None
        assert self.current.stdout is not None
        for raw in iter(self.current.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
            at = line.find(nonce)
            if at < 0:
                self.emit(line)
                continue
            if at > 0:
                self.emit(line[:at])
            marker = line[at + len(nonce) :].split()
            if marker and marker[0] == "RUN":
                last = int(marker[1])
                self.agent(f"Running command {commands[last].rstrip()}")
            elif marker and marker[0] == "END":
                end_rc = int(marker[1])
        rc = self.current.wait()
        self.current = None
        if self.stop_requested:
            raise _Stopped
        self._carry(shell, tag)
        rc = end_rc if end_rc is not None else rc
        if rc == 0:
            return True, ("", "")
        command = one_line(commands[last]) if last >= 0 else "(shell start-up)"
        self.agent(f"Command did not exit successfully {command} exit status {rc}")
        return False, (
            "COMMAND_EXECUTION_ERROR",
            f"Error while executing command: {command}. Reason: exit status {rc}",
        )

    def _driver(self, commands: Sequence[str], tag: str, nonce: str) -> Path:
        """A script that sources each command in turn and reports progress by nonce markers."""
        base = self.scratch / tag
        lines = [
            "__cb_end() { __cb_rc=$?; env -0 > " + _q(f"{base}.env") + " 2>/dev/null;",
            "  pwd > " + _q(f"{base}.cwd") + " 2>/dev/null;",
            f'  printf \'{nonce} END %s\\n\' "$__cb_rc"; exit "$__cb_rc"; }}',
            "trap __cb_end EXIT",
        ]
        # version 0.1: "CodeBuild runs each command in a separate instance of the default
        # shell" (build-spec-ref): a subshell per command, so nothing carries over
        isolated = self.spec is not None and self.spec.version == "0.1"
        for index, command in enumerate(commands):
            script = Path(f"{base}.{index}.sh")
            script.write_text(command + "\n")
            run = f"( . {_q(str(script))} )" if isolated else f". {_q(str(script))}"
            lines += [
                f"printf '{nonce} RUN {index}\\n'",
                run,
                '__cb_rc=$?; [ "$__cb_rc" -eq 0 ] || exit "$__cb_rc"',
            ]
        driver = Path(f"{base}.driver.sh")
        driver.write_text("\n".join(lines) + "\n")
        return driver

    def _carry(self, shell: _Shell, tag: str) -> None:
        """The session's final environment and directory become the next session's start."""
        env_file = self.scratch / f"{tag}.env"
        cwd_file = self.scratch / f"{tag}.cwd"
        if env_file.exists():
            pairs = [item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item]
            env = {k: v for k, v in pairs if k not in ("_", "SHLVL", "OLDPWD", "PWD", "__cb_rc")}
            if env:
                shell.env = env
            env_file.unlink()
        if cwd_file.exists():
            cwd = cwd_file.read_text().strip()
            if cwd and Path(cwd).is_dir():
                shell.cwd = cwd
            cwd_file.unlink()

    # signals -----------------------------------------------------------------------------
    def request_stop(self, timed_out: bool = False) -> None:
        self.stop_requested = True
        self.timed_out = self.timed_out or timed_out
        proc = self.current
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

        def kill_later() -> None:
            time.sleep(_STOP_GRACE)
            try:  # the group, not just its shell: bash dies at once, a docker CLI may not
                os.killpg(proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            # the containers first: once their docker CLI is killed nothing stops them
            kill_containers(self.state["id"], self.request.get("docker_host", ""))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        threading.Thread(target=kill_later, daemon=True).start()


class _SecretError(Exception):
    pass


def _matching(base: Path, pattern: str) -> list[Path]:
    """The regular files under ``base`` an artifact path names (``**/*``, ``dir/*``, a file)."""
    pattern = pattern.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:]
    if not pattern or pattern.startswith("/") or not base.is_dir():
        return []
    try:
        return [p for p in base.glob(pattern) if p.is_file()]
    except (ValueError, OSError):
        return []


def _switch_to(user: str) -> tuple[int, int] | None:
    """``(uid, gid)`` to run a phase as ``user``; None when it is us or we cannot switch (the
    build's start names that in a warning line)."""
    import pwd

    if not can_run_as(user):
        return None
    entry = pwd.getpwnam(user)
    return None if entry.pw_uid == os.geteuid() else (entry.pw_uid, entry.pw_gid)


def _git_variables(src: str) -> dict[str, str]:
    """CODEBUILD_RESOLVED_SOURCE_VERSION / CODEBUILD_SOURCE_VERSION / CODEBUILD_SOURCE_REPO_URL
    from the source checkout, when it is a git repository."""
    from urllib.parse import urlsplit, urlunsplit

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-c", "safe.directory=*", "-C", src, *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    out: dict[str, str] = {}
    sha = git("rev-parse", "HEAD")
    if sha:
        out["CODEBUILD_RESOLVED_SOURCE_VERSION"] = sha
        out["CODEBUILD_SOURCE_VERSION"] = sha
    url = git("remote", "get-url", "origin")
    if url:
        with contextlib.suppress(ValueError):
            parts = urlsplit(url)
            if parts.password or parts.username:  # never a token from the remote's URL
                host = parts.hostname or ""
                url = urlunsplit(
                    parts._replace(netloc=host + (f":{parts.port}" if parts.port else ""))
                )
        out["CODEBUILD_SOURCE_REPO_URL"] = url
    return out


def _stored_name(stored: Mapping[str, Any], sid: str) -> str | None:
    """The local store's key for a secret name or ARN (``...:secret:NAME-AbCdEf``)."""
    if sid in stored:
        return sid
    if sid.startswith("arn:"):
        name = sid.split(":secret:", 1)[-1]
        for candidate in (name, re.sub(r"-[A-Za-z0-9]{6}$", "", name)):
            if candidate in stored:
                return candidate
    return None


def _secret_version(value: Any, sid: str, stage: str, version_id: str) -> Any:
    """The value of one version. The local store holds a string (the AWSCURRENT version) or
    ``{"versions": [{"id": ..., "stages": [...], "value": ...}]}``."""
    versions = (
        value["versions"]
        if isinstance(value, dict) and isinstance(value.get("versions"), list)
        else [{"id": "", "stages": ["AWSCURRENT"], "value": value}]
    )
    wanted_stage = stage or ("" if version_id else "AWSCURRENT")
    for version in versions:
        if version_id and version.get("id") != version_id:
            continue
        if wanted_stage and wanted_stage not in (version.get("stages") or ()):
            continue
        return version.get("value")
    label = f"VersionId: {version_id}" if version_id else f"staging label: {wanted_stage}"
    raise _SecretError(
        f"ResourceNotFoundException: Secrets Manager can't find the specified secret value "
        f"for {label} (secret id: {sid})"
    )


def _resolve_secret(stored: Mapping[str, Any], reference: str) -> str:
    sid, key, stage, version_id = reference_parts(reference)
    name = _stored_name(stored, sid)
    if name is None:
        raise _SecretError(
            f"ResourceNotFoundException: Secrets Manager can't find the specified secret. "
            f"secret id: {sid} (local environment: run invoke local.up)"
        )
    value = _secret_version(stored[name], sid, stage, version_id)
    if key:
        try:
            value = json.loads(value)[key]
        except (ValueError, KeyError, TypeError):
            raise _SecretError(f"InvalidSecretKey: secret {sid} has no JSON key {key!r}") from None
    return str(value)


def _url_password(url: str) -> str:
    from urllib.parse import urlsplit

    with contextlib.suppress(ValueError):
        return urlsplit(url).password or ""
    return ""


def _q(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str]) -> int:
    """Worker entry: ``python -m tasks.local.runner BUILD_DIR``."""
    if len(argv) != 1:
        sys.stderr.write(f"usage: python -m {WORKER_MODULE} BUILD_DIR\n")
        return 2
    worker = Worker(Path(argv[0]))
    signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
    signal.signal(signal.SIGINT, lambda *_: worker.request_stop())
    # blocked by the starter until now (``_spawn_into``): a stop that came early lands here
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def watchdog() -> None:
        while not worker.stop_requested:
            if time.time() > worker.deadline > 0:
                worker.request_stop(timed_out=True)
                return
            if (worker.directory / "stop-requested").exists():
                worker.request_stop()
                return
            time.sleep(0.5)

    threading.Thread(target=watchdog, daemon=True).start()
    worker.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
