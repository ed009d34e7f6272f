"""``release-suite``: the suite as a console command (an invoke ``Program`` over its collection).

It reads ``invoke.yaml`` of the directory it runs in (as ``invoke`` reads the one next to
tasks.py), so ``release-suite release --env prod`` in a user's repository is ``invoke release
--env prod`` in this one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from invoke.program import Program

VERSION = "0.1.0"  # pyproject.toml reads it (one source); CHANGELOG.md has one entry per version
# The GitHub repository that publishes action.yml (tagged v<VERSION>): the one source of the
# action's `uses:` name, which `init` writes into workflows; pyproject's [project.urls] and
# the docs show the same (tests/unit/test_packaging.py). A fork changes it here.
ACTION_REPOSITORY = "daadaar/release-suite"


def action_ref(version: str = VERSION) -> str:
    """What a workflow's ``uses:`` names: this release of the action."""
    return f"{ACTION_REPOSITORY}@v{version}"


# tasks that run without an invoke.yaml (they write one, or only read the files given)
NO_CONFIG_TASKS = frozenset({"init"})
NO_CONFIG_FLAGS = frozenset({"--help", "-h", "--list", "-l", "--version", "-V", "--complete"})


class SuiteProgram(Program):
    def parse_collection(self) -> None:
        super().parse_collection()
        # invoke loads a project config only next to a tasks.py it found; ours is the cwd's
        self.config.set_project_location(os.getcwd())
        self.config.load_project()


def missing_config(argv: list[str], cwd: Path) -> str | None:
    """The one-line error for a task run where no invoke.yaml is, or None."""
    words = argv[1:]
    if (cwd / "invoke.yaml").exists() or not words:
        return None
    if any(w in NO_CONFIG_FLAGS for w in words):
        return None
    first_task = next((w for w in words if not w.startswith("-")), "")
    if first_task in NO_CONFIG_TASKS:
        return None
    return (
        f"error: no invoke.yaml in {cwd}. Fix: run release-suite init here (or cd to the "
        "repository that has one)"
    )


def main(argv: list[str] | None = None) -> None:
    from ..core.interrupts import claim_sigint

    claim_sigint()  # a Ctrl-C from here on is one line and exit 130, never a traceback
    argv = list(sys.argv if argv is None else argv)
    problem = missing_config(argv, Path.cwd())
    if problem:
        from ..core.console import Console

        Console().stderr_line(problem)
        raise SystemExit(2)
    from ..core.console import use_command
    from . import build_root

    namespace = build_root(Path.cwd())
    use_command("release-suite", namespace.task_names)  # hints name the command in use
    program = SuiteProgram(
        name="release-suite",
        binary="release-suite",
        binary_names=["release-suite"],
        version=VERSION,
        namespace=namespace,
    )
    try:
        program.run(argv)
    finally:  # one process, one program; a test calling main() leaves invoke's words behind
        use_command("invoke", ())
