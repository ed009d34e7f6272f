"""A lossless log follower over any ``BuildBackend`` (CloudWatch Logs or the local runner).

Rules, each one a way the peers lose or repeat lines:

- Only forward tokens move the position: every event is read exactly once, in order, and a
  retried read resends the same token (no timestamp arithmetic, no same-millisecond loss).
- One round reads every page until ``nextForwardToken`` comes back unchanged, so a noisy build
  never falls behind (the official action reads one page per round).
- A missing group or stream is normal while the build provisions: the round simply ends.
- After the build's final status, ``drain`` keeps reading until the token is stable twice in a
  row, a little apart, because CloudWatch keeps ingesting the last lines after the status flips.
- It then ends on evidence, not only on a quiet spell: CodeBuild's agent writes its closing
  ``Phase complete: <last phase>`` line before ``buildComplete``, but CloudWatch may hold it back
  for seconds; when the caller names that phase (``expect``) and its line has not been read yet,
  the drain keeps reading, bounded by ``patience`` seconds.
- A Ctrl-C in the middle of a page never prints that page twice: the lines of a page already
  printed are remembered with the token that fetched it, and skipped when it is read again.

Pure module: the backend, the line sink and ``sleep`` are injected.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .model import BuildBackend, LogLocation, LogPage

# CodeBuild writes these lines at every phase change; seeing one means the status moved too.
_PHASE_MARK = re.compile(r"\b(?:Entering phase|Phase complete:)\s*(?P<phase>[A-Z_]+)")
_PHASE_DONE = re.compile(r"\bPhase complete:\s*(?P<phase>[A-Z_]+)")
MAX_PAGES_PER_ROUND = 2000  # a bound, not a limit in practice (2000 x 10,000 events)
MAX_LOG_PAGES = 20_000  # a bound on reading a whole log at once (each page: up to 10,000 events)


def pages(
    backend: BuildBackend, logs: LogLocation, token: str | None, limit: int
) -> Iterator[tuple[str | None, LogPage]]:
    """The one paging loop: (token sent, page) forward from ``token`` until the token repeats,
    the log is missing, or ``limit`` pages were read."""
    for _ in range(limit):
        page = backend.read_logs(logs, token)
        yield token, page
        if page.missing or page.next_token is None or page.next_token == token:
            return
        token = page.next_token


def all_lines(backend: BuildBackend, logs: LogLocation) -> Iterator[str]:
    """Every line of a log read so far, from its start, lazily (``invoke diagnose -b ID``)."""
    for _sent, page in pages(backend, logs, None, MAX_LOG_PAGES):
        for event in page.events:
            yield from event.message.rstrip("\n").split("\n")


@dataclass
class RoundResult:
    lines: int = 0
    pages: int = 0
    caught_up: bool = False
    missing: bool = False
    phase_marks: tuple[str, ...] = ()


class LogFollower:
    """Reads a build's log forward from where it stopped; prints each line once."""

    def __init__(
        self,
        backend: BuildBackend,
        emit: Callable[[str], None],
        *,
        tail_size: int = 200,
        readers: Sequence[Callable[[str], None]] = (),
    ) -> None:
        self.backend = backend
        self.emit = emit
        # "one stream, many readers": each line printed is handed to these too, as it arrives
        # (the diagnosis scans the stream instead of downloading the log again after a failure)
        self.readers = tuple(readers)
        self.token: str | None = None
        self.lines = 0
        self.tail: deque[str] = deque(maxlen=tail_size)  # the last lines, for diagnosis
        self.completed: list[str] = []  # phases whose "Phase complete:" line was read
        # (token sent, lines of that page already printed): an interrupted page resumes here
        self._partial: tuple[str | None, int] | None = None

    def round(self, logs: LogLocation) -> RoundResult:
        """Read every page available now; stops when the token repeats."""
        result = RoundResult()
        marks: list[str] = []
        for sent, page in pages(self.backend, logs, self.token, MAX_PAGES_PER_ROUND):
            result.pages += 1
            if page.missing:
                result.missing = True
                break
            events = page.events
            done = self._partial[1] if self._partial and self._partial[0] == sent else 0
            fresh = events[done:]
            self._partial = (sent, done)
            for event in fresh:
                message = event.message.rstrip("\n")
                done += 1  # counted before it is printed: an interrupted print is not redone
                self._partial = (sent, done)
                self.lines += 1
                result.lines += 1
                self.emit(message)
                for reader in self.readers:
                    reader(message)
                self.tail.append(message)
                found = _PHASE_MARK.search(message)
                if found:
                    marks.append(found.group("phase"))
                    closed = _PHASE_DONE.search(message)
                    if closed:
                        self.completed.append(closed.group("phase"))
            if page.next_token is not None:
                self.token = page.next_token
            self._partial = None
            if page.next_token == sent or page.next_token is None:
                result.caught_up = True
                break
        result.phase_marks = tuple(marks)
        return result

    def drain(
        self,
        logs: LogLocation,
        sleep: Callable[[float], None],
        *,
        interval: float = 1.0,
        max_rounds: int = 60,
        expect: str | None = None,
        patience: float = 0.0,
    ) -> int:
        """After the final status: read until the token is stable on two reads, ``interval`` apart.

        A round ends on a read that returned the token it was sent (stable once); a further read
        after ``interval`` that still returns it, with no new lines, makes it stable twice.
        ``expect``: the phase whose ``Phase complete:`` line closes the log; while it is unread,
        keep reading for up to ``patience`` more seconds (CloudWatch ingests it late).
        """
        stable = 0
        total = 0
        waited = 0.0
        for _ in range(max_rounds + int(patience / max(interval, 0.01)) + 1):
            got = self.round(logs)
            total += got.lines
            settled = got.caught_up or got.missing
            if not settled:
                stable = 0
            elif got.lines:
                stable = 1
            else:
                stable += 1
            if stable >= 2:
                if not expect or expect in self.completed or waited >= patience:
                    break
                waited += interval
            sleep(interval)
        return total
