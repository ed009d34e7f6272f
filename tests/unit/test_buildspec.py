"""Buildspec parsing: the real buildspec parses; every invalid shape is one error with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks import buildspec
from tasks.buildspec import BuildspecError, parse, render, secret_id
from tasks.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
GOOD = """version: 0.2
env:
  variables:
    A: "1"
  secrets-manager:
    DATABASE_URL: "@DATABASE_SECRET@"
phases:
  pre_build:
    commands:
      - echo pre
  build:
    on-failure: CONTINUE
    commands:
      - echo build
    finally:
      - echo done
"""


def error_of(text: str) -> BuildspecError:
    with pytest.raises(BuildspecError) as caught:
        parse(text, "bs.yml")
    assert caught.value.code == ExitCode.USAGE
    assert "\n" not in caught.value.line()
    return caught.value


def test_the_shipped_buildspec_parses_with_the_secret_rendered() -> None:
    text = render((ROOT / "buildspec/migrations.yml").read_text(), "daadaar/prod/database-url")
    spec = parse(text, "buildspec/migrations.yml")
    assert spec.version == "0.2"
    assert [p.name for p in spec.phases] == ["pre_build", "build"]
    assert dict(spec.secrets_manager) == {"DATABASE_URL": "daadaar/prod/database-url"}
    assert dict(spec.variables)["RUN_MIGRATIONS"] == "false"
    joined = "\n".join(spec.phase("build").commands)  # type: ignore[union-attr]
    assert "-e DATABASE_URL " in joined and "DATABASE_URL=" not in joined
    assert "--network host" in joined


def test_good_buildspec_fields() -> None:
    spec = parse(render(GOOD, "local/database-url"), "bs.yml")
    build = spec.phase("build")
    assert build is not None
    assert build.on_failure == "CONTINUE"
    assert build.finally_ == ("echo done",)
    assert build.line == 11
    assert spec.phase("install") is None
    assert dict(spec.variables) == {"A": "1"}


def test_bad_yaml_names_the_line() -> None:
    err = error_of("version: 0.2\nphases:\n  build:\n\tcommands:\n      - echo\n")
    assert "bs.yml: line 4" in err.message
    assert "invalid YAML" in err.message
    assert "spaces" in err.remedy


def test_unknown_phase_names_the_line_and_the_likely_one() -> None:
    err = error_of(
        "version: 0.2\nphases:\n  build:\n    commands: [ls]\n  prebuild:\n    commands: [ls]\n"
    )
    assert err.message == "bs.yml: line 5: unknown phase 'prebuild' (did you mean 'pre_build'?)"
    assert "install, pre_build, build, post_build" in err.remedy


def test_phase_without_commands_names_the_line() -> None:
    err = error_of(
        "version: 0.2\nphases:\n  install:\n    commands: [ls]\n  build:\n    on-failure: ABORT\n"
    )
    assert err.message == "bs.yml: line 5: phase 'build' has no commands"
    empty = error_of("version: 0.2\nphases:\n  build:\n")
    assert empty.message == "bs.yml: line 3: phase 'build' has no commands"
    blank_list = error_of("version: 0.2\nphases:\n  build:\n    commands: []\n")
    assert "line 4" in blank_list.message and "empty" in blank_list.message


def test_unquoted_colon_in_a_command_is_found_with_its_line() -> None:
    err = error_of(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n      - echo error: bad\n"
    )
    assert "line 6" in err.message
    assert "commands[1] must be a string, found subkeys" in err.message
    assert "quote" in err.remedy


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "line 1: the buildspec is empty"),
        ("- a\n- b\n", "line 1: the buildspec must be a mapping"),
        ("phases:\n  build:\n    commands: [ls]\n", "no 'version'"),
        ("version: 0.1\nphases:\n  build:\n    commands: [ls]\n", "line 1: version '0.1'"),
        ("version: 0.2\n", "no 'phases'"),
        (
            "version: 0.2\nphase:\n  build:\n    commands: [ls]\n",
            "line 2: unknown top-level key 'phase'",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [ls]\n    on-failure: RETRY\n",
            "line 5: on-failure 'RETRY'",
        ),
        (
            "version: 0.2\nenv:\n  variables:\n    A: [1]\nphases:\n  build:\n    commands: [ls]\n",
            "line 4: env.variables.A must be a string",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [ls]\n    comands: [ls]\n",
            "line 5: unknown key 'comands'",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [ls]\n  build:\n    commands: [ls]\n",
            "line 5: phase 'build' appears twice",
        ),
    ],
)
def test_other_invalid_shapes(text: str, needle: str) -> None:
    assert needle in error_of(text).message


def test_secret_reference_parts() -> None:
    assert secret_id("local/database-url") == "local/database-url"
    assert secret_id("prod/db:url:AWSCURRENT") == "prod/db"
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
    assert secret_id(arn + ":url") == arn
    assert buildspec.json_key(arn + ":url") == "url"
    assert buildspec.json_key("prod/db:url") == "url"
    assert buildspec.json_key("prod/db") == ""


def test_project_buildspec_is_self_contained_for_a_no_source_project() -> None:
    text = buildspec.project_buildspec(
        ROOT / "buildspec/migrations.yml", "daadaar/prod/database-url"
    )
    assert buildspec.SECRET_PLACEHOLDER not in text
    spec = parse(text, "embedded")
    variables = dict(spec.variables)
    assert variables["DB_PROBE_PY"] == (ROOT / "scripts/db_probe.py").read_text()
    assert dict(spec.secrets_manager) == {"DATABASE_URL": "daadaar/prod/database-url"}
    commands = [c for p in spec.phases for c in p.commands]
    assert 'python3 -c "$DB_PROBE_PY" --timeout "$DB_PROBE_TIMEOUT"' in commands
    assert not any("scripts/db_probe.py" in c for c in commands)
    original = parse(render((ROOT / "buildspec/migrations.yml").read_text(), "x"), "orig")
    assert [len(p.commands) for p in spec.phases] == [len(p.commands) for p in original.phases]


def test_for_codebuild_reports_lines_of_the_source_file() -> None:
    with pytest.raises(BuildspecError) as caught:
        buildspec.for_codebuild(
            "version: 0.2\nphases:\n  biuld:\n    commands: [ls]\n", "s", "", "bs.yml"
        )
    assert caught.value.message == "bs.yml: line 3: unknown phase 'biuld' (did you mean 'build'?)"
