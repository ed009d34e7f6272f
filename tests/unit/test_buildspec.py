"""Buildspec parsing: AWS's documented syntax is accepted, invalid files are one error with
their line, values stay as written, and the local runner's warnings name what it skips."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.core.errors import ExitCode
from tasks.local import buildspec
from tasks.local.buildspec import BuildspecError, parse, render, secret_id

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests/samples/buildspecs"
VALID = sorted((SAMPLES / "valid").glob("*.yml"))
INVALID = sorted((SAMPLES / "invalid").glob("*.yml"))
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


def header(path: Path, field: str) -> list[str]:
    prefix = f"# {field}: "
    return [
        line[len(prefix) :] for line in path.read_text().splitlines() if line.startswith(prefix)
    ]


# -- the samples: every verdict and every warning ---------------------------------------------
def test_there_are_samples_of_both_kinds() -> None:
    assert len(VALID) >= 10 and len(INVALID) >= 20
    assert all(header(p, "verdict") == ["valid"] for p in VALID)
    assert all(header(p, "verdict") == ["invalid"] for p in INVALID)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_sample_is_accepted_with_exactly_its_warnings(path: Path) -> None:
    spec = parse(path.read_text(), path.name)
    warnings = buildspec.local_warnings(spec, lambda user: False)
    expected = header(path, "warn")
    assert len(warnings) == len(expected), warnings
    for key in expected:
        hits = [
            w
            for w in warnings
            if re.match(rf"{re.escape(path.name)}: line \d+: {re.escape(key)}: CodeBuild ", w)
        ]
        assert len(hits) == 1, (key, warnings)
        assert "; locally " in hits[0]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_sample_is_one_error_naming_its_line(path: Path) -> None:
    [expected] = header(path, "error")
    with pytest.raises(BuildspecError) as caught:
        parse(path.read_text(), path.name)
    err = caught.value
    assert err.code == ExitCode.USAGE
    assert expected in err.message
    assert err.message.startswith(f"{path.name}: ")
    assert err.remedy and "\n" not in err.line()


def _paths(node: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.add(path)
            out |= _paths(value, path)
    elif isinstance(node, list):
        for item in node:
            out |= _paths(item, prefix + "[]")
    return out


# Every key of build-spec-ref's syntax block and of the batch build buildspec reference
# (names in <> are the user's own: a report group, an artifact identifier, a runtime).
DOCUMENTED = """
version run-as
env env.shell env.variables env.parameter-store env.exported-variables env.secrets-manager
env.git-credential-helper
proxy proxy.upload-artifacts proxy.logs
batch batch.fast-fail batch.build-graph batch.build-graph[].identifier
batch.build-graph[].buildspec batch.build-graph[].debug-session batch.build-graph[].depend-on
batch.build-graph[].env batch.build-graph[].env.compute-type batch.build-graph[].env.fleet
batch.build-graph[].env.image batch.build-graph[].env.privileged-mode
batch.build-graph[].env.type batch.build-graph[].env.variables batch.build-graph[].ignore-failure
batch.build-list batch.build-list[].identifier batch.build-list[].env
batch.build-list[].ignore-failure
batch.build-matrix batch.build-matrix.static batch.build-matrix.static.ignore-failure
batch.build-matrix.static.env batch.build-matrix.dynamic batch.build-matrix.dynamic.buildspec
batch.build-matrix.dynamic.env batch.build-matrix.dynamic.env.variables
batch.build-fanout batch.build-fanout.parallelism batch.build-fanout.ignore-failure
phases phases.install phases.pre_build phases.build phases.post_build
phases.*.run-as phases.*.on-failure phases.install.runtime-versions phases.*.commands
phases.*.finally
reports reports.* reports.*.files reports.*.base-directory reports.*.discard-paths
reports.*.file-format
artifacts artifacts.files artifacts.name artifacts.discard-paths artifacts.base-directory
artifacts.exclude-paths artifacts.enable-symlinks artifacts.s3-prefix
artifacts.secondary-artifacts artifacts.secondary-artifacts.*.files
artifacts.secondary-artifacts.*.name artifacts.secondary-artifacts.*.discard-paths
artifacts.secondary-artifacts.*.base-directory
cache cache.key cache.fallback-keys cache.action cache.paths
""".split()  # noqa: SIM905


def test_the_valid_samples_use_every_documented_key() -> None:
    found: set[str] = set()
    for path in VALID:
        found |= _paths(yaml.safe_load(path.read_text()))
    missing = [key for key in DOCUMENTED if not fnmatch.filter(found, key)]
    assert not missing
    versions = {parse(p.read_text()).version for p in VALID}
    assert versions == {"0.1", "0.2"}
    failure = {ph.on_failure for p in VALID for ph in parse(p.read_text()).phases}
    assert {
        "ABORT",
        "CONTINUE",
        "RETRY",
        "RETRY-2",
        "RETRY-^Error.*",
        "RETRY-3-timed out",
    } <= failure
    shells = {parse(p.read_text()).shell for p in VALID}
    assert {"bash", "/bin/sh", "powershell.exe"} <= shells


# -- values as written -------------------------------------------------------------------------
def test_yaml_1_1_traps_keep_the_text_as_written() -> None:
    spec = parse((SAMPLES / "valid/yaml11-traps.yml").read_text())
    assert dict(spec.variables) == {
        "FLAG": "on",
        "VERSION": "1.10",
        "OCTAL": "0123",
        "EMPTY": "",
        "NO": "no",
    }


def test_merge_keys_and_anchor_only_keys() -> None:
    spec = parse((SAMPLES / "valid/merge-keys.yml").read_text())
    pre, build = spec.phases
    assert pre.on_failure == "CONTINUE" and pre.finally_ == ("echo cleanup",)
    assert build.on_failure == "ABORT"  # an explicit key wins over the merged one
    assert build.finally_ == ("echo cleanup",)


def test_phases_that_were_refused_before() -> None:
    spec = parse((SAMPLES / "valid/install-runtime-only.yml").read_text())
    install, build, post = spec.phases
    assert install.commands == () and install.runtime_versions == (("nodejs", "18"),)
    assert build.commands == () and build.finally_ == ("echo always",)
    assert post.commands == ()
    batch_only = parse((SAMPLES / "valid/batch-graph-only.yml").read_text())
    assert batch_only.phases == ()


def test_retry_variants() -> None:
    assert buildspec.retry_of("RETRY") == (3, ".*")
    assert buildspec.retry_of("RETRY-2") == (2, ".*")
    assert buildspec.retry_of("RETRY-^Error.*") == (3, "^Error.*")
    assert buildspec.retry_of("RETRY-3-timed out") == (3, "timed out")


def test_good_buildspec_fields() -> None:
    spec = parse(render(GOOD, "local/database-url"), "bs.yml")
    build = spec.phase("build")
    assert build is not None
    assert build.on_failure == "CONTINUE"
    assert build.finally_ == ("echo done",)
    assert build.line == 11
    assert spec.phase("install") is None
    assert dict(spec.variables) == {"A": "1"}


def test_the_shipped_buildspec_parses_with_the_secret_rendered() -> None:
    text = render((ROOT / "buildspec/migrations.yml").read_text(), "daadaar/prod/database-url")
    spec = parse(text, "buildspec/migrations.yml")
    assert spec.version == "0.2"
    assert [p.name for p in spec.phases] == ["pre_build", "build"]
    assert dict(spec.secrets_manager) == {"DATABASE_URL": "daadaar/prod/database-url"}
    assert dict(spec.variables)["RUN_MIGRATIONS"] == "false"
    joined = "\n".join(spec.phase("build").commands)  # type: ignore[union-attr]
    assert "DATABASE_URL" not in joined  # passed by name inside scripts/run_in_image.py
    assert 'python3 -c "$RUN_IN_IMAGE_PY" migrate' in joined
    # the commands and the seed allow-list live in the project's variables, not in here
    assert "SEED_ALLOWLIST" not in text and "docker run" not in joined
    assert not {"SEED_ALLOWLIST", "MIGRATE_SCRIPT", "MIGRATE_COMMAND"} & set(dict(spec.variables))
    assert buildspec.local_warnings(spec) == []


# -- errors ------------------------------------------------------------------------------------
def test_bad_yaml_names_the_line() -> None:
    err = error_of("version: 0.2\nphases:\n  build:\n\tcommands:\n      - echo\n")
    assert "bs.yml: line 4" in err.message
    assert "invalid YAML" in err.message
    assert "spaces" in err.remedy


def test_invalid_escape_says_how_to_write_it() -> None:
    err = error_of('version: 0.2\nphases:\n  build:\n    commands:\n      - "echo \\d"\n')
    assert "line 5" in err.message and "escape" in err.message
    assert "single quotes" in err.remedy


def test_two_phases_keys_are_refused_with_their_lines() -> None:
    """Issue 10: a second top-level phases: silently replaced the first, and the build passed."""
    err = error_of(
        "version: 0.2\nphases:\n  build:\n    commands: [exit 1]\n"
        "phases:\n  build:\n    commands: [echo ok]\n"
    )
    assert err.message == "bs.yml: line 5: duplicate key 'phases' (first at line 2)"


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    text = (SAMPLES / "invalid/alias-bomb.yml").read_text()  # 10**9 strings when expanded
    err = error_of(text)
    assert f"more than {buildspec.MAX_NODES} values" in err.message


def test_fifty_thousand_levels_of_nesting_is_one_error() -> None:
    err = error_of("version: 0.2\nphases: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert "nested too deeply" in err.message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "line 1: the buildspec is empty"),
        ("- a\n- b\n", "line 1: the buildspec must be a mapping"),
        ("phases:\n  build:\n    commands: [ls]\n", "no 'version'"),
        ("version: 0.2\n", "no 'phases'"),
        (
            "version: 0.2\nphase:\n  build:\n    commands: [ls]\n",
            "line 2: unknown key 'phase' in the buildspec (did you mean 'phases'?)",
        ),
        (
            "version: 0.2\nenv:\n  variables:\n    A: [1]\nphases:\n  build:\n    commands: [ls]\n",
            "line 4: env.variables.A must be a string",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [ls]\n    comands: [ls]\n",
            "line 5: unknown key 'comands' in phase 'build' (did you mean 'commands'?)",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [ls]\n  build:\n    commands: [ls]\n",
            "line 5: duplicate key 'build' (first at line 3)",
        ),
        ("version: 0.2\nbuild:\n  commands: [ls]\n", "'build' belongs under phases:"),
        ("version: 0.2\nvariables: {A: b}\nphases: {}\n", "'variables' belongs under env:"),
    ],
)
def test_other_invalid_shapes(text: str, needle: str) -> None:
    assert needle in error_of(text).message


def test_a_directory_binary_bytes_and_latin1_are_one_error_each(tmp_path: Path) -> None:
    with pytest.raises(BuildspecError, match="is a directory"):
        buildspec.read_text(tmp_path)
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"version: 0.2\n\x7fELF\x00\x01\x02")
    with pytest.raises(BuildspecError, match=r"line 2: binary data"):
        buildspec.read_text(binary)
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"version: 0.2\n# caf\xe9\n")
    with pytest.raises(BuildspecError, match=r"line 2: not UTF-8"):
        buildspec.read_text(latin)
    with pytest.raises(BuildspecError, match="does not exist"):
        buildspec.read_text(tmp_path / "absent.yml")


# -- never rewritten ---------------------------------------------------------------------------
def test_for_codebuild_changes_nothing_but_the_placeholders() -> None:
    text = (SAMPLES / "valid/yaml11-traps.yml").read_text() + "# the end\n"
    assert buildspec.for_codebuild(text, "s", "print(1)\n") == text
    shipped = (ROOT / "buildspec/migrations.yml").read_text()
    probe = 'import sys\nprint("it\'s \\\\ok", file=sys.stderr)\n'
    final = buildspec.for_codebuild(shipped, "prod/db", probe)
    assert final == shipped.replace("@DATABASE_SECRET@", "prod/db").replace(
        "@DB_PROBE_PY@", json.dumps(probe)[1:-1]
    )
    assert "# Registry login." in final  # comments stay
    assert dict(parse(final).variables)["DB_PROBE_PY"] == probe


def test_project_buildspec_is_self_contained_for_a_no_source_project() -> None:
    text = buildspec.project_buildspec(
        ROOT / "buildspec/migrations.yml", "daadaar/prod/database-url"
    )
    assert buildspec.SECRET_PLACEHOLDER not in text and buildspec.PROBE_PLACEHOLDER not in text
    spec = parse(text, "embedded")
    variables = dict(spec.variables)
    assert variables["DB_PROBE_PY"] == (ROOT / "scripts/db_probe.py").read_text()
    assert dict(spec.secrets_manager) == {"DATABASE_URL": "daadaar/prod/database-url"}
    commands = [c for p in spec.phases for c in p.commands]
    assert 'python3 -c "$DB_PROBE_PY" --timeout "$DB_PROBE_TIMEOUT"' in commands
    assert buildspec.RUNNER_PLACEHOLDER not in text
    # the runner as the build runs it: the repository's file with the suite's status parser in
    assert variables["RUN_IN_IMAGE_PY"] == buildspec.runner_program()
    assert (
        variables["RUN_IN_IMAGE_PY"].replace(
            "STATUS_PY = " + json.dumps((ROOT / "tasks/release/status.py").read_text()),
            'STATUS_PY = ""',
        )
        == (ROOT / "scripts/run_in_image.py").read_text()
    )
    assert '[ "$RUN_SEED" != "true" ] || python3 -c "$RUN_IN_IMAGE_PY" seed\n' in commands


def test_the_probe_placeholder_must_be_a_double_quoted_value() -> None:
    text = "version: 0.2\nenv:\n  variables:\n    DB_PROBE_PY: '@DB_PROBE_PY@'\nphases: {build: {commands: [ls]}}\n"
    with pytest.raises(BuildspecError, match="whole double-quoted value"):
        buildspec.for_codebuild(text, "s", "print(1)\n", "bs.yml")


def test_for_codebuild_reports_lines_of_the_source_file() -> None:
    with pytest.raises(BuildspecError) as caught:
        buildspec.for_codebuild(
            "version: 0.2\nphases:\n  biuld:\n    commands: [ls]\n", "s", "", "bs.yml"
        )
    assert caught.value.message == "bs.yml: line 3: unknown phase 'biuld' (did you mean 'build'?)"


# -- secrets and the check ---------------------------------------------------------------------
def test_secret_reference_parts() -> None:
    assert secret_id("local/database-url") == "local/database-url"
    assert secret_id("prod/db:url:AWSCURRENT") == "prod/db"
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
    assert secret_id(arn + ":url") == arn
    assert buildspec.reference_parts(arn + ":url:AWSPREVIOUS") == (arn, "url", "AWSPREVIOUS", "")
    assert buildspec.reference_parts("prod/db:url::v-1") == ("prod/db", "url", "", "v-1")
    assert buildspec.json_key("prod/db") == ""


def test_run_as_warns_only_when_the_runner_cannot_switch() -> None:
    spec = parse((SAMPLES / "valid/full-0.2.yml").read_text(), "f.yml")
    can = buildspec.local_warnings(spec, lambda user: True)
    cannot = buildspec.local_warnings(spec, lambda user: False)
    assert len(cannot) - len(can) == 2
    assert not any("run-as" in w for w in can)


def test_check_gives_the_verdict_and_the_warnings(tmp_path: Path) -> None:
    good = SAMPLES / "valid/install-runtime-only.yml"
    result = buildspec.check(good, "install.yml")
    assert result["valid"] and result["errors"] == [] and len(result["warnings"]) == 1
    with pytest.raises(BuildspecError) as caught:
        buildspec.check(SAMPLES / "invalid/duplicate-phases.yml", "dup.yml")
    assert caught.value.details["errors"] == [caught.value.message]
    assert caught.value.details["valid"] is False


def test_check_refuses_a_program_placeholder_outside_double_quotes(tmp_path: Path) -> None:
    path = tmp_path / "bs.yml"
    path.write_text(
        "version: 0.2\nenv:\n  variables:\n    RUN_IN_IMAGE_PY: '@RUN_IN_IMAGE_PY@'\n"
        "phases:\n  build:\n    commands: [ls]\n"
    )
    with pytest.raises(BuildspecError, match="@RUN_IN_IMAGE_PY@ must be a whole double-quoted"):
        buildspec.check(path, "bs.yml")
