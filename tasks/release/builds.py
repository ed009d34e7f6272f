"""The actions behind ``build.*`` (wait, logs, stop, list) and the follow every action ends
with: print each log line as it arrives, then raise the build's error unless it SUCCEEDED."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..codebuild.model import Build, digest_of
from ..codebuild.services import Services
from ..codebuild.wait import (
    FailureHook,
    PollPolicy,
    finish,
    fmt_seconds,
    logs_elsewhere,
    stop_then_poll,
)
from ..core.runtime import Runtime
from .collaborators import backend_for, project_name, timeout_seconds, waiter_for
from .failure import failure_hook, stopped_here


def follow_build(
    rt: Runtime,
    build: Build,
    *,
    timeout: float | None,
    owner: bool = True,
    interrupted: bool = False,
    readers: Sequence[Callable[[str], None]] = (),
) -> dict[str, Any]:
    """Wait for a build, print every log line, raise its status's error unless it SUCCEEDED.

    ``owner``: this run started the build (db.migrate, db.seed, release), so Ctrl-C stops it;
    ``build.wait`` follows someone else's build and only detaches. ``interrupted``: a Ctrl-C
    came while this run was starting it: stop it at once. ``readers`` get every line too (the
    plan build's status line is read this way: one stream)."""
    diagnosis = failure_hook(rt)  # reads the lines as they are printed: one stream
    readers = (*readers, diagnosis.line) if diagnosis is not None else tuple(readers)
    waiter = waiter_for(rt, timeout=timeout_seconds(rt, timeout), owner=owner, readers=readers)
    final = waiter.wait(build, interrupted=interrupted)
    # a build that ended on its own while we were stopping it keeps its own diagnosis
    stopped = waiter.interrupted and final.status == "STOPPED"
    hook: FailureHook | None = stopped_here if stopped else diagnosis
    finish(final, list(waiter.follower.tail), hook, env=rt.settings.env)
    took = final.duration(rt.now())
    rt.console.ok(f"build {final.id} SUCCEEDED" + (f" in {fmt_seconds(took)}" if took else ""))
    caller = rt.part(Services).caller
    calls = caller.calls if caller is not None else None
    return {**final.as_dict(rt.now()), "log_lines": waiter.follower.lines, "api_calls": calls}


def wait_build(rt: Runtime, build_id: str, *, timeout: float | None = None) -> dict[str, Any]:
    """``build.wait ID``: follow an existing build (from the start of its log) to its end."""
    build = backend_for(rt).get(build_id)
    rt.console.step(f"waiting for {build.id} ({build.status}, {build.current_phase})")
    announce_links(rt, build)
    return follow_build(rt, build, timeout=timeout, owner=False)


def announce(rt: Runtime, build: Build) -> None:
    rt.console.ok(f"started build {build.id}")
    announce_links(rt, build)


def announce_links(rt: Runtime, build: Build) -> None:
    if build.console_url:
        rt.console.detail("console", build.console_url)
    rt.console.detail("logs", build.logs.deep_link or f"{build.logs.group} {build.logs.stream}")


def show_logs(rt: Runtime, build_id: str, *, follow: bool = False) -> dict[str, Any]:
    """``build.logs ID``: print the log so far; with ``--follow`` until the build ends."""
    backend = backend_for(rt)
    build = backend.get(build_id)
    waiter = waiter_for(rt, timeout=None, owner=False)
    if follow and not build.final:
        build = waiter.wait(build)
    elif build.logs.cloudwatch_disabled:
        rt.console.warn(logs_elsewhere(build))
    else:
        waiter.follower.round(build.logs)
    if not waiter.follower.lines and not build.logs.cloudwatch_disabled:
        # say so, rather than print nothing and exit 0
        later = (
            ""
            if build.final
            else (
                f"; `invoke build.logs {build.id} --follow --env {rt.settings.env}` waits for them"
            )
        )
        rt.console.warn(
            f"no log lines yet for {build.id} ({build.status}, {build.current_phase or '-'}): "
            f"CodeBuild creates the stream when the build container starts{later}"
        )
    return {
        "id": build.id,
        "status": build.status,
        "logs": {
            "group": build.logs.group,
            "stream": build.logs.stream,
            "url": build.logs.deep_link,
            "cloudwatch": build.logs.cloudwatch,
            "s3": build.logs.s3,
        },
        "log_lines": waiter.follower.lines,
    }


def stop_build(rt: Runtime, build_id: str, *, timeout: float | None = None) -> dict[str, Any]:
    """``build.stop ID``: StopBuild, then wait (status only) until it is final."""
    backend = backend_for(rt)
    build = backend.get(build_id)
    if build.final:
        rt.console.info(f"build {build.id} already ended: {build.status}")
        return build.as_dict(rt.now())
    rt.console.step(f"stopping {build_id}")
    build = stop_then_poll(
        backend,
        build,
        rt.part(Services).poll_policy or PollPolicy(),
        sleep=rt.sleep,
        monotonic=rt.monotonic,
        patience=timeout_seconds(rt, timeout),
        env_flag=f" --env {rt.settings.env}",
    )
    rt.console.ok(f"build {build.id} is {build.status}") if build.final else rt.console.warn(
        f"build {build.id} is still {build.status}; CodeBuild is stopping it"
    )
    return build.as_dict(rt.now())


def list_recent(rt: Runtime, limit: int = 10) -> dict[str, Any]:
    """``build.list``: the project's recent builds, newest first."""
    project = project_name(rt)
    builds = backend_for(rt).recent(project, max(1, int(limit)))
    now = rt.now()
    rows = []
    for b in builds:
        took = b.duration(now)
        rows.append(
            {
                "id": b.id,
                "status": b.status,
                "start": b.start,
                "duration": took,
                "initiator": b.initiator,
                "action": b.action or "-",
                "image_digest": image_digest(b),
            }
        )
        started = _clock(b.start)
        short = image_digest(b)[:19] or "-"  # sha256: + 12 hex, enough to tell images apart
        rt.console.line(
            f"{b.id:<60} {b.status:<11} {started:<20} {fmt_seconds(took or 0):>7} "
            f"{(b.action or '-'):<13} {short:<19} {b.initiator}"
        )
    if not builds:
        rt.console.info(f"no builds of {project} yet")
    return {"project": project, "builds": rows}


def image_digest(build: Build) -> str:
    """The digest of the image the build ran (its IMAGE_URI override), '' when not pinned."""
    env = {v.name: v.value for v in build.environment}
    return digest_of(env.get("IMAGE_URI", ""))


def _clock(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
