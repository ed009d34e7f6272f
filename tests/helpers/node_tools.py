"""The Node migration tools and drivers for the diagnosis's live tests, from the npm registry.

``npm install --ignore-scripts`` of pinned versions into ``<RELEASE_TEST_STATE>/node-tools/<key>``
(once; concurrent sessions serialise on a file lock). None of these packages downloads anything
outside the npm registry (esbuild, under drizzle-kit, comes as its per-platform npm package).

Usage::

    from tests.helpers.node_tools import ensure_node_tools
    tools = ensure_node_tools()     # Path holding node_modules/{knex,pg,...}
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

PACKAGES = {
    "knex": "3.3.0",
    "pg": "8.23.1",
    "postgres": "3.4.9",
    "sequelize": "6.37.8",
}
STATE = Path(os.environ.get("RELEASE_TEST_STATE", "/tmp/release-suite-tests"))


class NodeToolsUnavailable(RuntimeError):
    """node/npm missing or the registry unreachable."""


def ensure_node_tools(packages: dict[str, str] | None = None) -> Path:
    packages = packages or PACKAGES
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise NodeToolsUnavailable(f"{tool} is not installed (apt-get install nodejs npm)")
    key = hashlib.sha256(json.dumps(packages, sort_keys=True).encode()).hexdigest()[:12]
    root = STATE / "node-tools" / key
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / ".installed"
        if not done.exists():
            (root / "package.json").write_text('{"name": "diagnose-tools", "private": true}\n')
            specs = [f"{name}@{version}" for name, version in sorted(packages.items())]
            proc = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", *specs],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                raise NodeToolsUnavailable(f"npm install failed: {proc.stderr.strip()[-400:]}")
            done.write_text("\n".join(specs))
    return root


def knex_project(tools: Path, work: Path, files: Mapping[str, str], knexfile: str) -> list[str]:
    """A knex project in ``work``: each of ``files`` (name -> SQL) as a ``knex.raw`` migration
    under migrations/, the knexfile, and knex's install linked beside it (its CLI wants it
    there); returns the argv that runs knex's CLI on that knexfile (add the command)."""
    migrations = work / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        body = f"exports.up = (knex) => knex.raw({sql!r});\nexports.down = () => {{}};\n"
        (migrations / name).write_text(body)
    (work / "knexfile.js").write_text(knexfile)
    if not (work / "node_modules").exists():
        (work / "node_modules").symlink_to(tools / "node_modules")
    cli = tools / "node_modules" / "knex" / "bin" / "cli.js"
    return ["node", str(cli), "--knexfile", str(work / "knexfile.js")]
