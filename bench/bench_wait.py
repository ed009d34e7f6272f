"""Benchmark: following a CodeBuild build, the suite vs the official GitHub Action's way.

Both followers run in this process against moto over HTTP (``ThreadedMotoServer``) with the
same scripted build (``tests/helpers/scripted_codebuild.py``): real phase names, the final
status, log lines written into moto's CloudWatch Logs as the build's clock passes them, and a
few lines that arrive after the final status.

Time is virtual: every ``sleep`` of a follower advances a shared clock instantly, and the
scripted build reads that clock, so a 30 s poll costs no real time. API calls are real HTTP
requests; their real duration is added to the measured latency. Nothing is scaled.

Measured per run:
- latency: from the build's final status to the follower's return (virtual sleeps after the
  final status + real time spent in calls after it);
- API calls per build-minute: every request the follower sent (StartBuild, the guard's
  look-up, BatchGetBuilds, GetLogEvents), divided by the build's duration in minutes;
- lines lost and duplicated, and whether the order held.

The reference follower does what ``aws-actions/aws-codebuild-run-build`` (code-build.js) does:
every 30 s one BatchGetBuilds and one GetLogEvents page (startFromHead, then nextForwardToken);
it returns once the build has an endTime and two reads in a row brought no events.

Run: ``python bench/bench_wait.py [--runs 9] [--lines 2000] [--big 100000]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.core.aws import AwsFactory  # noqa: E402
from tasks.core.commands import CommandRunner  # noqa: E402
from tasks.core.config import load_settings, load_yaml_file  # noqa: E402
from tasks.core.console import Console  # noqa: E402
from tasks.core.runtime import Runtime  # noqa: E402
from tasks.release import collaborators, db_actions  # noqa: E402
from tasks.release.state import ReleaseState  # noqa: E402
from tasks.wiring import wire  # noqa: E402
from tests.helpers.scripted_codebuild import (  # noqa: E402
    PHASES,
    Script,
    ScriptedCodeBuild,
    VirtualClock,
    codebuild_lines,
)

PROJECT = "daadaar-migrations"
PINNED = "123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend@sha256:" + "ab" * 32


@dataclass
class Outcome:
    follower: str
    lines: int
    build_seconds: float
    latency: float
    calls: int
    lost: int
    duplicated: int
    in_order: bool

    @property
    def calls_per_minute(self) -> float:
        return self.calls / (self.build_seconds / 60.0)


class Timer:
    """Virtual seconds after the final status + real seconds spent in calls after it."""

    def __init__(self, clock: VirtualClock, final_at: float) -> None:
        self.clock = clock
        self.final_at = final_at
        self.real_mark: float | None = None
        clock.hooks.append(self._tick)

    def _tick(self, now: float) -> None:
        if self.real_mark is None and now >= self.final_at:
            self.real_mark = time.perf_counter()

    def latency(self) -> float:
        virtual = max(0.0, self.clock.t - self.final_at)
        real = time.perf_counter() - self.real_mark if self.real_mark is not None else 0.0
        return virtual + real


def make_script(
    n_lines: int, rng: random.Random, build: float = 60.0, late_tail: int = 0
) -> tuple[Script, list[str]]:
    """The default phases (PROVISIONING 20 s ...), BUILD ``build`` s; both jittered +-20 %.

    ``late_tail``: that many last lines (the agent's closing ``Phase complete`` lines among
    them) reach CloudWatch 3 s after the final status and after ``buildComplete``."""
    phases = tuple(
        (
            name,
            (build if name == "BUILD" else d) * rng.uniform(0.8, 1.2)
            if name in ("PROVISIONING", "BUILD")
            else d,
        )
        for name, d in PHASES
    )
    script = Script(phases=phases, late_tail=late_tail, late_delay=3.0 if late_tail else 0.0)
    body = [f"migrate: step {i:06d} ok" for i in range(n_lines)]
    late = [f"late line {i}" for i in range(3)]
    script.lines = codebuild_lines(script, body, late=late)
    return script, [message for _, message in script.lines]


def score(expected: list[str], printed: list[str]) -> tuple[int, int, bool]:
    want, got = Counter(expected), Counter(printed)
    lost = sum((want - got).values())
    duplicated = sum((got - want).values())
    return lost, duplicated, printed == expected


def _runtime(clock: VirtualClock) -> tuple[Runtime, io.StringIO, list[str]]:
    raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
    settings = load_settings(raw, env="prod", environ=dict(os.environ))
    out = io.StringIO()
    console = Console(out=out, err=io.StringIO(), color=False)
    rt = Runtime(
        settings,
        console,
        AwsFactory(settings),
        CommandRunner(console.redactor, {}),
        console.redactor,
        dict(os.environ),
        sleep=clock.sleep,
        now=clock.now,
        monotonic=clock.monotonic,
    )
    wire(rt)
    rt.part(ReleaseState).pinned = PINNED
    calls: list[str] = []
    for service in ("codebuild", "logs"):
        collaborators.suite_clients(rt)(service).meta.events.register(
            f"before-call.{service}.*", lambda model, **_: calls.append(model.name)
        )
    return rt, out, calls


def _fake(clock: VirtualClock, seed: int, empty: float) -> ScriptedCodeBuild:
    fake = ScriptedCodeBuild(clock.now).install()
    fake.projects.add(PROJECT)
    fake.empty_page_rate = empty
    fake.rng = random.Random(seed)
    return fake


def follow_suite(
    n_lines: int, seed: int, build: float = 60.0, empty: float = 0.0, late_tail: int = 0
) -> Outcome:
    clock = VirtualClock()
    fake = _fake(clock, seed, empty)
    script, expected = make_script(n_lines, random.Random(seed), build, late_tail)
    fake.scripts = [script]
    try:
        rt, out, calls = _runtime(clock)
        timer = Timer(clock, clock.t + script.duration)
        rt.part(ReleaseState).invocation_id = f"bench-{seed}"
        db_actions.run_action(rt, "migrate", yes=True)
        latency = timer.latency()
    finally:
        fake.uninstall()
    marker_free = [
        x
        for x in out.getvalue().splitlines()
        if x.startswith(("migrate:", "late line", "[Container]"))
    ]
    lost, dup, ordered = score(expected, marker_free)
    return Outcome("suite", n_lines, script.duration, latency, len(calls), lost, dup, ordered)


def follow_official_action(
    n_lines: int, seed: int, build: float = 60.0, empty: float = 0.0, late_tail: int = 0
) -> Outcome:
    """code-build.js: 30 s rounds of BatchGetBuilds + one GetLogEvents page."""
    import boto3
    from botocore.exceptions import ClientError

    clock = VirtualClock()
    fake = _fake(clock, seed, empty)
    script, expected = make_script(n_lines, random.Random(seed), build, late_tail)
    fake.scripts = [script]
    calls: list[str] = []
    printed: list[str] = []
    try:
        cb = boto3.client("codebuild", region_name="us-east-1")
        logs = boto3.client("logs", region_name="us-east-1")
        for client, service in ((cb, "codebuild"), (logs, "logs")):
            client.meta.events.register(
                f"before-call.{service}.*", lambda model, **_: calls.append(model.name)
            )
        timer = Timer(clock, clock.t + script.duration)
        build_id = cb.start_build(projectName=PROJECT)["build"]["id"]
        token: str | None = None
        empties = 0
        while True:
            clock.sleep(30.0)
            build = cb.batch_get_builds(ids=[build_id])["builds"][0]
            group = build.get("logs", {}).get("groupName")
            events: list[dict[str, Any]] = []
            if group:
                kwargs: dict[str, Any] = {
                    "logGroupName": group,
                    "logStreamName": build["logs"]["streamName"],
                    "startFromHead": True,
                }
                if token:
                    kwargs["nextToken"] = token
                try:
                    page = logs.get_log_events(**kwargs)
                    events = page["events"]
                    token = page["nextForwardToken"]
                except ClientError:
                    pass
            printed.extend(e["message"] for e in events)
            if build.get("endTime") and not events:
                empties += 1
                if empties >= 2:
                    break
            else:
                empties = 0
        latency = timer.latency()
    finally:
        fake.uninstall()
    lost, dup, ordered = score(expected, printed)
    return Outcome(
        "official action", n_lines, script.duration, latency, len(calls), lost, dup, ordered
    )


def summarise(results: list[Outcome]) -> dict[str, Any]:
    return {
        "runs": len(results),
        "lines": results[0].lines,
        "build_seconds_median": round(statistics.median(r.build_seconds for r in results), 1),
        "latency_median_s": round(statistics.median(r.latency for r in results), 2),
        "latency_max_s": round(max(r.latency for r in results), 2),
        "calls_per_build_minute_median": round(
            statistics.median(r.calls_per_minute for r in results), 1
        ),
        "lost": sum(r.lost for r in results),
        "duplicated": sum(r.duplicated for r in results),
        "in_order": all(r.in_order for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--lines", type=int, default=2000, help="lines of the typical build")
    parser.add_argument("--big", type=int, default=100_000, help="lines of the noisy build")
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    report: dict[str, Any] = {}
    scenarios = (
        ("typical", args.lines, 60.0, args.runs, 0.0, 0),  # ~1m45s build, 2,000 lines
        ("noisy", args.big, 60.0, 3, 0.0, 0),  # the same build writing 100,000 lines
        ("long-quiet", 500, 600.0, 3, 0.0, 0),  # a 10-minute migration that says little
        # CloudWatch's documented empty pages (more events behind a new token), 25 % of reads
        ("noisy+empty-pages", args.big, 60.0, 3, 0.25, 0),
        # the last 20 lines (the agent's closing Phase complete lines among them) reach
        # CloudWatch 3 s after the final status and after buildComplete
        ("late-closing-lines", args.lines, 60.0, args.runs, 0.0, 20),
    )
    try:
        for label, lines, build, n, empty, late in scenarios:
            pair = {}
            for name, fn in (("suite", follow_suite), ("official_action", follow_official_action)):
                results = [fn(lines, seed, build, empty, late) for seed in range(n)]
                pair[name] = summarise(results)
                report[f"{label}/{name}"] = pair[name]
                print(f"{label:18} {name:16} {json.dumps(pair[name])}", flush=True)
            ratio = pair["suite"]["latency_median_s"] / pair["official_action"]["latency_median_s"]
            report[f"{label}/latency_ratio_suite_vs_action"] = round(ratio, 3)
            print(f"{label:18} latency ratio suite/action = {ratio:.3f}", flush=True)
    finally:
        server.stop()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
