"""The migrate and seed commands: from Settings to the project's variables and to display.

``invoke.yaml`` holds ``migrate_command`` (an argv list) and ``seed_commands`` (seed name ->
argv list; its keys are the seed allow-list) per environment. They reach the build one way
only: as the project's PLAINTEXT variables (``invoke setup`` writes them, ``invoke doctor``
checks the project still matches, the local runner sets them as a project would), JSON-encoded
so that no shell ever re-parses them. ``scripts/run_in_image.py`` turns them into
``docker run ... IMAGE argv...`` inside the build. A start sends only ``SEED_SCRIPT`` (a name),
so the allow-list lives in one place. Pure module: no boto3, docker or invoke.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from ..core.config import Settings
from ..core.errors import UsageError

MIGRATE_VARIABLE = "MIGRATE_COMMAND"
SEEDS_VARIABLE = "SEED_COMMANDS"
WORKDIR_VARIABLE = "COMMAND_WORKDIR"
ENTRYPOINT_VARIABLE = "COMMAND_ENTRYPOINT"
COMMAND_VARIABLES = (MIGRATE_VARIABLE, SEEDS_VARIABLE, WORKDIR_VARIABLE, ENTRYPOINT_VARIABLE)


def project_variables(s: Settings) -> dict[str, str]:
    """The project variables that carry the commands (values as the build reads them).

    An unset working directory is left out (CodeBuild's console refuses empty values; the
    runner reads a missing one as "the image's WORKDIR")."""
    out = {
        MIGRATE_VARIABLE: json.dumps(list(s.migrate_command)),
        SEEDS_VARIABLE: json.dumps({name: list(argv) for name, argv in s.seed_commands.items()}),
        ENTRYPOINT_VARIABLE: s.command_entrypoint,
    }
    if s.command_workdir:
        out[WORKDIR_VARIABLE] = s.command_workdir
    return out


def command_for(s: Settings, action: str, seed: str | None = None) -> tuple[str, ...]:
    """The argv an action runs in the image (the seed name must be in the allow-list)."""
    if action == "migrate":
        return s.migrate_command
    if seed is None or seed not in s.seed_commands:
        raise UsageError(
            f"seed script {seed!r} is not in the allow-list "
            f"({', '.join(s.seed_commands) or 'empty'})",
            f"pick one of those, or add it under release.environments.{s.env}.seed_commands",
        )
    return s.seed_commands[seed]


def display(argv: Sequence[str]) -> str:
    """The argv as one line a user can paste into a shell (quoting shown, never executed)."""
    return shlex.join(argv)


@cache
def _runner() -> Any:
    """``scripts/run_in_image.py`` as a module: the build runs that file (it travels inside the
    buildspec), so the plan asks the same code for the ``docker run`` argv it will execute."""
    from ..core import resources

    with resources.as_path("run_in_image.py") as path:
        spec = importlib.util.spec_from_file_location("run_in_image", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def docker_argv(s: Settings, argv: Sequence[str], image: str) -> list[str]:
    """The ``docker run`` argv the build executes for ``argv`` in ``image``."""
    return list(_runner().docker_argv(list(argv), image, s.command_workdir, s.command_entrypoint))


def where(s: Settings, argv: Sequence[str]) -> str:
    """How the argv runs in the image, for the start line and the plan."""
    entry = f"entrypoint {argv[0]}" if s.command_entrypoint == "argv" else "the image's ENTRYPOINT"
    workdir = s.command_workdir or "the image's WORKDIR"
    return f"{entry}, working directory {workdir}"


def mismatches(s: Settings, found: Mapping[str, str]) -> list[str]:
    """Which command variables of a project differ from the configuration (names only)."""
    want = project_variables(s)
    out: list[str] = []
    for name in COMMAND_VARIABLES:
        have, value = found.get(name), want.get(name, "")
        if (have or "") == value == "":
            continue  # an unset optional variable means the same as an empty one
        if have is None:
            out.append(f"{name} is missing")
        elif _normal(name, have) != _normal(name, value):
            out.append(f"{name} is {have} (invoke.yaml: {value or 'empty'})")
    return out


def _normal(name: str, value: str) -> object:
    if name in (MIGRATE_VARIABLE, SEEDS_VARIABLE):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
