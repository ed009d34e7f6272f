"""A reader that goes away (``invoke build.logs ID | head``) mutes the console, never fails it."""

from __future__ import annotations

import io

import pytest

from tasks.core.console import Console


class ClosedPipe(io.StringIO):
    """A stream whose reader has gone: every write raises BrokenPipeError."""

    def __init__(self) -> None:
        super().__init__()
        self.tries = 0

    def write(self, text: str) -> int:
        self.tries += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_human_stream_is_muted_and_the_task_goes_on() -> None:
    out, err = ClosedPipe(), io.StringIO()
    console = Console(out=out, err=err, color=False)
    console.step("start")
    console.log("line 1")
    console.progress("proj:1: BUILD 3s")
    console.ok("done")
    assert out.tries == 1  # muted after the first failure: no write is tried again
    console.warn("still visible on stderr")
    assert "WARNING: still visible on stderr" in err.getvalue()


def test_broken_stdout_under_json_still_counts_as_emitted() -> None:
    out, err = ClosedPipe(), io.StringIO()
    console = Console(out=out, err=err, json_mode=True, color=False)
    console.emit({"ok": True})
    assert console.emitted  # no second object is attempted by the error path
    console.line("human line")
    assert "human line" in err.getvalue()


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_fits_one_terminal_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrapped progress line cannot be rewritten in place ("\\r" + erase line is one row)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "80")
    tty = Tty()
    console = Console(out=tty, err=tty, color=False)
    long = "daadaar-migrations-staging:7d0e5c1e-0000-4000-8000-000000000000: BUILD 42s " * 3
    console.progress(long)
    console.progress("short")
    rows = tty.getvalue().split("\r\x1b[2K")
    assert [len(r) for r in rows[1:]] == [79, 5]
    assert rows[1].endswith("…")
