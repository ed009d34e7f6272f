"""A scripted CodeBuild inside moto's server (moto's own CodeBuild is unrealistic).

``ScriptedCodeBuild.install()`` patches moto's CodeBuild response handlers (in this process:
``ThreadedMotoServer`` serves from it) so StartBuild/BatchGetBuilds/StopBuild/
ListBuildsForProject follow a ``Script``: real phase names, timings, a final status with
``phases[].contexts``, ``buildComplete``, ``logs.groupName/streamName``, exported variables,
and AWS's idempotency-token behaviour. Log lines are written into moto's CloudWatch Logs as the
script's clock passes them (checked on every CodeBuild or GetLogEvents request), so lines also
arrive after the final status. The clock is injected: virtual for fast tests, real for
subprocess tests. Also ``FlakyProxy``: a TCP proxy in front of moto that can vanish.

It is a fake: every behaviour below follows AWS's documentation or a public report of the real
service, quoted where it is implemented, so tests check the suite against AWS rather than against
our own assumptions:

- StartBuild's idempotency token ("valid for 5 minutes. If you repeat the StartBuild request with
  the same token, but change a parameter, CodeBuild returns a parameter mismatch error");
- AccountLimitExceededException, for the project's concurrentBuildLimit and for the account's own
  build quota ("Cannot have more than 0 builds in queue for the account" on new accounts);
- StopBuild answers with the stopped build itself (``buildStatus: STOPPED``, as in the AWS CLI's
  stop-build example), and with the final status of a build that had already ended;
- VPC failures: ``CLIENT_ERROR`` / ``VPC_CLIENT_ERROR`` in QUEUED or PROVISIONING, no log stream;
- ``logs.cloudWatchLogs.status: DISABLED`` with S3 logs only: no group, no stream;
- the agent's closing lines reaching CloudWatch seconds after the final status (``late_tail``).
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PHASES = (
    ("SUBMITTED", 0.5),
    ("QUEUED", 1.0),
    ("PROVISIONING", 20.0),
    ("DOWNLOAD_SOURCE", 2.0),
    ("INSTALL", 5.0),
    ("PRE_BUILD", 3.0),
    ("BUILD", 60.0),
    ("POST_BUILD", 2.0),
    ("UPLOAD_ARTIFACTS", 1.0),
    ("FINALIZING", 2.0),
)
ACCOUNT = "123456789012"
REGION = "us-east-1"


class VirtualClock:
    """Time that moves only when the code under test sleeps (starts at the real epoch)."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else start
        self.sleeps: list[float] = []
        self.hooks: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self.t

    monotonic = now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)
        for hook in list(self.hooks):
            hook(self.t)


@dataclass
class Script:
    """What one build does. Times are seconds after StartBuild."""

    phases: tuple[tuple[str, float], ...] = PHASES
    final: str = "SUCCEEDED"
    failed_phase: str = "BUILD"
    context: tuple[str, str] = (
        "COMMAND_EXECUTION_ERROR",
        "Error while executing command: bun run src/db/migrate.ts. Reason: exit status 1",
    )
    lines: list[tuple[float, str]] = field(default_factory=list)
    exported: dict[str, str] = field(default_factory=dict)
    stop_delay: float = 3.0  # StopBuild -> the container stops writing
    # the last ``late_tail`` lines reach CloudWatch ``late_delay`` s after the final status
    # (and after buildComplete), keeping their own timestamps: ingestion lags the agent
    late_tail: int = 0
    late_delay: float = 0.0
    # a VPC failure: (phase, message) -> FAILED in that phase (QUEUED or PROVISIONING) with
    # phaseStatus CLIENT_ERROR and context VPC_CLIENT_ERROR, no container, so no log stream
    vpc_failure: tuple[str, str] | None = None
    # the project's logsConfig: CloudWatch DISABLED sends the log to S3 only
    cloudwatch: str = "ENABLED"
    s3_logs: str = ""  # "bucket/prefix" when S3 logs are enabled

    @property
    def duration(self) -> float:
        return sum(d for _, d in self.phases)

    def phase_start(self, name: str) -> float:
        t = 0.0
        for phase, d in self.phases:
            if phase == name:
                return t
            t += d
        raise KeyError(name)

    @property
    def failure_at(self) -> float | None:
        """When a VPC failure ends the build (the failing phase lasts 1 s)."""
        if self.vpc_failure is None:
            return None
        return self.phase_start(self.vpc_failure[0]) + 1.0

    @property
    def end(self) -> float:
        return self.failure_at if self.failure_at is not None else self.duration

    def arrival(self, index: int) -> float:
        """When line ``index`` reaches CloudWatch (its own time, or late for the tail)."""
        at = self.lines[index][0]
        if self.late_tail and index >= len(self.lines) - self.late_tail:
            return max(at, self.duration + self.late_delay)
        return at

    @property
    def log_start(self) -> float:
        """CodeBuild creates the stream when the container starts (after PROVISIONING)."""
        if self.vpc_failure is not None or self.cloudwatch != "ENABLED":
            return float("inf")  # no container ever started / nothing goes to CloudWatch
        return (
            self.phase_start("DOWNLOAD_SOURCE")
            if any(p == "DOWNLOAD_SOURCE" for p, _ in self.phases)
            else 0.0
        )


def codebuild_lines(
    script: Script, body: list[str], *, late: list[str] | None = None
) -> list[tuple[float, str]]:
    """CodeBuild-like log: phase markers, the body spread over BUILD, then late lines."""
    out: list[tuple[float, str]] = []
    for name, _ in script.phases:
        if name in ("SUBMITTED", "QUEUED", "PROVISIONING"):
            continue
        at = script.phase_start(name)
        out.append((at, f"[Container] Entering phase {name}"))
    build_at = script.phase_start("BUILD") + 0.01
    build_len = dict(script.phases)["BUILD"] - 0.02
    n = max(1, len(body))
    for i, line in enumerate(body):
        out.append((build_at + build_len * i / n, line))
    for name, _ in script.phases:
        if name in ("SUBMITTED", "QUEUED", "PROVISIONING"):
            continue
        end = script.phase_start(name) + dict(script.phases)[name] - 0.005
        state = (
            script.final
            if name == script.failed_phase and script.final != "SUCCEEDED"
            else "SUCCEEDED"
        )
        out.append((end, f"[Container] Phase complete: {name} State: {state}"))
    for i, line in enumerate(late or []):
        out.append((script.duration + 0.3 + 0.2 * i, line))
    out.sort(key=lambda x: x[0])
    return out


def _iso(epoch: float) -> str:
    from moto.core.utils import iso_8601_datetime_with_milliseconds

    return iso_8601_datetime_with_milliseconds(datetime.fromtimestamp(epoch, UTC))


@dataclass
class FakeBuild:
    id: str
    project: str
    number: int
    started: float
    script: Script
    env: list[dict[str, str]]
    token: str
    params: dict[str, Any] = field(default_factory=dict)  # the StartBuild request, for the token
    initiator: str = "release-suite-tests"
    stopped_at: float | None = None
    written: int = 0

    @property
    def uuid(self) -> str:
        return self.id.split(":", 1)[1]


class ScriptedCodeBuild:
    """Scripted builds served by moto's CodeBuild endpoints."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.projects: set[str] = set()
        self.builds: dict[str, FakeBuild] = {}
        self.scripts: list[Script] = []  # consumed by StartBuild, in order (last one repeats)
        self.requests: list[dict[str, Any]] = []  # StartBuild parameters, as received
        self.stops: list[str] = []
        self.lock = threading.RLock()
        self.refuse_concurrent = False  # emulate concurrentBuildLimit: 1
        self.account_queue_limit: int | None = None  # the account's quota (0 on new accounts)
        self.deny_stop = False  # the caller may not codebuild:StopBuild
        self.log_requests: list[dict[str, Any]] = []  # GetLogEvents parameters, as received
        self.empty_page_rate = 0.0  # share of GetLogEvents answered with an empty page
        self.rng = random.Random(0)
        self._saved: list[tuple[Any, str, Any]] = []

    # -- installation ----------------------------------------------------------------------
    def install(self) -> ScriptedCodeBuild:
        from moto.codebuild.responses import CodeBuildResponse
        from moto.logs.responses import LogsResponse

        fake = self

        def start_build(resp: Any) -> Any:
            return fake._start(resp)

        def batch_get_builds(resp: Any) -> Any:
            return fake._batch_get(resp)

        def stop_build(resp: Any) -> Any:
            return fake._stop(resp)

        def list_builds_for_project(resp: Any) -> Any:
            return fake._list(resp)

        original_get = LogsResponse.get_log_events

        def get_log_events(resp: Any) -> Any:
            fake.advance()
            token = resp._get_param("nextToken")
            fake.log_requests.append(
                {"nextToken": token, "startTime": resp._get_param("startTime")}
            )
            lucky = fake.empty_page_rate and fake.rng.random() < fake.empty_page_rate
            if token and token[2:].isdigit() and lucky:
                # CloudWatch may answer an empty page with a *new* token although more events
                # follow; moto never does. Same position (moto parses the int), new spelling.
                return json.dumps(
                    {
                        "events": [],
                        "nextForwardToken": token[:2] + "0" + token[2:],
                        "nextBackwardToken": "b/" + token[2:],
                    }
                )
            return original_get(resp)

        for owner, name, new in (
            (CodeBuildResponse, "start_build", start_build),
            (CodeBuildResponse, "batch_get_builds", batch_get_builds),
            (CodeBuildResponse, "stop_build", stop_build),
            (CodeBuildResponse, "list_builds_for_project", list_builds_for_project),
            (LogsResponse, "get_log_events", get_log_events),
        ):
            self._saved.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, new)
        return self

    def uninstall(self) -> None:
        for owner, name, old in reversed(self._saved):
            setattr(owner, name, old)
        self._saved.clear()

    # -- moto plumbing ---------------------------------------------------------------------
    @staticmethod
    def _logs() -> Any:
        from moto.logs.models import logs_backends

        return logs_backends[ACCOUNT][REGION]

    @staticmethod
    def _result(data: dict[str, Any]) -> Any:
        from moto.core.responses import ActionResult

        return ActionResult(data)

    @staticmethod
    def _error(code: str, message: str) -> Exception:
        from moto.core.exceptions import JsonRESTError

        return JsonRESTError(code, message)

    # -- handlers ----------------------------------------------------------------------------
    # StartBuild parameters that take part in the idempotency check (all but the token)
    _START_PARAMS = (
        "projectName",
        "environmentVariablesOverride",
        "timeoutInMinutesOverride",
        "autoRetryLimitOverride",
        "imageOverride",
        "buildspecOverride",
    )

    def _start(self, resp: Any) -> Any:
        project = resp._get_param("projectName")
        token = resp._get_param("idempotencyToken") or ""
        env = resp._get_param("environmentVariablesOverride") or []
        params = {k: resp._get_param(k) for k in self._START_PARAMS}
        with self.lock:
            self.requests.append({**params, "idempotencyToken": token})
            if project not in self.projects:
                raise self._error(
                    "ResourceNotFoundException", f"Project cannot be found: {project}"
                )
            for b in self.builds.values():
                # AWS (StartBuild, idempotencyToken): "A unique, case sensitive identifier you
                # provide to ensure the idempotency of the StartBuild request. The token is
                # included in the StartBuild request and is valid for 5 minutes. If you repeat
                # the StartBuild request with the same token, but change a parameter, CodeBuild
                # returns a parameter mismatch error."
                if token and b.token == token and self.clock() - b.started < 300:
                    if b.params != params:
                        # the error code is InvalidInputException; the message text is ours
                        # (weak: AWS documents "a parameter mismatch error", not its wording)
                        raise self._error(
                            "InvalidInputException",
                            "Idempotent request parameter mismatch for token " + token,
                        )
                    return self._result({"build": self._raw(b)})
            running = sum(1 for b in self.builds.values() if self._status(b)[0] == "IN_PROGRESS")
            if self.account_queue_limit is not None and running >= self.account_queue_limit:
                # the account's own quota, as users report it (weak source, public issues:
                # aws-samples/aws-secure-environment-accelerator#982, rebuy-de/aws-nuke#1209):
                # "Cannot have more than 0 builds in queue for the account"
                raise self._error(
                    "AccountLimitExceededException",
                    f"Cannot have more than {self.account_queue_limit} builds in queue for "
                    "the account",
                )
            if self.refuse_concurrent and any(
                b.project == project and self._status(b)[0] == "IN_PROGRESS"
                for b in self.builds.values()
            ):
                # concurrentBuildLimit (AWS, Project): "If the current build count meets this
                # limit, new builds are throttled and are not run." The refusal users report
                # is the same code and wording (weak: aws-gateway-load-balancer-suricata-ids-
                # ips-nsm#12): "Cannot have more than 1 builds in queue for the account"
                raise self._error(
                    "AccountLimitExceededException",
                    "Cannot have more than 1 builds in queue for the account",
                )
            script = (
                self.scripts.pop(0)
                if len(self.scripts) > 1
                else (self.scripts[0] if self.scripts else Script())
            )
            build = FakeBuild(
                id=f"{project}:{uuid.uuid4()}",
                project=project,
                number=len(self.builds) + 1,
                started=self.clock(),
                script=script,
                env=env,
                token=token,
                params=params,
            )
            self.builds[build.id] = build
            return self._result({"build": self._raw(build)})

    def _batch_get(self, resp: Any) -> Any:
        self.advance()
        ids = resp._get_param("ids") or []
        with self.lock:
            found = [self._raw(self.builds[i]) for i in ids if i in self.builds]
            missing = [i for i in ids if i not in self.builds]
        return self._result({"builds": found, "buildsNotFound": missing})

    def _stop(self, resp: Any) -> Any:
        build_id = resp._get_param("id")
        with self.lock:
            self.stops.append(build_id)
            b = self.builds.get(build_id)
            if self.deny_stop:
                # IAM's refusal (the AccessDeniedException wording every AWS JSON API uses)
                raise self._error(
                    "AccessDeniedException",
                    f"User: arn:aws:sts::{ACCOUNT}:assumed-role/release-ci/session is not "
                    f"authorized to perform: codebuild:StopBuild on resource: "
                    f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{build_id.split(':')[0]} "
                    "because no identity-based policy allows the codebuild:StopBuild action",
                )
            if b is None:
                raise self._error("ResourceNotFoundException", f"Build {build_id} not found")
            # The AWS CLI's stop-build example answers with the stopped build itself:
            # "buildStatus": "STOPPED", "currentPhase": "COMPLETED", the running phase
            # "phaseStatus": "STOPPED". A build that had already ended keeps its final status.
            if b.stopped_at is None and self._status(b)[0] == "IN_PROGRESS":
                b.stopped_at = self.clock()
            return self._result({"build": self._raw(b)})

    def _list(self, resp: Any) -> Any:
        project = resp._get_param("projectName")
        with self.lock:
            if project not in self.projects:
                raise self._error("ResourceNotFoundException", f"project {project} not found")
            ids = [
                b.id
                for b in sorted(self.builds.values(), key=lambda b: -b.number)
                if b.project == project
            ]
        return self._result({"ids": ids})

    # -- the script --------------------------------------------------------------------------
    def _status(self, b: FakeBuild) -> tuple[str, float]:
        """(status, seconds since start at which that status began or now)."""
        elapsed = self.clock() - b.started
        if b.stopped_at is not None:
            return "STOPPED", b.stopped_at - b.started
        failure = b.script.failure_at
        if failure is not None and elapsed >= failure:
            return "FAILED", failure
        if elapsed >= b.script.duration:
            return b.script.final, b.script.duration
        return "IN_PROGRESS", elapsed

    def _raw(self, b: FakeBuild) -> dict[str, Any]:
        status, at = self._status(b)
        final = status != "IN_PROGRESS"
        phases: list[dict[str, Any]] = []
        t = 0.0
        current = "COMPLETED"
        for name, d in b.script.phases:
            if t > at or (status == "STOPPED" and t >= at):
                break  # not started (yet, or ever: the build was stopped before)
            ends = t + d
            phase: dict[str, Any] = {"phaseType": name, "startTime": _iso(b.started + t)}
            phases.append(phase)
            if not final and ends > at:
                current = name  # running: no status, no end yet
                break
            phase_status = "SUCCEEDED"
            if status == "STOPPED" and ends > at:
                phase_status, ends = "STOPPED", at
            elif b.script.vpc_failure and name == b.script.vpc_failure[0]:
                # as reported by users of real builds (aws-ia/terraform-aws-control_tower_
                # account_factory#626): "PhaseStatus": "CLIENT_ERROR", "PhaseType": "QUEUED",
                # "Contexts": [{"Message": "Unexpected EC2 error: RequestLimitExceeded",
                # "StatusCode": "VPC_CLIENT_ERROR"}]
                phase_status, ends = "CLIENT_ERROR", at
                phase["contexts"] = [
                    {"statusCode": "VPC_CLIENT_ERROR", "message": b.script.vpc_failure[1]}
                ]
            elif status not in ("SUCCEEDED", "STOPPED") and name == b.script.failed_phase:
                phase_status = status
                phase["contexts"] = [
                    {"statusCode": b.script.context[0], "message": b.script.context[1]}
                ]
            phase.update(
                phaseStatus=phase_status,
                endTime=_iso(b.started + ends),
                durationInSeconds=round(ends - t),
            )
            if phase_status in ("STOPPED", "CLIENT_ERROR"):
                break
            t = ends
        if final:
            phases.append({"phaseType": "COMPLETED", "startTime": _iso(b.started + at)})
        raw: dict[str, Any] = {
            "id": b.id,
            "arn": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{b.id}",
            "buildNumber": b.number,
            "startTime": _iso(b.started),
            "currentPhase": "COMPLETED" if final else current,
            "buildStatus": status,
            "projectName": b.project,
            "phases": phases,
            "environment": {
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": b.env,
            },
            "logs": {"cloudWatchLogs": {"status": b.script.cloudwatch}},
            "initiator": b.initiator,
            "buildComplete": final,
        }
        if final:
            raw["endTime"] = _iso(b.started + at)
            if status == "SUCCEEDED" and b.script.exported:
                raw["exportedEnvironmentVariables"] = [
                    {"name": k, "value": v} for k, v in b.script.exported.items()
                ]
        if b.script.s3_logs:
            # S3LogsConfig.location (AWS): "If your Amazon S3 bucket name is my-bucket, and
            # your path prefix is build-log, then acceptable formats are my-bucket/build-log
            # or arn:aws:s3:::my-bucket/build-log."
            raw["logs"]["s3Logs"] = {"status": "ENABLED", "location": b.script.s3_logs}
            raw["logs"]["s3DeepLink"] = (
                f"https://s3.console.aws.amazon.com/s3/object/{b.script.s3_logs}/{b.uuid}.gz"
            )
        if b.written or self.clock() - b.started >= b.script.log_start:
            group = f"/aws/codebuild/{b.project}"
            raw["logs"].update(
                groupName=group,
                streamName=b.uuid,
                deepLink=f"https://console.aws.amazon.com/cloudwatch/home?region={REGION}"
                f"#logEvent:group={group};stream={b.uuid}",
            )
        return raw

    def advance(self) -> None:
        """Write every log line whose time has come into moto's CloudWatch Logs."""
        with self.lock:
            now = self.clock()
            for b in self.builds.values():
                self._write_due(b, now)

    def _write_due(self, b: FakeBuild, now: float) -> None:
        elapsed = now - b.started
        if b.stopped_at is not None:
            # a stopped build writes nothing after it stopped (but its late lines still come)
            cut = b.stopped_at - b.started + b.script.stop_delay
        else:
            cut = float("inf")
        lines = b.script.lines
        if elapsed < b.script.log_start:
            return
        logs = self._logs()
        group = f"/aws/codebuild/{b.project}"
        if group not in logs.groups:
            logs.create_log_group(group, {})
        if b.uuid not in logs.groups[group].streams:
            logs.create_log_stream(group, b.uuid)
        due: list[dict[str, Any]] = []
        i = b.written
        while i < len(lines) and b.script.arrival(i) <= elapsed:
            at, message = lines[i]
            if at <= cut or at > b.script.duration:
                due.append({"timestamp": int((b.started + at) * 1000), "message": message})
            i += 1
        b.written = i
        last = 0
        for start in range(0, len(due), 5000):
            chunk = due[start : start + 5000]
            for e in chunk:  # keep timestamps non-decreasing across our own writes
                e["timestamp"] = max(e["timestamp"], last)
                last = e["timestamp"]
            logs.put_log_events(group, b.uuid, chunk)

    # -- helpers for tests -------------------------------------------------------------------
    def only(self) -> FakeBuild:
        assert len(self.builds) == 1, f"expected exactly one build, found {len(self.builds)}"
        return next(iter(self.builds.values()))


def setup_project(fake: ScriptedCodeBuild, project: str) -> None:
    fake.projects.add(project)


# -- a TCP proxy that can vanish -------------------------------------------------------------


class FlakyProxy:
    """Forwards 127.0.0.1:<port> to moto. While ``down()`` is true every connection (new or
    pooled) is cut; ``drop_start_responses`` swallows that many StartBuild responses after
    moto has processed them (the 'request succeeded but the answer was lost' case)."""

    def __init__(self, upstream: str, down: Callable[[], bool] = lambda: False) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.down = down
        self.drop_start_responses = 0
        self.cut = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self.sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.down():
                self.cut += 1
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            client.close()
            return
        try:
            for request in self._requests(client):
                if self.down():
                    self.cut += 1
                    return
                drop = b"StartBuild" in request and self.drop_start_responses > 0
                if drop:
                    self.drop_start_responses -= 1
                upstream.sendall(request)
                response = self._read_response(upstream)
                if response is None:
                    return
                if drop or self.down():
                    self.cut += 1
                    return
                client.sendall(response)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    @staticmethod
    def _read_message(sock: socket.socket, buf: bytearray) -> bytes | None:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value.strip())
            if key.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        body = bytearray(rest)
        if chunked:
            while not body.endswith(b"0\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                body += chunk
            buf.clear()
            return head + b"\r\n\r\n" + bytes(body)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            body += chunk
        buf[:] = body[length:]
        return head + b"\r\n\r\n" + bytes(body[:length])

    def _requests(self, client: socket.socket) -> Iterator[bytes]:
        buf = bytearray()
        while True:
            message = self._read_message(client, buf)
            if message is None:
                return
            yield message

    def _read_response(self, upstream: socket.socket) -> bytes | None:
        return self._read_message(upstream, bytearray())


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def virtual_runtime(
    settings: Any, console: Any, clock: VirtualClock, environ: dict[str, str], **aws: Any
) -> Any:
    """A wired ``Runtime`` for the scripted CodeBuild: the suite's own AWS factory (``aws``:
    its options, e.g. ``max_attempts=1``) and command runner, sleeping and reading time on
    ``clock``."""
    from tasks.core.aws import AwsFactory
    from tasks.core.commands import CommandRunner
    from tasks.core.runtime import Runtime
    from tasks.wiring import wire

    rt = Runtime(
        settings,
        console,
        AwsFactory(settings, **aws),
        CommandRunner(console.redactor, environ),
        console.redactor,
        environ,
        sleep=clock.sleep,
        now=clock.now,
        monotonic=clock.monotonic,
    )
    wire(rt)
    return rt
