"""migrate_command / seed_commands: config validation, project variables, and the in-image
runner (scripts/run_in_image.py) that turns them into ``docker run`` argv without a shell."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.codebuild import commands as runcommands
from tasks.core.config import Settings, load_settings
from tasks.core.errors import UsageError
from tests.conftest import ROOT

RUNNER = ROOT / "scripts" / "run_in_image.py"
NASTY = ["node", "my script.js", "it's", '"quoted"', "$(touch /tmp/pwned)", "a; rm -rf /", "`id`"]


def _raw(**defaults: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "invoke.yaml").read_text())["release"]
    raw["defaults"] = {**raw["defaults"], **defaults}
    return raw


def test_defaults_are_todays_bun_commands() -> None:
    s = load_settings(_raw(), env="prod", environ={})
    assert s.migrate_command == ("bun", "src/db/migrate.ts")
    assert dict(s.seed_commands) == {"organizations": ("bun", "src/db/seed-organizations.ts")}
    assert s.seed_scripts == ("organizations",) and s.notices == ()
    bare = load_settings({"environments": {"x": {}}}, env="x", environ={})
    assert bare.migrate_command == s.migrate_command and bare.seed_commands == s.seed_commands


def test_per_environment_commands_and_json_from_the_environment() -> None:
    raw = _raw()
    raw["environments"]["staging"]["migrate_command"] = ["node", "dist/migrate.js"]
    assert load_settings(raw, env="staging", environ={}).migrate_command == (
        "node",
        "dist/migrate.js",
    )
    assert load_settings(raw, env="prod", environ={}).migrate_command[0] == "bun"
    environ = {
        "RELEASE_MIGRATE_COMMAND": json.dumps(NASTY),
        "RELEASE_SEED_COMMANDS": '{"demo": ["node", "seed.js"]}',
    }
    s = load_settings(raw, env="prod", environ=environ)
    assert s.migrate_command == tuple(NASTY)
    assert dict(s.seed_commands) == {"demo": ("node", "seed.js")}


@pytest.mark.parametrize(
    ("defaults", "needle"),
    [
        (
            {"migrate_command": "bun src/db/migrate.ts"},
            "migrate_command must be a list of strings (argv), not the string",
        ),
        ({"migrate_command": []}, "migrate_command is an empty list"),
        ({"migrate_command": [""]}, "empty program name"),
        ({"migrate_command": ["bun", {"a": 1}]}, "must hold only strings"),
        ({"seed_commands": ["organizations"]}, "seed_commands must map seed names"),
        ({"seed_commands": {"demo": "bun seed.ts"}}, "seed_commands.demo must be a list"),
        ({"seed_commands": {"demo": []}}, "seed_commands.demo is an empty list"),
        ({"seed_commands": {"../x": ["bun"]}}, "seed name '../x' is not a plain name"),
        ({"command_entrypoint": "shell"}, "command_entrypoint must be one of argv, image"),
        ({"command_workdir": "app"}, "is not an absolute path"),
    ],
)
def test_bad_command_values_are_one_line_usage_errors(
    defaults: dict[str, Any], needle: str
) -> None:
    with pytest.raises(UsageError) as info:
        load_settings(_raw(**defaults), env="prod", environ={})
    assert needle in info.value.message, info.value.message
    assert info.value.code == 2 and "\n" not in info.value.line()


def test_a_password_in_a_command_is_refused_without_being_repeated() -> None:
    argv = ["node", "migrate.js", "--url", "postgres://app:hunter22@db:5432/app"]
    with pytest.raises(UsageError) as info:
        load_settings(_raw(migrate_command=argv), env="prod", environ={})
    assert "migrate_command[3] holds a URL with a password" in info.value.message
    assert "hunter22" not in info.value.line() and "DATABASE_URL" in info.value.remedy
    plain = ["node", "migrate.js", "--url", "https://example.com/x", "user@example.com"]
    assert load_settings(_raw(migrate_command=plain), env="prod", environ={}).migrate_command[3]


def test_a_string_command_error_names_where_and_shows_the_list_to_write() -> None:
    with pytest.raises(UsageError) as info:
        load_settings(_raw(migrate_command="bun src/db/migrate.ts"), env="prod", environ={})
    assert info.value.message.startswith("release.defaults: migrate_command")
    assert 'migrate_command: ["bun", "src/db/migrate.ts"]' in info.value.remedy
    with pytest.raises(UsageError) as env_info:
        load_settings(_raw(), env="prod", environ={"RELEASE_MIGRATE_COMMAND": "[bun"})
    assert "RELEASE_MIGRATE_COMMAND is not valid JSON" in env_info.value.message


def test_legacy_seed_scripts_are_translated_with_one_notice() -> None:
    raw = _raw()
    del raw["defaults"]["seed_commands"]
    raw["environments"]["prod"]["seed_scripts"] = ["organizations", "demo"]
    s = load_settings(raw, env="prod", environ={})
    assert dict(s.seed_commands) == {
        "organizations": ("bun", "src/db/seed-organizations.ts"),
        "demo": ("bun", "src/db/seed-demo.ts"),
    }
    (notice,) = s.notices
    assert notice.startswith("release.environments.prod: seed_scripts is deprecated")
    assert '"demo": ["bun", "src/db/seed-demo.ts"]' not in notice  # rendered as YAML-ish
    assert 'demo: ["bun", "src/db/seed-demo.ts"]' in notice and "\n" not in notice


def test_seed_scripts_beside_seed_commands_is_refused() -> None:
    raw = _raw()
    raw["environments"]["prod"]["seed_scripts"] = ["organizations"]
    with pytest.raises(UsageError) as info:
        load_settings(raw, env="prod", environ={})
    assert "both seed_commands (release.defaults) and the deprecated seed_scripts" in (
        info.value.message
    )
    assert "delete seed_scripts" in info.value.remedy


def test_project_variables_round_trip_and_mismatches_name_the_variable() -> None:
    s = Settings(
        env="prod",
        migrate_command=tuple(NASTY),
        seed_commands={"demo": ("node", "seed.js")},
        command_workdir="/srv/app",
    )
    found = runcommands.project_variables(s)
    assert json.loads(found["MIGRATE_COMMAND"]) == NASTY
    assert json.loads(found["SEED_COMMANDS"]) == {"demo": ["node", "seed.js"]}
    assert runcommands.mismatches(s, found) == []
    # whitespace in the JSON a person typed into the console is not a difference
    assert (
        runcommands.mismatches(s, {**found, "SEED_COMMANDS": '{"demo":["node","seed.js"]}'}) == []
    )
    stale = {**found, "SEED_COMMANDS": '{"organizations": ["bun", "x.ts"]}'}
    stale.pop("COMMAND_WORKDIR")
    assert runcommands.mismatches(s, stale) == [
        'SEED_COMMANDS is {"organizations": ["bun", "x.ts"]} '
        '(invoke.yaml: {"demo": ["node", "seed.js"]})',
        "COMMAND_WORKDIR is missing",
    ]


def test_command_for_refuses_names_outside_the_allow_list() -> None:
    s = Settings(env="prod")
    assert runcommands.command_for(s, "seed", "organizations")[0] == "bun"
    with pytest.raises(UsageError) as info:
        runcommands.command_for(s, "seed", "../../etc/passwd")
    assert "not in the allow-list (organizations)" in info.value.message
    assert "release.environments.prod.seed_commands" in info.value.remedy


# -- scripts/run_in_image.py, run for real with a docker stand-in that records its argv ------


def _run_runner(tmp_path: Path, action: str, **variables: str) -> tuple[int, str, list[str]]:
    """Run the runner as the buildspec does, with ``docker`` a recording stand-in (a real
    executable on PATH that writes its argv as JSON): the argv must reach it unchanged."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    record = tmp_path / "argv.json"
    fake = bindir / "docker"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "if sys.argv[1:3] == ['image', 'inspect']:\n"
        "    print('/app'); sys.exit(0)\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "sys.exit(7)\n"
    )
    fake.chmod(0o755)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "IMAGE_URI": "reg/app@sha256:" + "a" * 64}
    env.update(variables)
    from tasks.local.buildspec import runner_program

    source = runner_program()  # the file as the buildspec carries it (with the status parser)
    proc = subprocess.run(  # exactly as the embedded buildspec runs it: python3 -c "$VAR" ...
        [sys.executable, "-c", source, action],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    argv = json.loads(record.read_text()) if record.exists() else []
    return proc.returncode, proc.stdout + proc.stderr, argv


def test_runner_passes_every_argument_through_untouched(tmp_path: Path) -> None:
    code, out, argv = _run_runner(
        tmp_path, "migrate", MIGRATE_COMMAND=json.dumps(NASTY), COMMAND_ENTRYPOINT="argv"
    )
    assert code == 7  # the container's exit status is the command's
    image = "reg/app@sha256:" + "a" * 64
    assert argv == [
        "run", "--rm", "--init", "--network", "host", "-e", "DATABASE_URL",
        "--entrypoint", "node", image, *NASTY[1:],
    ]  # fmt: skip
    assert not Path("/tmp/pwned").exists()
    assert f"running migrations with {shlex.join(NASTY)} (entrypoint node, in /app" in out
    assert "image working directory /app" in out


def test_runner_seed_uses_the_allow_list_workdir_and_image_entrypoint(tmp_path: Path) -> None:
    seeds = json.dumps({"demo": ["seed", "--name", "a b"]})
    code, out, argv = _run_runner(
        tmp_path,
        "seed",
        SEED_COMMANDS=seeds,
        SEED_SCRIPT="demo",
        COMMAND_WORKDIR="/srv",
        COMMAND_ENTRYPOINT="image",
    )
    assert code == 7
    assert argv[-5:] == ["/srv", "reg/app@sha256:" + "a" * 64, "seed", "--name", "a b"]
    assert "--entrypoint" not in argv and argv[-6] == "--workdir"
    assert "running seed demo with seed --name 'a b' (the image's entrypoint, in /srv" in out


@pytest.mark.parametrize(
    ("action", "variables", "needle"),
    [
        ("seed", {"SEED_COMMANDS": '{"organizations": ["bun", "s.ts"]}', "SEED_SCRIPT": "../x"},
         "error: seed script '../x' is not in the allow-list (organizations)"),
        ("seed", {"SEED_SCRIPT": "organizations"}, "error: SEED_COMMANDS is not set"),
        ("migrate", {}, "error: MIGRATE_COMMAND is not set on the project"),
        ("migrate", {"MIGRATE_COMMAND": "bun migrate.ts"}, "MIGRATE_COMMAND is not a JSON list"),
        ("migrate", {"MIGRATE_COMMAND": "[]"}, "must be a non-empty JSON list of strings"),
    ],
)  # fmt: skip
def test_runner_refuses_bad_configuration_in_one_line_without_running_docker(
    tmp_path: Path, action: str, variables: dict[str, str], needle: str
) -> None:
    code, out, argv = _run_runner(tmp_path, action, **variables)
    assert (code, argv) == (2, [])
    assert needle in out and out.count("\n") == 1 and "Fix: run `invoke setup --apply`" in out


def test_the_plan_shows_the_docker_argv_the_runner_builds() -> None:
    s = Settings(env="prod", migrate_command=tuple(NASTY))
    assert runcommands.docker_argv(s, s.migrate_command, "IMG")[-9:] == [
        "--entrypoint", "node", "IMG", *NASTY[1:],
    ]  # fmt: skip
