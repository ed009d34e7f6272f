"""The invoke layer: one module per namespace, each ``@task`` body a few lines.

``build_root`` assembles the root collection for ``tasks.py``. Heavy libraries (boto3, docker)
are never imported here, so ``invoke --list`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke.collection import Collection

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _check_project_config() -> None:
    """invoke itself dies with a traceback on a broken invoke.yaml; say it in one line first."""
    path = PROJECT_ROOT / "invoke.yaml"
    if not path.exists():
        return
    from tasks.config import load_yaml_file
    from tasks.errors import SuiteError

    try:
        data = load_yaml_file(path)
        if data is not None and not isinstance(data, dict):
            raise SuiteError(f"{path} must hold a mapping at the top", "fix invoke.yaml")
    except SuiteError as err:
        sys.stderr.write(f"error: {err.line()}\n")
        raise SystemExit(int(err.code)) from None


def build_root() -> Collection:
    _check_project_config()
    from tasks.cli import ecr, image

    ns = Collection()
    ns.add_collection(Collection.from_module(image, name="image"))
    ns.add_collection(Collection.from_module(ecr, name="ecr"))
    return ns
