"""``invoke buildspec.check``: validate a buildspec for CI (errors with lines, local warnings)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from .common import HELP, execute


@task(
    help={
        **HELP,
        "file": "the buildspec to check (default: the environment's `buildspec` setting)",
    }
)
def check(c: Context, file: str | None = None, env: str | None = None, json_: bool = False) -> None:
    """Validate a buildspec as CodeBuild reads it; list what the local runner leaves out.

    Exit 0 when the file is valid (warnings do not fail it), 2 with the first error's line.
    invoke has no optional positional arguments, so the file is ``--file`` (``-f``).
    """
    from ..local.backend import check_buildspec

    def action(rt):  # type: ignore[no-untyped-def]
        result = check_buildspec(rt.settings, file)
        for warning in result["warnings"]:
            rt.console.warn(warning)
        rt.console.ok(f"{result['file']}: a valid buildspec (version {result['version']})")
        return result

    execute(c, action, env=env, json_=json_)
