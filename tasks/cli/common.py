"""Shared plumbing for task bodies: flags -> Settings -> Runtime, errors -> exit codes.

A task body calls :func:`execute` with one action ``(Runtime) -> dict``; the dict is the
``--json`` result. ``SuiteError`` becomes its one line and exit code; an unexpected exception
becomes one line too (``RELEASE_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke.context import Context
from invoke.exceptions import Exit

if TYPE_CHECKING:  # loaded when a task runs, not by `invoke --list` (start-up ratio, bench/)
    from ..core.config import Settings
    from ..core.console import Console
    from ..core.errors import AwsAuthError, SuiteError
    from ..core.runtime import Runtime

    Action = Callable[[Runtime], Mapping[str, Any] | None]

# invoke refuses help for parameters a task lacks: HELP fits every task (all take --env and
# --json); tasks that talk to AWS add AWS_HELP for --profile and --region.
HELP = {
    "env": "environment from invoke.yaml (release.environments); default: release.env / RELEASE_ENV",
    "json_": "print exactly one JSON object on stdout (human lines go to stderr)",
}
NO_DIAGNOSE = {"no_diagnose": "do not run `invoke diagnose` automatically when the build fails"}
AWS_HELP = {
    "profile": "AWS profile (default: the standard credential chain)",
    "region": "AWS region (default: the environment's region)",
}


def _plain(value: Any) -> Any:
    """invoke's DataProxy -> plain dicts and lists."""
    if hasattr(value, "keys") and not isinstance(value, str):
        return {k: _plain(value[k]) for k in value.keys()}  # noqa: SIM118
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def raw_config(c: Context) -> dict[str, Any]:
    release = c.config.get("release") if hasattr(c, "config") else None
    return _plain(release) if release is not None else {}


def settings_for(c: Context, env: str | None, flags: Mapping[str, Any]) -> Settings:
    from ..core.config import load_settings

    return load_settings(raw_config(c), env=env, flags=flags, environ=os.environ)


def name_environment(err: AwsAuthError, env: str, known: list[str]) -> AwsAuthError:
    """A credentials failure names the environment it was for and how to pick another: the
    newcomer whose first task aimed at AWS learns that ``--env local`` exists."""
    from ..core.errors import AwsAuthError

    others = ", ".join(name for name in known if name != env) or "none configured"
    named = AwsAuthError(
        f"{err.message} (environment {env!r})",
        f"{err.remedy.rstrip('.')}; or choose another environment with --env NAME or "
        f"RELEASE_ENV=NAME (others in invoke.yaml: {others})",
        details=err.details,
    )
    named.retryable = err.retryable
    return named


PROJECT_SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def permission_denied(exc: PermissionError) -> SuiteError:
    """A file this user may not read or write: typically state that ``sudo
    scripts/quickstart.sh`` (or a task run with sudo) made as root. One line with the command
    that gives it back, never "unexpected"."""
    import getpass
    import pwd

    from ..core.errors import LocalEnvError, UsageError
    from ..local.state import local_dir

    path = Path(str(exc.filename or ""))
    user = getpass.getuser()
    owner = "another user"
    for candidate in (path, *path.parents):
        with contextlib.suppress(OSError, KeyError):
            owner = pwd.getpwuid(candidate.stat().st_uid).pw_name
            break
    state = local_dir()
    if path == state or state in path.parents:
        return LocalEnvError(
            f"permission denied: {path} belongs to {owner} (made by a run with sudo, e.g. "
            f"sudo scripts/quickstart.sh), not to {user}",
            f"sudo {PROJECT_SCRIPTS / 'hand_over.sh'} (gives {user} the quick start's state, "
            "not the engine's own files), or run the task with sudo",
        )
    return UsageError(
        f"permission denied: {path or 'a file'} belongs to {owner}, not to {user}",
        f"sudo chown {user}: {path}, or run the task as {owner}",
    )


def execute(
    c: Context,
    action: Action,
    *,
    env: str | None = None,
    json_: bool = False,
    flags: Mapping[str, Any] | None = None,
    console: Console | None = None,
    no_diagnose: bool = False,
    no_backup: bool = False,
    allow_destructive: bool = False,
) -> None:
    """Run one action with the suite's error handling and output rules.

    ``no_diagnose`` (--no-diagnose): no automatic diagnosis of a failed build;
    ``no_backup`` (--no-backup): no snapshot before a migration; ``allow_destructive``
    (--allow-destructive): the plan's gate lets destructive or locking findings through.
    """
    from ..codebuild.wait import sigterm_as_interrupt
    from ..core.config import environment_names
    from ..core.console import Console
    from ..core.errors import AwsAuthError, ExitCode, SuiteError
    from ..core.interrupts import interrupts_raise
    from ..core.redact import Redactor
    from ..wiring import runtime_for

    console = console or Console(json_mode=json_, redactor=Redactor())
    settings: Settings | None = None
    try:
        interrupts_raise()  # Ctrl-C is KeyboardInterrupt now, even if inherited as ignored
        settings = settings_for(c, env, {k: v for k, v in (flags or {}).items() if v is not None})
        for notice in settings.notices:  # deprecations: once per run, never fatal
            console.warn(notice)
        runtime = runtime_for(
            settings,
            console,
            diagnose=not no_diagnose,
            backup=not no_backup,
            allow_destructive=allow_destructive,
        )
        # SIGTERM (a cancelled CI job) is a Ctrl-C everywhere: one line and exit 130, never a
        # silent death by signal (the wait loop turns it into StopBuild and exit 14)
        with sigterm_as_interrupt():
            result = action(runtime) or {}
        if not console.emitted:
            console.emit({"ok": True, **result})
    except SuiteError as err:
        if isinstance(err, AwsAuthError) and settings is not None:
            err = name_environment(err, settings.env, environment_names(raw_config(c)))
        console.error(err)
        raise Exit(code=int(err.code)) from None
    except KeyboardInterrupt:
        console.error(
            SuiteError(
                "interrupted",
                "rerun when ready (`invoke build.list` shows any build this run had started)",
                code=ExitCode.INTERRUPTED,
            )
        )
        raise Exit(code=int(ExitCode.INTERRUPTED)) from None
    except Exit:
        raise
    except PermissionError as exc:
        denied = permission_denied(exc)
        console.error(denied)
        raise Exit(code=int(denied.code)) from None
    except Exception as exc:
        if os.environ.get("RELEASE_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        unexpected = SuiteError(
            f"unexpected {type(exc).__name__}: {first}",
            "rerun with RELEASE_DEBUG=1 to see the traceback and report it",
        )
        console.error(unexpected)
        raise Exit(code=int(ExitCode.UNEXPECTED)) from None
    finally:
        sys.stdout.flush()


def execute_plain(console: Console, action: Callable[[], Mapping[str, Any]]) -> None:
    """A task that needs no environment (``init``): a SuiteError is its one line and exit code,
    the result the one JSON object under --json."""
    from ..core.errors import SuiteError

    try:
        result = action()
    except SuiteError as err:
        console.error(err)
        raise Exit(code=int(err.code)) from None
    console.emit({"ok": True, **result})
