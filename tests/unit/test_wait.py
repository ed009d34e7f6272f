"""The wait loop: adaptive cadence, timeout, Ctrl-C, outcome errors, progress text."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from tasks.codebuild.model import Build, BuildUnsuccessful, Context, Phase, WaitTimedOut
from tasks.codebuild.wait import PollPolicy, Waiter, finish, outcome_error, progress_text
from tasks.core.console import Console
from tasks.core.errors import ExitCode
from tests.helpers.fake_backend import LOC, FakeBackend, build, lines
from tests.helpers.scripted_codebuild import VirtualClock

# The waits that read statuses only are the product's: a build whose project keeps no
# CloudWatch log (logsConfig.cloudWatchLogs.status DISABLED) is followed by its status alone.
NO_CLOUDWATCH = replace(LOC, cloudwatch="DISABLED")


def status_only(*args: object, **kw: object) -> Build:
    return build(*args, logs=NO_CLOUDWATCH, **kw)  # type: ignore[arg-type]


def _waiter(backend: FakeBackend, clock: VirtualClock, **kw: object) -> tuple[Waiter, io.StringIO]:
    out = io.StringIO()
    console = Console(out=out, err=io.StringIO(), color=False)
    waiter = Waiter(
        backend, console, sleep=clock.sleep, monotonic=clock.monotonic, now=clock.now, **kw
    )  # type: ignore[arg-type]
    return waiter, out


def test_polls_back_off_while_idle_and_are_capped() -> None:
    clock = VirtualClock(0.0)
    idle = [status_only()] * 40 + [status_only("SUCCEEDED", "COMPLETED", 11)]
    backend = FakeBackend(snapshots=idle)
    waiter, _ = _waiter(
        backend,
        clock,
        policy=PollPolicy(status_quick=1.0, status_cap=8.0, growth=2.0),
    )
    final = waiter.wait(idle[0])
    assert final.status == "SUCCEEDED"
    assert "logs" not in backend.calls
    gaps = clock.sleeps
    assert gaps[:4] == [2.0, 4.0, 8.0, 8.0]  # 1 * 2, 4, 8, then capped
    assert max(gaps) == 8.0


def test_phase_changes_poll_quickly_again() -> None:
    clock = VirtualClock(0.0)
    seq = (
        [status_only()] * 5
        + [status_only(phase="POST_BUILD", n_phases=8)] * 3
        + [status_only("SUCCEEDED", "COMPLETED", 11)]
    )
    backend = FakeBackend(snapshots=seq)
    waiter, out = _waiter(backend, clock, policy=PollPolicy(status_quick=1.0, growth=2.0))
    waiter.wait(seq[0])
    assert clock.sleeps[-3:] == [1.0, 1.0, 1.0]  # closing phases: stay quick
    assert "POST_BUILD" in out.getvalue()


def test_logs_are_followed_and_drained() -> None:
    clock = VirtualClock(0.0)
    seq = [build()] * 3 + [build("SUCCEEDED", "COMPLETED", 11)]
    backend = FakeBackend(snapshots=seq, events=lines(50), page_size=7)
    waiter, out = _waiter(backend, clock)
    waiter.wait(seq[0])
    printed = [x for x in out.getvalue().splitlines() if x.startswith("line ")]
    assert printed == [f"line {i}" for i in range(50)]


def test_throttling_pressure_stretches_the_cadence() -> None:
    clock = VirtualClock(0.0)
    seq = [status_only()] * 3 + [status_only("SUCCEEDED", "COMPLETED", 11)]
    backend = FakeBackend(snapshots=seq)
    waiter, _ = _waiter(
        backend,
        clock,
        policy=PollPolicy(status_quick=1.0, growth=1.0),
        pressure=lambda: 2.0,
    )
    waiter.wait(seq[0])
    assert clock.sleeps[0] == 4.0  # 1 s x 2**2


def test_timeout_bounds_the_wait_and_names_the_resume_command() -> None:
    clock = VirtualClock(0.0)
    backend = FakeBackend(snapshots=[status_only()])
    waiter, _ = _waiter(backend, clock, timeout=60.0, env="staging")
    with pytest.raises(WaitTimedOut) as info:
        waiter.wait(status_only())
    assert info.value.code == ExitCode.WAIT_TIMEOUT
    assert "`invoke build.wait proj:uuid-1 --env staging`" in info.value.remedy
    assert 60.0 <= clock.t <= 61.0
    assert "stop" not in backend.calls


def test_ctrl_c_stops_the_build_waits_for_stopped_and_drains() -> None:
    clock = VirtualClock(0.0)
    stopped = build("STOPPED", "COMPLETED", 11)

    def interrupt(n: object) -> None:
        if n == 3:
            raise KeyboardInterrupt

    backend = FakeBackend(
        snapshots=[build()],
        events=lines(5),
        after_stop=[build(), build(), stopped],
        on_get=[interrupt],
    )
    waiter, out = _waiter(backend, clock)
    final = waiter.wait(build())
    assert backend.stopped == ["proj:uuid-1"]
    assert final.status == "STOPPED"
    assert [x for x in out.getvalue().splitlines() if x.startswith("line")] == [
        f"line {i}" for i in range(5)
    ]
    with pytest.raises(BuildUnsuccessful) as info:
        finish(final, [])
    assert info.value.code == ExitCode.BUILD_STOPPED


def test_outcome_error_names_phase_and_reason() -> None:
    reason = Context("COMMAND_EXECUTION_ERROR", "bun run migrate: exit status 1")
    base = build("FAILED", "COMPLETED", 7)
    failed = replace(
        base, phases=(*base.phases[:-1], Phase("BUILD", "FAILED", 0.0, 5.0, 5.0, (reason,)))
    )
    err = outcome_error(failed)
    assert err.code == ExitCode.BUILD_FAILED
    assert "in phase BUILD: COMMAND_EXECUTION_ERROR: bun run migrate: exit status 1" in err.message
    assert "`invoke diagnose -b proj:uuid-1`" in err.remedy  # diagnose takes no positional id
    assert err.details["id"] == "proj:uuid-1" and err.details["status"] == "FAILED"
    # with the run's environment, every suggested command can be pasted as is
    local = outcome_error(failed, env="local").remedy
    assert "`invoke build.logs proj:uuid-1 --env local`" in local
    assert "`invoke diagnose -b proj:uuid-1 --env local`" in local


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("FAILED", ExitCode.BUILD_FAILED),
        ("FAULT", ExitCode.BUILD_FAULT),
        ("TIMED_OUT", ExitCode.BUILD_TIMED_OUT),
        ("STOPPED", ExitCode.BUILD_STOPPED),
    ],
)
def test_finish_maps_status_and_calls_the_failure_hook(status: str, code: ExitCode) -> None:
    seen: list[tuple[str, list[str]]] = []

    def hook(b: object, tail: list[str]) -> str:
        seen.append((status, tail))
        return "the cause and the fix"

    with pytest.raises(BuildUnsuccessful) as info:
        finish(build(status, "COMPLETED", 11), ["last line"], hook)
    assert info.value.code == code
    assert info.value.remedy == "the cause and the fix"
    assert seen == [(status, ["last line"])]


def test_finish_passes_success_through() -> None:
    ok = build("SUCCEEDED", "COMPLETED", 11)
    assert finish(ok, []) is ok


def test_progress_text_shows_each_phase_elapsed() -> None:
    text = progress_text(build(start=0.0), 75.0)
    assert text.startswith("proj:uuid-1: BUILD 1m15s (total 1m15s) | SUBMITTED 1s")


def test_a_final_status_before_build_complete_keeps_following() -> None:
    clock = VirtualClock(0.0)
    wrapping_up = build("SUCCEEDED", "COMPLETED", 11, complete=False)
    done = build("SUCCEEDED", "COMPLETED", 11, complete=True)
    backend = FakeBackend(snapshots=[build(), wrapping_up, wrapping_up, done], events=lines(2))

    def more_lines(n: object) -> None:
        if n == 3:  # CodeBuild flushes the last lines while it wraps up
            backend.events.extend(lines(2, start=2))

    backend.on_get.append(more_lines)
    waiter, out = _waiter(backend, clock)
    final = waiter.wait(build())
    assert final.complete
    assert [x for x in out.getvalue().splitlines() if x.startswith("line")] == [
        f"line {i}" for i in range(4)
    ]


def test_build_complete_never_coming_does_not_hang() -> None:
    clock = VirtualClock(0.0)
    backend = FakeBackend(snapshots=[status_only("FAILED", "COMPLETED", 11, complete=False)])
    waiter, _ = _waiter(backend, clock)
    assert waiter.wait(status_only()).status == "FAILED"
    assert clock.t <= 32.0


def test_stop_then_poll_trusts_a_final_stop_answer_and_polls_otherwise() -> None:
    """The one stop-then-poll behind Ctrl-C in a wait and ``build.stop``."""
    from tasks.codebuild.wait import stop_then_poll

    policy = PollPolicy(status_quick=0.5, stop_timeout=10.0)
    clock = VirtualClock(0.0)
    stopped = build("STOPPED", "COMPLETED", 11)
    answered = FakeBackend(snapshots=[build()], after_stop=[stopped])
    final = stop_then_poll(answered, build(), policy, sleep=clock.sleep, monotonic=clock.monotonic)
    assert final.status == "STOPPED" and answered.calls == ["stop", "get"]  # the answer's own get
    assert clock.t == 0.0  # no wait after a final answer

    slow = FakeBackend(snapshots=[build()], after_stop=[build(), build(), build(), stopped])
    final = stop_then_poll(slow, build(), policy, sleep=clock.sleep, monotonic=clock.monotonic)
    assert final.status == "STOPPED" and slow.calls.count("get") == 4
    assert clock.t == 1.5  # every policy.status_quick

    never = FakeBackend(snapshots=[build()], after_stop=[build()])
    start = clock.t
    final = stop_then_poll(
        never, build(), policy, sleep=clock.sleep, monotonic=clock.monotonic, patience=2.0
    )
    assert not final.final and clock.t - start == 2.0  # the caller says what that means


def test_stop_then_poll_says_a_refused_stop_leaves_the_build_running() -> None:
    from tasks.codebuild.wait import stop_then_poll
    from tasks.core.errors import AwsError, SuiteError

    class Refusing(FakeBackend):
        def stop(self, build_id: str) -> Build:
            raise AwsError("CodeBuild StopBuild: AccessDeniedException", "grant it")

    clock = VirtualClock(0.0)
    with pytest.raises(SuiteError) as info:
        stop_then_poll(
            Refusing(snapshots=[build()]),
            build(),
            PollPolicy(),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            env_flag=" --env prod",
        )
    assert "StopBuild was refused for build proj:uuid-1" in str(info.value)
    assert "`invoke build.stop proj:uuid-1 --env prod`" in info.value.remedy


def test_one_stop_then_poll_in_the_suite() -> None:
    """Only ``stop_then_poll`` calls a backend's ``stop`` (issue 13: the wait and build.stop
    each had their own StopBuild-then-poll loop)."""
    import ast
    from pathlib import Path

    callers = []
    for path in sorted(Path("tasks").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "stop"
                    and "backend" in ast.unparse(node.func.value)
                ):
                    callers.append(f"{path}:{func.name}")
    assert sorted(set(callers)) == ["tasks/codebuild/wait.py:stop_then_poll"]
