"""The actions behind ``db.migrate`` and ``db.seed``: start a build safely, follow it, report it.

Starting goes through, in order: the seed allow-list, the pinned image (from the image stage,
``--image``, or the registry for the configured tag), the concurrency guard, the production
guard (all in ``guards``), then one idempotent StartBuild. The build id, console URL and log URL
are printed the moment it starts. Each action returns the ``--json`` result; failures raise
``SuiteError``.

The backend comes from ``collaborators.backend_for``: the one ``tasks.wiring`` chose for the
runner (CodeBuild, or the local runner when ``runner: local``), or a test's
``Services(backend=...)``.
"""

from __future__ import annotations

import json
from typing import Any

from ..codebuild.commands import command_for, display, where
from ..codebuild.model import StartRequest
from ..core.errors import SuiteError
from ..core.interrupts import deferred_interrupts
from ..core.runtime import Runtime
from . import start
from .builds import announce, follow_build
from .collaborators import backend_for, invocation_id, project_name
from .guards import confirm, pinned_image, refuse_if_running, seed_script
from .state import ReleaseState

ACTION_NAMES = {"migrate": "migrations", "seed": "seed"}


def start_request(rt: Runtime, action: str, image: str, script: str | None) -> StartRequest:
    """The request this run sends (``start.start_request``, which every plan renders too)."""
    from .planflow import approval_overrides

    approved = approval_overrides(rt) if action == "migrate" else ()  # issue 14, exit 27
    return start.start_request(
        rt.settings, project_name(rt), action, image, script, invocation_id(rt), approved
    )


def worker_request(rt: Runtime) -> start.WorkerRequest | None:
    """The local runner's own rendering of the request it hands its worker (None elsewhere)."""
    if rt.settings.runner != "local":
        return None
    backend = backend_for(rt)
    return backend.worker_request if isinstance(backend, start.HandsWorkerRequest) else None


def run_action(
    rt: Runtime,
    action: str,
    *,
    script: str | None = None,
    image: str | None = None,
    force: bool = False,
    yes: bool = False,
    detach: bool = False,
    timeout: float | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """``db.migrate`` / ``db.seed``: guards, one idempotent start, then wait (or detach)."""
    project = project_name(rt)
    chosen = seed_script(rt, script) if action == "seed" else None
    if dry_run:
        return plan_action(rt, action, chosen, image)
    pinned = pinned_image(rt, image)
    if force:
        rt.console.warn("--force: not checking for a running build of " + project)
    else:
        refuse_if_running(rt, project)
    label = ACTION_NAMES[action] + (f" ({chosen})" if chosen else "")
    if action == "migrate" and not rt.part(ReleaseState).planned:  # issue 14: plan before confirm
        from .planflow import gate_migration

        gate_migration(rt, image=pinned)
    from . import snapshot

    note = snapshot.confirm_note(rt) if action == "migrate" else ""
    confirm(rt, f"run {label} with {pinned} on CodeBuild project {project}{note}", yes=yes)
    snap = snapshot.take_snapshot(rt, pinned) if action == "migrate" else None
    request = start_request(rt, action, pinned, chosen)
    argv = command_for(rt.settings, action, chosen)
    rt.console.step(f"start {label}: {project}: {display(argv)}")
    rt.console.detail("runs", f"{where(rt.settings, argv)} (docker run in {pinned})")
    # a Ctrl-C while the start is in flight waits for it, so the build it started is known
    # and stopped below (exit 14), never left running behind an exit 130
    # (everything up to the wait stays inside the deferral: a Ctrl-C landing after the start
    # but before the wait's own handler would otherwise exit 130 with the build running)
    with deferred_interrupts(rt.console.warn) as held:
        build = backend_for(rt).start(request)
        announce(rt, build)
        extra: dict[str, Any] = {
            "action": action,
            "image": pinned,
            "seed_script": chosen,
            "command": list(argv),
        }
        if snap is not None:
            extra["snapshot"] = snap.as_dict()
        plan = rt.part(ReleaseState).plan
        if plan:
            extra["plan"] = plan
        from . import reporting
    if held.pending:
        return {**follow_build(rt, build, timeout=timeout, interrupted=True), **extra}
    if detach:
        resume = f"invoke build.wait {build.id} --env {rt.settings.env}"
        rt.console.info(f"detached; follow it with: {resume}")
        return {**build.as_dict(rt.now()), **extra, "detached": True, "resume": resume}
    from .planflow import BuildRefusal

    refusal = BuildRefusal()  # the build's own refusal before migrating (exit 26 / 27)
    try:
        try:
            final = follow_build(rt, build, timeout=timeout, readers=(refusal.line,))
        except KeyboardInterrupt:  # landed in the few instructions before the wait's handler
            final = follow_build(rt, build, timeout=timeout, interrupted=True)
    except SuiteError as failed:
        err = refusal.translate(failed)
        snapshot.on_failure(rt, err)
        reporting.after_failure(rt, action, pinned, err)
        if err is failed:
            raise
        raise err from None
    if snap is not None:
        extra["snapshots_deleted"] = snapshot.prune_snapshots(rt)
    out = {**final, **extra}
    reporting.after_action(rt, action, pinned, out)
    return out


def plan_action(rt: Runtime, action: str, chosen: str | None, image: str | None) -> dict[str, Any]:
    """``--dry-run``: the very StartRequest a real start sends (``start_request``) and the exact
    ``docker run`` the build would execute, rendered by ``start.preview``; no call is made (an
    image not given with --image shows as a placeholder rather than being resolved, and so does
    the token that hashes its digest)."""
    s = rt.settings
    pinned = pinned_image(rt, image) if image else ""  # the same check as a real start
    shown = pinned or f"<{s.image_name}:{s.tag} pinned to its digest>"
    request = start_request(rt, action, shown, chosen)
    planned = start.preview(s, request, chosen, pinned=bool(pinned), worker=worker_request(rt))
    runner = "local runner" if planned.local else "api  CodeBuild"
    rt.console.line("dry run: nothing is started")
    rt.console.line(f"  {runner} StartBuild {json.dumps(planned.start_build())}")
    if planned.worker_request is not None:
        rt.console.line(f"  local  worker request {json.dumps(dict(planned.worker_request))}")
    rt.console.line(f"  {planned.build_line()}")
    return {"dry_run": True, "action": action, "seed_script": chosen, **planned.as_dict()}
