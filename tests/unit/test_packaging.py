"""The package's build configuration matches the tree it packages (issue 16)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tasks.cli.program import VERSION, missing_config
from tasks.core import resources
from tests.conftest import ROOT

CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())
# what the package reads at run time, and the repository file it is a copy of
SHIPPED = {
    "migrations.yml": "buildspec/migrations.yml",
    "db_probe.py": "scripts/db_probe.py",
    "run_in_image.py": "scripts/run_in_image.py",
    "fetch_bun.sh": "scripts/fetch_bun.sh",
    "make_bun_base.sh": "scripts/make_bun_base.sh",
}


def test_every_package_folder_is_listed_under_its_installed_name() -> None:
    setuptools = CONFIG["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"release_suite": "tasks"}
    folders = sorted(
        ".".join(("release_suite", *p.parent.relative_to(ROOT / "tasks").parts))
        for p in (ROOT / "tasks").rglob("__init__.py")
    )
    assert sorted(setuptools["packages"]) == folders


def test_dependencies_are_the_pins_of_requirements_txt() -> None:
    pins = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert sorted(CONFIG["project"]["dependencies"]) == sorted(pins)


def test_version_is_one_value_with_a_changelog_entry() -> None:
    assert CONFIG["project"]["dynamic"] == ["version"]
    attr = CONFIG["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "release_suite.cli.program.VERSION"
    assert re.search(rf"^## {re.escape(VERSION)}\b", (ROOT / "CHANGELOG.md").read_text(), re.M)


def test_packaged_resources_are_the_repository_files() -> None:
    for name, source in SHIPPED.items():
        assert resources.read_text(name) == (ROOT / source).read_text(), name
    listed = sorted(p.name for p in (ROOT / "tasks" / "resources").iterdir())
    assert listed == sorted(SHIPPED)


def test_a_task_without_invoke_yaml_is_one_line_and_init_or_help_need_none(tmp_path: Path) -> None:
    line = missing_config(["release-suite", "release", "--env", "local"], tmp_path)
    assert line == (
        f"error: no invoke.yaml in {tmp_path}. Fix: run release-suite init here (or cd to the "
        "repository that has one)"
    )
    for argv in (["init", "--yes"], ["--list"], ["--version"], ["release", "--help"], []):
        assert missing_config(["release-suite", *argv], tmp_path) is None
    (tmp_path / "invoke.yaml").write_text("release: {}\n")
    assert missing_config(["release-suite", "release"], tmp_path) is None


def test_code_inside_the_package_never_names_it_tasks() -> None:
    """Installed as release_suite, an absolute ``tasks.`` import or module string would load
    the user's own tasks.py (or fail): imports are relative, module names come from
    ``__package__``/``__spec__``, files from importlib.resources."""
    import ast

    offenders = []
    for path in sorted((ROOT / "tasks").rglob("*.py")):
        if "resources" in path.relative_to(ROOT / "tasks").parts:
            continue  # the programs that run inside a build, not package code
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] == "tasks":
                    offenders.append(where)
            elif isinstance(node, ast.Import):
                offenders += [where for a in node.names if a.name.split(".")[0] == "tasks"]
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"tasks(\.[a-z_]+)+", node.value)
                and node.value != "tasks.py"
            ):
                offenders.append(where)
    assert offenders == []
