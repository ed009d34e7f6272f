"""``invoke build.*``: follow, read, stop and list the project's builds."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import AWS_HELP, HELP, NO_DIAGNOSE, execute
from .db import minutes

ID_HELP = {**HELP, **AWS_HELP, "build_id": "the build id, project:uuid (see `invoke build.list`)"}


@task(
    help={**ID_HELP, **NO_DIAGNOSE, "timeout": "minutes to wait before giving up (default: config)"}
)
def wait(
    c: Context,
    build_id: str,
    env: str | None = None,
    json_: bool = False,
    timeout: str | None = None,
    no_diagnose: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Follow a build to its end, printing its whole log; exit with its status's code."""
    from ..release.builds import wait_build

    execute(
        c,
        lambda rt: wait_build(rt, build_id, timeout=minutes(timeout)),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
        no_diagnose=no_diagnose,
    )


@task(help={**ID_HELP, "follow": "keep printing new lines until the build ends"})
def logs(
    c: Context,
    build_id: str,
    env: str | None = None,
    json_: bool = False,
    follow: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Print a build's log (every line once, in order); --follow until it ends."""
    from ..release.builds import show_logs

    execute(
        c,
        lambda rt: show_logs(rt, build_id, follow=follow),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
    )


@task(help=ID_HELP)
def stop(
    c: Context,
    build_id: str,
    env: str | None = None,
    json_: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Stop a build (StopBuild) and wait until CodeBuild reports it ended."""
    from ..release.builds import stop_build

    execute(
        c,
        lambda rt: stop_build(rt, build_id),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
    )


def count(value: object) -> int:
    """``--limit`` as a positive whole number (invoke would die with a traceback on 'abc')."""
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        from ..core.errors import UsageError

        raise UsageError(f"--limit {value!r} is not a positive whole number", "pass e.g. --limit 5")
    return int(text)


@task(name="list", help={**HELP, **AWS_HELP, "limit": "how many builds (default 10)"})
def list_(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    limit: str = "10",
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Recent builds of the project: id, status, start, duration, action, initiator."""
    from ..release.builds import list_recent

    execute(
        c,
        lambda rt: list_recent(rt, count(limit)),
        env=env,
        json_=json_,
        flags={"profile": profile, "region": region},
    )
