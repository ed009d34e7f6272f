"""AWS CodeBuild (and its CloudWatch Logs) behind the ``BuildBackend`` Protocol of ``tasks.codebuild.model``.

One job: turn CodeBuild API calls into ``Build``/``LogPage`` values and AWS errors into
``SuiteError``s (by error code). Every call goes through a ``AwsCaller``: throttling and transient
network errors are retried with jittered backoff (the named ``aws_call`` policy), expired
credentials are refreshed once, and a ``pressure`` figure (rising on throttling, decaying on
success) lets the wait loop slow its polling while AWS pushes back. Clients come from the
injected factory (``rt.aws.client``), never from boto3 directly.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.aws import translate
from ..core.errors import (
    AwsError,
    BuildConflict,
    QuotaExceeded,
    RegistryError,
    SuiteError,
    UsageError,
)
from ..core.retrying import error_code, is_expired, is_retryable, is_throttled, retrying
from .model import (
    Build,
    BuildNotFound,
    LogLocation,
    LogPage,
    StartRequest,
    console_url,
    logs_url,
    request_params,
)
from .model import LogEvent as Event
from .model import build_from_api as parse_build

if TYPE_CHECKING:  # types only
    from tenacity.wait import WaitBaseT

T = TypeVar("T")

# CodeBuild's refusal when the project's concurrentBuildLimit (1, set by `invoke setup`) is
# reached: two starts that both passed our look-up meet here, and get the guard's answer.
# The same code also means the ACCOUNT's own build quota ("Cannot have more than 0 builds in
# queue for the account" on new accounts), which no waiting fixes: told apart by whether a
# build of the project is running.
_CONCURRENCY_CODES = frozenset({"AccountLimitExceededException"})
_NOT_FOUND = frozenset({"ResourceNotFoundException"})
_BATCH = 100  # BatchGetBuilds accepts at most 100 ids


class AwsCaller:
    """Runs one AWS call with the suite's retry rules and tracks how hard AWS pushes back."""

    def __init__(
        self,
        *,
        refresh: Callable[[], None] = lambda: None,
        source: Callable[[], str] = lambda: "the credential chain",
        sleep: Callable[[float], None] | None = None,
        on_retry: Callable[[str], None] | None = None,
        wait: WaitBaseT | None = None,  # tests pass tenacity.wait_none()
    ) -> None:
        self.refresh = refresh
        self.source = source  # where the credentials come from, for the error that says so
        self.sleep = sleep
        self.on_retry = on_retry
        self.wait = wait
        self.pressure = 0.0  # +1 per throttled call, halves after each success
        self.calls = 0

    def __call__(self, action: str, fn: Callable[[], T]) -> T:
        refreshed = False
        while True:
            try:
                result = self._with_retries(fn)
            except Exception as exc:
                if is_expired(exc) and not refreshed:
                    # long waits outlive STS sessions: re-read the credential chain once
                    refreshed = True
                    self.refresh()
                    continue
                if isinstance(exc, SuiteError):
                    raise
                err = translate(exc, action)
                if is_expired(exc):
                    err = self._still_expired(err)
                if error_code(exc):
                    err.details.setdefault("aws_code", error_code(exc))
                if is_retryable(exc):  # retries ran out; a patient caller may try again later
                    err.details["retryable"] = True
                raise err from None
            self.pressure /= 2
            if self.pressure < 0.1:
                self.pressure = 0.0
            return result

    def _still_expired(self, err: SuiteError) -> SuiteError:
        """Expired again after re-reading the chain: say what was tried, and what works."""
        source = self.source()
        tried = f"re-read the credentials once from {source}: still expired"
        if source == "environment variables":
            remedy = (
                "credentials from environment variables cannot be refreshed by re-reading them: "
                "export fresh ones, or use a profile or role that renews itself; in CI, give "
                "the OIDC role session a duration longer than the longest build"
            )
        else:
            remedy = f"renew them ({source}: aws sso login, or re-assume the role) and retry"
        return type(err)(
            f"{err.message} ({tried})", remedy, details={**err.details, "tried": tried}
        )

    def _with_retries(self, fn: Callable[[], T]) -> T:
        for attempt in retrying(
            "aws_call", on_retry=self.on_retry, sleep=self.sleep, wait=self.wait
        ):
            with attempt:
                self.calls += 1
                try:
                    return fn()
                except Exception as exc:
                    if is_throttled(exc):
                        self.pressure = min(self.pressure + 1, 4.0)
                    raise
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


def aws_code(err: SuiteError) -> str:
    """The AWS error code a translated error came from ('' when none)."""
    return str(err.details.get("aws_code", ""))


def conflict(running: Build, env: str = "") -> BuildConflict:
    """The one refusal for 'a build of this project is already running' (guard or AWS).

    ``env`` (the run's ``--env``) makes each suggested command copy-pasteable; ``--force``
    exists on ``db.migrate``/``db.seed`` only (``release`` has none), so that is where it points.
    """
    where = f" ({running.console_url})" if running.console_url else ""
    flag = f" --env {env}" if env else ""
    return BuildConflict(
        f"build {running.id} of project {running.project} is already {running.status}{where}",
        f"wait for it with `invoke build.wait {running.id}{flag}`, stop it with "
        f"`invoke build.stop {running.id}{flag}`, or start another anyway with "
        f"`invoke db.migrate --force{flag}` (or db.seed)",
        details={"running": running.id},
    )


class CodeBuildBackend:
    """``BuildBackend`` over boto3 clients made by ``client(name)`` (``rt.aws.client``)."""

    def __init__(
        self,
        client: Callable[[str], Any],
        caller: AwsCaller,
        *,
        region: str,
        log_group: str = "",
        env: str = "",
    ) -> None:
        self._client = client
        self.call = caller
        self.region = region
        self.log_group = log_group
        self.env = env  # the run's --env, for the commands suggested in errors
        self._flag = f" --env {env}" if env else ""

    def _cb(self) -> Any:
        return self._client("codebuild")

    def _parse(self, raw: dict[str, Any]) -> Build:
        return parse_build(raw, region=self.region, default_group=self.log_group)

    def start(self, request: StartRequest) -> Build:
        kwargs = {**request_params(request), "idempotencyToken": request.idempotency_token}
        try:
            raw = self.call("CodeBuild StartBuild", lambda: self._cb().start_build(**kwargs))
        except AwsError as err:
            raise self._start_refused(err, request) from None
        return self._parse(raw["build"])

    def _start_refused(self, err: AwsError, request: StartRequest) -> SuiteError:
        code = aws_code(err)
        if code in _CONCURRENCY_CODES:
            running = self.running(request.project)
            if running:
                return conflict(running[0], self.env)
            said = err.message.split(f"{code}: ", 1)[-1]  # AWS's own words
            return QuotaExceeded(
                f"CodeBuild refused to start project {request.project} on an account quota, "
                f"with no build of the project running ({aws_code(err)}: {said})",
                "request a higher 'Concurrently running builds' quota for the project's compute "
                f"type in Service Quotas (AWS CodeBuild, {self.region}); new accounts start "
                "near 0, so open a support case if the quota shows a higher value",
                details={"aws_code": aws_code(err), "aws_message": said},
            )
        if code in _NOT_FOUND:
            return UsageError(
                f"CodeBuild project {request.project!r} does not exist in {self.region}",
                f"create it with `invoke setup --apply{self._flag}`, or fix `project` in invoke.yaml",
            )
        return err

    def get(self, build_id: str) -> Build:
        if not build_id.strip():  # botocore would refuse it as a parameter error (exit 10)
            raise BuildNotFound(
                "no build id given", "pass one: `invoke build.list` shows the recent builds"
            )
        found = self.get_many([build_id])
        if not found:
            raise BuildNotFound(
                f"build {build_id} does not exist in {self.region}",
                "check the id (`invoke build.list`) and the --env/--region",
            )
        return found[0]

    def get_many(self, ids: list[str]) -> list[Build]:
        out: list[Build] = []
        for i in range(0, len(ids), _BATCH):
            chunk = ids[i : i + _BATCH]
            raw = self.call("CodeBuild BatchGetBuilds", partial(self._batch_get, chunk))
            out.extend(self._parse(b) for b in raw.get("builds") or ())
        return out

    def _batch_get(self, ids: list[str]) -> dict[str, Any]:
        return dict(self._cb().batch_get_builds(ids=ids))

    def stop(self, build_id: str) -> Build:
        raw = self.call("CodeBuild StopBuild", lambda: self._cb().stop_build(id=build_id))
        return self._parse(raw["build"])

    def _ids(self, project: str, limit: int) -> list[str]:
        try:
            raw = self.call(
                "CodeBuild ListBuildsForProject",
                lambda: self._cb().list_builds_for_project(
                    projectName=project, sortOrder="DESCENDING"
                ),
            )
        except AwsError as err:
            if aws_code(err) in _NOT_FOUND:
                raise UsageError(
                    f"CodeBuild project {project!r} does not exist in {self.region}",
                    f"create it with `invoke setup --apply{self._flag}`, or fix `project` in invoke.yaml",
                ) from None
            raise
        return [str(i) for i in raw.get("ids") or ()][:limit]

    def recent(self, project: str, limit: int) -> list[Build]:
        # ListBuildsForProject is newest first (sortOrder DESCENDING); BatchGetBuilds does not
        # keep the order asked for, so sort the snapshots again
        builds = self.get_many(self._ids(project, max(limit, 1)))
        builds.sort(key=lambda b: (b.start or 0.0, b.number or 0), reverse=True)
        return builds[:limit]

    def running(self, project: str) -> list[Build]:
        # a running build is among the newest few (under concurrentBuildLimit: 1, the newest)
        return [b for b in self.recent(project, 20) if b.status == "IN_PROGRESS"]

    def read_logs(self, logs: LogLocation, token: str | None) -> LogPage:
        if not logs.known:
            return LogPage((), token, missing=True)
        kwargs: dict[str, Any] = {
            "logGroupName": logs.group,
            "logStreamName": logs.stream,
            "startFromHead": True,
        }
        if token:
            kwargs["nextToken"] = token
        if logs.since:
            # GetLogEvents (AWS): "startTime: The start of the time range ... Events with a
            # timestamp earlier than this time are not included." Bounding the scan to the
            # build's own time saves CloudWatch the empty pages it returns while it searches
            # a range where nothing is.
            kwargs["startTime"] = logs.since
        try:  # the client is fetched per try: a credentials refresh replaces it
            raw = self.call(
                "CloudWatch Logs GetLogEvents",
                lambda: self._client("logs").get_log_events(**kwargs),
            )
        except AwsError as err:
            # the group/stream appear only once the build container starts writing
            if aws_code(err) in _NOT_FOUND:
                return LogPage((), token, missing=True)
            raise
        events = tuple(
            Event(int(e.get("timestamp", 0)), str(e.get("message", "")))
            for e in raw.get("events") or ()
        )
        return LogPage(events, raw.get("nextForwardToken") or token)


def resolve_image(
    client: Callable[[str], Any],
    caller: AwsCaller,
    *,
    repository: str,
    tag: str,
    image_name: str,
    env: str = "",
    registry_id: str = "",
) -> dict[str, str]:
    """The pinned ``registry/repo@sha256:...`` of the configured tag, read from ECR.

    Used by ``release --skip-build`` and by ``db.migrate``/``db.seed`` without ``--image``, so
    the refusal names what works in both (``env``: the run's ``--env``, for the commands).
    ``client`` must be the ECR client of the registry's region and ``registry_id`` its account
    (a registry in another account or region than the environment's)."""
    flag = f" --env {env}" if env else ""
    try:
        raw = caller(
            "ECR DescribeImages",
            lambda: client("ecr").describe_images(
                **({"registryId": registry_id} if registry_id else {}),
                repositoryName=repository,
                imageIds=[{"imageTag": tag}],
            ),
        )
    except AwsError as err:
        if aws_code(err) == "RepositoryNotFoundException":
            raise RegistryError(
                f"the ECR repository {repository!r} does not exist, so there is no image "
                f"{image_name}:{tag} to run",
                f"create it (`aws ecr create-repository --repository-name {repository}`), then "
                f"build and push the image: `invoke release{flag}`",
            ) from None
        if aws_code(err) == "ImageNotFoundException":
            raise RegistryError(
                f"{image_name}:{tag} is not in ECR, so there is no image to run",
                f"build and push it first (`invoke release{flag}`, or `invoke image.push{flag}`), "
                "or pass a pinned --image registry/repo@sha256:… to db.migrate/db.seed",
            ) from None
        raise
    details = raw.get("imageDetails") or []
    if not details or not details[0].get("imageDigest"):
        raise RegistryError(
            f"ECR returned no digest for {image_name}:{tag}",
            "push the image again (`invoke image.push`)",
        )
    digest = str(details[0]["imageDigest"])
    return {"pinned": f"{image_name}@{digest}", "digest": digest, "tag": tag}


__all__ = [
    "AwsCaller",
    "CodeBuildBackend",
    "conflict",
    "console_url",
    "error_code",
    "is_retryable",
    "logs_url",
    "parse_build",
    "resolve_image",
]
