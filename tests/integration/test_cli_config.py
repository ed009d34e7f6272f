"""Bad configuration through the real `invoke` entry: one line, exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def project_copy(tmp_path: Path, invoke_yaml: str) -> Path:
    """A project dir using this suite's tasks.py and tasks/ with its own invoke.yaml."""
    (tmp_path / "tasks.py").symlink_to(ROOT / "tasks.py")
    (tmp_path / "tasks").symlink_to(ROOT / "tasks")
    (tmp_path / "invoke.yaml").write_text(invoke_yaml)
    return tmp_path


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("RELEASE_ENV", None)
    return subprocess.run(
        ["invoke", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("release:\n  env: prod\n\tenvironments: {}\n", "line 3"),
        ("release: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_broken_invoke_yaml_is_one_line_exit_2(tmp_path: Path, yaml_text: str, needle: str) -> None:
    done = run(project_copy(tmp_path, yaml_text), "--list")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_unknown_environment_and_bad_values(tmp_path: Path) -> None:
    project = project_copy(
        tmp_path, "release:\n  env: prod\n  environments:\n    prod:\n      account: '12'\n"
    )
    bad_account = run(project, "image.verify", "--image", "127.0.0.1:1/app:x")
    assert bad_account.returncode == 2 and "12-digit" in bad_account.stderr
    unknown = run(project, "image.check", "--env", "qa", "--json")
    assert unknown.returncode == 2
    assert '"code": 2' in unknown.stdout and "unknown environment 'qa'" in unknown.stderr
    assert "Traceback" not in bad_account.stderr + unknown.stderr


PROD = """release:
  env: prod
  environments:
    prod:
      account: "123456789012"
      region: us-east-1
      repository: app
      project: app-migrations
      secret: app/db
"""


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("      migrate_command: bun src/db/migrate.ts\n", "must be a list of strings (argv)"),
        ("      migrate_command: []\n", "migrate_command is an empty list"),
        ("      seed_commands: {demo: []}\n", "seed_commands.demo is an empty list"),
    ],
)
def test_bad_commands_are_one_line_exit_2_through_invoke(
    tmp_path: Path, extra: str, needle: str
) -> None:
    done = run(project_copy(tmp_path, PROD + extra), "release", "--dry-run", "--json")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: release.environments.prod: "), lines
    assert needle in lines[0] and '"code": 2' in done.stdout


def test_unknown_seed_name_is_one_line_exit_2(tmp_path: Path) -> None:
    project = project_copy(tmp_path, PROD + "      seed_commands: {demo: [node, seed.js]}\n")
    done = run(project, "release", "--dry-run", "--script", "organizations")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: seed script 'organizations' is not in the allow-list (demo). Fix: pick one of "
        "those, or add it under release.environments.prod.seed_commands"
    ]


def test_dry_run_json_shows_the_exact_argv_and_seed_scripts_still_read(tmp_path: Path) -> None:
    import json

    project = project_copy(
        tmp_path,
        PROD
        + "      migrate_command: [node, 'dist/my migrate.js', \"it's\", '$(id); echo']\n"
        + "      seed_scripts: [demo]\n",
    )
    done = run(project, "release", "--dry-run", "--seed", "--json")
    assert done.returncode == 0, done.stderr
    steps = {s["name"]: s["plan"] for s in json.loads(done.stdout)["steps"]}
    (migrate_line,) = [line for line in steps["db.migrate"] if line.startswith("build  $ ")]
    assert migrate_line.startswith(
        "build  $ docker run --rm --init --network host -e DATABASE_URL --entrypoint node "
        "'<pinned image>' 'dist/my migrate.js' 'it'\"'\"'s' '$(id); echo'  # entrypoint node"
    )
    (seed_line,) = [line for line in steps["db.seed"] if line.startswith("build  $ ")]
    assert "--entrypoint bun '<pinned image>' src/db/seed-demo.ts" in seed_line
    warning = [line for line in done.stderr.splitlines() if "deprecated" in line]
    assert warning == [
        "WARNING: release.environments.prod: seed_scripts is deprecated and read as "
        'seed_commands {demo: ["bun", "src/db/seed-demo.ts"]}; write that under seed_commands '
        "and delete seed_scripts"
    ]


def test_db_dry_run_shows_the_start_parameters_and_the_exact_argv(tmp_path: Path) -> None:
    import json

    project = project_copy(
        tmp_path,
        PROD
        + "      migrate_command: [node, 'my migrate.js', '$(id); echo']\n"
        + '      seed_commands: {demo: [node, seed.js, "it\'s"]}\n',
    )
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:" + "a" * 64
    done = run(project, "db.migrate", "--dry-run", "--json", "--image", image)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["command"] == ["node", "my migrate.js", "$(id); echo"]
    assert result["docker_argv"][-4:] == ["node", image, "my migrate.js", "$(id); echo"]
    overrides = {
        v["name"]: v["value"] for v in result["start_build"]["environmentVariablesOverride"]
    }
    assert overrides == {"RUN_MIGRATIONS": "true", "RUN_SEED": "false", "IMAGE_URI": image}
    assert "dry run: nothing is started" in done.stderr
    assert f"{image} 'my migrate.js' '$(id); echo'  # entrypoint node" in done.stderr
    seed = run(project, "db.seed", "--script", "demo", "--dry-run", "--json")
    assert seed.returncode == 0, seed.stderr
    planned = json.loads(seed.stdout)
    assert planned["command"] == ["node", "seed.js", "it's"]
    assert planned["docker_argv"][-3:] == [
        "<123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest pinned to its digest>",
        "seed.js",
        "it's",
    ]
    refused = run(project, "db.seed", "--script", "organizations", "--dry-run")
    assert refused.returncode == 2 and "not in the allow-list (demo)" in refused.stderr
