"""Adopting the suite in another repository (issue 16), as a user does it.

The wheel is built from a copy of this repository's packaging files, installed into a fresh
virtual environment (pip fetches the pinned dependencies), and used in a temporary git
repository that holds only a copy of the sample backend: ``release-suite init``, ``local.up``
and ``release --env local`` against the real engine, registry and PostgreSQL, twice; then
through the user's own tasks.py; then the GitHub Action's shell steps with GITHUB_* set (no
local action runner installs here: ``act`` needs images from Docker Hub).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tasks.local import daemons
from tests.conftest import ROOT
from tests.helpers.bun import BUN_VERSION, ensure_bun

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
# what a source distribution of the suite holds (the wheel is built from a copy of these)
PACKAGING = (
    "pyproject.toml",
    "README.md",
    "CHANGELOG.md",
    "action.yml",
    "tasks",
    "scripts",
    "buildspec",
)
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "build", "*.egg-info")


def copy_sources(target: Path) -> Path:
    target.mkdir()
    for name in PACKAGING:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, symlinks=True, ignore=IGNORE)
        else:
            shutil.copy2(src, target / name)
    return target


def run(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Installed:
    venv: Path
    wheel: Path
    sources: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel, built from a copy of the sources, in a fresh venv (no system site-packages)."""
    base = tmp_path_factory.mktemp("adopt")
    sources = copy_sources(base / "src")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))}
    built = run(
        ["python3", "-m", "pip", "wheel", "--no-deps", "-w", str(base / "dist"), str(sources)],
        base,
        env,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((base / "dist").glob("release_suite-*.whl"))
    venv = base / "venv"
    made = run(["python3", "-m", "venv", str(venv)], base, env)
    assert made.returncode == 0, made.stderr
    pip = run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], base, env)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return Installed(venv, wheel, sources)


@dataclass
class UserRepo:
    path: Path
    env: dict[str, str]

    def suite(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run(["release-suite", *args], cwd or self.path, self.env)


@pytest.fixture
def user_repo(
    installed: Installed, tmp_path: Path, docker_host: str, docker_config: Path, bun_base: str
) -> Iterator[UserRepo]:
    """A copy of the sample backend as its own git repository, with none of this repository's
    files; the venv's bin first on PATH, nothing of this checkout on PYTHONPATH."""
    repo = tmp_path / "backend"
    shutil.copytree(ROOT / "examples" / "backend", repo, ignore=IGNORE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RELEASE_LOCAL_DIR")}
    env.update(
        PATH=f"{installed.bin}{os.pathsep}{env['PATH']}",
        DOCKER_HOST=docker_host,
        DOCKER_CONFIG=str(docker_config),
        NO_COLOR="1",
        GIT_AUTHOR_NAME="user",
        GIT_AUTHOR_EMAIL="user@example.com",
        GIT_COMMITTER_NAME="user",
        GIT_COMMITTER_EMAIL="user@example.com",
    )
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "backend"]):
        assert run(argv, repo, env).returncode == 0
    # the bun binary local.up would fetch from npm (40 MB): the test cache's, where it looks
    bun_dir = repo / ".release-local" / "bun" / BUN_VERSION
    bun_dir.mkdir(parents=True)
    (bun_dir / "bun").symlink_to(ensure_bun())
    user = UserRepo(repo, env)
    yield user
    down = user.suite("local.down", "--purge")
    assert down.returncode == 0, down.stderr


def last_json(text: str) -> dict[str, object]:
    return dict(json.loads(text))


def test_installed_command_version_list_and_resources(installed: Installed, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{installed.bin}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    version = run(["release-suite", "--version"], tmp_path, env)
    assert version.returncode == 0 and version.stdout.strip() == "release-suite 0.1.0"
    listed = run(["release-suite", "--list"], tmp_path, env)
    assert listed.returncode == 0, listed.stderr
    for name in ("release", "init", "local.up", "diagnose", "doctor", "db.migrate"):
        assert f"  {name} " in listed.stdout, name
    helped = run(["release-suite", "--help", "init"], tmp_path, env)
    assert helped.returncode == 0 and "--registry-port" in helped.stdout
    # the installed package reads its own files, and this checkout is nowhere on its path
    probe = run(
        [
            str(installed.bin / "python"),
            "-c",
            "import sys, release_suite.core.resources as r, release_suite.diagnose.catalogue as c;"
            "print(r.read_text('db_probe.py').splitlines()[0]);"
            "print(len(c.load_catalogue()));"
            "print(any('tasks' == m.split('.')[0] for m in sys.modules))",
        ],
        tmp_path,
        env,
    )
    assert probe.returncode == 0, probe.stderr
    first, count, tasks_loaded = probe.stdout.splitlines()
    assert first == (ROOT / "scripts" / "db_probe.py").read_text().splitlines()[0]
    assert int(count) > 20 and tasks_loaded == "False"


def test_init_local_up_release_twice_then_users_tasks_py(user_repo: UserRepo) -> None:
    registry_port, pg_port = daemons.free_port(), daemons.free_port()
    ports = ["--registry-port", str(registry_port), "--database-port", str(pg_port)]
    init = user_repo.suite("init", "--env", "local", "--yes", *ports)
    assert init.returncode == 0, init.stderr
    assert (
        "found migrate_command: bun src/db/migrate.ts (package.json scripts.migrate)" in init.stdout
    )
    assert "wrote invoke.yaml (configuration)" in init.stdout
    written = (user_repo.path / "invoke.yaml").read_bytes()
    again = user_repo.suite("init", "--env", "local", "--yes", *ports)
    assert again.returncode == 0 and "invoke.yaml: unchanged" in again.stdout
    assert (user_repo.path / "invoke.yaml").read_bytes() == written

    up = user_repo.suite("local.up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "local environment ready" in up.stdout
    first = user_repo.suite("release", "--env", "local", "--json")
    assert first.returncode == 0, first.stderr
    assert "migrate: 2 applied, 0 already up to date" in first.stderr
    result = last_json(first.stdout)
    assert result["ok"] is True
    second = user_repo.suite("release", "--env", "local")
    assert second.returncode == 0, second.stderr
    assert "migrate: 0 applied, 2 already up to date" in second.stdout + second.stderr
    assert (user_repo.path / ".release-local" / "credentials.json").exists()

    # a user who already has a tasks.py adds the suite's collection as a namespace
    (user_repo.path / "tasks.py").write_text(
        "from invoke import Collection, task\n"
        "from release_suite.cli import collection\n\n\n"
        "@task\ndef hello(c):\n    print('hello from the user')\n\n\n"
        "ns = Collection(hello)\nns.add_collection(collection, name='suite')\n"
    )
    own = run(["invoke", "hello"], user_repo.path, user_repo.env)
    assert own.returncode == 0 and own.stdout.strip() == "hello from the user", own.stderr
    third = run(["invoke", "suite.release", "--env", "local"], user_repo.path, user_repo.env)
    assert third.returncode == 0, third.stderr
    assert "migrate: 0 applied, 2 already up to date" in third.stdout + third.stderr

    # the action's shell steps, as GitHub runs them: install from the action's folder, release
    # (GitHub's docs, workflow syntax, `shell: bash`: runs `bash --noprofile --norc -eo pipefail {0}`)
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    steps = {s.get("id") or s.get("name"): s for s in action["runs"]["steps"]}
    runner_temp = user_repo.path.parent / "runner-temp"
    runner_temp.mkdir()
    github = {
        "GITHUB_OUTPUT": str(runner_temp / "output"),
        "GITHUB_STEP_SUMMARY": str(runner_temp / "summary.md"),
        "GITHUB_PATH": str(runner_temp / "path"),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_RUN_ID": "7",
        "GITHUB_RUN_ATTEMPT": "1",
    }
    base_env = {**user_repo.env, **github}
    base_env["PATH"] = base_env["PATH"].split(os.pathsep, 1)[1]  # not the test's venv
    install = steps["install release-suite (pinned to this action's version)"]
    env = {**base_env, "ACTION_PATH": str(user_repo.path.parent / "action")}
    shutil.copytree(ROOT, env["ACTION_PATH"], symlinks=True, ignore=_action_ignore)
    installed_step = run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", install["run"]],
        user_repo.path,
        env,
    )
    assert installed_step.returncode == 0, installed_step.stdout + installed_step.stderr
    bin_dir = (runner_temp / "path").read_text().strip()
    assert bin_dir == str(runner_temp / "release-suite" / "bin")

    release = steps["release"]
    step_env = {
        **base_env,
        "PATH": f"{bin_dir}{os.pathsep}{base_env['PATH']}",
        "RELEASE_ENV_INPUT": "local",
        "RELEASE_EXTRA_ARGS": "",
        "RELEASE_INVOCATION_ID": "7-1",
    }
    ok = run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", release["run"]],
        user_repo.path,
        step_env,
    )
    assert ok.returncode == 0, ok.stderr
    outputs = dict(line.split("=", 1) for line in (runner_temp / "output").read_text().splitlines())
    assert outputs["status"] == "SUCCEEDED" and outputs["exit_code"] == "0"
    assert outputs["build_id"] and "@sha256:" in outputs["image"]
    summary = (runner_temp / "summary.md").read_text()
    assert "### release local: ok (exit 0)" in summary and "| db.migrate | " in summary

    (runner_temp / "output").write_text("")
    bad = run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", release["run"]],
        user_repo.path,
        {**step_env, "RELEASE_ENV_INPUT": "nope"},
    )
    assert bad.returncode == 2, bad.stderr  # the exit code passes through
    outputs = dict(line.split("=", 1) for line in (runner_temp / "output").read_text().splitlines())
    assert outputs["status"] == "UsageError" and outputs["exit_code"] == "2"
    assert "error: unknown environment 'nope'" in bad.stderr
    assert "### release nope: FAILED (exit 2)" in (runner_temp / "summary.md").read_text()


def _action_ignore(folder: str, names: list[str]) -> set[str]:
    """The action's checkout: this repository without local state and vendored folders."""
    skip = {"__pycache__", ".git", ".release-local", "node_modules", ".venv", "build", "dist"}
    return {n for n in names if n in skip or n.endswith((".pyc", ".egg-info"))}


def test_bad_input_is_one_line_and_exit_2(installed: Installed, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{installed.bin}{os.pathsep}{os.environ['PATH']}",
        "NO_COLOR": "1",
    }
    env.pop("PYTHONPATH", None)
    empty = tmp_path / "empty"
    empty.mkdir()
    no_config = run(["release-suite", "release", "--env", "local"], empty, env)
    assert (no_config.returncode, no_config.stdout) == (2, "")
    assert no_config.stderr == (
        f"error: no invoke.yaml in {empty}. Fix: run release-suite init here (or cd to the "
        "repository that has one)\n"
    )
    no_dockerfile = run(["release-suite", "init", "--yes"], empty, env)
    assert no_dockerfile.returncode == 2
    assert no_dockerfile.stderr.startswith(
        f"error: no Dockerfile in {empty} (nor two folders down)."
    )
    assert len(no_dockerfile.stderr.splitlines()) == 1
    assert not (empty / "invoke.yaml").exists()
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "backend", repo, ignore=IGNORE)
    assert run(["release-suite", "init", "--yes"], repo, env).returncode == 0
    unknown = run(["release-suite", "release", "--env", "nope"], repo, env)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: unknown environment 'nope' (known: local). Fix: ")
    assert len(unknown.stderr.splitlines()) == 1
