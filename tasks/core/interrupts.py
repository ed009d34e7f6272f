"""Ctrl-C is ours to handle, from the first line of the suite's code to its exit.

- ``claim_sigint`` (``tasks.py``, when invoke loads it): a Ctrl-C while the suite is still
  starting (importing its modules, invoke parsing the command line) ends the process with one
  line and exit 130, never a traceback. It also takes SIGINT back when the process inherited it
  as *ignored* (a background job of a script, some CI runners): Python installs its handler
  only when SIGINT was not ignored, so without this Ctrl-C and ``kill -INT`` did nothing.
- ``interrupts_raise`` (``execute``, around a task): Ctrl-C raises ``KeyboardInterrupt``, which
  the build waiter turns into StopBuild (exit 14) and ``execute`` into exit 130.
- ``deferred_interrupts`` (around a build's start): a Ctrl-C is held until the start returned,
  so a build that was started is always known, and stopped, never left running unseen.

Only the main thread can set signal handlers; elsewhere these do nothing. Before ``tasks.py``
runs (the interpreter and invoke importing themselves, a few hundred milliseconds) Python's own
behaviour applies: death by SIGINT, which the shell reports as 130.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

from .errors import ExitCode, SuiteError

INTERRUPTED = SuiteError(
    "interrupted while starting (nothing was started)",
    "rerun when ready",
    code=ExitCode.INTERRUPTED,
)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _quit_while_starting(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt this
    try:
        from .console import Console
    except ImportError:
        # the Ctrl-C landed while the console module itself was being imported (it is then
        # only partly there): the same line and JSON result, written without it
        import json

        sys.stderr.write(f"error: {INTERRUPTED.line()}\n")
        if "--json" in sys.argv:
            sys.stdout.write(json.dumps({"ok": False, "error": INTERRUPTED.as_dict()}) + "\n")
        raise SystemExit(int(ExitCode.INTERRUPTED)) from None
    Console(json_mode="--json" in sys.argv).error(INTERRUPTED)
    raise SystemExit(int(ExitCode.INTERRUPTED))


def claim_sigint() -> None:
    """SIGINT ends the start-up quietly with exit 130 (and is ours even if inherited ignored)."""
    if _main_thread():
        signal.signal(signal.SIGINT, _quit_while_starting)


def interrupts_raise() -> None:
    """From now on Ctrl-C raises ``KeyboardInterrupt`` (whatever SIGINT was before): Python's
    own default, set explicitly."""
    if _main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class Deferred:
    """What ``deferred_interrupts`` held back: ``pending`` once a Ctrl-C/SIGTERM came."""

    pending: bool = False


@contextlib.contextmanager
def deferred_interrupts(say: Callable[[str], None] | None = None) -> Iterator[Deferred]:
    """SIGINT and SIGTERM are noted, not raised, until the block ends; the caller reads
    ``pending`` and acts (stops the build it just started). ``say`` tells the user so. A
    second one raises ``KeyboardInterrupt`` at once: a start that hangs (AWS retrying) never
    leaves Ctrl-C without effect."""
    held = Deferred()
    if not _main_thread():
        yield held
        return

    def note(signum: int, frame: FrameType | None) -> None:
        if held.pending:
            raise KeyboardInterrupt
        held.pending = True
        if say is not None:
            say(
                "interrupted: the build is being started; it is stopped as soon as it has "
                "(Ctrl-C again to leave now)"
            )

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
