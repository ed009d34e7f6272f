"""The task's action and the wait-loop hook over an injected BuildBackend (no AWS)."""

from __future__ import annotations

import io
import json
import socket
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from tasks.codebuild.model import Build, Context, EnvVar, LogEvent, LogLocation, LogPage, Phase
from tasks.codebuild.services import Services
from tasks.core.config import load_settings
from tasks.core.console import Console
from tasks.core.errors import ExitCode, SuiteError
from tasks.core.runtime import Runtime
from tasks.diagnose import service
from tasks.diagnose.followups import network_path, run_followups
from tasks.diagnose.ranking import Finding
from tasks.diagnose.report import CheckResult
from tasks.wiring import runtime_for

RAW = {
    "environments": {
        "t": {
            "project": "acme-migrations",
            "region": "eu-west-1",
            "account": "123456789012",
            "repository": "acme-backend",
            "database_port": 6432,
        }
    }
}
LOG = [
    "[Container] 2024/07/12 01:21:53 Entering phase BUILD",
    "[Container] 2024/07/12 01:21:53 Running command docker run --rm -e DATABASE_URL img bun run migrate",
    "PostgresError: Connection timeout after 10s",
    ' code: "ERR_POSTGRES_CONNECTION_TIMEOUT"',
    "[Container] 2024/07/12 01:21:54 Phase complete: BUILD State: FAILED",
]


def build(bid: str, status: str, *, logs: bool = True) -> Build:
    phase = Phase(
        "BUILD",
        status,
        contexts=(
            Context(
                "COMMAND_EXECUTION_ERROR", "Error while executing command: x. Reason: exit status 1"
            ),
        ),
    )
    location = LogLocation("/aws/codebuild/acme", bid.split(":")[1]) if logs else LogLocation()
    return Build(
        bid,
        "acme-migrations",
        status=status,
        current_phase="COMPLETED",
        phases=(phase,),
        logs=location,
    )


class FakeBackend:
    def __init__(self, builds: list[Build], lines: list[str]) -> None:
        self.builds = builds
        self.lines = lines
        self.reads = 0

    def get(self, build_id: str) -> Build:
        return next(b for b in self.builds if b.id == build_id)

    def recent(self, project: str, limit: int) -> list[Build]:
        return self.builds[:limit]

    def read_logs(self, logs: LogLocation, token: str | None) -> LogPage:
        self.reads += 1
        start = int(token or 0)
        page = self.lines[start : start + 2]  # two events a page: exercises paging
        events = tuple(LogEvent(1000 + i, line + "\n") for i, line in enumerate(page))
        return LogPage(events, str(start + len(page)))


def runtime(backend: Any, json_mode: bool = False) -> tuple[Runtime, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    rt = runtime_for(
        load_settings(RAW, env="t"), Console(out, err, json_mode=json_mode, color=False)
    )
    rt.part(Services).backend = backend
    return rt, out, err


def no_checks(rt: Runtime) -> dict[str, Any]:
    return {}


def test_latest_failed_build_is_read_with_its_whole_log() -> None:
    backend = FakeBackend(
        [build("acme-migrations:b2", "SUCCEEDED"), build("acme-migrations:b1", "FAILED")], LOG
    )
    rt, out, _ = runtime(backend)
    result = service.run(rt, backend=rt.part(Services).build_backend("t"), checks_factory=no_checks)
    assert result["build"]["id"] == "acme-migrations:b1"
    top = result["findings"][0]
    assert top["id"] == "pg_connect_timeout"
    assert "TCP 6432" in top["fix"] and "acme-migrations" in top["fix"]  # the user's own values
    assert [e["line"] for e in top["evidence"]][:2] == [3, 4]
    assert "Diagnosis of build acme-migrations:b1 (FAILED in BUILD)" in out.getvalue()


def test_bare_uuid_is_completed_with_the_project() -> None:
    backend = FakeBackend([build("acme-migrations:b1", "FAILED")], LOG)
    rt, _, _ = runtime(backend)
    assert (
        service.run(
            rt,
            backend=rt.part(Services).build_backend("t"),
            build_id="b1",
            checks_factory=no_checks,
        )["build"]["id"]
        == "acme-migrations:b1"
    )


def test_no_match_prints_json_once_and_exits_with_its_code() -> None:
    backend = FakeBackend([build("acme-migrations:b1", "FAILED")], ["hello", "odd failure"])
    rt, out, _ = runtime(backend, json_mode=True)
    with pytest.raises(SuiteError) as caught:
        service.run(rt, backend=rt.part(Services).build_backend("t"), checks_factory=no_checks)
    assert caught.value.code == ExitCode.DIAGNOSE_NO_MATCH
    assert out.getvalue() == ""  # the one object is printed with the error, as for every task
    rt.console.error(caught.value)  # what tasks.cli.common.execute does with it
    data = json.loads(out.getvalue())
    assert data["ok"] is False and data["matched"] is False
    assert data["error"]["code"] == ExitCode.DIAGNOSE_NO_MATCH
    assert [f["id"] for f in data["findings"]] == ["cb_command_failed"]  # generic only: no match
    assert data["build"]["failed_phase"] == "BUILD"
    assert [line["text"] for line in data["last_lines"]] == ["hello", "odd failure"]


def test_failure_hook_prints_the_diagnosis_and_returns_the_fix() -> None:
    backend = FakeBackend([], LOG)
    rt, out, _ = runtime(backend)
    hook = service.failure_hook(rt, backend, checks_factory=None)
    remedy = hook(build("acme-migrations:b1", "FAILED"), ["tail only"])
    assert remedy is not None and remedy.startswith("The database did not answer")
    assert backend.reads >= 3  # re-read the whole log, not only the tail
    assert "pg_connect_timeout" in out.getvalue()


def test_failure_hook_falls_back_to_the_tail_without_a_log_location() -> None:
    rt, _, _ = runtime(FakeBackend([], []))
    hook = service.failure_hook(rt, rt.part(Services).build_backend("t"), checks_factory=None)
    assert hook(build("acme-migrations:b1", "FAILED", logs=False), ['error: Script not found "x"'])


def test_failure_hook_fed_by_the_stream_reads_no_log_again() -> None:
    """One stream, many readers: the lines the follower printed are the lines diagnosed."""
    backend = FakeBackend([], LOG)
    rt, out, _ = runtime(backend)
    hook = service.failure_hook(rt, backend, checks_factory=None)
    for line in LOG:
        hook.line(line)
    remedy = hook(build("acme-migrations:b1", "FAILED"), ["tail only"])
    assert remedy is not None and remedy.startswith("The database did not answer")
    assert backend.reads == 0 and hook.fed == len(LOG)
    assert "pg_connect_timeout" in out.getvalue()


def test_a_followed_build_that_fails_is_diagnosed_from_the_follower_s_stream() -> None:
    """build.wait on a failed build: after its final status, GetLogEvents is called only by the
    follower's drain; the diagnosis itself reads nothing."""
    from tasks.release import builds

    failed = build("acme-migrations:b1", "FAILED")
    backend = FakeBackend([failed], LOG)
    rt, out, _ = runtime(backend)
    clock = [0.0]  # a virtual clock: the drain's bounded waits pass without real time

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    rt.sleep = sleep
    rt.monotonic = lambda: clock[0]
    reads_at: list[int] = []

    class Recording(service.FailureDiagnosis):
        def __call__(self, b: Build, tail: list[str]) -> str | None:
            reads_at.append(backend.reads)
            found = super().__call__(b, tail)
            reads_at.append(backend.reads)
            return found

    rt.part(Services).on_failure = Recording(rt, backend, checks_factory=None)
    with pytest.raises(SuiteError) as caught:
        builds.follow_build(rt, failed, timeout=60, owner=False)
    assert caught.value.remedy.startswith("The database did not answer")
    assert len(reads_at) == 2 and reads_at[0] == reads_at[1]  # no read by the diagnosis
    text = out.getvalue()
    assert text.count("PostgresError: Connection timeout after 10s") >= 1
    assert "pg_connect_timeout" in text


def test_diagnose_build_for_the_wait_loop() -> None:
    rt, _, _ = runtime(FakeBackend([], []))
    pinned = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme-backend@sha256:" + "ab" * 32
    ran = replace(build("acme-migrations:b1", "FAILED"), environment=(EnvVar("IMAGE_URI", pinned),))
    report = service.diagnose_build(rt, ran, LOG)
    assert report.findings[0].id == "pg_connect_timeout"
    assert report.findings[0].values["build_image"] == pinned  # for the registry follow-up


def finding(followup: str, **values: str) -> Finding:
    return Finding("x", "t", "c", "f", "", (), "high", followup=followup, values=values)


def test_followups_run_once_and_never_fail_the_diagnosis() -> None:
    calls: list[str] = []

    def ok(f: Finding) -> list[CheckResult]:
        calls.append(f.id)
        return [CheckResult("image platforms", "pass", "fine")]

    def broken(f: Finding) -> list[CheckResult]:
        raise SuiteError("registry unreachable", "start it")

    findings = [finding("image_platforms"), finding("image_platforms"), finding("network_path")]
    results = run_followups(findings, {"image_platforms": ok, "network_path": broken})
    assert calls == ["x"]
    assert [c.status for c in results["x"]] in (["pass"], ["skipped"])


def test_network_path_hook_passes_the_port_to_doctor() -> None:
    listener = socket.socket()  # stands for the reachable AWS endpoint
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    seen: list[Any] = []

    class Check:
        id, status, message, fix = "database_path", "fail", "no inbound 6432 rule", "add it"

    def doctor(rt: Any, port: int | None) -> list[Any]:
        seen.append(port)
        return [Check()]

    session = SimpleNamespace(get_credentials=lambda: object())
    rt = SimpleNamespace(
        environ={},
        settings=SimpleNamespace(
            endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}", region="us-east-1"
        ),
        aws=SimpleNamespace(session=lambda: session),
    )
    with listener:
        results = network_path(rt, doctor)(finding("network_path", port="6432"))
    assert seen == [6432]
    assert results == [CheckResult("database_path", "fail", "no inbound 6432 rule", "add it")]


def test_a_build_still_running_has_not_failed_yet() -> None:
    running = replace(build("acme-migrations:b2", "IN_PROGRESS"), current_phase="BUILD")
    rt, _, _ = runtime(FakeBackend([running], LOG))
    with pytest.raises(SuiteError) as caught:
        service.run(
            rt,
            backend=rt.part(Services).build_backend("t"),
            build_id="acme-migrations:b2",
            checks_factory=no_checks,
        )
    assert caught.value.code == ExitCode.USAGE  # not DIAGNOSE_NO_MATCH: nothing failed
    assert "is still IN_PROGRESS (in BUILD): nothing has failed yet" in caught.value.message
    assert "`invoke build.wait acme-migrations:b2 --env t`" in caught.value.remedy


def test_stopped_build_whose_log_ran_no_command_says_so() -> None:
    log = ["[Container] 2024/07/12 01:21:53 Entering phase BUILD", "line 0"]
    rt, _, _ = runtime(FakeBackend([build("acme-migrations:b3", "STOPPED")], log))
    result = service.run(
        rt,
        backend=rt.part(Services).build_backend("t"),
        build_id="acme-migrations:b3",
        checks_factory=no_checks,
    )
    cause = next(f["cause"] for f in result["findings"] if f["id"] == "cb_build_stopped")
    assert "`(none in the log)`" in cause and "without the log" not in cause
