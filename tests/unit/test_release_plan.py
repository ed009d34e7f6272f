"""db.plan's pure parts: squawk's report as findings, the gate, the plan settings, the
migration-status protocol and knex's list, the image-history estimate (issue 14)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from tasks.codebuild.services import Services
from tasks.core.aws import AwsFactory
from tasks.core.commands import CommandRunner
from tasks.core.config import Settings
from tasks.core.console import Console
from tasks.core.errors import ConfirmationRequired, ExitCode, MigrationBlocked, UsageError
from tasks.core.runtime import Runtime
from tasks.local.buildspec import runner_program
from tasks.release import flow
from tasks.release.lint import (
    Finding,
    SquawkOutputError,
    gate,
    parse_squawk_json,
    split_files,
    squawk_argv,
)
from tasks.release.plan import pgoptions, plan_settings
from tasks.release.state import ReleaseState
from tasks.release.status import (
    PREFIX,
    Applied,
    Status,
    StatusError,
    estimate,
    parse_knex_list,
    read_status,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "plan"
# captured from squawk 2.70.0 (`squawk --reporter json --pg-version=16` over the four files of
# tests/integration/test_db_plan.py, run in /tmp/sqt)
SQUAWK_JSON = (SAMPLES / "squawk-2.70.0-four-files.json").read_text()


def test_squawk_report_becomes_findings_with_one_based_lines() -> None:
    findings = parse_squawk_json(SQUAWK_JSON)
    by_rule = {(f.file, f.rule): f for f in findings}
    drop = by_rule[("0001_drop.sql", "ban-drop-column")]
    assert drop.line == 1 and drop.category == "destructive" and "expand/contract" in drop.rewrite
    index = by_rule[("0002_index.sql", "require-concurrent-index-creation")]
    assert index.line == 2 and index.category == "locking"  # a comment sits on line 1
    assert "CONCURRENTLY" in index.rewrite
    required = by_rule[("0003_notnull.sql", "adding-required-field")]
    assert required.category == "destructive" and "nullable" in required.rewrite
    assert not any(f.gating for f in findings if f.file == "0004_table.sql")


def test_squawk_report_that_is_not_json_is_refused() -> None:
    with pytest.raises(SquawkOutputError):
        parse_squawk_json("error: something")
    with pytest.raises(SquawkOutputError):
        parse_squawk_json('[{"file": "a.sql"}]')
    assert parse_squawk_json("") == []


def test_gate_blocks_destructive_and_locking_unless_accepted_or_allowed() -> None:
    findings = parse_squawk_json(SQUAWK_JSON)
    verdict = gate(findings, {})
    assert verdict.blocked
    assert sorted(f.rule for f in verdict.blocking) == [
        "adding-required-field",
        "ban-drop-column",
        "require-concurrent-index-creation",
    ]
    accepted = gate(findings, {"ban-drop-column": "unused since v2"})
    assert [f.rule for f, _ in accepted.accepted] == ["ban-drop-column"]
    assert len(accepted.blocking) == 2 and accepted.blocked
    allowed = gate(findings, {}, allow_destructive=True)
    assert not allowed.blocked and allowed.allowed_by_flag and allowed.as_dict()["blocking"]
    harmless = [f for f in findings if f.file == "0004_table.sql"]
    assert not gate(harmless, {}).blocked


def test_squawk_argv_covers_the_timeout_rules_when_the_environment_sets_them() -> None:
    call = squawk_argv(["a.sql"], pg_version="16", timeouts_set=True, binary="sq")
    assert call.argv == (
        "sq",
        "--reporter",
        "json",
        "--pg-version=16",
        "--exclude=require-lock-timeout,require-statement-timeout",
        "--",
        "a.sql",
    )
    assert squawk_argv(["a.sql"]).covered_rules == ()


def test_js_and_ts_migrations_are_named_as_not_linted() -> None:
    sql, skipped = split_files(["m/1.sql", "m/2.js", "m/3.ts", "m/readme.md"])
    assert sql == ["m/1.sql"]
    assert [s.file for s in skipped] == ["m/2.js", "m/3.ts"]
    assert "squawk reads SQL" in skipped[0].reason


def test_plan_settings_defaults_and_bad_input() -> None:
    default = plan_settings({}, confirm=True)
    assert default.plan and "drizzle/*.sql" in default.migrations_glob
    assert "prisma/migrations/*/migration.sql" in default.migrations_glob
    assert not plan_settings({}, confirm=False).plan
    custom = plan_settings(
        {
            "migrations_glob": "sql/*.sql",
            "lock_timeout": "5s",
            "statement_timeout": "15min",
            "accept_rules": {"ban-drop-column": "unused"},
            "status_command": ["bun", "run", "status"],
        },
        confirm=False,
    )
    assert custom.migrations_glob == ("sql/*.sql",) and custom.timeouts_set
    assert pgoptions(custom) == "-c lock_timeout=5s -c statement_timeout=15min"
    assert pgoptions(custom, "-c search_path=app") == (
        "-c search_path=app -c lock_timeout=5s -c statement_timeout=15min"
    )
    for bad in (
        {"lock_timeout": "5 seconds"},
        {"lock_timeout": "0"},
        {"accept_rules": {"ban-drop-column": ""}},
        {"accept_rules": ["ban-drop-column"]},
        {"status_command": "bun run status"},
        {"plan": "maybe"},
    ):
        with pytest.raises(UsageError) as info:
            plan_settings(bad, confirm=False)
        assert info.value.code == ExitCode.USAGE and info.value.remedy


def test_protocol_line_round_trips() -> None:
    status = Status(
        tool="bun-sample",
        applied=(Applied("0001_a.sql", "2026-11-30T05:00:00Z"),),
        pending=("0002_b.sql",),
    )
    line = status.line()
    assert line.startswith(PREFIX) and "\n" not in line
    back = read_status(f"some log\n{line}\nmore\n")
    assert back.pending == ("0002_b.sql",) and back.applied[0].at == "2026-11-30T05:00:00Z"


@pytest.mark.parametrize(
    ("output", "words"),
    [
        ("", "printed nothing"),
        ("   \n", "printed nothing"),
        ("Segmentation fault\n", "no MIGRATION-STATUS/1 line"),
        (PREFIX + "{not json\n", "JSON is invalid"),
        (PREFIX + '{"pending": []}\n', "needs 'applied' and 'pending'"),
        (PREFIX + '{"applied": [], "pending": [1]}\n', "not a list of names"),
        (PREFIX + '{"applied":[],"pending":[]}\n' + PREFIX + '{"applied":[],"pending":[]}', "2"),
    ],
)
def test_garbage_or_empty_status_output_is_one_line(output: str, words: str) -> None:
    with pytest.raises(StatusError) as info:
        read_status(output)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_knex_list_with_counts_that_do_not_match_is_refused() -> None:
    lines = ["Found 2 Completed Migration file/files.", "a.js", "No Pending Migration files Found."]
    with pytest.raises(StatusError):
        parse_knex_list(lines)
    assert parse_knex_list(["hello"]) is None


def test_estimate_from_the_image_history_is_labelled() -> None:
    files = ["m/1.sql", "m/2.sql", "m/3.sql"]
    est = estimate(files, ["m/1.sql"])
    assert est.pending == ("m/2.sql", "m/3.sql") and est.source == "estimate"
    assert "estimate" in est.notes[0] and "exact status decides" in est.notes[0]
    assert estimate(files, None).pending == tuple(files)


# -- the gate in the release flow (squawk runs for real on the files) --------------------------


def _runtime(tmp_path: Path, answer: Any, **extra: Any) -> tuple[Runtime, list[str], io.StringIO]:
    mig = tmp_path / "migrations"
    mig.mkdir()
    for sample in sorted((SAMPLES / "four").glob("*.sql")):
        (mig / sample.name).write_text(sample.read_text())
    s = Settings(env="prod", project="proj", confirm=True, context=str(tmp_path), extra=extra)
    err = io.StringIO()  # the human lines and the prompt's context, in the order printed
    console = Console(out=err, err=err, color=False)
    rt = Runtime(
        s, console, AwsFactory(s), CommandRunner(console.redactor, {}), console.redactor, {}
    )
    asked: list[str] = []

    def ask(question: str) -> Any:
        asked.append(err.getvalue())  # what the user had seen when the question came
        return answer

    rt.part(Services).ask = ask
    return rt, asked, err


def test_release_in_a_confirm_env_is_blocked_before_the_prompt(tmp_path: Path) -> None:
    rt, asked, err = _runtime(tmp_path, True)
    with pytest.raises(MigrationBlocked) as info:
        flow.release(rt, yes=False)
    assert info.value.code == ExitCode.MIGRATION_BLOCKED == 25
    assert "0001_drop.sql:1 ban-drop-column" in info.value.line()
    assert "--allow-destructive" in info.value.remedy
    assert asked == []  # never asked: blocked first
    assert info.value.details["plan"]["gate"]["blocked"] is True
    assert "migrations/0002_index.sql:2: require-concurrent-index-creation" in err.getvalue()


def test_allow_destructive_lets_it_through_to_the_prompt_with_the_plan_shown(
    tmp_path: Path,
) -> None:
    rt, asked, _ = _runtime(tmp_path, False)
    rt.part(ReleaseState).allow_destructive = True
    with pytest.raises(ConfirmationRequired):  # answered "no": the gate itself let it pass
        flow.release(rt, yes=False)
    assert len(asked) == 1 and "allowed by --allow-destructive" in asked[0]
    assert "pending 4: migrations/0004_table.sql" in asked[0]


def test_accepted_rules_need_a_reason_and_let_only_those_through(tmp_path: Path) -> None:
    rt, asked, _ = _runtime(
        tmp_path,
        False,
        accept_rules={
            "ban-drop-column": "nickname unused since v2",
            "adding-required-field": "users is empty in every environment",
            "require-concurrent-index-creation": "users has 40 rows",
        },
    )
    with pytest.raises(ConfirmationRequired):
        flow.release(rt, yes=False)
    assert "accepted: migrations/0001_drop.sql:1 ban-drop-column: nickname unused" in asked[0]
    assert "gate: nothing blocks" in asked[0]


def test_plan_false_skips_the_plan(tmp_path: Path) -> None:
    rt, asked, _ = _runtime(tmp_path, False, plan=False)
    with pytest.raises(ConfirmationRequired):
        flow.release(rt, yes=False)
    assert "plan for" not in asked[0]


def test_finding_text_names_file_line_rule_and_rewrite() -> None:
    f = Finding("m/1.sql", 3, 1, "ban-drop-column", "Dropping a column may break clients.")
    assert f.text().startswith("m/1.sql:3: ban-drop-column (destructive): Dropping")
    assert "Safer: stop reading the column" in f.text()


def test_timeouts_reach_the_migration_build_as_pgoptions_by_name() -> None:
    from tasks.codebuild.commands import _runner
    from tasks.release.planflow import session_overrides

    s = Settings(env="prod", extra={"lock_timeout": "3s", "statement_timeout": "10min"})
    (var,) = session_overrides(s)
    assert (var.name, var.value) == ("PGOPTIONS", "-c lock_timeout=3s -c statement_timeout=10min")
    assert session_overrides(Settings(env="prod")) == ()
    argv = _runner().docker_argv(["bun", "m.ts"], "img@sha256:x", "", "argv", "", ("PGOPTIONS",))
    assert argv[:10] == [
        "docker", "run", "--rm", "--init", "--network", "host",
        "-e", "DATABASE_URL", "-e", "PGOPTIONS",
    ]  # fmt: skip
    assert "lock_timeout" not in " ".join(argv)  # the value stays in the environment


# -- the exact status in the build, before migrating (scripts/run_in_image.py, real process) --

RUNNER = Path(__file__).resolve().parents[2] / "scripts" / "run_in_image.py"


def _build(tmp_path: Path, status_output: str, status_exit: int = 0) -> tuple[int, str, list[Any]]:
    """The runner as the buildspec runs it; ``docker`` is a stand-in that plays the status
    command (prints ``status_output``) and records every docker run it is asked for."""
    import json
    import os
    import subprocess
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls.jsonl"
    (tmp_path / "status.txt").write_text(status_output)
    fake = bindir / "docker"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "if sys.argv[1:3] == ['image', 'inspect']:\n"
        "    print('/app'); sys.exit(0)\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if 'status' in sys.argv:\n"
        f"    sys.stdout.write(open({str(tmp_path / 'status.txt')!r}).read())\n"
        f"    sys.exit({status_exit})\n"
        "sys.exit(0)\n"
    )
    fake.chmod(0o755)
    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "IMAGE_URI": "reg/app@sha256:" + "a" * 64,
        "MIGRATE_COMMAND": '["bun", "src/db/migrate.ts"]',
        "STATUS_COMMAND": '["bun", "run", "status"]',
        "PGOPTIONS": "-c lock_timeout=5s",
    }
    proc = subprocess.run(
        [sys.executable, "-c", runner_program(), "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    runs = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return proc.returncode, proc.stdout + proc.stderr, runs


@pytest.mark.parametrize(
    ("output", "code", "words"),
    [
        ("", 0, "printed nothing"),
        ("Segmentation fault (core dumped)\n", 0, "no MIGRATION-STATUS/1 line"),
        ("MIGRATION-STATUS/1 {oops\n", 0, "JSON is invalid"),
        ('MIGRATION-STATUS/1 {"applied": [], "pending": []}\n', 3, "it exited 3"),
    ],
)
def test_garbage_or_empty_status_in_the_build_stops_before_migrating(
    tmp_path: Path, output: str, code: int, words: str
) -> None:
    rc, out, runs = _build(tmp_path, output, code)
    assert rc == 26
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and words in errors[0] and "nothing was migrated" in errors[0]
    assert "Fix: make status_command print one MIGRATION-STATUS/1 line" in errors[0]
    assert len(runs) == 1 and "status" in runs[0]  # the migration never ran


def test_a_readable_status_is_printed_as_the_record_then_the_migration_runs(
    tmp_path: Path,
) -> None:
    line = 'MIGRATION-STATUS/1 {"applied": [{"name": "0001_a.sql"}], "pending": ["0002_b.sql"]}'
    rc, out, runs = _build(tmp_path, line + "\n")
    assert rc == 0
    assert "migration status: 1 applied, 1 pending: 0002_b.sql" in out
    assert len(runs) == 2 and runs[1][-1] == "src/db/migrate.ts"
    assert runs[0][:10] == [
        "run", "--rm", "--init", "--network", "host", "-e", "DATABASE_URL", "-e", "PGOPTIONS",
        "--entrypoint",
    ]  # fmt: skip
    knex = "Found 1 Completed Migration file/files.\na.js\nFound 1 Pending Migration file/files.\nb.js\n"
    (tmp_path / "knex").mkdir()
    rc, out, _ = _build(tmp_path / "knex", knex)
    assert rc == 0 and "1 applied, 1 pending: b.js" in out


def test_status_command_reaches_the_build_as_an_override() -> None:
    from tasks.release.planflow import session_overrides

    s = Settings(env="prod", extra={"status_command": ["bun", "run", "status"]})
    assert [(v.name, v.value) for v in session_overrides(s)] == [
        ("STATUS_COMMAND", '["bun", "run", "status"]')
    ]
