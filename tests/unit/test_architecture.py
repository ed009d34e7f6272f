"""The design rules of the guide, enforced: pure modules stay pure (their lazy imports too),
every import runs down the stages (one rule per package, which its docstring states),
start-up stays lazy, one module prints, one module builds AWS clients, one module declares
retry policies. Each static checker is also run on a deliberate violation (a fake tree or a
synthetic AST), so a rule that stopped catching anything would fail here."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.imports import (
    declared_imports,
    external,
    import_cycles,
    imports_of,
    layering_violations,
    package_imports,
    terminal_writes,
)

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "tasks"
HEAVY = ("boto3", "botocore", "docker", "invoke")
PURE = [
    "tasks.core.platforms",
    "tasks.core.references",
    "tasks.core.config",
    "tasks.core.config_file",
    "tasks.core.errors",
    "tasks.core.redact",
    "tasks.image.plan",
    "tasks.image.dockerapi",
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


# What building the root collection (`invoke --list`, every task's start) may load of the
# package's core: Ctrl-C handling, the errors, the invoke.yaml check. Settings, the console,
# the runtime and the retry policies (tenacity) load when a task runs (bench/README.md).
STARTUP_CORE = {
    "tasks.core",
    "tasks.core.config_file",
    "tasks.core.errors",
    "tasks.core.interrupts",
    "tasks.core.resources",
}


def test_start_up_loads_only_what_listing_the_tasks_needs() -> None:
    code = (  # tasks.py loaded the way invoke loads it (as the module ``tasks``)
        "import sys, importlib.util as u; s = u.spec_from_file_location('tasks', 'tasks.py');"
        " m = u.module_from_spec(s); sys.modules['tasks'] = m; s.loader.exec_module(m);"
        " print(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    assert {m for m in loaded if m.startswith("tasks.core")} == STARTUP_CORE
    assert not {m.split(".")[0] for m in loaded} & {"tenacity", "colorama", "boto3", "docker"}


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


# The modules that may write to stdout/stderr themselves, and why.
WRITERS = {
    "tasks/core/console.py": "the one printer",
    "tasks/core/interrupts.py": "a Ctrl-C at start-up can land while tasks.core.console is "
    "itself half-imported: the one line (and the --json result) is then written without it",
}


def test_only_console_prints() -> None:
    """print (to any file), sys.stdout/stderr writes and os.write(1|2) only in WRITERS."""
    offenders = []
    for path, tree in _trees():
        if str(path.relative_to(ROOT)) in WRITERS:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{line}: {text}" for line, text in terminal_writes(tree)
        ]
    assert not offenders


def test_the_exempt_writers_exist() -> None:
    assert all((ROOT / name).is_file() for name in WRITERS)
    # the console writes to the streams it is given; the start-up path writes to sys.std*
    assert terminal_writes(ast.parse((ROOT / "tasks/core/interrupts.py").read_text()))


@pytest.mark.parametrize(
    "code",
    [
        "print('x')",
        "print('x', file=sys.stderr)",
        "sys.stdout.write('x')",
        "sys.stderr.write('x')",
        "sys.stderr.writelines(['x'])",
        "sys.__stdout__.write('x')",
        "sys.stdout.buffer.write(b'x')",
        "from sys import stderr\nstderr.write('x')",
        "os.write(1, b'x')",
        "os.write(2, b'x')",
        "os.write(sys.stderr.fileno(), b'x')",
        "def later():\n    sys.stderr.write('x')",
    ],
)
def test_the_print_rule_catches(code: str) -> None:
    assert len(terminal_writes(ast.parse(code))) == 1


@pytest.mark.parametrize(
    "code", ["sys.stdout.flush()", "log.write('x')", "os.write(fd, b'x')", "sys.stdin.readline()"]
)
def test_the_print_rule_leaves_alone(code: str) -> None:
    assert terminal_writes(ast.parse(code)) == []


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


# -- pure modules, read statically: their lazy imports count ----------------------------------


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_reach_neither_boto3_docker_nor_invoke_even_lazily(module: str) -> None:
    """What the module and everything it imports may import, inside functions too, followed
    through the package (the import-time test above sees only what loads at once)."""
    reached = external(package_imports(ROOT), module)
    heavy = {name: where for name, where in reached.items() if name in HEAVY}
    assert not heavy, f"{module} reaches {heavy}"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"tasks/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            if str(parent) != "." and not (root / parent / "__init__.py").exists():
                (root / parent / "__init__.py").write_text("")
        path.write_text(text)
    return root


def test_the_purity_check_follows_lazy_imports_through_the_package(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "tasks/core/pure.py": "def f():\n    from .helper import g\n    return g()\n",
            "tasks/core/helper.py": "def g():\n    import boto3\n    return boto3\n",
            "tasks/core/clean.py": "from .types import T\n",
            "tasks/core/types.py": "T = int\n",
        },
    )
    graph = package_imports(root)
    assert (
        external(graph, "tasks.core.pure")["boto3"] == "tasks.core.helper:2: lazy import of boto3"
    )
    assert "boto3" not in external(graph, "tasks.core.clean")


def test_the_purity_check_counts_what_a_parent_package_loads(tmp_path: Path) -> None:
    """A parent's __init__ runs on import: its top-level imports count, not its functions'."""
    root = _tree(
        tmp_path,
        {
            "tasks/image/__init__.py": "from . import adapter\n",
            "tasks/image/adapter.py": "def client():\n    import docker\n",
            "tasks/image/plan.py": "X = 1\n",
            "tasks/codebuild/__init__.py": "import invoke\n",
            "tasks/codebuild/model.py": "Y = 1\n",
        },
    )
    graph = package_imports(root)
    assert "docker" not in external(graph, "tasks.image.plan")
    assert "invoke" in external(graph, "tasks.codebuild.model")


def test_type_only_imports_never_run(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "tasks/core/typed.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import docker\n"
            ),
        },
    )
    assert "docker" not in external(package_imports(root), "tasks.core.typed")


# -- one rule per package: every import runs down the stages -----------------------------------

# The stages in the order data flows through a release, each with the stages it may import.
# Lazy (function-level) and type-only (TYPE_CHECKING) imports count like any other: they are
# dependencies all the same, only loaded later or read by mypy alone.
STAGE_RULES: dict[str, tuple[str, ...]] = {
    "core": (),
    "image": ("core",),
    "codebuild": ("core",),
    "local": ("core", "codebuild"),
    "diagnose": ("core", "image", "codebuild"),
    "provision": ("core", "image", "codebuild", "local"),
    "release": ("core", "image", "codebuild", "local", "diagnose", "provision"),
    "wiring": ("core", "image", "codebuild", "local", "diagnose", "provision", "release"),
    "cli": ("core", "image", "codebuild", "local", "diagnose", "provision", "release", "wiring"),
}


def test_every_import_runs_down_the_stages() -> None:
    assert layering_violations(package_imports(ROOT), STAGE_RULES, ROOT) == []


def test_every_package_has_a_rule() -> None:
    stages = {p.name for p in TASKS.iterdir() if (p / "__init__.py").exists()} - {"resources"}
    assert stages | {"wiring"} == set(STAGE_RULES)


def test_the_rules_are_an_order() -> None:
    """No two stages may import each other, through any chain of rules (no cycle)."""
    order = list(STAGE_RULES)
    for stage, allowed in STAGE_RULES.items():
        assert all(order.index(other) < order.index(stage) for other in allowed), stage


@pytest.mark.parametrize("stage", [s for s in STAGE_RULES if s != "cli"])
@pytest.mark.parametrize(
    "form",
    [
        "from ..{to} import thing\n",
        "def later():\n    from ..{to}.deep import thing\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..{to} import Thing\n",
        "import tasks.{to}.mod\n",
        "import importlib\nimportlib.import_module('tasks.{to}.mod')\n",
    ],
)
def test_each_rule_catches_a_forbidden_import(tmp_path: Path, stage: str, form: str) -> None:
    order = list(STAGE_RULES)
    to = next(s for s in order[::-1] if s != stage and s not in STAGE_RULES[stage])
    name = "tasks/wiring.py" if stage == "wiring" else f"tasks/{stage}/x.py"
    code = form.format(to=to).replace("..", "." if stage == "wiring" else "..")
    root = _tree(tmp_path, {name: code, f"tasks/{to}/deep.py": "", f"tasks/{to}/mod.py": ""})
    bad = layering_violations(package_imports(root), STAGE_RULES, root)
    assert len(bad) == 1 and f"of tasks.{to}" in bad[0], bad


def test_a_package_without_a_rule_is_a_violation(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"tasks/newstage/x.py": "from ..core import y\n"})
    assert sorted(layering_violations(package_imports(root), STAGE_RULES, root)) == [
        "tasks.newstage.x: stage 'newstage' has no rule",
        "tasks.newstage: stage 'newstage' has no rule",  # its __init__
    ]


def test_allowed_imports_are_not_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "tasks/release/x.py": "from ..diagnose import service\nfrom . import y\n",
            "tasks/release/y.py": "def f():\n    from ..core.config import Settings\n",
        },
    )
    assert layering_violations(package_imports(root), STAGE_RULES, root) == []


def test_relative_imports_resolve_against_the_package() -> None:
    found = {i.target for i in imports_of("tasks.release.flow", TASKS / "release" / "flow.py")}
    assert "tasks.release.db_actions" in found and "tasks.codebuild.wait" in found


# -- each package says its job and its rule ----------------------------------------------------


@pytest.mark.parametrize("stage", list(STAGE_RULES))
def test_the_package_docstring_states_its_import_rule(stage: str) -> None:
    path = TASKS / "wiring.py" if stage == "wiring" else TASKS / stage / "__init__.py"
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert doc.split("\n", 1)[0].strip(), f"{path}: no one-line job"
    assert declared_imports(doc, STAGE_RULES) == set(STAGE_RULES[stage]), path


def test_the_docstring_reader_takes_the_names_before_the_first_semicolon() -> None:
    doc = "Job.\n\nImports: core, and codebuild (the model it implements); never image or cli.\n"
    assert declared_imports(doc, STAGE_RULES) == {"core", "codebuild"}
    assert (
        declared_imports("Job.\n\nImports: the standard library; never a stage.", STAGE_RULES)
        == set()
    )
    assert declared_imports("Job only.", STAGE_RULES) is None


def test_the_readme_layout_names_the_package_of_every_stage_in_data_flow_order() -> None:
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout") :]
    layout = layout[: layout.index("\n## ", 1)]
    named = ["tasks/wiring.py" if s == "wiring" else f"tasks/{s}/" for s in STAGE_RULES]
    assert [n for n in named if n not in layout] == []
    flow = layout[layout.index("```") : layout.index("```", layout.index("```") + 3)]
    assert [flow.index(s) for s in ("core", "image", "codebuild", "diagnose")] == sorted(
        flow.index(s) for s in ("core", "image", "codebuild", "diagnose")
    )


# -- no cycle, not even one a lazy import hides -------------------------------------------------


def test_no_module_imports_itself_back_even_lazily() -> None:
    assert import_cycles(package_imports(ROOT)) == []


def test_the_cycle_check_sees_a_cycle_a_lazy_import_hides(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "tasks/release/a.py": "from . import b\n",
            "tasks/release/b.py": "def f():\n    from .c import g\n",
            "tasks/release/c.py": "def g():\n    from . import a\n",
            "tasks/release/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import e\n",
            "tasks/release/e.py": "from . import d\n",
        },
    )
    assert import_cycles(package_imports(root)) == [
        ["tasks.release.a", "tasks.release.b", "tasks.release.c"]
    ]
