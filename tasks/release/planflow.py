"""The action behind ``invoke db.plan``: the environment's plan settings, the image (or a
directory), the plan (planrun.make_plan), its rendering, and its ``--json`` result.

Kept in its own module so the release flow's hooks into it stay one call each: the gate before
the prompt (``gate_migration``), the exact plan build before the prompt of a release a person
confirms (``exact_plan_step``), and the overrides a migration build gets (``session_overrides``,
``approval_overrides``).

The exact plan (``db.plan --exact``) is a short build in the same project with the buildspec's
``RUN_PLAN=true`` path: ``scripts/run_in_image.py plan`` runs ``status_command`` in the pinned
image and prints ONE ``MIGRATION-STATUS/1`` line, which is read here from the build's log as the
follower streams it (``status.status_from_log``); it never runs the migrate command."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..codebuild.model import Build, EnvVar, StartRequest
from ..codebuild.services import Services
from ..core.config import Settings
from ..core.errors import (
    CommandFailed,
    DockerUnavailable,
    MigrationBlocked,
    MigrationNotApproved,
    MigrationStatusError,
    SuiteError,
    UsageError,
)
from ..core.runtime import Runtime
from .guards import pinned_image
from .history import LOOKBACK
from .plan import Plan, PlanSettings, plan_settings, render
from .planrun import make_plan
from .start import session_overrides as session_overrides  # db.plan reads it here too
from .state import ReleaseState
from .status import Status, StatusError, status_from_log

APPROVED_VARIABLE = (
    "APPROVED_MIGRATIONS"  # path -> sha256 of the pending files the plan let through
)
NO_STATUS_COMMAND = (
    'set status_command (an argv printing one MIGRATION-STATUS/1 line, e.g. ["bun", '
    '"src/db/status.ts"]) for the environment in invoke.yaml (docs/plan.md)'
)


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
        return exact_plan_action(rt, settings, image, directory, allow_destructive)
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
    show_and_gate(rt, result)
    if result.status.source == "estimate" and not result.status.pending:
        # the estimate never skips a migration (after a restore it can be wrong)
        rt.console.info(
            "plan: the estimate sees nothing pending; the migration build still runs and its "
            "own exact status decides"
        )


def show_and_gate(rt: Runtime, result: Plan) -> None:
    """Print the plan, keep it (``--json``, the files the migration build may run) and, in
    ``confirm: true`` environments, refuse what the gate blocks (exit 25)."""
    for line in render(result):
        rt.console.info(line)
    state = rt.part(ReleaseState)
    state.plan = result.as_dict()
    state.approved = result.approved
    if rt.settings.confirm and result.gate.blocked:
        first = result.gate.blocking[0]
        raise MigrationBlocked(
            f"{len(result.gate.blocking)} destructive or locking finding(s) in the pending "
            f"migrations, first {first.file}:{first.line} {first.rule}; nothing was migrated",
            "rewrite them as the plan says, or accept a rule in accept_rules with a reason, "
            "or pass --allow-destructive",
            details={"plan": result.as_dict()},
        )


def approval_overrides(rt: Runtime) -> tuple[EnvVar, ...]:
    """APPROVED_MIGRATIONS for the migration build: the pending files this run's plan checked
    and let through, with their sha256, when the build reads an exact status (status_command)
    to compare them with; run_in_image.py refuses any other pending file (exit 27)."""
    s = rt.settings
    approved = rt.part(ReleaseState).approved
    if approved is None or not plan_settings(s.extra, confirm=s.confirm).status_command:
        return ()
    text = json.dumps(approved, sort_keys=True, separators=(",", ":"))
    return (EnvVar(APPROVED_VARIABLE, text),)


def plan_request(rt: Runtime, project: str, image: str) -> StartRequest:
    """The plan build's StartBuild: RUN_PLAN=true (RUN_MIGRATIONS=false), the pinned image,
    STATUS_COMMAND and PGOPTIONS, with its own idempotency token (``start.start_request``,
    which the dry run renders too)."""
    from . import start
    from .collaborators import invocation_id

    return start.start_request(rt.settings, project, "plan", image, None, invocation_id(rt))


def needs_status_command(rt: Runtime, settings: PlanSettings) -> None:
    if not settings.status_command:
        raise UsageError(
            f"environment {rt.settings.env!r} sets no status_command: an exact plan has "
            "nothing to run",
            NO_STATUS_COMMAND,
        )


def run_plan_build(
    rt: Runtime, image: str, settings: PlanSettings, *, guard: bool = True
) -> tuple[Status, dict[str, Any]]:
    """Start the plan build, follow its log (printed as it comes) and read the exact status
    from it: (status, the build's --json summary). A build without the one status line (an
    older buildspec on the project) is one line, exit 26."""
    from ..codebuild.commands import display
    from ..core.interrupts import deferred_interrupts
    from .builds import announce, follow_build
    from .collaborators import backend_for, project_name
    from .guards import refuse_if_running

    needs_status_command(rt, settings)
    project = project_name(rt)
    if guard:
        refuse_if_running(rt, project)
    request = plan_request(rt, project, image)
    rt.console.step(
        f"plan build: {project}: {display(settings.status_command)} in {image} "
        "(reads the migration status; migrates nothing)"
    )
    with deferred_interrupts(rt.console.warn) as held:
        build = backend_for(rt).start(request)
        announce(rt, build)
    lines: list[str] = []
    refusal = BuildRefusal()  # its status command's output unreadable: exit 26, its own line
    try:
        final = follow_build(
            rt, build, timeout=None, interrupted=held.pending, readers=(lines.append, refusal.line)
        )
    except SuiteError as failed:
        err = refusal.translate(failed)
        if err is failed:
            raise
        raise err from None
    try:
        status = status_from_log(lines)
    except StatusError as err:
        raise MigrationStatusError(
            f"plan build {build.id}: {err}; nothing was migrated",
            "run `invoke setup --apply` so the project's buildspec has the RUN_PLAN path, "
            "and check status_command prints one MIGRATION-STATUS/1 line (docs/plan.md)",
            details={"id": build.id},
        ) from None
    summary = {k: final.get(k) for k in ("id", "status", "duration", "logs")}
    return status, summary


def exact_plan_action(
    rt: Runtime,
    settings: PlanSettings,
    image: str | None,
    directory: str | None,
    allow_destructive: bool,
) -> dict[str, Any]:
    """``db.plan --exact``: the plan build's exact status, then the lint of the pending files
    taken out of the same pinned image."""
    if directory:
        raise UsageError(
            "--exact reads the database through the pinned image; --dir has no database",
            "drop --dir (choose the image with --image registry/repo@sha256:...)",
        )
    needs_status_command(rt, settings)
    pinned = pinned_image(rt, image)
    status, build = run_plan_build(rt, pinned, settings)
    s = rt.settings
    result = make_plan(
        s.env,
        settings,
        image=pinned,
        workdir=s.command_workdir,
        status=status,
        allow_destructive=allow_destructive,
    )
    for line in render(result):
        rt.console.info(line)
    return {"plan": result.as_dict(), "plan_build": build}


def wants_exact_plan(s: Settings, *, migrate: bool, yes: bool) -> bool:
    """A release runs the plan build before its prompt when a person confirms between the plan
    and the migration: plan: true, confirm: true, no --yes, and a status_command to run."""
    settings = plan_settings(s.extra, confirm=s.confirm)
    return migrate and s.confirm and not yes and settings.plan and bool(settings.status_command)


def exact_plan_step(rt: Runtime, question: str, *, seeding: bool) -> dict[str, Any]:
    """The release's ``db.plan`` step (``wants_exact_plan``): the plan build on the pinned
    image, the plan of the build context's files against that exact status (what the image was
    built from; the migration build checks their sha256 in the image), the gate, then the
    confirmation. Nothing pending: the migration build will be skipped (and, without a seed,
    nothing is left to confirm)."""
    s = rt.settings
    settings = plan_settings(s.extra, confirm=s.confirm)
    state = rt.part(ReleaseState)
    pinned = state.pinned or ""
    status, build = run_plan_build(rt, pinned, settings, guard=False)
    result = make_plan(
        s.env,
        settings,
        directory=Path(s.context),
        image=pinned,
        status=status,
        allow_destructive=state.allow_destructive,
    )
    show_and_gate(rt, result)
    state.exact = status
    out: dict[str, Any] = {"plan_build": build, "pending": list(status.pending)}
    if not status.pending:
        rt.console.info(
            f"exact status: nothing pending ({len(status.applied)} applied): "
            "the migration build will be skipped"
        )
        if not seeding:
            return out
    from .guards import confirm

    confirm(rt, question, yes=False)
    return out


def skip_migration(rt: Runtime) -> dict[str, Any] | None:
    """The release's migrate step when the exact status said nothing is pending: one line and
    the ``--json`` reason; None when the migration build must run (no exact status: the
    estimate never skips it; the build's own exact status decides)."""
    exact = rt.part(ReleaseState).exact
    if exact is None or exact.pending:
        return None
    why = f"the plan build's exact status says nothing is pending ({len(exact.applied)} applied)"
    rt.console.ok(f"db.migrate skipped: {why}; no migration build started")
    return {"skipped": True, "reason": why}


# scripts/run_in_image.py's own refusals (its exit 26 and 27), one `error: ... Fix: ...` line
_REFUSALS: tuple[tuple[re.Pattern[str], type[SuiteError]], ...] = (
    (
        re.compile(
            r"^error: (?P<what>.+ were not approved by the suite's plan: .+)\. Fix: (?P<fix>.+)$"
        ),
        MigrationNotApproved,
    ),
    (
        re.compile(
            r"^error: (?P<what>the migration status command's output is unreadable: .+)\. Fix: (?P<fix>.+)$"
        ),
        MigrationStatusError,
    ),
)


class BuildRefusal:
    """Reads a migration build's lines as they stream for the build's own refusal before it
    migrated (exit 26: unreadable status, 27: pending files the plan did not approve), so the
    suite fails with that line and the same exit code rather than a bare build FAILED."""

    def __init__(self) -> None:
        self.found: SuiteError | None = None

    def line(self, text: str) -> None:
        if self.found is not None:
            return
        for pattern, kind in _REFUSALS:
            match = pattern.match(text.strip())
            if match:
                self.found = kind(match["what"], match["fix"])

    def translate(self, err: SuiteError) -> SuiteError:
        """The refusal in place of the build's failure (same details), else ``err``."""
        from ..codebuild.model import BuildUnsuccessful

        if self.found is None or not isinstance(err, BuildUnsuccessful):
            return err
        self.found.details = {**err.details, "build_status": err.build.status}
        return self.found
