"""The worker: executes one build folder to completion with CodeBuild's phase engine (phase
order, ``on-failure``, ``finally``, artifacts, exported variables, stop and timeout), the only
writer of its state and log. ``main`` is the entry ``python -m <package>.local.runner DIR``
runs (see ``runner``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..codebuild.model import FAILED, FAULT, STOPPED, SUCCEEDED, TIMED_OUT
from ..core.redact import Redactor
from .buildspec import WINDOWS_SHELLS, Buildspec, PhaseSpec, local_warnings, parse
from .processes import STOP_GRACE, STOP_SIGNALS, kill_containers
from .secrets_manager import SecretError, resolve_secret, url_password
from .shell import Shell, can_run_as, carry, switch_to, write_driver
from .state import locked, one_line, read_json, remove_tree, stamp, write_json


class Stopped(Exception):
    pass


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
        self.request = read_json(self.directory / "request.json")
        self.state = read_json(self.directory / "state.json")
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
        with locked(self.directory / ".lock"):
            on_disk = read_json(self.directory / "state.json")
            self.state["pid"] = self.state.get("pid") or on_disk.get("pid") or os.getpid()
            write_json(self.directory / "state.json", self.state)

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
        with locked(self.directory / ".lock"):
            if read_json(self.directory / "state.json").get("complete"):
                return  # judged dead before it ran (its starter died): run nothing
        self.state["pid"] = os.getpid()
        self.save()
        started = float(self.state["start"])
        self.deadline = started + 60 * float(self.request["timeout_minutes"])
        status = FAILED
        try:
            status = self._run()
        except Stopped:
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
            remove_tree(self.private)

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
        except SecretError as err:
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

    def _environment(self, spec: Buildspec) -> Shell:
        """The build's environment: host basics, CodeBuild's variables, buildspec, overrides."""
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "DOCKER_HOST", "TMPDIR", "USER")
        env = {k: v for k, v in os.environ.items() if k in keep}
        if self.request.get("docker_host"):
            env["DOCKER_HOST"] = self.request["docker_host"]
        docker_config = self.private / "docker-config"
        docker_config.mkdir(mode=0o700)
        uid = self.state["log_stream"]
        region = self.request["region"]
        env.update(git_variables(self.request["src_dir"]))
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
            value = resolve_secret(stored, reference)
            env[name] = value
            self.redactor.add(value)
            password = url_password(value)
            if password:
                self.redactor.add(password)
        return Shell(env, self.request["src_dir"])

    def _credentials(self) -> dict[str, Any]:
        path = Path(self.request["credentials"])
        if not path.exists():
            return {}
        data: dict[str, Any] = read_json(path)
        return data

    def _artifacts(self, spec: Buildspec) -> tuple[bool, tuple[str, str]]:
        """Copy each artifact's matching files under ``<build>/artifacts/[<identifier>/]``.

        The agent's lines and the failure are CodeBuild's, as its logs show them (e.g.
        aws-containers/hello-app-runner-nodejs issue 1): "Expanding base directory path: .",
        "Skipping invalid file path X", then UPLOAD_ARTIFACTS FAILED with "CLIENT_ERROR
        Message: no matching artifact paths found"."""
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
                matched = matching(base, pattern)
                if not matched:
                    self.agent(f"Skipping invalid file path {pattern}")
                found.update(matched)
            for pattern in artifact.exclude_paths:
                found.difference_update(matching(base, pattern))
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

    def _exports(self, spec: Buildspec, shell: Shell) -> None:
        exported = [(n, shell.env[n]) for n in spec.exported_variables if n in shell.env]
        self.state["exported"] = [[n, self.redactor.redact(v)] for n, v in exported]

    # commands ----------------------------------------------------------------------------
    def _phase(self, phase: PhaseSpec, shell: Shell) -> tuple[bool, tuple[str, str]]:
        user = phase.run_as or (self.spec.run_as if self.spec else "")
        self.user = switch_to(user) if user else None
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
                remove_tree(self.scratch)
                self.scratch = self.private
        return ok, context

    def _commands(
        self, commands: Sequence[str], shell: Shell, tag: str
    ) -> tuple[bool, tuple[str, str]]:
        """Run a command list in one shell session; the first failure ends it."""
        if self.stop_requested:
            raise Stopped
        nonce = secrets.token_hex(12)
        # version 0.1: "CodeBuild runs each command in a separate instance of the default
        # shell" (build-spec-ref): a subshell per command, so nothing carries over
        isolated = self.spec is not None and self.spec.version == "0.1"
        driver = write_driver(self.scratch / tag, commands, nonce, isolated=isolated)
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
            raise Stopped
        carry(self.scratch, shell, tag)
        rc = end_rc if end_rc is not None else rc
        if rc == 0:
            return True, ("", "")
        command = one_line(commands[last]) if last >= 0 else "(shell start-up)"
        self.agent(f"Command did not exit successfully {command} exit status {rc}")
        return False, (
            "COMMAND_EXECUTION_ERROR",
            f"Error while executing command: {command}. Reason: exit status {rc}",
        )

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
            time.sleep(STOP_GRACE)
            try:  # the group, not just its shell: bash dies at once, a docker CLI may not
                os.killpg(proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            # the containers first: once their docker CLI is killed nothing stops them
            kill_containers(self.state["id"], self.request.get("docker_host", ""))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        threading.Thread(target=kill_later, daemon=True).start()


def matching(base: Path, pattern: str) -> list[Path]:
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


def git_variables(src: str) -> dict[str, str]:
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


def main(argv: list[str]) -> int:
    """Worker entry: ``python -m <package>.local.runner BUILD_DIR``."""
    if len(argv) != 1:
        from ..core.console import Console

        Console().stderr_line(f"usage: python -m {__package__}.runner BUILD_DIR")
        return 2
    worker = Worker(Path(argv[0]))
    signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
    signal.signal(signal.SIGINT, lambda *_: worker.request_stop())
    # blocked by the starter until now (``LocalBackend.start``): a stop that came early lands here
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

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
