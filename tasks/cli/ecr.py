"""``invoke ecr.login``: ECR token -> docker login, the password on stdin only."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import AWS_HELP, HELP, execute


@task(help={**HELP, **AWS_HELP})
def login(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Log docker in to the environment's registry (ECR token, or configured basic auth)."""
    from ..image import ecr

    execute(c, ecr.login, env=env, json_=json_, flags={"profile": profile, "region": region})
