"""The build model shared by every runner: frozen dataclasses and the ``BuildBackend`` Protocol.

Two backends implement the Protocol: ``tasks.codebuild.client`` (AWS CodeBuild through boto3) and
``tasks.local.backend`` (the same buildspec run on this machine). Everything above them (the wait
loop, the lossless log follower, ``--json`` results, exit codes) speaks only this module's types,
so it works unchanged on both. Pure module: no boto3, docker or invoke.

Times are epoch seconds (float); log timestamps are epoch milliseconds (int) as CloudWatch
gives them. Statuses and phase names are CodeBuild's strings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote

from ..core.errors import ExitCode, SuiteError

# -- vocabulary ------------------------------------------------------------------------------

IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
FAULT = "FAULT"
TIMED_OUT = "TIMED_OUT"
STOPPED = "STOPPED"
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED})


class PhaseLike(Protocol):
    """What the failed-phase rule reads of a phase (``Phase`` here, the diagnosis's facts)."""

    @property
    def status(self) -> str | None: ...


PhaseT = TypeVar("PhaseT", bound=PhaseLike)


def failed_phases(phases: Sequence[PhaseT]) -> list[PhaseT]:
    """The one rule for the wait and the diagnosis: the phases that ended in something other
    than SUCCEEDED, in order (a phase without a status, None or empty, has not ended)."""
    return [p for p in phases if p.status and p.status != SUCCEEDED]


# CodeBuild's phase order (a build reports them in this order; COMPLETED is the last marker).
PHASE_ORDER = (
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
)

ACTIONS = ("migrate", "seed", "plan")  # plan: the exact status only (issue 14)
_SINCE_MARGIN_MS = 60_000  # the build host's clock against CodeBuild's startTime
PLAINTEXT = "PLAINTEXT"

# The exit code of each final build status (documented in README.md, 'Exit codes'; never renumber).
STATUS_EXIT: Mapping[str, ExitCode] = {
    SUCCEEDED: ExitCode.OK,
    FAILED: ExitCode.BUILD_FAILED,
    FAULT: ExitCode.BUILD_FAULT,
    TIMED_OUT: ExitCode.BUILD_TIMED_OUT,
    STOPPED: ExitCode.BUILD_STOPPED,
}


def exit_code_for(status: str) -> ExitCode:
    """The process exit code for a build's final status (unknown statuses: UNEXPECTED)."""
    return STATUS_EXIT.get(status, ExitCode.UNEXPECTED)


# -- data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Why a phase ended as it did (CodeBuild's ``phases[].contexts``)."""

    status_code: str
    message: str


@dataclass(frozen=True)
class Phase:
    """One phase of a build. ``status`` is None while the phase runs."""

    name: str
    status: str | None = None
    start: float | None = None
    end: float | None = None
    duration: float | None = None  # seconds, as reported; None while running
    contexts: tuple[Context, ...] = ()

    def elapsed(self, now: float) -> float:
        """Seconds spent in this phase so far (its duration once it has ended)."""
        if self.duration is not None:
            return float(self.duration)
        if self.start is None:
            return 0.0
        return max(0.0, (self.end if self.end is not None else now) - self.start)


@dataclass(frozen=True)
class EnvVar:
    """An environment variable override. Only PLAINTEXT values are ever sent by this suite."""

    name: str
    value: str
    type: str = PLAINTEXT


@dataclass(frozen=True)
class LogLocation:
    """Where a build's log lines live. ``stream`` may not exist yet while provisioning."""

    group: str = ""
    stream: str = ""
    deep_link: str = ""
    since: int = 0  # epoch ms no line can precede (GetLogEvents startTime); 0: not sent
    cloudwatch: str = "ENABLED"  # the project's logsConfig.cloudWatchLogs.status
    s3: str = ""  # logsConfig.s3Logs.location ("bucket/prefix") when S3 logs are enabled
    s3_link: str = ""

    @property
    def known(self) -> bool:
        return bool(self.group and self.stream)

    @property
    def cloudwatch_disabled(self) -> bool:
        """The project keeps no CloudWatch log: nothing will ever appear in a stream."""
        return self.cloudwatch.upper() == "DISABLED"


@dataclass(frozen=True)
class Build:
    """A snapshot of one build, as a backend reported it at one moment."""

    id: str
    project: str
    status: str = IN_PROGRESS
    current_phase: str = "SUBMITTED"
    phases: tuple[Phase, ...] = ()
    start: float | None = None
    end: float | None = None
    initiator: str = ""
    logs: LogLocation = field(default_factory=LogLocation)
    environment: tuple[EnvVar, ...] = ()  # the build's environment (incl. our overrides)
    exported_variables: tuple[tuple[str, str], ...] = ()
    complete: bool = False  # CodeBuild's buildComplete
    image: str = ""
    number: int | None = None
    console_url: str = ""

    @property
    def final(self) -> bool:
        """The status will not change any more (logs may still be arriving)."""
        return self.status in FINAL_STATUSES

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.status)

    @property
    def uuid(self) -> str:
        """The part after ``project:``, which CodeBuild uses as the log stream name."""
        return self.id.split(":", 1)[1] if ":" in self.id else self.id

    @property
    def action(self) -> str:
        """Which of our actions started it ('migrate', 'seed', 'migrate+seed', 'plan' or '')."""
        env = {v.name: v.value.lower() for v in self.environment}
        done = [
            a
            for a, key in (
                ("migrate", "RUN_MIGRATIONS"),
                ("seed", "RUN_SEED"),
                ("plan", "RUN_PLAN"),
            )
            if env.get(key) == "true"
        ]
        return "+".join(done)

    def duration(self, now: float) -> float | None:
        if self.start is None:
            return None
        return max(0.0, (self.end if self.end is not None else now) - self.start)

    def failed_phase(self) -> Phase | None:
        """The first phase that ended in something other than SUCCEEDED."""
        found = failed_phases(self.phases)
        return found[0] if found else None

    def failed_phase_names(self) -> list[str]:
        """The names of every phase that ended in something other than SUCCEEDED, in order."""
        return [p.name for p in failed_phases(self.phases)]

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        """The ``--json`` shape of a build."""
        return {
            "id": self.id,
            "project": self.project,
            "status": self.status,
            "current_phase": self.current_phase,
            "action": self.action,
            "initiator": self.initiator,
            "start": self.start,
            "end": self.end,
            "duration": self.duration(now) if now is not None else self.duration(self.end or 0.0),
            "phases": [
                {
                    "name": p.name,
                    "status": p.status,
                    "duration": p.duration
                    if p.duration is not None
                    else (p.elapsed(now) if now is not None else None),
                    "contexts": [
                        {"status_code": c.status_code, "message": c.message} for c in p.contexts
                    ],
                }
                for p in self.phases
            ],
            "logs": {
                "group": self.logs.group,
                "stream": self.logs.stream,
                "url": self.logs.deep_link,
            },
            "console_url": self.console_url,
            "image": self.image,
            "exported_variables": dict(self.exported_variables),
            "exit_code": int(self.exit_code) if self.final else None,
        }


@dataclass(frozen=True)
class LogEvent:
    """One log line. ``timestamp`` in epoch milliseconds."""

    timestamp: int
    message: str


@dataclass(frozen=True)
class LogPage:
    """One page of log events read forward from a token.

    ``next_token`` is the token to send next; a page whose ``next_token`` equals the token sent
    means "caught up for now". ``missing`` is True while the group or stream does not exist yet
    (a build still provisioning): not an error, the caller simply reads again later.
    """

    events: tuple[LogEvent, ...]
    next_token: str | None
    missing: bool = False


@dataclass(frozen=True)
class StartRequest:
    """Everything needed to start one build; built by pure code, sent by a backend."""

    project: str
    action: str  # "migrate" | "seed"
    env_overrides: tuple[EnvVar, ...]
    image: str  # the pinned image, registry/repo@sha256:...
    idempotency_token: str
    # Settings.build_timeout, sent as timeoutInMinutesOverride (None: the project's own);
    # the local runner ends the build TIMED_OUT after it too (None: 60)
    timeout_minutes: int | None = None
    # CodeBuild's automatic retry of a failed build would re-run a half-applied migration:
    # every start overrides the project's autoRetryLimit with this (0: never)
    auto_retry_limit: int = 0


# -- the interface both runners implement ---------------------------------------------------


@runtime_checkable
class BuildBackend(Protocol):
    """A place that runs builds: AWS CodeBuild or this machine.

    Every method raises ``SuiteError`` subclasses (never raw SDK errors) except for retryable
    conditions (throttling, transient network errors, expired credentials), which the wait loop
    classifies with ``tasks.core.retrying`` predicates and retries.
    """

    def start(self, request: StartRequest) -> Build:
        """Start a build; the same ``idempotency_token`` never starts a second one."""
        ...

    def get(self, build_id: str) -> Build:
        """The build's current snapshot (``BuildNotFound`` when the id is unknown)."""
        ...

    def stop(self, build_id: str) -> Build:
        """Ask the build to stop; returns the snapshot right after the request."""
        ...

    def running(self, project: str) -> list[Build]:
        """Builds of the project that are IN_PROGRESS now (the concurrency guard's look-up)."""
        ...

    def recent(self, project: str, limit: int) -> list[Build]:
        """The project's most recent builds, newest first."""
        ...

    def read_logs(self, logs: LogLocation, token: str | None) -> LogPage:
        """One page of events after ``token`` (None: from the start of the stream)."""
        ...


# -- errors ----------------------------------------------------------------------------------


class BuildNotFound(SuiteError):
    code = ExitCode.USAGE


class BuildUnsuccessful(SuiteError):
    """A build ended in FAILED/FAULT/TIMED_OUT/STOPPED; the exit code follows the status."""

    def __init__(self, build: Build, message: str, remedy: str, **kwargs: Any) -> None:
        super().__init__(message, remedy, code=exit_code_for(build.status), **kwargs)
        self.build = build


class WaitTimedOut(SuiteError):
    code = ExitCode.WAIT_TIMEOUT


# -- pure helpers ----------------------------------------------------------------------------


def epoch(value: object) -> float | None:
    """Epoch seconds from what CodeBuild's readers give: boto3's datetime, the CLI's epoch
    number (v1) or ISO 8601 text (v2 and saved files); None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def phase_from_api(raw: Mapping[str, Any]) -> Phase:
    """A ``Phase`` from one element of a build's ``phases`` (BatchGetBuilds, camelCase)."""
    duration = raw.get("durationInSeconds")
    status = raw.get("phaseStatus")
    return Phase(
        name=str(raw.get("phaseType") or ""),
        status=str(status) if status else None,
        start=epoch(raw.get("startTime")),
        end=epoch(raw.get("endTime")),
        duration=None if duration is None else float(duration),
        contexts=tuple(
            Context(str(c.get("statusCode") or ""), str(c.get("message") or ""))
            for c in raw.get("contexts") or ()
        ),
    )


def console_url(region: str, account: str, build_id: str) -> str:
    project = build_id.split(":", 1)[0]
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codebuild/{account}/projects/"
        f"{quote(project, safe='')}/build/{quote(build_id, safe='')}/?region={region}"
    )


def logs_url(region: str, group: str, stream: str) -> str:
    """The CloudWatch console's address of a log stream (its odd '$25'-escaping included)."""

    def esc(text: str) -> str:
        return quote(quote(text, safe=""), safe="").replace("%", "$")

    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{esc(group)}/log-events/{esc(stream)}"
    )


def build_from_api(raw: Mapping[str, Any], *, region: str, default_group: str = "") -> Build:
    """A ``Build`` from one element of BatchGetBuilds/StartBuild/StopBuild (camelCase, as boto3
    and the aws cli give it): the CodeBuild client's reader and a saved file's alike."""
    build_id = str(raw.get("id") or "")
    project = str(raw.get("projectName") or build_id.split(":", 1)[0])
    uuid = build_id.split(":", 1)[1] if ":" in build_id else build_id
    logs = raw.get("logs") or {}
    cw = logs.get("cloudWatchLogs") or {}
    s3 = logs.get("s3Logs") or {}
    cw_status = str(cw.get("status") or "ENABLED")
    group = logs.get("groupName") or cw.get("groupName") or default_group
    group = group or f"/aws/codebuild/{project}"
    # CodeBuild names the stream after the build uuid, under an optional configured prefix
    stream = logs.get("streamName") or (
        f"{cw['streamName']}/{uuid}" if cw.get("streamName") else uuid
    )
    if cw_status.upper() == "DISABLED":  # S3 only (or nothing): there is no stream to read
        group = stream = ""
    start = epoch(raw.get("startTime"))
    arn = str(raw.get("arn", ""))
    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    env = raw.get("environment") or {}
    exported = raw.get("exportedEnvironmentVariables") or ()
    return Build(
        id=build_id,
        project=project,
        status=str(raw.get("buildStatus", "IN_PROGRESS")),
        current_phase=str(raw.get("currentPhase", "")),
        phases=tuple(phase_from_api(p) for p in raw.get("phases") or ()),
        start=start,
        end=epoch(raw.get("endTime")),
        initiator=str(raw.get("initiator", "")),
        logs=LogLocation(
            group,
            stream,
            logs_url(region, group, stream) if group and region else "",
            # a minute of margin for the build host's clock against CodeBuild's startTime
            since=int(start * 1000) - _SINCE_MARGIN_MS if start else 0,
            cloudwatch=cw_status,
            s3=str(s3.get("location") or "") if s3.get("status") == "ENABLED" else "",
            s3_link=str(logs.get("s3DeepLink") or ""),
        ),
        environment=tuple(
            EnvVar(str(v.get("name", "")), str(v.get("value", "")), str(v.get("type", "")))
            for v in env.get("environmentVariables") or ()
        ),
        exported_variables=tuple((str(v["name"]), str(v.get("value", ""))) for v in exported),
        complete=bool(raw.get("buildComplete", False)),
        image=str(env.get("image", "")),
        number=raw.get("buildNumber"),
        console_url=console_url(region, account, build_id) if account and region else "",
    )


def start_params(
    project: str,
    env_overrides: tuple[EnvVar, ...],
    *,
    timeout_minutes: int | None = None,
    auto_retry_limit: int = 0,
) -> dict[str, Any]:
    """The StartBuild parameters (all but the token), exactly as a backend sends them."""
    params: dict[str, Any] = {
        "projectName": project,
        "environmentVariablesOverride": [
            {"name": v.name, "value": v.value, "type": v.type} for v in env_overrides
        ],
        "autoRetryLimitOverride": auto_retry_limit,
    }
    if timeout_minutes:
        params["timeoutInMinutesOverride"] = timeout_minutes
    return params


def request_params(request: StartRequest) -> dict[str, Any]:
    """``start_params`` of a ``StartRequest``."""
    return start_params(
        request.project,
        request.env_overrides,
        timeout_minutes=request.timeout_minutes,
        auto_retry_limit=request.auto_retry_limit,
    )


def idempotency_token(
    project: str,
    action: str,
    image_digest: str,
    invocation_id: str,
    *,
    params: Mapping[str, Any] | None = None,
) -> str:
    """A stable token for one invocation: retries of the same StartBuild share it.

    Different invocations (a new ``invocation_id``) get a new token, so a deliberate second
    run is a second build, while a retry inside one run is never one. ``params`` (everything
    StartBuild sends) is part of it: CodeBuild refuses the same token with other parameters
    ("parameter mismatch"), so two different starts in one invocation (two seed scripts under
    one ``RELEASE_INVOCATION_ID``) must never share a token.
    """
    sent = json.dumps(dict(params or {}), sort_keys=True, separators=(",", ":"))
    material = "\0".join((project, action, image_digest, invocation_id, sent)).encode()
    return hashlib.sha256(material).hexdigest()[:48]


def overrides_for(action: str, image: str, seed_script: str | None = None) -> tuple[EnvVar, ...]:
    """The environment overrides for an action (all PLAINTEXT: no secret ever travels here)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    values = [
        EnvVar("RUN_MIGRATIONS", "true" if action == "migrate" else "false"),
        EnvVar("RUN_SEED", "true" if action == "seed" else "false"),
        EnvVar("IMAGE_URI", image),
    ]
    if action == "seed":
        values.append(EnvVar("SEED_SCRIPT", seed_script or ""))
    if action == "plan":  # the buildspec's RUN_PLAN=true path: the exact status, no migration
        values.append(EnvVar("RUN_PLAN", "true"))
    return tuple(values)


def digest_of(image: str) -> str:
    """``sha256:...`` from a pinned reference (``''`` when the reference is not pinned)."""
    return image.rsplit("@", 1)[1] if "@" in image else ""
