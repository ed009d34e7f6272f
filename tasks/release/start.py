"""What one start of a build sends, built once for the executor and for every plan of it.

``start_request`` makes the ``StartRequest`` a backend sends (the action's overrides, a
migration's session overrides from issue 14, the idempotency token over everything StartBuild
sends); ``StartPreview`` renders that very request, the argv the build runs in the image and,
for the local runner, the request its worker is handed. ``--dry-run`` shows these, never a
description written beside them (guide, rule 10). The pinned image shows as a placeholder only
where it is not known at plan time; so does the token, which hashes the image's digest. Pure
module: no boto3, docker or invoke.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..codebuild.commands import command_for, display, docker_argv, where
from ..codebuild.model import (
    PLAINTEXT,
    EnvVar,
    StartRequest,
    digest_of,
    idempotency_token,
    overrides_for,
    request_params,
    start_params,
)
from ..core.config import Settings
from .plan import pgoptions, plan_settings

PINNED_PLACEHOLDER = "<pinned image>"
TOKEN_PLACEHOLDER = "<sha256 of project, action, pinned digest, invocation id and these parameters>"
INVOCATION_PLACEHOLDER = "<invocation id>"

# the request the local runner hands its worker (``LocalBackend.worker_request``)
WorkerRequest = Callable[[StartRequest], Mapping[str, Any]]


@runtime_checkable
class HandsWorkerRequest(Protocol):
    """A backend that hands each start to a worker as a request of its own (the local runner)."""

    def worker_request(self, request: StartRequest) -> Mapping[str, Any]: ...


def session_overrides(s: Settings) -> tuple[EnvVar, ...]:
    """PGOPTIONS for the migration build when the environment sets lock_timeout or
    statement_timeout (run_in_image.py passes it into the container by name), and
    STATUS_COMMAND when it sets status_command (run_in_image.py runs it before migrating)."""
    settings = plan_settings(s.extra, confirm=s.confirm)
    options = pgoptions(settings)
    out: tuple[EnvVar, ...] = (EnvVar("PGOPTIONS", options),) if options else ()
    if settings.status_command:  # the exact status, read in the build before it migrates
        out += (EnvVar("STATUS_COMMAND", json.dumps(list(settings.status_command))),)
    return out


def start_request(
    s: Settings,
    project: str,
    action: str,
    image: str,
    script: str | None,
    invocation: str,
    extra: tuple[EnvVar, ...] = (),
) -> StartRequest:
    """The one builder of a start: the executor sends it, every plan renders it. ``extra``:
    what this run adds (the files its plan approved, APPROVED_MIGRATIONS)."""
    overrides = overrides_for(action, image, script)
    if action in ("migrate", "plan"):  # issue 14: timeouts and the exact status
        overrides += session_overrides(s)
    overrides += extra
    minutes = s.build_timeout  # timeoutInMinutesOverride; the local runner honours it too
    # the token covers everything StartBuild sends (SEED_SCRIPT, the image, the timeout)
    sent = start_params(project, overrides, timeout_minutes=minutes)
    token = idempotency_token(project, action, digest_of(image), invocation, params=sent)
    return StartRequest(
        project=project,
        action=action,
        env_overrides=overrides,
        image=image,
        idempotency_token=token,
        timeout_minutes=minutes,
    )


@dataclass(frozen=True)
class StartPreview:
    """A start as a plan shows it: rendered from the request and argv that would be sent."""

    request: StartRequest
    command: tuple[str, ...]  # what the build runs in the image (the project's variables)
    docker_argv: tuple[str, ...]  # the ``docker run`` the build executes
    where: str
    pinned: bool  # the image is known; else it and the token are placeholders
    local: bool = False
    buildspec: str = ""
    log_group: str = ""
    worker_request: Mapping[str, Any] | None = None  # the local runner's, when known

    def start_build(self) -> dict[str, Any]:
        """StartBuild's parameters exactly as the CodeBuild backend sends them."""
        token = self.request.idempotency_token if self.pinned else TOKEN_PLACEHOLDER
        return {**request_params(self.request), "idempotencyToken": token}

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": list(self.command),
            "docker_argv": list(self.docker_argv),
            "start_build": self.start_build(),
        }
        if self.worker_request is not None:
            out["local_request"] = dict(self.worker_request)
        return out

    def overrides_text(self) -> str:
        """``[NAME=value ...]`` by name; the types when any is not PLAINTEXT."""
        env = sorted(self.request.env_overrides, key=lambda v: v.name)
        shown = " ".join(
            f"{v.name}={shlex.quote(v.value)}" + (f"({v.type})" if v.type != PLAINTEXT else "")
            for v in env
        )
        plain = all(v.type == PLAINTEXT for v in env)
        return f"[{shown}]" + (f" ({PLAINTEXT})" if plain else "")

    def build_line(self) -> str:
        return f"build  $ {display(self.docker_argv)}  # {self.where}"

    def lines(self) -> tuple[str, ...]:
        """The start, its command and the follow, one line each (the guard is the caller's)."""
        if self.local:
            worker = (
                (f"local  worker request {json.dumps(dict(self.worker_request))}",)
                if self.worker_request is not None
                else ()
            )
            return (
                f"local  run {self.buildspec} on this machine with CodeBuild's semantics, "
                f"overrides {self.overrides_text()}, in a detached worker",
                *worker,
                self.build_line(),
                "local  follow .release-local/builds/<uuid>/build.log until the build ends",
            )
        params = self.start_build()
        rest = " ".join(
            f"{k}={v}"
            for k, v in params.items()
            if k not in ("projectName", "environmentVariablesOverride")
        )
        return (
            f"api  CodeBuild StartBuild projectName={params['projectName']} "
            f"environmentVariablesOverride={self.overrides_text()} {rest}",
            self.build_line(),
            f"api  CodeBuild BatchGetBuilds + CloudWatch Logs GetLogEvents {self.log_group} "
            "until the build ends",
        )


def preview(
    s: Settings,
    request: StartRequest,
    script: str | None,
    *,
    pinned: bool,
    worker: WorkerRequest | None = None,
) -> StartPreview:
    """The plan of ``request``: its argv from the same functions the build's runner uses (a
    plan build runs the environment's status_command)."""
    argv = (
        plan_settings(s.extra, confirm=s.confirm).status_command
        if request.action == "plan"
        else command_for(s, request.action, script or None)
    )
    local = s.runner == "local"
    return StartPreview(
        request=request,
        command=argv,
        docker_argv=tuple(docker_argv(s, argv, request.image)),
        where=where(s, argv),
        pinned=pinned,
        local=local,
        buildspec=s.buildspec,
        log_group=s.log_group or f"/aws/codebuild/{s.project}",
        worker_request=worker(request) if worker is not None and local else None,
    )


def planned_start(
    s: Settings, action: str, script: str | None, worker: WorkerRequest | None = None
) -> StartPreview:
    """A start planned before its image is built or pinned (the release's dry run)."""
    request = start_request(
        s, s.project, action, PINNED_PLACEHOLDER, script, INVOCATION_PLACEHOLDER
    )
    return preview(s, request, script, pinned=False, worker=worker)


__all__ = [
    "PINNED_PLACEHOLDER",
    "HandsWorkerRequest",
    "StartPreview",
    "WorkerRequest",
    "planned_start",
    "preview",
    "session_overrides",
    "start_request",
]
