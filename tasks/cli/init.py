"""``release-suite init``: scaffold invoke.yaml (and a workflow, a buildspec copy) in a repository."""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

from .common import execute_plain

if TYPE_CHECKING:
    from ..core.console import Console


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _pick(console: Console, question: str, options: list[str]) -> str | None:
    """Number the candidates and read one (three tries); None when there is no answer."""
    for number, option in enumerate(options, 1):
        console.line(f"  {number}) {option}")
    for _ in range(3):
        try:
            answer = input(f"{question} [1-{len(options)}] ").strip()
        except EOFError:
            return None
        if answer in options:
            return answer
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return options[int(answer) - 1]
    return None


@task(
    help={
        "env": "the environment to configure: local (this machine) or an AWS one (e.g. prod)",
        "yes": "no questions: write new files, never overwrite one that differs",
        "buildspec": "also write your own copy of the buildspec (buildspec/migrations.yml)",
        "workflow": "also write .github/workflows/release.yml for --env local (always for AWS)",
        "registry_port": "port of the local registry (default 5000)",
        "database_port": "port of the local PostgreSQL (default 55439)",
        "aws": "for an AWS environment, ask STS, ECR and CodeBuild (--no-aws: do not)",
        "region": "AWS region (default: your AWS configuration)",
        "profile": "AWS profile (default: the standard credential chain)",
        "dockerfile": "the backend's Dockerfile, when the repository has several (path)",
        "tool": "the migration tool, when init finds several: drizzle, prisma, knex or alembic",
        "json_": "print exactly one JSON object on stdout",
    }
)
def init(
    c: Context,
    env: str = "local",
    yes: bool = False,
    buildspec: bool = False,
    workflow: bool = False,
    registry_port: int = 5000,
    database_port: int = 55439,
    aws: bool = True,
    region: str | None = None,
    profile: str | None = None,
    dockerfile: str | None = None,
    tool: str | None = None,
    json_: bool = False,
) -> None:
    """Scaffold invoke.yaml (environments), a CI workflow and, if asked, the buildspec here."""
    from ..core.console import Console
    from ..core.redact import Redactor
    from ..core.resources import BUILDSPEC, read_text
    from ..provision import adopt, scaffold
    from .program import VERSION, action_ref

    console = Console(json_mode=json_, redactor=Redactor())
    opts = scaffold.Options(env, registry_port, database_port, buildspec, workflow)
    facts = adopt.aws_facts(profile, console.warn) if env != "local" and aws else None
    # several Dockerfiles or tools: ask on a terminal; --yes, --json or a pipe refuse instead
    interactive = not yes and not json_ and sys.stdin.isatty()
    choose = adopt.asking(partial(_pick, console)) if interactive else adopt.refuse_to_guess
    run = partial(adopt.run, Path(os.getcwd()), opts, yes=yes, console=console, ask=_ask)
    execute_plain(
        console,
        lambda: run(
            aws=facts,
            region=region,
            version=VERSION,
            buildspec_text=read_text(BUILDSPEC),
            action_ref=action_ref(),
            choose=choose,
            dockerfile=dockerfile,
            tool=tool,
        ),
    )
