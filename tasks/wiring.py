"""The one factory that wires the real collaborators (above every stage it wires).

``runtime_for`` turns settings into a ``Runtime`` whose parts are the production ones:
the local registry password for ``runner: local`` (``local.up``), and ``Services`` with the
backend of the environment's runner (CodeBuild, or the local runner with its brisk poll
policy) made on first use, plus what the task's flags turn off. Tests build their own
runtime and parts, or call this with their settings.

The stage modules are imported inside the functions that need them, for start-up time only
(``invoke --list`` loads this module): there is no cycle to dodge, this module sits on top.

Imports: core, image, codebuild, local, diagnose, provision, release (everything it wires);
only the invoke layer imports it.
"""

from __future__ import annotations

from collections.abc import Mapping

from .core.config import Settings
from .core.console import Console
from .core.runtime import Runtime, make_runtime


def runtime_for(
    settings: Settings,
    console: Console,
    *,
    environ: Mapping[str, str] | None = None,
    diagnose: bool = True,
    backup: bool = True,
    allow_destructive: bool = False,
) -> Runtime:
    """``diagnose=False``: --no-diagnose; ``backup=False``: --no-backup;
    ``allow_destructive``: --allow-destructive."""
    import os

    env = dict(os.environ if environ is None else environ)
    if settings.runner == "local":  # the local environment's registry password (local.up)
        from .local.environment import attach_credentials

        env = attach_credentials(settings, env)
    rt = make_runtime(settings, console, environ=env)
    wire(rt, diagnose=diagnose, backup=backup, allow_destructive=allow_destructive)
    return rt


def wire(
    rt: Runtime, *, diagnose: bool = True, backup: bool = True, allow_destructive: bool = False
) -> Runtime:
    """Install the real ``Services`` (and the release flags) on ``rt``; returns it."""
    from .codebuild.services import Services
    from .release.state import ReleaseState

    services = rt.put(Services(diagnose=diagnose))
    if rt.settings.runner == "local":
        from .codebuild.wait import PollPolicy
        from .local.runner import LOCAL_POLL, LocalBackend

        services.poll_policy = PollPolicy(**LOCAL_POLL)
        services.make_backend = lambda: LocalBackend.from_runtime(rt)
    else:
        from .release.collaborators import codebuild_backend

        services.make_backend = lambda: codebuild_backend(rt)
    state = rt.part(ReleaseState)
    state.no_backup = not backup
    state.allow_destructive = allow_destructive
    return rt
