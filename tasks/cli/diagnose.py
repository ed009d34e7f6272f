"""``invoke diagnose``: name the cause and the fix of a failed build or a saved log."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import AWS_HELP, HELP, execute


@task(
    help={
        **HELP,
        **AWS_HELP,
        "build_id": "the build to diagnose (default: the project's most recent failed build)",
        "log": "diagnose a saved log file instead (- reads stdin)",
        "build_json": "a saved `aws codebuild batch-get-builds` response (status, phases)",
        "checks": "run follow-up checks against the registry/AWS when reachable (default on)",
    },
    positional=[],
)
def diagnose(
    c: Context,
    build_id: str | None = None,
    log: str | None = None,
    build_json: str | None = None,
    checks: bool = True,
    env: str | None = None,
    json_: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Name the cause and the fix of a failed build (its status, phases and log) or a saved log.

    ``--build-id`` (``-b``) picks the build; invoke has no optional positional arguments, so
    the id is a flag. Without it: the project's most recent failed build.
    """
    from ..diagnose.service import run
    from ..release.collaborators import backend_for
    from ..release.failure import diagnosis_checks

    def action(rt):  # type: ignore[no-untyped-def]
        if log or build_json:
            return run(rt, build_id=build_id, log=log, build_json=build_json, checks=checks)
        from ..release.snapshot import diagnose_with_restore_point

        return diagnose_with_restore_point(
            rt,
            build_id,
            checks=checks,
            backend=backend_for(rt),
            checks_factory=diagnosis_checks,
        )

    execute(c, action, env=env, json_=json_, flags={"profile": profile, "region": region})
