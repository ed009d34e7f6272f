"""A lossless log follower over any ``BuildBackend`` (CloudWatch Logs or the local runner).

Rules, each one a way the peers lose or repeat lines:

- Only forward tokens move the position: every event is read exactly once, in order, and a
  retried read resends the same token (no timestamp arithmetic, no same-millisecond loss).
- One round reads every page until ``nextForwardToken`` comes back unchanged, so a noisy build
  never falls behind (the official action reads one page per round).
- A missing group or stream is normal while the build provisions: the round simply ends.
- After the build's final status, ``drain`` keeps reading until the token is stable twice in a
  row, a little apart, because CloudWatch keeps ingesting the last lines after the status flips.

Pure module: the backend, the line sink and ``sleep`` are injected.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tasks.builds import BuildBackend, LogLocation

# CodeBuild writes these lines at every phase change; seeing one means the status moved too.
_PHASE_MARK = re.compile(r"\b(?:Entering phase|Phase complete:)\s*(?P<phase>[A-Z_]+)")
MAX_PAGES_PER_ROUND = 2000  # a bound, not a limit in practice (2000 x 10,000 events)


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
    ) -> None:
        self.backend = backend
        self.emit = emit
        self.token: str | None = None
        self.lines = 0
        self.tail: deque[str] = deque(maxlen=tail_size)  # the last lines, for diagnosis

    def round(self, logs: LogLocation) -> RoundResult:
        """Read every page available now; stops when the token repeats."""
        result = RoundResult()
        marks: list[str] = []
        for _ in range(MAX_PAGES_PER_ROUND):
            sent = self.token
            page = self.backend.read_logs(logs, sent)
            result.pages += 1
            if page.missing:
                result.missing = True
                break
            for event in page.events:
                message = event.message.rstrip("\n")
                self.emit(message)
                self.tail.append(message)
                found = _PHASE_MARK.search(message)
                if found:
                    marks.append(found.group("phase"))
            result.lines += len(page.events)
            self.lines += len(page.events)
            if page.next_token is not None:
                self.token = page.next_token
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
    ) -> int:
        """After the final status: read until the token is stable on two reads, ``interval`` apart.

        A round ends on a read that returned the token it was sent (stable once); a further read
        after ``interval`` that still returns it, with no new lines, makes it stable twice.
        """
        stable = 0
        total = 0
        for _ in range(max_rounds):
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
                break
            sleep(interval)
        return total
