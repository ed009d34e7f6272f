"""``invoke release``: the whole pipeline, image.check -> image.push -> db.migrate -> db.seed."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import AWS_HELP, HELP, NO_DIAGNOSE, execute
from .db import NO_BACKUP_HELP, minutes


@task(
    help={
        **HELP,
        **AWS_HELP,
        "seed": "also run a seed script after the migrations",
        "script": "seed script from the allow-list (implies --seed; default: the first one)",
        "no_migrate": "skip the migrations (image only, or --seed only)",
        "skip_build": "do not build: pin the configured tag's current digest instead",
        "dry_run": "print every step's commands and API calls; change nothing",
        "yes": "confirm for environments marked confirm: true (required without a terminal)",
        "detach": "start the migration build and return (not with --seed)",
        "timeout": "minutes each build wait may take (default: config)",
        "no_backup": NO_BACKUP_HELP,
        **NO_DIAGNOSE,
        "allow_destructive": "let the plan's destructive or locking findings through",
    }
)
def release(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    seed: bool = False,
    script: str | None = None,
    no_migrate: bool = False,
    skip_build: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    detach: bool = False,
    timeout: str | None = None,
    no_diagnose: bool = False,
    profile: str | None = None,
    region: str | None = None,
    no_backup: bool = False,
    allow_destructive: bool = False,
) -> None:
    """Check, build, push and verify the image, then run the migrations (and a seed) on it."""
    from ..release.flow import release as run_release

    execute(
        c,
        lambda rt: run_release(
            rt,
            seed=seed,
            migrate=not no_migrate,
            skip_build=skip_build,
            dry_run=dry_run,
            yes=yes,
            detach=detach,
            script=script,
            timeout=minutes(timeout),
        ),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
        no_diagnose=no_diagnose,
        no_backup=no_backup,
        allow_destructive=allow_destructive,
    )
