"""``release-suite init``'s discovery and plan (pure): values with their sources, no overwrite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tasks.core.config import load_settings
from tasks.provision import scaffold
from tests.conftest import ROOT


def test_sample_backend_is_discovered_with_sources(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "backend", repo)
    found = scaffold.discover(repo)
    assert found.dockerfile == scaffold.Found("Dockerfile", "found Dockerfile")
    assert found.context == scaffold.Found(".", "the folder of Dockerfile")
    assert found.migrate_command == scaffold.Found(
        ["bun", "src/db/migrate.ts"], "package.json scripts.migrate"
    )
    assert found.seed_commands is not None
    assert found.seed_commands.value == {"organizations": ["bun", "src/db/seed-organizations.ts"]}
    assert "migrate_command: bun src/db/migrate.ts (package.json scripts.migrate)" in found.lines()


def test_knex_in_a_subfolder_runs_its_cli_through_node(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "backend-knex", tmp_path / "backend")
    (tmp_path / "backend" / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "backend" / "node_modules" / "x" / "Dockerfile").write_text("FROM scratch\n")
    found = scaffold.discover(tmp_path)
    assert found.dockerfile is not None and found.dockerfile.value == "backend/Dockerfile"
    assert found.context is not None and found.context.value == "backend"
    assert found.tool == scaffold.Found("knex", "found knexfile.js")
    assert found.migrate_command is not None
    assert found.migrate_command.value == ["node", "node_modules/knex/bin/cli.js", "migrate:latest"]


def test_tool_configs_and_fallback_commands(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "prisma").mkdir()
    (tmp_path / "prisma" / "schema.prisma").write_text("")
    found = scaffold.discover(tmp_path)
    assert found.tool == scaffold.Found("prisma", "found prisma/schema.prisma")
    assert found.migrate_command == scaffold.Found(
        ["node", "node_modules/prisma/build/index.js", "migrate", "deploy"],
        "prisma's migrate command",
    )
    (tmp_path / "prisma" / "schema.prisma").unlink()
    (tmp_path / "alembic.ini").write_text("[alembic]\n")
    assert scaffold.discover(tmp_path).tool == scaffold.Found("alembic", "found alembic.ini")


def test_a_shell_script_is_not_turned_into_argv(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    package = {"name": "@acme/api", "scripts": {"migrate": "cd db && knex migrate:latest"}}
    (tmp_path / "package.json").write_text(json.dumps(package))
    found = scaffold.discover(tmp_path)
    assert found.migrate_command is None
    assert found.name == scaffold.Found("api", "package.json name")
    text = scaffold.render_config(found, scaffold.Options(), "0.1.0")
    assert "# migrate_command: [node, src/db/migrate.js]  # not found: write yours" in text


def test_rendered_config_loads_as_settings_for_local_and_aws(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "backend", tmp_path / "repo")

    def fake_aws(region: str | None) -> dict[str, scaffold.Found]:
        # a fake of the three reads init makes (sts/ecr/codebuild), not AWS
        return {
            "region": scaffold.Found("eu-west-1", "your AWS configuration"),
            "account": scaffold.Found("210987654321", "sts get-caller-identity"),
            "repository": scaffold.Found("api", "ECR describe-repositories (first of 2)"),
        }

    found = scaffold.discover(tmp_path / "repo", fake_aws)
    text = scaffold.render_config(found, scaffold.Options(env="prod", registry_port=5123), "0.1.0")
    raw = yaml.safe_load(text)["release"]
    local = load_settings(raw, env="local", environ={})
    assert local.runner == "local" and local.registry == "127.0.0.1:5123"
    assert local.migrate_command == ("bun", "src/db/migrate.ts")
    prod = load_settings(raw, env="prod", environ={})
    assert (prod.region, prod.account, prod.repository) == ("eu-west-1", "210987654321", "api")
    assert prod.project == "daadaar-backend-sample-migrations"
    assert 'account: "210987654321"  # sts get-caller-identity' in text
    assert "project: daadaar-backend-sample-migrations  # not discovered: fill in" in text


def test_plan_states_never_overwrite_and_second_run_is_unchanged(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    found = scaffold.discover(tmp_path)
    opts = scaffold.Options(env="prod", own_buildspec=True)
    writes = scaffold.plan(tmp_path, found, opts, "0.1.0", "version: 0.2\n", "o/r@v0.1.0")
    assert [w.path for w in writes] == [
        "invoke.yaml",
        "buildspec/migrations.yml",
        ".github/workflows/release.yml",
    ]
    assert [scaffold.state_of(tmp_path, w) for w in writes] == ["new"] * 3
    for w in writes:
        (tmp_path / w.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / w.path).write_text(w.text)
    again = scaffold.plan(
        tmp_path, scaffold.discover(tmp_path), opts, "0.1.0", "version: 0.2\n", "o/r@v0.1.0"
    )
    assert [scaffold.state_of(tmp_path, w) for w in again] == ["unchanged"] * 3
    (tmp_path / "invoke.yaml").write_text("release: {}\n")
    assert scaffold.state_of(tmp_path, again[0]) == "differs"
    workflow = yaml.safe_load(again[2].text)
    step = workflow["jobs"]["release"]["steps"][-1]
    assert step == {"uses": "o/r@v0.1.0", "id": "release", "with": {"env": "prod"}}


def test_local_only_writes_no_workflow_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    found = scaffold.discover(tmp_path)
    assert [w.path for w in scaffold.plan(tmp_path, found, scaffold.Options(), "v", "", "a")] == [
        "invoke.yaml"
    ]
    assert scaffold.discover(tmp_path / "missing").dockerfile is None
