"""The only module that prints: colour, progress, ``--json`` and secret redaction.

Rules: colour (colorama) only when the human stream is a terminal and ``NO_COLOR`` is unset;
with ``--json`` human lines go to stderr and exactly one JSON object goes to stdout; every
string passes through the redactor first, and ``invoke TASK`` in a hint is said with the
command in use (``release-suite TASK`` when run as the installed command). The streams are injected, so tests capture them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from .errors import SuiteError
from .redact import Redactor

_COLORS = {"ok": "GREEN", "warn": "YELLOW", "error": "RED", "step": "CYAN", "dim": "WHITE"}


def wants_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, never with NO_COLOR (https://no-color.org), never for dumb."""
    env = os.environ if environ is None else environ
    if "NO_COLOR" in env or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


# The command the user typed, when it is not ``invoke``: (name, pattern of "invoke TASK")
_COMMAND: tuple[str, re.Pattern[str]] | None = None


def use_command(name: str, task_names: Iterable[str]) -> None:
    """Hints and remedies are written as ``invoke TASK``; run as ``name`` (the installed
    ``release-suite``), every console line says ``name TASK`` instead. Only before a task of
    the collection, so prose about invoke itself stays as written. ``use_command("invoke", ...)`` undoes it."""
    global _COMMAND
    names = sorted({n for n in task_names if n}, key=len, reverse=True)
    if name == "invoke" or not names:
        _COMMAND = None
        return
    alternatives = "|".join(re.escape(n) for n in names)
    _COMMAND = (name, re.compile(rf"\binvoke (?=(?:{alternatives})(?![\w.-]))"))


def as_typed(text: str) -> str:
    """``text`` with ``invoke TASK`` in the words of the command in use (see use_command)."""
    if _COMMAND is None or "invoke " not in text:
        return text
    name, pattern = _COMMAND
    return pattern.sub(f"{name} ", text)


class Console:
    """Human output and the single JSON result of a task."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        json_mode: bool = False,
        color: bool | None = None,
        redactor: Redactor | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.json_mode = json_mode
        self.human = self.err if json_mode else self.out
        self.color = wants_color(self.human) if color is None else color
        # progress rewrites its line only on a real terminal (decided once, like colour)
        self._live_progress = wants_color(self.human) and not json_mode
        self.redactor = redactor or Redactor()
        self.now = now
        self._emitted = False
        self._progress_open = False
        self._closed: set[int] = set()  # streams whose reader went away (`| head`)
        self._styles: dict[str, str] = {}
        if self.color:
            import colorama  # imported lazily: start-up time matters for `invoke --list`

            self._styles = {k: getattr(colorama.Fore, v) for k, v in _COLORS.items()}
            self._styles["reset"] = colorama.Style.RESET_ALL

    # -- human lines -------------------------------------------------------------------
    def _style(self, kind: str, text: str) -> str:
        if not self._styles or kind not in self._styles:
            return text
        return f"{self._styles[kind]}{text}{self._styles['reset']}"

    def _put(self, stream: TextIO, text: str) -> None:
        """Write and flush; a reader that went away (``invoke build.logs ID | head``) is not a
        failure of the task: that stream is muted and the task goes on to its own exit code."""
        if id(stream) in self._closed:
            return
        try:
            stream.write(text)
            stream.flush()
        except BrokenPipeError:
            self._closed.add(id(stream))
            _mute(stream)

    def _write(self, stream: TextIO, text: str, *, verbatim: bool = False) -> None:
        self._close_progress()
        shown = text if verbatim else as_typed(text)
        self._put(stream, self.redactor.redact(shown) + "\n")

    def line(self, text: str, kind: str = "") -> None:
        """A line for humans (stdout, or stderr under --json)."""
        self._write(self.human, self._style(kind, text) if kind else text)

    def info(self, text: str) -> None:
        self.line(text)

    def step(self, text: str) -> None:
        self.line(f"==> {text}", "step")

    def ok(self, text: str) -> None:
        self.line(f"ok   {text}", "ok")

    def warn(self, text: str) -> None:
        self._write(self.err, self._style("warn", f"WARNING: {text}"))

    def prompt(self, question: str) -> None:
        """A question for the person at the terminal (stderr, no newline, no prefix)."""
        self._close_progress()
        self._put(self.err, self._style("warn", self.redactor.redact(as_typed(question))) + " ")

    def detail(self, key: str, value: object) -> None:
        self.line(f"     {key:<14} {value}")

    def log(self, text: str) -> None:
        """A build log line, verbatim apart from redaction."""
        self._write(self.human, text.rstrip("\n"), verbatim=True)

    def stderr_line(self, text: str) -> None:
        """A line on stderr as given (redacted), for what is said before any task runs: the
        program's missing invoke.yaml, the local worker's usage line."""
        self._write(self.err, text)

    def error(self, err: SuiteError) -> None:
        """The one line of a failure; under --json also the JSON result on stdout."""
        self._write(self.err, self._style("error", f"error: {err.line()}"))
        if self.json_mode and not self._emitted:
            self.emit({"ok": False, **err.details, "error": err.as_dict()})

    # -- progress ----------------------------------------------------------------------
    def progress(self, text: str) -> None:
        """A status line that rewrites itself on a terminal and prints as lines elsewhere."""
        text = self.redactor.redact(as_typed(text))
        if self._live_progress:
            # "\r + erase line" only rewrites one terminal row: a longer text would wrap and
            # leave its first rows behind on every rewrite, so it is cut to the width
            width = shutil.get_terminal_size((120, 24)).columns - 1
            if len(text) > width:
                text = text[: max(1, width - 1)] + "…"
            self._put(self.human, "\r\033[2K" + text)
            self._progress_open = True
        else:
            self._put(self.human, text + "\n")

    def _close_progress(self) -> None:
        if self._progress_open:
            self._progress_open = False
            self._put(self.human, "\r\033[2K")

    # -- machine result ----------------------------------------------------------------
    def emit(self, result: Mapping[str, Any]) -> None:
        """Print the task's one JSON object (only under --json; at most once)."""
        if not self.json_mode:
            return
        if self._emitted:
            raise RuntimeError("a task printed two JSON results")
        self._close_progress()
        payload = self.redactor.redact_obj(dict(result))
        self._emitted = True
        self._put(self.out, as_typed(json.dumps(payload, default=str, sort_keys=False)) + "\n")

    @property
    def emitted(self) -> bool:
        return self._emitted


def _mute(stream: TextIO) -> None:
    """Point a broken stream's descriptor at /dev/null, so the bytes still buffered in it
    cannot fail again at interpreter exit ("Exception ignored ... BrokenPipeError")."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
