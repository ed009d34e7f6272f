"""``invoke db.*``: run the migrations or an allow-listed seed script on CodeBuild."""

from __future__ import annotations

from typing import Any

from invoke.context import Context
from invoke.tasks import task

from .common import AWS_HELP, HELP, NO_DIAGNOSE, execute

START_HELP = {
    **HELP,
    **AWS_HELP,
    "force": "start even if a build of the project is running (skips the concurrency guard)",
    "yes": "confirm for environments marked confirm: true (required without a terminal)",
    "detach": "return right after the start; follow later with `invoke build.wait ID`",
    "timeout": "minutes to wait before giving up (the build keeps running; default: config)",
    "image": "pinned image registry/repo@sha256:... (default: the configured tag's digest)",
    "dry_run": "show the StartBuild parameters and the exact docker run argv; start nothing",
    **NO_DIAGNOSE,
}
NO_BACKUP_HELP = (
    "skip the snapshot taken before migrating (backup: snapshot); the confirmation says so"
)
ALLOW_HELP = {"allow_destructive": "let the plan's destructive or locking findings through"}


def minutes(value: Any) -> float | None:
    """``--timeout`` in minutes (invoke passes it as text); nan, inf and 1e309 are refused."""
    if value in (None, ""):
        return None
    from ..core.config import positive_minutes

    return positive_minutes("--timeout", value)


@task(help={**START_HELP, "no_backup": NO_BACKUP_HELP, **ALLOW_HELP})
def migrate(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    force: bool = False,
    yes: bool = False,
    detach: bool = False,
    timeout: str | None = None,
    image: str | None = None,
    no_diagnose: bool = False,
    profile: str | None = None,
    region: str | None = None,
    dry_run: bool = False,
    no_backup: bool = False,
    allow_destructive: bool = False,
) -> None:
    """Run the database migrations on CodeBuild (RUN_MIGRATIONS=true) and follow every log line."""
    from ..release.db_actions import run_action

    execute(
        c,
        lambda rt: run_action(
            rt,
            "migrate",
            image=image,
            force=force,
            yes=yes,
            detach=detach,
            timeout=minutes(timeout),
            dry_run=dry_run,
        ),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
        no_diagnose=no_diagnose,
        no_backup=no_backup,
        allow_destructive=allow_destructive,
    )


@task(
    help={
        **START_HELP,
        "script": "seed name from the allow-list (the keys of release seed_commands)",
    }
)
def seed(
    c: Context,
    script: str | None = None,
    env: str | None = None,
    json_: bool = False,
    force: bool = False,
    yes: bool = False,
    detach: bool = False,
    timeout: str | None = None,
    image: str | None = None,
    no_diagnose: bool = False,
    profile: str | None = None,
    region: str | None = None,
    dry_run: bool = False,
) -> None:
    """Run an allow-listed seed script on CodeBuild (RUN_SEED=true) and follow every log line."""
    from ..release.db_actions import run_action

    execute(
        c,
        lambda rt: run_action(
            rt,
            "seed",
            script=script,
            image=image,
            force=force,
            yes=yes,
            detach=detach,
            timeout=minutes(timeout),
            dry_run=dry_run,
        ),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
        no_diagnose=no_diagnose,
    )


@task(
    help={
        **HELP,
        "image": "pinned image to take the migrations from (default: the configured tag)",
        "dir": "take the migrations from this directory instead of an image (e.g. a checkout)",
        "allow_destructive": "let destructive or locking findings through the gate",
        "exact": "run a plan build (RUN_PLAN=true) that reads the status from the database",
    }
)
def plan(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    image: str | None = None,
    dir: str | None = None,
    allow_destructive: bool = False,
    exact: bool = False,
) -> None:
    """Pending migrations (an estimate, or --exact from the database), squawk's lint, the gate."""
    from ..release.planflow import plan_action

    execute(
        c,
        lambda rt: plan_action(
            rt, image=image, directory=dir, allow_destructive=allow_destructive, exact=exact
        ),
        env=env,
        json_=json_,
    )
