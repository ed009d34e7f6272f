"""``invoke local.up`` / ``invoke local.down``: the local environment (engine, registry, database)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import HELP, execute

LOCAL_HELP = {**HELP, "env": "environment from invoke.yaml with runner: local (default: local)"}


@task(help=LOCAL_HELP)
def up(c: Context, env: str | None = "local", json_: bool = False) -> None:
    """Start (idempotently) Docker Engine, the local registry, PostgreSQL and the bun base image."""
    from ..local import environment as localenv

    def action(rt):  # type: ignore[no-untyped-def]
        facts = localenv.up(rt.settings, rt.environ, rt.console.ok)
        rt.console.line(f"local environment ready; state in {facts['state_dir']}")
        rt.console.line("next: invoke release --env local")
        return facts

    execute(c, action, env=env, json_=json_)


@task(
    help={**LOCAL_HELP, "purge": "also delete .release-local (database, registry data, passwords)"}
)
def down(c: Context, env: str | None = "local", json_: bool = False, purge: bool = False) -> None:
    """Stop what local.up started (a Docker Engine it found running is left alone)."""
    from ..local import environment as localenv

    execute(
        c,
        lambda rt: localenv.down(rt.settings, rt.environ, rt.console.ok, purge=purge),
        env=env,
        json_=json_,
    )
