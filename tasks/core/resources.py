"""Files the suite reads at run time, shipped inside the package (``<package>/resources/``).

They are the repository's own ``buildspec/migrations.yml`` and ``scripts/*`` (the folder holds
links to them, so the repository's paths stay the one source and a wheel carries copies). Read
through importlib.resources, so an installed ``release_suite`` never looks for this repository.
"""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import Iterator
from importlib.resources.abc import Traversable
from pathlib import Path

# "tasks" in this repository, "release_suite" when installed
TOP = (__package__ or __name__).split(".")[0]
BUILDSPEC = "migrations.yml"


def resource(name: str) -> Traversable:
    return importlib.resources.files(f"{TOP}.resources").joinpath(name)


def read_text(name: str) -> str:
    return resource(name).read_text(encoding="utf-8")


def package_text(package: str, name: str) -> str:
    """A source file of one of the suite's own packages, read as data (the migration build
    carries ``release/status.py``: tasks/local/buildspec.py, runner_program)."""
    return importlib.resources.files(f"{TOP}.{package}").joinpath(name).read_text(encoding="utf-8")


@contextlib.contextmanager
def as_path(name: str) -> Iterator[Path]:
    """A real file path for the resource (for a program that must run it)."""
    with importlib.resources.as_file(resource(name)) as path:
        yield Path(path)


def module_name(relative: str) -> str:
    """``local.runner`` -> the full module name under this installation's top package."""
    return f"{TOP}.{relative}"


def package_parent() -> Path:
    """The folder that holds the top package (this checkout, or site-packages): what a
    ``python -m`` worker needs on its path."""
    return Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """The user's project, where relative paths of invoke.yaml resolve and .release-local
    lives: this checkout when the suite runs from it (tasks.py beside tasks/), else the current
    directory (an installed release_suite reads the invoke.yaml found there)."""
    checkout = package_parent()
    if TOP == "tasks" and (checkout / "tasks.py").is_file():
        return checkout
    return Path.cwd()


def buildspec_path(configured: str) -> Path:
    """The environment's ``buildspec``: the project's own file when it has one, else (for
    the default, unchanged path) the copy shipped in the package."""
    path = Path(configured).expanduser()
    path = path if path.is_absolute() else project_root() / path
    if path.exists() or configured != DEFAULT_BUILDSPEC:
        return path
    with as_path(BUILDSPEC) as packaged:  # a wheel is unpacked: the file stays where it is
        return packaged


DEFAULT_BUILDSPEC = "buildspec/migrations.yml"  # tasks/core/config.py Settings.buildspec default
