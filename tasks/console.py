"""The only module that prints: colour, progress, ``--json`` and secret redaction.

Rules: colour (colorama) only when the human stream is a terminal and ``NO_COLOR`` is unset;
with ``--json`` human lines go to stderr and exactly one JSON object goes to stdout; every
string passes through the redactor first. The streams are injected, so tests capture them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from tasks.errors import SuiteError
from tasks.redact import Redactor

_COLORS = {"ok": "GREEN", "warn": "YELLOW", "error": "RED", "step": "CYAN", "dim": "WHITE"}


def wants_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, never with NO_COLOR (https://no-color.org), never for dumb."""
    env = os.environ if environ is None else environ
    if "NO_COLOR" in env or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


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
        self.redactor = redactor or Redactor()
        self.now = now
        self._emitted = False
        self._progress_open = False
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

    def _write(self, stream: TextIO, text: str) -> None:
        self._close_progress()
        stream.write(self.redactor.redact(text) + "\n")
        stream.flush()

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
        self.err.write(self._style("warn", self.redactor.redact(question)) + " ")
        self.err.flush()

    def detail(self, key: str, value: object) -> None:
        self.line(f"     {key:<14} {value}")

    def log(self, text: str) -> None:
        """A build log line, verbatim apart from redaction."""
        self._write(self.human, text.rstrip("\n"))

    def error(self, err: SuiteError) -> None:
        """The one line of a failure; under --json also the JSON result on stdout."""
        self._write(self.err, self._style("error", f"error: {err.line()}"))
        if self.json_mode and not self._emitted:
            self.emit({"ok": False, **err.details, "error": err.as_dict()})

    # -- progress ----------------------------------------------------------------------
    def progress(self, text: str) -> None:
        """A status line that rewrites itself on a terminal and prints as lines elsewhere."""
        text = self.redactor.redact(text)
        if wants_color(self.human) and not self.json_mode:
            self.human.write("\r\033[2K" + text)
            self._progress_open = True
        else:
            self.human.write(text + "\n")
        self.human.flush()

    def _close_progress(self) -> None:
        if self._progress_open:
            self.human.write("\r\033[2K")
            self._progress_open = False

    # -- machine result ----------------------------------------------------------------
    def emit(self, result: Mapping[str, Any]) -> None:
        """Print the task's one JSON object (only under --json; at most once)."""
        if not self.json_mode:
            return
        if self._emitted:
            raise RuntimeError("a task printed two JSON results")
        self._close_progress()
        payload = self.redactor.redact_obj(dict(result))
        self.out.write(json.dumps(payload, default=str, sort_keys=False) + "\n")
        self.out.flush()
        self._emitted = True

    @property
    def emitted(self) -> bool:
        return self._emitted
