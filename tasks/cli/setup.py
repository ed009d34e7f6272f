"""``invoke setup``: plan (and with --apply create) the role and the CodeBuild project."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import AWS_HELP, HELP, execute


@task(
    help={
        **HELP,
        **AWS_HELP,
        "apply": "carry out the plan (without it, only print what would change)",
    }
)
def setup(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    apply: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Plan the service role, its policy, the log group and the CodeBuild project; --apply."""

    from ..provision.setup import run_setup

    execute(
        c,
        lambda rt: run_setup(rt, carry_out=apply),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
    )
