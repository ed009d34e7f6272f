"""The action behind ``invoke db.plan``: the environment's plan settings, the image (or a
directory), the plan (planrun.make_plan), its rendering, and its ``--json`` result.

Kept in its own module so the release flow's hook into it stays one call (``plan_action``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..codebuild.model import Build
from ..codebuild.services import Services
from ..core.errors import CommandFailed, DockerUnavailable, MigrationBlocked, UsageError
from ..core.runtime import Runtime
from .guards import pinned_image
from .history import LOOKBACK
from .plan import plan_settings, render
from .planrun import make_plan
from .start import session_overrides as session_overrides  # db.plan reads it here too
from .state import ReleaseState


def recent_builds(rt: Runtime) -> list[Build]:
    """The project's recent builds, newest first, from this run's backend (CodeBuild or the
    local runner): the history the estimate compares with."""
    s = rt.settings
    return rt.part(Services).build_backend(s.env).recent(s.project, LOOKBACK)


def plan_action(
    rt: Runtime,
    *,
    image: str | None = None,
    directory: str | None = None,
    allow_destructive: bool = False,
    exact: bool = False,
) -> dict[str, Any]:
    s = rt.settings
    settings = plan_settings(s.extra, confirm=s.confirm)
    if exact:
        raise UsageError(
            "db.plan --exact (a plan build running status_command in the VPC) is not built yet",
            "run db.plan without --exact for the image-history estimate and the lint",
        )
    root: Path | None = None
    pinned = ""
    if directory:
        root = Path(directory)
        if not root.is_dir():
            raise UsageError(f"--dir {directory!r} is not a directory", "pass a checkout's path")
    else:
        pinned = pinned_image(rt, image)
    result = make_plan(
        s.env,
        settings,
        directory=root,
        image=pinned,
        workdir=s.command_workdir,
        builds=lambda: recent_builds(rt),
        allow_destructive=allow_destructive,
    )
    for line in render(result):
        rt.console.info(line)
    return {"plan": result.as_dict()}


def gate_migration(rt: Runtime, *, image: str = "", directory: str = "") -> None:
    """The release flow's one hook, before its confirmation prompt: in environments with
    ``plan: true`` (default for ``confirm: true``) show the plan of ``image`` (or of the build
    context ``directory`` when the image is not built yet) and, with ``confirm: true``, refuse
    destructive or locking findings that neither ``--allow-destructive`` nor ``accept_rules``
    let through. The plan travels in the ``--json`` result (``ReleaseState.plan``)."""
    s = rt.settings
    settings = plan_settings(s.extra, confirm=s.confirm)
    if not settings.plan:
        return
    allow = rt.part(ReleaseState).allow_destructive
    try:
        result = make_plan(
            s.env,
            settings,
            directory=Path(directory) if directory else None,
            image=image,
            workdir=s.command_workdir,
            builds=lambda: recent_builds(rt),
            allow_destructive=allow,
        )
    except (CommandFailed, DockerUnavailable) as err:
        if not image:
            raise
        # the image cannot be read here (no docker, no pull rights): plan the build context,
        # which is what the image was built from, and say so
        rt.console.warn(f"plan: cannot read {image} ({err.message}); planning {s.context} instead")
        result = make_plan(
            s.env,
            settings,
            directory=Path(s.context),
            workdir=s.command_workdir,
            builds=lambda: recent_builds(rt),
            allow_destructive=allow,
        )
    for line in render(result):
        rt.console.info(line)
    rt.part(ReleaseState).plan = result.as_dict()
    if s.confirm and result.gate.blocked:
        first = result.gate.blocking[0]
        raise MigrationBlocked(
            f"{len(result.gate.blocking)} destructive or locking finding(s) in the pending "
            f"migrations, first {first.file}:{first.line} {first.rule}; nothing was migrated",
            "rewrite them as the plan says, or accept a rule in accept_rules with a reason, "
            "or pass --allow-destructive",
            details={"plan": result.as_dict()},
        )
