"""The lossless follower: every page each round, missing streams, the drain rule."""

from __future__ import annotations

from tasks.codebuild.logs import LogFollower
from tests.helpers.fake_backend import LOC, FakeBackend, lines


def test_one_round_reads_every_page_until_the_token_repeats() -> None:
    backend = FakeBackend(events=lines(10), page_size=3)
    out: list[str] = []
    got = LogFollower(backend, out.append).round(LOC)
    assert out == [f"line {i}" for i in range(10)]
    assert got.caught_up and got.lines == 10
    assert got.pages == 5  # 3+3+3+1, then the read that returns the same token


def test_lines_appended_later_are_read_once_from_the_token() -> None:
    backend = FakeBackend(events=lines(4))
    out: list[str] = []
    follower = LogFollower(backend, out.append)
    follower.round(LOC)
    backend.events += lines(3, start=4)
    follower.round(LOC)
    follower.round(LOC)
    assert out == [f"line {i}" for i in range(7)]
    assert follower.lines == 7


def test_empty_pages_with_a_new_token_do_not_end_the_round() -> None:
    backend = FakeBackend(events=lines(5), empty_pages=2)
    out: list[str] = []
    LogFollower(backend, out.append).round(LOC)
    assert out == [f"line {i}" for i in range(5)]


def test_a_missing_stream_is_not_an_error() -> None:
    backend = FakeBackend(events=lines(2), missing_reads=1)
    out: list[str] = []
    follower = LogFollower(backend, out.append)
    first = follower.round(LOC)
    assert first.missing and out == []
    follower.round(LOC)
    assert out == ["line 0", "line 1"]


def test_drain_waits_until_the_token_is_stable_twice_and_catches_late_lines() -> None:
    backend = FakeBackend(events=lines(3))
    out: list[str] = []
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:  # a line ingested after the status went final
            backend.events.append(lines(1, start=3)[0])

    follower = LogFollower(backend, out.append)
    follower.drain(LOC, sleep, interval=0.5)
    assert out == [f"line {i}" for i in range(4)]
    assert sleeps == [0.5, 0.5]  # line 3 arrived after the first pause: one more check


def test_drain_of_a_build_that_never_wrote_ends() -> None:
    backend = FakeBackend(missing_reads=100)
    sleeps: list[float] = []
    LogFollower(backend, lambda s: None).drain(LOC, sleeps.append, interval=1.0)
    assert sleeps == [1.0]


def test_phase_marks_are_reported() -> None:
    from tasks.codebuild.model import LogEvent

    backend = FakeBackend(events=[LogEvent(1, "[Container] 2024/01/01 Entering phase POST_BUILD")])
    got = LogFollower(backend, lambda s: None).round(LOC)
    assert got.phase_marks == ("POST_BUILD",)


def test_tail_keeps_the_last_lines() -> None:
    backend = FakeBackend(events=lines(300), page_size=100)
    follower = LogFollower(backend, lambda s: None, tail_size=5)
    follower.round(LOC)
    assert list(follower.tail) == [f"line {i}" for i in range(295, 300)]


def test_a_ctrl_c_in_the_middle_of_a_page_never_prints_that_page_twice() -> None:
    import pytest

    backend = FakeBackend(events=lines(10), page_size=4)
    out: list[str] = []

    def emit(line: str) -> None:
        out.append(line)
        if line == "line 5":  # the second page, half printed
            raise KeyboardInterrupt

    follower = LogFollower(backend, emit)
    with pytest.raises(KeyboardInterrupt):
        follower.round(LOC)
    follower.emit = out.append
    follower.drain(LOC, lambda s: None, interval=0.5)  # what the wait does after a Ctrl-C
    assert out == [f"line {i}" for i in range(10)]
    assert follower.lines == 10


def test_drain_keeps_reading_until_the_closing_phase_line_arrives() -> None:
    from tasks.codebuild.model import LogEvent

    body = [LogEvent(1, "[Container] 2024/01/01 Phase complete: BUILD State: SUCCEEDED")]
    closing = [
        LogEvent(2, "[Container] 2024/01/01 Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED"),
        LogEvent(3, "[Container] 2024/01/01 Phase context status code:  Message:"),
    ]
    backend = FakeBackend(events=list(body))
    out: list[str] = []
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # CloudWatch delivers the closing lines 3 s late
        sleeps.append(seconds)
        if sum(sleeps) >= 3.0 and len(backend.events) == 1:
            backend.events += closing

    follower = LogFollower(backend, out.append)
    follower.drain(LOC, sleep, interval=0.75, expect="UPLOAD_ARTIFACTS", patience=20.0)
    assert out == [e.message for e in body + closing]
    assert sum(sleeps) < 6.0  # and it ended soon after they came


def test_drain_gives_up_on_a_closing_line_that_never_comes() -> None:
    backend = FakeBackend(events=lines(2))
    sleeps: list[float] = []
    LogFollower(backend, lambda s: None).drain(
        LOC, sleeps.append, interval=1.0, expect="UPLOAD_ARTIFACTS", patience=5.0
    )
    assert 5.0 <= sum(sleeps) <= 7.0
