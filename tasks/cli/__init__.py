"""The invoke layer: one module per namespace, each ``@task`` body a few lines.

``build_root`` assembles the root collection for ``tasks.py``. Heavy libraries (boto3, docker)
are never imported here, so ``invoke --list`` stays fast.

Imports: core, image, codebuild, local, diagnose, provision, release and the wiring (it is the
top: every stage, lazily inside the task bodies); nothing in the package imports it.
"""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# invoke's own config sections: invoke dies with a traceback when one is not a mapping
INVOKE_SECTIONS = ("run", "runners", "sudo", "tasks", "timeouts")


def _check_project_config(project_dir: Path) -> None:
    """invoke itself dies with a traceback on a broken invoke.yaml; say it in one line first."""
    path = project_dir / "invoke.yaml"
    if not path.exists():
        return
    from ..core.config_file import check_structure, load_yaml_file
    from ..core.errors import SuiteError, UsageError

    try:
        # before invoke reads the file itself (it does right after importing tasks.py): a
        # non-UTF-8 file, duplicate keys or an alias bomb never reach invoke's loader
        data = load_yaml_file(path)
        if data is not None and not isinstance(data, dict):
            raise UsageError(
                f"{path} must hold a mapping at the top (release: ...)",
                "start invoke.yaml with `release:` and its keys (see docs/configuration.md)",
            )
        for key in INVOKE_SECTIONS:
            if data and data.get(key) is not None and not isinstance(data[key], dict):
                raise UsageError(
                    f"{path}: {key} must be a mapping (invoke's own settings), not a "
                    f"{type(data[key]).__name__}",
                    f"write {key}: followed by indented key: value lines, or remove it",
                )
        if data and "release" in data:
            check_structure(data["release"])
    except SuiteError as err:
        from ..core.console import Console

        Console().error(err)
        raise SystemExit(int(err.code)) from None


# Namespaces: (module under tasks.cli, collection name). A name of None adds the module's
# tasks at the root (``invoke release``, ``invoke doctor``...). One line per module.
NAMESPACES: list[tuple[str, str | None]] = [
    ("image", "image"),
    ("ecr", "ecr"),
    ("local", "local"),
    ("db", "db"),
    ("build", "build"),
    ("buildspec", "buildspec"),
    ("release", None),
    ("doctor", None),
    ("setup", None),
    ("diagnose", None),
    ("init", None),
]


def build_root(project_dir: Path | None = None) -> Collection:
    """The root collection; ``project_dir`` is where invoke found tasks.py (and reads invoke.yaml)."""
    import importlib

    from ..core.resources import project_root

    _check_project_config(project_dir or project_root())
    ns = Collection()
    for module_name, collection_name in NAMESPACES:
        module = importlib.import_module(f"{__name__}.{module_name}")
        if collection_name is None:
            for task in Collection.from_module(module).tasks.values():
                ns.add_task(task)
        else:
            ns.add_collection(Collection.from_module(module, name=collection_name))
    return ns


def __getattr__(name: str) -> Collection:
    """``from release_suite.cli import collection``: the root collection for a user's own
    tasks.py (``ns.add_collection(collection, name="release")`` or its tasks at the root),
    checking the invoke.yaml of the current directory."""
    if name == "collection":
        return build_root(Path.cwd())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
