"""``invoke doctor``: prove the prerequisites of a migration build (reads AWS only)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import AWS_HELP, HELP, execute


@task(
    help={
        **HELP,
        **AWS_HELP,
        "verbose": "show the evidence behind each check",
    }
)
def doctor(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    verbose: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Check every prerequisite of a migration build (project, role, VPC, DB, secret, image)."""

    from ..provision.facts import run_doctor

    execute(
        c,
        lambda rt: run_doctor(rt, verbose=verbose),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
    )
