"""The build side of the exact status (issue 14): ``scripts/run_in_image.py plan`` (the
buildspec's RUN_PLAN=true path) and the migration build's refusal of pending files the suite did
not approve (APPROVED_MIGRATIONS, exit 27). The real program runs; ``docker`` is a stand-in that
plays the status command, serves the image's files to ``docker cp`` as a tar stream (as the
real CLI does with ``-``) and records every container it is asked to run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tasks.local.buildspec import runner_program
from tasks.release.status import parse_line, status_from_log

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "scripts" / "run_in_image.py"
IMAGE = "reg/app@sha256:" + "a" * 64
FOUR = {
    "migrations/0001_drop.sql": b"ALTER TABLE users DROP COLUMN nickname;\n",
    "migrations/0002_index.sql": b"CREATE INDEX users_email ON users (email);\n",
    "migrations/0003_required.sql": b"ALTER TABLE users ADD COLUMN tier text NOT NULL;\n",
    "migrations/0004_table.sql": b"CREATE TABLE audit (id bigint PRIMARY KEY);\n",
}
TWO_OF_FOUR = (
    'MIGRATION-STATUS/1 {"tool":"daadaar-bun","applied":[{"name":"0001_drop.sql","at":'
    '"2026-11-30T05:00:00Z"},{"name":"0002_index.sql","at":"2026-11-30T05:00:01Z"}],'
    '"pending":["0003_required.sql","0004_table.sql"]}\n'
)

FAKE_DOCKER = """
import io, json, sys, tarfile
state = json.load(open(STATE))
args = sys.argv[1:]
open(CALLS, 'a').write(json.dumps(args) + '\\n')
if args[:2] == ['image', 'inspect']:
    print('/app'); sys.exit(0)
if args[0] == 'create':
    print('c0ffee'); sys.exit(0)
if args[0] == 'rm':
    sys.exit(0)
if args[0] == 'cp':
    path = args[1].split(':', 1)[1]
    prefix = '/app/'
    data = state['files'].get(path[len(prefix):]) if path.startswith(prefix) else None
    if data is None:
        sys.stderr.write('Error response from daemon: Could not find the file ' + path + ' in container c0ffee\\n')
        sys.exit(1)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        info = tarfile.TarInfo(path.rsplit('/', 1)[-1]); raw = data.encode(); info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    sys.stdout.buffer.write(buf.getvalue()); sys.exit(0)
if args[0] == 'run':
    if any('status' in a for a in args):
        sys.stdout.write(state['status']); sys.exit(state.get('status_exit', 0))
    sys.exit(0)
sys.exit(0)
"""


def run(
    tmp_path: Path,
    action: str,
    *,
    status: str = TWO_OF_FOUR,
    status_exit: int = 0,
    files: dict[str, bytes] | None = None,
    **env: str,
) -> tuple[int, str, list[list[str]]]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    calls, state = tmp_path / "calls.jsonl", tmp_path / "state.json"
    calls.unlink(missing_ok=True)
    held = {k: v.decode() for k, v in (FOUR if files is None else files).items()}
    state.write_text(json.dumps({"status": status, "status_exit": status_exit, "files": held}))
    fake = bindir / "docker"
    fake.write_text(
        f"#!{sys.executable}\nSTATE = {str(state)!r}\nCALLS = {str(calls)!r}\n" + FAKE_DOCKER
    )
    fake.chmod(0o755)
    environ = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "IMAGE_URI": IMAGE,
        "MIGRATE_COMMAND": '["bun", "src/db/migrate.ts"]',
        "STATUS_COMMAND": '["bun", "src/db/status.ts"]',
        **env,
    }
    proc = subprocess.run(
        [sys.executable, "-c", runner_program(), action],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    made = [json.loads(x) for x in calls.read_text().splitlines()] if calls.exists() else []
    return proc.returncode, proc.stdout + proc.stderr, made


def containers_run(calls: list[list[str]]) -> list[str]:
    """The last argv element of every ``docker run``: which program each container ran."""
    return [c[-1] for c in calls if c[0] == "run"]


def sums(*paths: str, files: dict[str, bytes] = FOUR) -> str:
    return json.dumps({p: hashlib.sha256(files[p]).hexdigest() for p in paths})


# -- the plan build (RUN_PLAN=true) ------------------------------------------------------------


def test_plan_prints_one_status_line_and_never_runs_the_migrate_command(tmp_path: Path) -> None:
    rc, out, calls = run(tmp_path, "plan")
    assert rc == 0, out
    assert containers_run(calls) == ["src/db/status.ts"]  # the migration never ran
    record = [ln for ln in out.splitlines() if ln.startswith("MIGRATION-STATUS/1 ")]
    assert len(record) == 1  # the command's own line is indented under "  status | "
    assert "  status | MIGRATION-STATUS/1 " in out
    status = status_from_log(out.splitlines())  # what the suite reads from the build's log
    assert status.pending == ("0003_required.sql", "0004_table.sql")
    assert [(a.name, a.at) for a in status.applied] == [
        ("0001_drop.sql", "2026-11-30T05:00:00Z"),
        ("0002_index.sql", "2026-11-30T05:00:01Z"),
    ]
    assert "nothing is migrated" in out


def test_plan_normalises_knex_migrate_list_into_the_protocol_line(tmp_path: Path) -> None:
    knex = (
        "Found 1 Completed Migration file/files.\n20261130_a.js\n"
        "Found 1 Pending Migration file/files.\n20261130_b.js\n"
    )
    rc, out, _ = run(tmp_path, "plan", status=knex)
    assert rc == 0, out
    status = status_from_log(out.splitlines())
    assert (status.tool, status.pending) == ("knex", ("20261130_b.js",))
    assert [a.name for a in status.applied] == ["20261130_a.js"]


def test_plan_without_status_command_is_one_line_exit_2(tmp_path: Path) -> None:
    rc, out, calls = run(tmp_path, "plan", STATUS_COMMAND="")
    assert rc == 2
    (line,) = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert "needs STATUS_COMMAND" in line and "Fix: start it with `invoke db.plan --exact`" in line
    assert containers_run(calls) == []


def test_plan_with_garbage_status_is_exit_26_and_no_record_line(tmp_path: Path) -> None:
    rc, out, calls = run(tmp_path, "plan", status="Segmentation fault\n")
    assert rc == 26
    assert not [ln for ln in out.splitlines() if ln.startswith("MIGRATION-STATUS/1")]
    assert containers_run(calls) == ["src/db/status.ts"]


# -- the migration build refuses what the suite did not approve (exit 27) -------------------


def test_pending_files_the_suite_approved_with_their_sha256_are_migrated(tmp_path: Path) -> None:
    approved = sums("migrations/0003_required.sql", "migrations/0004_table.sql")
    rc, out, calls = run(tmp_path, "migrate", APPROVED_MIGRATIONS=approved)
    assert rc == 0, out
    assert containers_run(calls) == ["src/db/status.ts", "src/db/migrate.ts"]
    assert "the 2 pending migration(s) are the files the suite checked" in out
    assert [c[0] for c in calls].count("rm") == 1  # the created container is removed
    # the record line comes before the migration, in the migration build too
    assert parse_line(next(ln for ln in out.splitlines() if ln.startswith("MIGRATION-STATUS/1")))


@pytest.mark.parametrize(
    ("approved", "files", "words"),
    [
        # the estimate missed a file: 0003 is pending but was never linted
        (sums("migrations/0004_table.sql"), None, "0003_required.sql (not in the plan"),
        # someone pushed another image under the tag: 0004's bytes differ from the linted ones
        (
            sums("migrations/0003_required.sql", "migrations/0004_table.sql"),
            {**FOUR, "migrations/0004_table.sql": b"DROP TABLE users;\n"},
            "migrations/0004_table.sql (another file than the one the suite linted)",
        ),
        # approved, but the image holds no such file
        (
            sums("migrations/0003_required.sql", "migrations/0004_table.sql"),
            {k: v for k, v in FOUR.items() if "0004" not in k},
            "migrations/0004_table.sql (not in the image under /app)",
        ),
    ],
)
def test_unapproved_pending_migrations_stop_the_build_with_exit_27(
    tmp_path: Path, approved: str, files: dict[str, bytes] | None, words: str
) -> None:
    rc, out, calls = run(tmp_path, "migrate", files=files, APPROVED_MIGRATIONS=approved)
    assert rc == 27, out
    errors = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], out
    assert "nothing was migrated. Fix: let the suite lint exactly these" in errors[0]
    assert containers_run(calls) == ["src/db/status.ts"]  # the migration never ran


def test_nothing_pending_needs_no_approval(tmp_path: Path) -> None:
    done = 'MIGRATION-STATUS/1 {"applied":[{"name":"0001_drop.sql"}],"pending":[]}\n'
    rc, out, calls = run(tmp_path, "migrate", status=done, APPROVED_MIGRATIONS="{}")
    assert rc == 0, out
    assert containers_run(calls) == ["src/db/status.ts", "src/db/migrate.ts"]
    assert not [c for c in calls if c[0] == "create"]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"APPROVED_MIGRATIONS": "[1]"}, "must map file paths to sha256"),
        ({"APPROVED_MIGRATIONS": "{", "STATUS_COMMAND": ""}, "needs STATUS_COMMAND"),
    ],
)
def test_a_bad_approval_list_is_one_line_exit_2(
    tmp_path: Path, env: dict[str, Any], words: str
) -> None:
    rc, out, calls = run(tmp_path, "migrate", **env)
    assert rc == 2
    (line,) = [ln for ln in out.splitlines() if ln.startswith("error:")]
    assert words in line and "Fix:" in line
    assert containers_run(calls) == []


def test_the_buildspec_runs_the_plan_path_only_when_run_plan_is_true() -> None:
    from tasks.local.buildspec import parse

    text = (RUNNER.parents[1] / "buildspec" / "migrations.yml").read_text()
    spec = parse(text, "migrations.yml")
    assert dict(spec.variables)["RUN_PLAN"] == "false"
    build = spec.phase("build")
    assert build is not None
    commands = [c.strip() for c in build.commands]
    assert '[ "$RUN_PLAN" != "true" ] || python3 -c "$RUN_IN_IMAGE_PY" plan' in commands


def test_the_build_reads_a_status_with_the_suites_own_parser(tmp_path: Path) -> None:
    """One parser: the build runs tasks/release/status.py (put into run_in_image.py when the
    buildspec is rendered), so prisma's status (its exit 1 while something is pending included)
    is read in the build exactly as the suite reads it."""
    prisma = (ROOT / "tests" / "samples" / "plan" / "prisma" / "pending.txt").read_text()
    rc, out, _ = run(tmp_path, "plan", status=prisma, status_exit=1)
    assert rc == 0, out
    status = status_from_log(out.splitlines())
    assert (status.tool, status.pending) == ("prisma", ("20201231000000_init",))
    # any other tool exiting non-zero is refused, whatever it printed
    (tmp_path / "again").mkdir()
    rc, out, _ = run(tmp_path / "again", "plan", status=TWO_OF_FOUR, status_exit=1)
    assert rc == 26 and "unreadable: it exited 1; nothing was migrated" in out
    assert 'STATUS_PY = ""' in RUNNER.read_text()  # the repository file carries no copy
