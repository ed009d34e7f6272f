"""The collaborators an action works with, taken from the run's ``Services``: the AWS caller
(one retry layer), the build backend ``tasks.wiring`` chose for the runner, and the waiter that
follows a build; plus what every action reads (the project, the timeout, the run's invocation id)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ..codebuild.client import AwsCaller, CodeBuildBackend
from ..codebuild.model import BuildBackend
from ..codebuild.services import Services
from ..codebuild.wait import Waiter
from ..core.errors import UsageError
from ..core.runtime import Runtime
from .state import ReleaseState


def caller_for(rt: Runtime) -> AwsCaller:
    services = rt.part(Services)
    if services.caller is None:
        services.caller = AwsCaller(
            refresh=rt.aws.refresh,
            source=rt.aws.credential_source,
            sleep=rt.sleep,
            on_retry=rt.console.warn,
        )
    return services.caller


def suite_clients(rt: Runtime) -> Callable[[str], Any]:
    """Clients for calls the ``AwsCaller`` retries: botocore sends each once (one retry layer)."""
    return lambda service: rt.aws.client(service, suite_retries=True)


def codebuild_backend(rt: Runtime) -> CodeBuildBackend:
    """The CodeBuild backend of ``runner: codebuild`` (``tasks.wiring`` chooses the runner)."""
    return CodeBuildBackend(
        suite_clients(rt),
        caller_for(rt),
        region=rt.settings.region,
        log_group=rt.settings.log_group,
        env=rt.settings.env,
    )


def backend_for(rt: Runtime) -> BuildBackend:
    """The backend the wiring chose for this environment's runner, made once per run."""
    return rt.part(Services).build_backend(rt.settings.env)


def waiter_for(
    rt: Runtime,
    *,
    timeout: float | None,
    owner: bool = True,
    readers: Sequence[Callable[[str], None]] = (),
) -> Waiter:
    """``owner``: this run started the build, so Ctrl-C stops it (a follower only detaches)."""
    services = rt.part(Services)
    caller = services.caller
    return Waiter(
        backend_for(rt),
        rt.console,
        sleep=rt.sleep,
        monotonic=rt.monotonic,
        now=rt.now,
        policy=services.poll_policy,
        pressure=(lambda: caller.pressure) if caller is not None else (lambda: 0.0),
        timeout=timeout,
        env=rt.settings.env,
        owner=owner,
        readers=readers,
    )


def project_name(rt: Runtime) -> str:
    if not rt.settings.project:
        raise UsageError(
            f"environment {rt.settings.env!r} names no CodeBuild project",
            f"set release.environments.{rt.settings.env}.project in invoke.yaml",
        )
    return rt.settings.project


def timeout_seconds(rt: Runtime, minutes: float | None) -> float:
    return float(minutes if minutes is not None else rt.settings.timeout) * 60.0


def invocation_id(rt: Runtime) -> str:
    """One id per run: retries inside it share the idempotency token; a new run gets a new one."""
    state = rt.part(ReleaseState)
    if state.invocation_id is None:
        state.invocation_id = rt.environ.get("RELEASE_INVOCATION_ID") or uuid.uuid4().hex
    return state.invocation_id
