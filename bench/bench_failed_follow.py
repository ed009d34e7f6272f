"""Benchmark: a followed build fails; what it costs to name the cause after the final status.

The follower (``tasks.codebuild.wait.Waiter``, as ``build.wait`` wires it in
``tasks.release.builds.follow_build``) follows a scripted build through an in-process fake
``BuildBackend`` (pages of 1,000 events, as CloudWatch returns up to 10,000 per page): the log
grows while the build runs, then the status flips to FAILED, with the failure at the end of a
long log. Two wirings of the same diagnosis (``tasks.diagnose.service.FailureDiagnosis``):

- ``stream`` (now): the hook reads the follower's lines as they arrive ("one stream, many
  readers"), so after the final status only the follower's drain calls GetLogEvents;
- ``reread`` (before issue 13): the same hook without the stream, which downloads the whole log
  again after the failure (what ``diagnose.service._whole_log_or_tail`` did for every failure).

Measured per run: GetLogEvents calls after the final status (drain / diagnosis), and the lag
from the final status to the diagnosis printed: the virtual sleeps of the drain (no real
waiting) plus the real time spent in this process. The fake answers at once: in AWS each of the
re-read's calls is also a round trip (~50-150 ms) counted against GetLogEvents' per-account
rate, so ``reread``'s real-world lag is larger than shown here by that many round trips.

Run: ``python bench/bench_failed_follow.py [--lines 50000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.codebuild.model import Build, Context, LogEvent, LogLocation, LogPage, Phase
from tasks.codebuild.services import Services
from tasks.core.config import load_settings
from tasks.core.console import Console
from tasks.core.errors import SuiteError
from tasks.diagnose.service import FailureDiagnosis
from tasks.release import builds
from tasks.wiring import runtime_for

RAW = {"environments": {"t": {"project": "acme-migrations", "region": "eu-west-1"}}}
PAGE = 1000
BID = "acme-migrations:b1"


def log_lines(count: int) -> list[str]:
    lines = ["[Container] 2024/07/12 01:20:00 Entering phase BUILD"]
    lines.append("[Container] 2024/07/12 01:20:01 Running command bun run migrate")
    lines += [f"migrate: step {i} applied in {i % 97} ms" for i in range(count - 6)]
    lines += [
        "PostgresError: Connection timeout after 10s",
        ' code: "ERR_POSTGRES_CONNECTION_TIMEOUT"',
        "[Container] 2024/07/12 01:21:53 Command did not exit successfully bun run migrate "
        "exit status 1",
        "[Container] 2024/07/12 01:21:54 Phase complete: BUILD State: FAILED",
    ]
    return lines


class Scripted:
    """A build whose log grows by ``step`` lines per status read, then FAILED."""

    def __init__(self, lines: list[str], step: int) -> None:
        self.lines = lines
        self.step = step
        self.gets = 0
        self.reads = 0
        self.final_at: int | None = None  # reads done when the final status was first returned

    def _visible(self) -> int:
        return min(len(self.lines), self.gets * self.step)

    def build(self) -> Build:
        done = self._visible() >= len(self.lines)
        status = "FAILED" if done else "IN_PROGRESS"
        ctx = Context("COMMAND_EXECUTION_ERROR", "Error while executing command: bun run migrate")
        phase = Phase("BUILD", "FAILED" if done else "", contexts=(ctx,) if done else ())
        return Build(
            BID,
            "acme-migrations",
            status=status,
            current_phase="COMPLETED" if done else "BUILD",
            phases=(phase,),
            logs=LogLocation("/aws/codebuild/acme", "b1"),
            complete=done,
        )

    def get(self, build_id: str) -> Build:
        self.gets += 1
        snap = self.build()
        if snap.final and self.final_at is None:
            self.final_at = self.reads
        return snap

    def recent(self, project: str, limit: int) -> list[Build]:
        return [self.build()]

    def read_logs(self, logs: LogLocation, token: str | None) -> LogPage:
        self.reads += 1
        start = int(token or 0)
        page = self.lines[start : min(start + PAGE, self._visible())]
        events = tuple(LogEvent(1000 + start + i, line + "\n") for i, line in enumerate(page))
        return LogPage(events, str(start + len(page)))


def once(mode: str, lines: list[str]) -> dict[str, Any]:
    backend = Scripted(lines, step=max(1, len(lines) // 20))
    out = io.StringIO()
    rt = runtime_for(load_settings(RAW, env="t"), Console(out, io.StringIO(), color=False))
    rt.part(Services).backend = backend
    virtual = [0.0]
    rt.sleep = lambda seconds: virtual.__setitem__(0, virtual[0] + seconds)
    rt.monotonic = lambda: virtual[0]
    marks: dict[str, float] = {}
    diagnosis = FailureDiagnosis(rt, backend, checks_factory=None)

    def reread(build: Build, tail: list[str]) -> str | None:  # no ``line``: not fed
        return diagnosis(build, tail)

    hook: Any = diagnosis if mode == "stream" else reread

    class Timed:
        line = getattr(hook, "line", None)

        def __call__(self, build: Build, tail: list[str]) -> str | None:
            marks["hook_reads"] = backend.reads
            found = hook(build, tail)
            marks["printed"] = time.perf_counter()
            marks["printed_virtual"] = virtual[0]
            return found

    timed = Timed()
    if timed.line is None:
        del Timed.line
    rt.part(Services).on_failure = timed
    real_get = backend.get

    def get(build_id: str) -> Build:
        snap = real_get(build_id)
        if snap.final and "final" not in marks:
            marks["final"] = time.perf_counter()
            marks["final_virtual"] = virtual[0]
        return snap

    backend.get = get  # type: ignore[method-assign]
    try:
        builds.follow_build(rt, backend.build(), timeout=3600, owner=False)
    except SuiteError as err:
        assert err.remedy.startswith("The database did not answer"), err.remedy
    assert "Diagnosis of build" in out.getvalue()
    final_reads = backend.final_at or 0
    return {
        "drain_calls": int(marks["hook_reads"] - final_reads),
        "diagnosis_calls": int(backend.reads - marks["hook_reads"]),
        "lag_real_s": marks["printed"] - marks["final"],
        "lag_virtual_s": marks["printed_virtual"] - marks["final_virtual"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    lines = log_lines(args.lines)
    once("stream", log_lines(100))  # warm-up: the catalogue loaded and compiled once for both
    results: dict[str, list[dict[str, Any]]] = {"stream": [], "reread": []}
    for _ in range(args.runs):  # alternate, so both see the same load
        for mode in ("reread", "stream"):
            results[mode].append(once(mode, lines))
    summary = {
        mode: {
            "GetLogEvents after final status: drain": max(r["drain_calls"] for r in runs),
            "GetLogEvents after final status: diagnosis": max(r["diagnosis_calls"] for r in runs),
            "lag to diagnosis, real s (median)": round(
                statistics.median(r["lag_real_s"] for r in runs), 3
            ),
            "lag to diagnosis, virtual s (drain sleeps)": runs[0]["lag_virtual_s"],
        }
        for mode, runs in results.items()
    }
    print(json.dumps({"lines": args.lines, "runs": args.runs, **summary}, indent=2))


if __name__ == "__main__":
    main()
