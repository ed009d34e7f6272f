"""Ctrl-C around a build's start: held once (the started build is then stopped), a second
press leaves at once; SIGINT inherited as ignored is taken back. Real signals, this process."""

from __future__ import annotations

import json
import signal

import pytest

from tasks.core.interrupts import deferred_interrupts, interrupts_raise


def test_a_ctrl_c_during_the_start_is_held_and_a_second_one_leaves_now() -> None:
    said: list[str] = []
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts(said.append) as held:
        signal.raise_signal(signal.SIGINT)
        assert held.pending is True  # noted, not raised: the start goes on
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert said == [
        "interrupted: the build is being started; it is stopped as soon as it has "
        "(Ctrl-C again to leave now)"
    ]
    assert signal.getsignal(signal.SIGINT) is before  # the handler in place before, restored


def test_sigterm_is_held_like_ctrl_c() -> None:
    with deferred_interrupts() as held:
        signal.raise_signal(signal.SIGTERM)
    assert held.pending is True


def test_an_ignored_sigint_is_taken_back() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        interrupts_raise()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_while_the_console_module_is_half_imported_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seen in test_local_interrupts: SIGINT landed inside ``tasks.core.console``'s own import,
    and the handler's ``from .console import Console`` raised ImportError (a traceback)."""
    import signal
    import sys
    import types

    from tasks.core import interrupts

    half = types.ModuleType("tasks.core.console")  # partly initialised: no Console yet
    monkeypatch.setitem(sys.modules, "tasks.core.console", half)
    monkeypatch.setattr(sys, "argv", ["invoke", "release", "--json"])
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as ended:
            interrupts._quit_while_starting(signal.SIGINT, None)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert ended.value.code == 130
    out, err = capsys.readouterr()
    assert err == "error: interrupted while starting (nothing was started). Fix: rerun when ready\n"
    assert json.loads(out)["error"]["code"] == 130
