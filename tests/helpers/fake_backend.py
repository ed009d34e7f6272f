"""An in-memory ``BuildBackend`` for unit tests of the follower, the wait loop and the tasks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tasks.codebuild.model import (
    PHASE_ORDER,
    Build,
    LogEvent,
    LogLocation,
    LogPage,
    Phase,
    StartRequest,
)

LOC = LogLocation("/aws/codebuild/proj", "uuid-1", "https://logs")


@dataclass
class FakeBackend:
    """Statuses come from ``snapshots`` (one per ``get``, last repeats); logs from ``events``.

    ``page_size`` events per page; tokens are 'f/<index>' like moto's. ``empty_pages`` makes
    the first reads return empty pages with a new token (CloudWatch does that) and
    ``missing_reads`` makes the first reads find no stream.
    """

    snapshots: list[Build] = field(default_factory=list)
    events: list[LogEvent] = field(default_factory=list)
    page_size: int = 3
    missing_reads: int = 0
    empty_pages: int = 0
    calls: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    after_stop: list[Build] = field(default_factory=list)
    on_get: list[object] = field(default_factory=list)
    started: list[StartRequest] = field(default_factory=list)
    _gets: int = 0

    def start(self, request: StartRequest) -> Build:
        self.calls.append("start")
        self.started.append(request)
        return self.snapshots[0]

    def get(self, build_id: str) -> Build:
        self.calls.append("get")
        if self.stopped and self.after_stop:
            return self.after_stop.pop(0) if len(self.after_stop) > 1 else self.after_stop[0]
        snap = self.snapshots[min(self._gets, len(self.snapshots) - 1)]
        self._gets += 1
        for hook in self.on_get:
            hook(self._gets)  # type: ignore[operator]
        return snap

    def stop(self, build_id: str) -> Build:
        self.calls.append("stop")
        self.stopped.append(build_id)
        return self.get(build_id)

    def running(self, project: str) -> list[Build]:
        return [b for b in self.snapshots[:1] if b.status == "IN_PROGRESS"]

    def recent(self, project: str, limit: int) -> list[Build]:
        return self.snapshots[:limit]

    def read_logs(self, logs: LogLocation, token: str | None) -> LogPage:
        self.calls.append("logs")
        if self.missing_reads > 0:
            self.missing_reads -= 1
            return LogPage((), token, missing=True)
        index = int(token.split("/")[1]) if token else 0
        if self.empty_pages > 0:  # an empty page that still moves the token forward
            self.empty_pages -= 1
            return LogPage((), f"f/{index}/{self.empty_pages}")
        page = self.events[index : index + self.page_size]
        new = f"f/{index + len(page)}"
        return LogPage(tuple(page), token if (not page and token) else new)


def build(
    status: str = "IN_PROGRESS", phase: str = "BUILD", n_phases: int = 7, **kw: object
) -> Build:
    names = PHASE_ORDER
    phases = tuple(Phase(n, "SUCCEEDED", 0.0, 1.0, 1.0) for n in names[: n_phases - 1])
    phases += (Phase(names[n_phases - 1], None if status == "IN_PROGRESS" else status, 0.0),)
    base = Build(
        id="proj:uuid-1",
        project="proj",
        status=status,
        current_phase=phase,
        phases=phases,
        start=0.0,
        logs=LOC,
        complete=status != "IN_PROGRESS",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def lines(n: int, start: int = 0) -> list[LogEvent]:
    return [LogEvent(1000 + i, f"line {i}\n") for i in range(start, start + n)]
