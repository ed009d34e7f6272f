"""Runs external commands (docker, git) as argv lists; never through a shell.

Secrets travel on stdin or in the environment, never in argv; what is shown of a command
is ``shlex.join(argv)`` passed through the redactor. Output can be streamed line by line.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .errors import CommandFailed, DockerUnavailable, SuiteError
from .redact import Redactor


def missing_program(name: str) -> SuiteError:
    """The one-line error for a program that is not installed."""
    if name == "docker":
        return DockerUnavailable(
            "the docker CLI is not installed",
            "install Docker (apt-get install docker.io) and retry",
        )
    return CommandFailed(f"{name} is not installed", f"install {name} and retry")


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()


class CommandRunner:
    """subprocess behind one small interface, so tests and dry runs can swap it."""

    def __init__(
        self, redactor: Redactor | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.redactor = redactor or Redactor()
        self.env = dict(os.environ if env is None else env)

    def display(self, argv: Sequence[str]) -> str:
        return self.redactor.redact(shlex.join(argv))

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        on_line: Callable[[str], None] | None = None,
        timeout: float | None = None,
    ) -> Completed:
        """Run argv; with ``on_line`` stdout and stderr lines are streamed as they come.

        A program that is not installed raises its SuiteError (see :func:`missing_program`).
        """
        try:
            return self._run(argv, input, env, cwd, on_line, timeout)
        except FileNotFoundError:
            raise missing_program(argv[0]) from None

    def _run(
        self,
        argv: Sequence[str],
        input: str | None,
        env: Mapping[str, str] | None,
        cwd: str | None,
        on_line: Callable[[str], None] | None,
        timeout: float | None,
    ) -> Completed:
        full_env = {**self.env, **(env or {})}
        if on_line is None:
            proc = subprocess.run(
                list(argv),
                input=input,
                capture_output=True,
                text=True,
                env=full_env,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
            return Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        return self._stream(argv, input, full_env, cwd, on_line, timeout)

    def _stream(
        self,
        argv: Sequence[str],
        input: str | None,
        env: dict[str, str],
        cwd: str | None,
        on_line: Callable[[str], None],
        timeout: float | None,
    ) -> Completed:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
            bufsize=1,
        )
        out: list[str] = []
        err: list[str] = []
        lock = threading.Lock()

        def pump(stream: object, sink: list[str]) -> None:
            for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
                sink.append(line)
                with lock:
                    on_line(line.rstrip("\n"))

        threads = [
            threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, err), daemon=True),
        ]
        for t in threads:
            t.start()
        if input is not None and proc.stdin is not None:
            proc.stdin.write(input)
            proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for t in threads:
            t.join(timeout=5)
        return Completed(tuple(argv), proc.returncode, "".join(out), "".join(err))
