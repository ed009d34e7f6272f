"""Waiting for a build: adaptive status polling, the lossless log follower, progress, Ctrl-C.

One job: from a started ``Build`` to its final snapshot, with every log line printed once.

- Status polling adapts: ``status_quick`` after a phase change (seen in the status or in a
  CodeBuild "Entering phase" log line) and all through the short closing phases, growing by
  ``growth`` per idle poll up to ``status_cap``. Logs are read on their own cadence.
- Both cadences stretch by ``2 ** pressure`` while AWS throttles us; the pressure halves after
  every successful call, so the pace recovers (the official action slows down for good).
- Retries of single calls (throttling, network loss, expired credentials) live in
  ``tasks.codebuild.client.AwsCaller``; ``timeout`` bounds the whole wait (the build keeps running).
- Ctrl-C or SIGTERM: the command that STARTED the build (``owner``) stops it, waits for
  STOPPED, drains the logs and returns the stopped build, so the caller exits with the STOPPED
  code. A follower (``build.wait``, ``build.logs --follow``) only detaches: it never stops a
  build it did not start, says the build runs on, and exits 130.
- A refused StopBuild names the build, says it is still running and how to stop it.

Side effects (sleep, clocks, console, backend) are injected; nothing here imports boto3.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from ..core.console import Console, wants_color
from ..core.errors import AwsAuthError, AwsError, ExitCode, SuiteError
from .logs import LogFollower
from .model import (
    FAILED,
    FAULT,
    STOPPED,
    SUCCEEDED,
    TIMED_OUT,
    Build,
    BuildBackend,
    BuildUnsuccessful,
    WaitTimedOut,
)

# After BUILD, CodeBuild runs through these in seconds: poll quickly, the end is near.
CLOSING_PHASES = frozenset({"POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED"})

T = TypeVar("T")
FailureHook = Callable[[Build, list[str]], str | None]


class StreamedFailureHook(Protocol):
    """A failure hook that also reads the follower's stream, line by line, as it arrives
    (``line``), so that naming a failure needs no second download of the log."""

    def line(self, text: str) -> None: ...

    def __call__(self, build: Build, tail: list[str]) -> str | None: ...


@dataclass(frozen=True)
class PollPolicy:
    """Cadences in seconds. Defaults: <= ~45 API calls per build-minute, ~2 s to notice the end."""

    status_quick: float = 1.5
    closing: float = 1.0  # POST_BUILD..FINALIZING last seconds: the final status is imminent
    status_cap: float = 10.0
    logs_quick: float = 4.0
    logs_cap: float = 10.0
    growth: float = 1.6
    drain_interval: float = 0.75
    max_slowdown: float = 16.0
    stop_timeout: float = 300.0  # how long to wait for STOPPED after StopBuild
    complete_grace: float = 30.0  # final status but buildComplete still false: follow this long
    # after the final status, how long to keep reading for the agent's closing
    # "Phase complete:" line when CloudWatch has not delivered it yet
    closing_patience: float = 20.0


def still_running(build: Build, env_flag: str = "") -> str:
    """Where to see a build that keeps running and how to stop it (for error remedies)."""
    where = f"see it at {build.console_url} and " if build.console_url else ""
    return f"{where}stop it with `invoke build.stop {build.id}{env_flag}`"


def stop_refused(build: Build, err: SuiteError, env_flag: str = "") -> SuiteError:
    """StopBuild failed (AccessDenied or any error): the build goes on migrating, so say so."""
    why = str(err.details.get("aws_code") or "") or err.message
    return SuiteError(
        f"StopBuild was refused for build {build.id} ({why}): the build is still running",
        f"{still_running(build, env_flag)} with credentials allowed codebuild:StopBuild",
        code=err.code,
        details={"id": build.id, "console_url": build.console_url, "stop_error": err.message},
    )


def stop_then_poll(
    backend: BuildBackend,
    build: Build,
    policy: PollPolicy,
    *,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
    patience: float | None = None,
    env_flag: str = "",
) -> Build:
    """The one stop-then-poll (Ctrl-C in a wait, ``build.stop``): StopBuild, then a status read
    every ``policy.status_quick`` seconds until the build is final or ``patience`` seconds
    (default ``policy.stop_timeout``) have passed. Returns the last snapshot, final or not: the
    caller says what "not stopped yet" means. StopBuild answers with the build itself (STOPPED
    at once, or the final status of a build that ended meanwhile), and an answer that is
    already final is trusted without a read. A refused StopBuild raises ``stop_refused``; a
    KeyboardInterrupt passes through to the caller."""
    try:
        current = backend.stop(build.id)
    except SuiteError as err:
        raise stop_refused(build, err, env_flag) from None
    deadline = monotonic() + (policy.stop_timeout if patience is None else patience)
    while not current.final and monotonic() < deadline:
        sleep(policy.status_quick)
        current = backend.get(build.id)
    return current


# Phases the build container runs; the agent closes each with a "Phase complete:" log line.
_CONTAINER_PHASES = frozenset(
    {"DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS"}
)


def closing_phase(build: Build, completed: list[str]) -> str | None:
    """The phase whose ``Phase complete:`` line must still arrive before the log is whole.

    CodeBuild's agent writes it before ``buildComplete``, but CloudWatch may deliver it seconds
    later. Only for builds whose container ran to its end (SUCCEEDED/FAILED: a stopped or timed
    out container may be killed mid-line), and only for logs that carry such lines at all."""
    if build.status not in (SUCCEEDED, FAILED) or not completed:
        return None
    ran = [p.name for p in build.phases if p.name in _CONTAINER_PHASES and p.status]
    return ran[-1] if ran else None


def logs_elsewhere(build: Build) -> str:
    """What to say, at once, when the project keeps no CloudWatch log of this build."""
    logs = build.logs
    if logs.s3:
        link = f" ({logs.s3_link})" if logs.s3_link else ""
        where = f"its log goes to S3 only: s3://{logs.s3.removeprefix('arn:aws:s3:::')}{link}"
    else:
        where = "and S3 logs are off too, so no log of it is kept"
    return (
        f"CloudWatch Logs are DISABLED for project {build.project}: {where}; following the "
        f"status of {build.id} only (enable cloudWatchLogs in the project's logsConfig to "
        "see its lines here; `invoke doctor` checks it)"
    )


def fmt_seconds(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, sec = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_text(build: Build, now: float) -> str:
    """``BUILD 42s (total 1m10s) | SUBMITTED 0s QUEUED 1s PROVISIONING 23s ...``"""
    current = next((p for p in reversed(build.phases) if p.name == build.current_phase), None)
    here = fmt_seconds(current.elapsed(now)) if current else "-"
    total = build.duration(now)
    done = " ".join(
        f"{p.name} {fmt_seconds(p.elapsed(now))}" for p in build.phases if p is not current
    )
    total_text = f" (total {fmt_seconds(total)})" if total is not None else ""
    return f"{build.id}: {build.current_phase} {here}{total_text}" + (f" | {done}" if done else "")


_REMEDIES = {
    FAILED: "read the log above (`invoke build.logs {id}{env}`); "
    "`invoke diagnose -b {id}{env}` names the cause",
    FAULT: "CodeBuild itself failed; retry, and if it repeats check the AWS Health Dashboard "
    "(`invoke diagnose -b {id}{env}` for details)",
    TIMED_OUT: "the build ran past the project's timeout: find the slow step in the log, or "
    "raise timeoutInMinutes (`invoke setup`)",
    # the initiator is who STARTED the build (CodeBuild does not say who stopped it)
    STOPPED: "the build was stopped (StopBuild{initiator}); start it again when ready",
}


# Phases before the build container starts: a failure here leaves no log stream at all.
_BEFORE_CONTAINER = frozenset({"SUBMITTED", "QUEUED", "PROVISIONING"})


def _no_container_remedy(code: str, env: str) -> str:
    flag = f" --env {env}" if env else ""
    if code.startswith("VPC"):
        # CodeBuild sets up the build's network interface in QUEUED/PROVISIONING
        return (
            "CodeBuild could not set up the build's VPC network (no log exists, the container "
            "never started): check the project's subnets and security groups and the service "
            f"role's ec2:CreateNetworkInterface* permissions with `invoke doctor{flag}`"
        )
    return (
        "the build failed before its container started, so there is no log: check the "
        f"project's environment (image, service role, compute) with `invoke doctor{flag}`"
    )


def outcome_error(build: Build, diagnosis: str | None = None, env: str = "") -> BuildUnsuccessful:
    """The one-line failure for a final, unsuccessful build, naming the phase and its reason.

    ``env`` (the ``--env`` of the run) makes the suggested commands copy-pasteable."""
    phase = build.failed_phase()
    where = f" in phase {phase.name}" if phase else ""
    reason = ""
    if phase and phase.contexts:
        ctx = phase.contexts[0]
        reason = ": " + ": ".join(x for x in (ctx.status_code, ctx.message) if x)
    if phase and phase.name in _BEFORE_CONTAINER and build.status != STOPPED:
        code = phase.contexts[0].status_code if phase.contexts else ""
        return BuildUnsuccessful(
            build,
            f"build {build.id} {build.status}{where}{reason}",
            diagnosis or _no_container_remedy(code, env),
            details=build.as_dict(),
        )
    remedy = diagnosis or _REMEDIES.get(build.status, _REMEDIES[FAILED]).format(
        id=build.id,
        initiator=f" on a build started by {build.initiator}" if build.initiator else "",
        env=f" --env {env}" if env else "",
    )
    return BuildUnsuccessful(
        build,
        f"build {build.id} {build.status}{where}{reason}",
        remedy,
        details=build.as_dict(),
    )


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (CI cancelling a job) behaves like Ctrl-C while waiting."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Waiter:
    """Follows one build to its end. ``wait`` returns the final snapshot (any status)."""

    def __init__(
        self,
        backend: BuildBackend,
        console: Console,
        *,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
        now: Callable[[], float],
        policy: PollPolicy | None = None,
        pressure: Callable[[], float] = lambda: 0.0,
        timeout: float | None = None,
        env: str = "",
        owner: bool = True,
        readers: Sequence[Callable[[str], None]] = (),
    ) -> None:
        self.backend = backend
        self.owner = owner  # this run started the build: Ctrl-C stops it (else: detach)
        self.env_flag = f" --env {env}" if env else ""  # copy-pasteable follow-up commands
        self.console = console
        self.sleep = sleep
        self.monotonic = monotonic
        self.now = now
        self.policy = policy or PollPolicy()
        self.pressure = pressure
        self.reads_logs = True  # False once a build turns out to keep no CloudWatch log
        self.timeout = timeout
        self.follower = LogFollower(backend, console.log, readers=readers)
        self.polls = 0
        self.interrupted = False
        self._final_seen: float | None = None
        self._live = not console.json_mode and wants_color(console.human)

    def _slow(self) -> float:
        return float(min(2.0 ** self.pressure(), self.policy.max_slowdown))

    def wait(self, build: Build, *, interrupted: bool = False) -> Build:
        """``interrupted``: a Ctrl-C already came (while the build was being started)."""
        if self.reads_logs and build.logs.cloudwatch_disabled:
            self.console.warn(logs_elsewhere(build))  # at once, rather than wait in silence
            self.reads_logs = False
        with sigterm_as_interrupt():
            try:
                if interrupted:
                    raise KeyboardInterrupt
                final = self._loop(build)
            except KeyboardInterrupt:
                if not self.owner:  # never stop a build this run did not start
                    raise self._detached(build) from None
                self.interrupted = True  # this run stopped the build: no cause to look for
                final = self._interrupted(build)
            except AwsAuthError as err:  # credentials expired (after a refresh) or refused
                raise self._lost_credentials(build, err) from None
            if self.reads_logs:
                self.follower.drain(
                    final.logs,
                    self.sleep,
                    interval=self.policy.drain_interval,
                    expect=closing_phase(final, self.follower.completed),
                    patience=self.policy.closing_patience,
                )
        return final

    def _lost_credentials(self, build: Build, err: AwsAuthError) -> SuiteError:
        """Mid-wait, AWS stopped accepting our credentials: the build runs on regardless."""
        return AwsAuthError(
            f"{err.message.rstrip('.')}; build {build.id} is still running",
            f"{err.remedy.rstrip('.')}; then follow it again with "
            f"`invoke build.wait {build.id}{self.env_flag}`",
            details={**err.details, "id": build.id, "console_url": build.console_url},
        )

    def _loop(self, build: Build) -> Build:
        p = self.policy
        start = self.monotonic()
        # when each read last ran and its base interval; the throttling slowdown is applied
        # when deciding, so a decayed pressure shortens a wait that was planned under it
        status_at = logs_at = start - 1e9
        status_iv, logs_iv = p.status_quick, p.logs_quick
        current, seen = build, (build.current_phase, len(build.phases))
        while True:
            clock = self.monotonic()
            if self.timeout is not None and clock - start >= self.timeout:
                raise self._timed_out(current)
            if clock >= status_at + status_iv * self._slow():
                status_at = clock
                fresh = self._read_unless_unreachable(partial(self.backend.get, build.id))
                if fresh is None:  # unreachable for now: try again at the idle pace
                    status_iv = p.status_cap
                else:
                    current = fresh
                    self.polls += 1
                    if current.final and (current.complete or self._grace_over(current)):
                        return current
                    status_iv = self._next_status(current, seen, status_iv)
                    seen = (current.current_phase, len(current.phases))
            if self.reads_logs and clock >= logs_at + logs_iv * self._slow():
                logs_at = clock
                got = self._read_unless_unreachable(partial(self.follower.round, current.logs))
                if got is None:
                    logs_iv = p.logs_cap
                else:
                    if got.phase_marks:  # the log saw a phase change before the status did
                        status_iv = min(status_iv, p.status_quick)
                    logs_iv = p.logs_quick if got.lines else min(logs_iv * p.growth, p.logs_cap)
            due = status_at + status_iv * self._slow()
            if self.reads_logs:
                due = min(due, logs_at + logs_iv * self._slow())
            pause = max(0.05, due - self.monotonic())
            if self.timeout is not None:
                pause = max(0.0, min(pause, start + self.timeout - self.monotonic()))
            self.sleep(pause)

    def _next_status(self, current: Build, seen: tuple[str, int], interval: float) -> float:
        p = self.policy
        if (current.current_phase, len(current.phases)) != seen:
            self.console.progress(progress_text(current, self.now()))
            return p.status_quick
        if self._live:  # a terminal: the line rewrites itself, so keep the clock ticking
            self.console.progress(progress_text(current, self.now()))
        if current.current_phase in CLOSING_PHASES or current.final:
            return p.closing
        return min(interval * p.growth, p.status_cap)

    def _grace_over(self, build: Build) -> bool:
        """A final status with ``buildComplete`` still false: CodeBuild is still wrapping up
        (and flushing logs), so keep following for up to ``complete_grace`` seconds."""
        if self._final_seen is None:
            self._final_seen = self.monotonic()
        return self.monotonic() - self._final_seen >= self.policy.complete_grace

    def _read_unless_unreachable(self, fn: Callable[[], T]) -> T | None:
        """Run one read; if AWS stayed unreachable or throttling through every retry, say so
        and return None: the build runs on, so the wait goes on (``--timeout`` still bounds it).
        """
        try:
            return fn()
        except AwsError as err:
            if not err.details.get("retryable"):
                raise
            self.console.warn(f"{err.message}; still waiting (the build is unaffected)")
            return None

    def _timed_out(self, build: Build) -> WaitTimedOut:
        minutes = (self.timeout or 0) / 60
        return WaitTimedOut(
            f"build {build.id} is still {build.status} in {build.current_phase} after the "
            f"{minutes:g}-minute --timeout (the build keeps running)",
            f"follow it with `invoke build.wait {build.id}{self.env_flag}`, or stop it with "
            f"`invoke build.stop {build.id}{self.env_flag}`",
            details=build.as_dict(self.now()),
        )

    def _detached(self, build: Build) -> SuiteError:
        """Ctrl-C on a follower: leave, and say the build runs on (exit 130)."""
        return SuiteError(
            f"interrupted: stopped following build {build.id}; the build is still running "
            "(this command did not start it, so it did not stop it)",
            f"follow it again with `invoke build.wait {build.id}{self.env_flag}`, or "
            + still_running(build, self.env_flag),
            code=ExitCode.INTERRUPTED,
            details={"id": build.id, "console_url": build.console_url},
        )

    def _interrupted(self, build: Build) -> Build:
        """Ctrl-C: stop the build, wait until CodeBuild says STOPPED (or another final status)."""
        self.console.warn(f"interrupted: stopping build {build.id} (Ctrl-C again to leave now)")
        try:
            current = stop_then_poll(
                self.backend,
                build,
                self.policy,
                sleep=self.sleep,
                monotonic=self.monotonic,
                env_flag=self.env_flag,
            )
        except KeyboardInterrupt:
            raise SuiteError(
                f"interrupted again while build {build.id} was stopping",
                f"check it with `invoke build.wait {build.id}{self.env_flag}`",
                code=ExitCode.INTERRUPTED,
            ) from None
        if not current.final:
            raise SuiteError(
                f"build {build.id} did not reach STOPPED within "
                f"{fmt_seconds(self.policy.stop_timeout)} of StopBuild",
                f"check it with `invoke build.wait {build.id}{self.env_flag}`",
                code=ExitCode.BUILD_STOPPED,
            )
        return current


def finish(
    build: Build,
    tail: list[str],
    on_failure: FailureHook | None = None,
    env: str = "",
) -> Build:
    """Raise the status's ``BuildUnsuccessful`` unless the build SUCCEEDED."""
    if build.status == SUCCEEDED:
        return build
    diagnosis = on_failure(build, tail) if on_failure else None
    raise outcome_error(build, diagnosis, env)


__all__ = [
    "CLOSING_PHASES",
    "PollPolicy",
    "Waiter",
    "closing_phase",
    "finish",
    "logs_elsewhere",
    "outcome_error",
    "progress_text",
    "still_running",
    "stop_refused",
    "stop_then_poll",
]
