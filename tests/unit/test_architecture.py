"""The design rules of the guide, enforced: pure modules stay pure, start-up stays lazy,
one module prints, one module builds AWS clients, one module declares retry policies."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "tasks"
HEAVY = ("boto3", "botocore", "docker", "invoke")
PURE = [
    "tasks.core.platforms",
    "tasks.core.references",
    "tasks.core.config",
    "tasks.core.errors",
    "tasks.core.redact",
    "tasks.image.plan",
    "tasks.image.dockerhost",
    "tasks.image.registry",
    "tasks.codebuild.model",
    "tasks.provision.policy",
    "tasks.provision.requirements",
    "tasks.provision.doctor",
    "tasks.provision.setup.planner",
    "tasks.local.buildspec",
    "tasks.release.pipeline",
    "tasks.release.start",
    "tasks.release.report",
    "tasks.diagnose.catalogue",
    "tasks.diagnose.facts",
    "tasks.diagnose.findings",
    "tasks.diagnose.literals",
    "tasks.diagnose.matcher",
    "tasks.diagnose.ranking",
    "tasks.diagnose.report",
]


def loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_neither_boto3_docker_nor_invoke(module: str) -> None:
    heavy = loaded_after_import(module) & set(HEAVY)
    assert not heavy, f"{module} pulls in {sorted(heavy)}"


def test_task_modules_load_without_boto3_or_docker() -> None:
    """`invoke --list` must not pay for boto3 or the Docker SDK (start-up benchmark)."""
    modules = sorted(p.stem for p in (TASKS / "cli").glob("*.py") if p.stem != "__init__")
    loaded = loaded_after_import(", ".join(f"tasks.cli.{m}" for m in modules))
    assert not loaded & {"boto3", "botocore", "docker"}


def _trees() -> list[tuple[Path, ast.AST]]:
    # tasks/resources/ holds the programs that run inside a build (links to scripts/), not code
    # of the package
    return [
        (path, ast.parse(path.read_text()))
        for path in sorted(TASKS.rglob("*.py"))
        if "resources" not in path.relative_to(TASKS).parts
    ]


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_console_prints() -> None:
    offenders = []
    for path, tree in _trees():
        if path.name == "console.py":
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "print"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


def test_only_the_factory_imports_boto3() -> None:
    users = {str(p.relative_to(ROOT)) for p, tree in _trees() if "boto3" in _imports(tree)}
    assert users == {"tasks/core/aws.py"}


def test_retry_policies_are_declared_in_one_place() -> None:
    users = {str(p.relative_to(ROOT)) for p, tree in _trees() if "tenacity" in _imports(tree)}
    assert users <= {"tasks/core/retrying.py", "tasks/codebuild/client.py"}
    for path, tree in _trees():
        if path.name == "retrying.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                assert name != "Retrying", f"{path}:{node.lineno} builds its own Retrying"


def test_task_bodies_stay_thin() -> None:
    """A @task body reads flags and hands over to one function: no boto3/docker calls there."""
    for path in (TASKS / "cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        assert not _imports(tree) & {"boto3", "botocore", "docker", "subprocess"}, path
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(
                getattr(d, "id", getattr(getattr(d, "func", None), "id", "")) == "task"
                for d in node.decorator_list
            ):
                body_lines = node.end_lineno - node.body[0].lineno + 1  # type: ignore[operator]
                assert body_lines <= 30, f"{path.name}:{node.name} has {body_lines} lines"
