"""db.plan on the real components (issue 14): squawk from the pinned squawk-cli over a migration
set, `invoke db.plan` end to end, knex's own status (`knex migrate:list`) against PostgreSQL
after 2 of 4 migrations, PGOPTIONS reaching a real knex migration's session (SHOW lock_timeout),
and a lock held by another session making the migration fail fast with 55P03."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.local import daemons
from tasks.release.status import read_status
from tests.helpers.node_tools import ensure_node_tools, knex_project

ROOT = Path(__file__).resolve().parents[2]
FOUR = ROOT / "tests" / "samples" / "plan" / "four"
PASSWORD = "Plan-pw-5c1e9a"  # must never show in any output

KNEXFILE = """module.exports = {
  client: "pg",
  connection: process.env.DATABASE_URL,
  pool: { min: 0, max: 1 },
  migrations: { directory: "./migrations" },
};
"""

# the four migrations as knex files (knex.raw), the same SQL as the squawk set
KNEX_SET = {
    "20260101000001_create_users.js": "CREATE TABLE users (id bigint PRIMARY KEY, "
    "email text, nickname text)",
    "20260101000002_drop_nickname.js": "ALTER TABLE users DROP COLUMN nickname",
    "20260101000003_index_email.js": "CREATE INDEX users_email_idx ON users (email)",
    "20260101000004_audit.js": "CREATE TABLE audit (id bigint PRIMARY KEY, note text)",
}


def invoke(args: list[str], cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(ROOT), "-f", str(config), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_db_plan_lists_each_finding_against_its_file_and_line(tmp_path: Path) -> None:
    work = tmp_path / "app"
    (work / "migrations").mkdir(parents=True)
    for sql in FOUR.glob("*.sql"):
        (work / "migrations" / sql.name).write_text(sql.read_text())
    (work / "migrations" / "0005_seed.js").write_text("exports.up = () => {};\n")
    config = tmp_path / "invoke.yaml"
    config.write_text(
        "release:\n  environments:\n    local:\n      postgres_version: '16'\n"
        "      lock_timeout: 5s\n      statement_timeout: 1min\n"
    )
    proc = invoke(["db.plan", "--env", "local", "--dir", str(work), "--json"], tmp_path, config)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)["plan"]
    where = {(f["file"], f["line"], f["rule"]) for f in plan["findings"]}
    assert ("migrations/0001_drop.sql", 1, "ban-drop-column") in where
    assert ("migrations/0002_index.sql", 2, "require-concurrent-index-creation") in where
    assert ("migrations/0003_notnull.sql", 1, "adding-required-field") in where
    assert not [f for f in plan["findings"] if f["file"].endswith("0004_table.sql") and
                f["category"] != "advisory"]  # fmt: skip
    # the environment sets both timeouts: squawk's two timeout rules are covered, not reported
    assert plan["covered_rules"] == ["require-lock-timeout", "require-statement-timeout"]
    assert not [f for f in plan["findings"] if f["rule"] == "require-lock-timeout"]
    assert plan["not_linted"][0]["file"] == "migrations/0005_seed.js"
    assert plan["status"]["source"] == "estimate" and len(plan["status"]["pending"]) == 5
    assert plan["gate"]["blocked"] is True and len(plan["gate"]["blocking"]) == 3
    human = invoke(["db.plan", "--env", "local", "--dir", str(work)], tmp_path, config)
    assert "ESTIMATE" in human.stdout
    assert "migrations/0002_index.sql:2: require-concurrent-index-creation" in human.stdout
    assert "not linted: migrations/0005_seed.js" in human.stdout


@pytest.fixture(scope="module")
def node_tools() -> Path:
    return ensure_node_tools()


@pytest.fixture
def db_url(postgres: daemons.Postgres) -> str:
    daemons.psql(postgres, "DROP DATABASE IF EXISTS plan_db WITH (FORCE)")
    return daemons.ensure_database(postgres, "plan_db", "plan_user", PASSWORD).replace(
        "localhost", "127.0.0.1"
    )


def knex(
    tools: Path, work: Path, files: dict[str, str], url: str, command: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*knex_project(tools, work, files, KNEXFILE), command],
        env={**os.environ, "DATABASE_URL": url, **env},
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.postgres
def test_after_two_of_four_knex_status_shows_exactly_the_other_two(
    node_tools: Path, db_url: str, tmp_path: Path
) -> None:
    names = list(KNEX_SET)
    first = {n: KNEX_SET[n] for n in names[:2]}
    applied = knex(node_tools, tmp_path, first, db_url, "migrate:latest")
    assert applied.returncode == 0, applied.stderr
    listed = knex(node_tools, tmp_path, KNEX_SET, db_url, "migrate:list")
    assert listed.returncode == 0, listed.stderr
    (tmp_path / "migrate-list.txt").write_text(listed.stdout)  # kept for the sample below
    status = read_status(listed.stdout + listed.stderr)
    assert status.tool == "knex"
    assert [a.name for a in status.applied] == names[:2]
    assert status.pending == tuple(names[2:])
    assert PASSWORD not in listed.stdout + listed.stderr


@pytest.mark.postgres
def test_pgoptions_reach_a_real_knex_migration_session(
    node_tools: Path, db_url: str, tmp_path: Path, postgres: daemons.Postgres
) -> None:
    from tasks.release.plan import pgoptions, plan_settings

    options = pgoptions(
        plan_settings({"lock_timeout": "1500ms", "statement_timeout": "45s"}, confirm=False)
    )
    show = {
        "20260101000010_show.js": "CREATE TABLE seen AS SELECT current_setting('lock_timeout') "
        "AS lock, current_setting('statement_timeout') AS stmt"
    }
    done = knex(node_tools, tmp_path, show, db_url, "migrate:latest", PGOPTIONS=options)
    assert done.returncode == 0, done.stderr
    row = daemons.psql(postgres, "SELECT lock || ' ' || stmt FROM seen", database="plan_db")
    assert row.strip() == "1500ms 45s"


@pytest.mark.postgres
def test_a_held_lock_makes_the_migration_fail_fast_with_55p03(
    node_tools: Path, db_url: str, tmp_path: Path, postgres: daemons.Postgres
) -> None:
    """A session of the application (same role, application_name orders-api) holds the table;
    knex's migration fails fast with 55P03; the diagnosis of knex's real output names the table
    and, through the local environment's query runner (psql with the URL in libpq's
    environment), the blocker."""
    from tasks.core.config import Settings
    from tasks.diagnose.catalogue import load_catalogue
    from tasks.diagnose.followups import database_locks
    from tasks.diagnose.matcher import scan_lines
    from tasks.diagnose.ranking import diagnose
    from tasks.local.database import database_query

    daemons.psql(
        postgres,
        "CREATE TABLE users (id bigint, email text); ALTER TABLE users OWNER TO plan_user",
        database="plan_db",
    )
    holder = subprocess.Popen(  # an "application" session holding the table for up to 60 s
        [daemons._pg_bin("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(postgres.port),
         "-U", "plan_user", "-d", "plan_db"],
        stdin=subprocess.PIPE, text=True,
        env={**os.environ, "PGAPPNAME": "orders-api", "PGPASSWORD": PASSWORD},
    )  # fmt: skip
    assert holder.stdin is not None
    holder.stdin.write("BEGIN; LOCK TABLE users IN ACCESS SHARE MODE; SELECT pg_sleep(60);\n")
    holder.stdin.flush()
    try:
        deadline = time.monotonic() + 20  # bounded: the lock shows in pg_locks within seconds
        while time.monotonic() < deadline:
            held = daemons.psql(
                postgres,
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'users' AND l.granted",
                database="plan_db",
            )
            if held.strip() not in ("", "0"):
                break
            time.sleep(0.2)
        drop = {"20260101000020_drop_email.js": "ALTER TABLE users DROP COLUMN email"}
        started = time.monotonic()
        failed = knex(
            node_tools,
            tmp_path,
            drop,
            db_url,
            "migrate:latest",
            PGOPTIONS="-c lock_timeout=1s -c statement_timeout=30s",
        )
        took = time.monotonic() - started
        output = failed.stdout + failed.stderr
        assert failed.returncode != 0
        assert "canceling statement due to lock timeout" in output
        assert took < 1 + 10  # lock_timeout plus a margin for node's start, not 60 s
        # the diagnosis of that output, with the local environment's query runner
        catalogue = load_catalogue()
        found = diagnose(catalogue, scan_lines(output.splitlines(), catalogue)).findings
        assert found[0].id == "migration_lock_timeout"
        local = tmp_path / "release-local"
        local.mkdir()
        (local / "credentials.json").write_text(json.dumps({"secrets": {"local/db": db_url}}))
        run = database_query(
            Settings(env="local", secret="local/db"),
            {**os.environ, "RELEASE_LOCAL_DIR": str(local)},
        )
        [check] = database_locks(run)(found[0])
        assert check.status == "fail", check
        assert check.message.startswith("table users: held by pid ")
        assert (
            "(orders-api), active since 20" in check.message and "AccessShareLock" in check.message
        )
        assert PASSWORD not in check.message + check.fix
    finally:  # the server session sleeps on after its client dies: end it there
        daemons.psql(
            postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'orders-api'",
        )
        holder.kill()
        holder.wait(timeout=10)
    # the blocker gone, the same check says so
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and database_locks(run)(found[0])[0].status != "pass":
        time.sleep(0.2)
    assert database_locks(run)(found[0])[0].status == "pass"


@pytest.mark.postgres
def test_bun_sample_status_after_two_of_four_shows_the_other_two(
    db_url: str, tmp_path: Path, postgres: daemons.Postgres
) -> None:
    """examples/backend's status command on a copy of the sample with four migrations, after
    migrate.ts applied the first two: its one protocol line, read by the suite."""
    from tests.helpers.bun import bun_env, ensure_bun

    app = tmp_path / "backend"
    shutil.copytree(
        ROOT / "examples" / "backend", app, ignore=shutil.ignore_patterns("node_modules")
    )
    for old in (app / "migrations").glob("*.sql"):
        old.unlink()
    four = {
        "0001_users.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text, nick text);",
        "0002_drop_nick.sql": "ALTER TABLE users DROP COLUMN nick;",
        "0003_index.sql": "CREATE INDEX users_email_idx ON users (email);",
        "0004_audit.sql": "CREATE TABLE audit (id bigint PRIMARY KEY, note text);",
    }
    names = list(four)
    env = {**bun_env(tmp_path / "home"), "DATABASE_URL": db_url}

    def bun(script: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ensure_bun()), script],
            cwd=app,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    for name in names[:2]:
        (app / "migrations" / name).write_text(four[name])
    applied = bun("src/db/migrate.ts")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for name in names[2:]:
        (app / "migrations" / name).write_text(four[name])
    shown = bun("src/db/status.ts")
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.strip().splitlines()) == 1  # ONE line
    status = read_status(shown.stdout)
    assert status.tool == "daadaar-bun"
    assert [a.name for a in status.applied] == names[:2] and status.applied[0].at.endswith("Z")
    assert status.pending == tuple(names[2:]) and status.missing == ()
    assert PASSWORD not in shown.stdout + shown.stderr


@pytest.mark.postgres
def test_pgoptions_reach_a_real_bun_sample_migration_session(
    db_url: str, tmp_path: Path, postgres: daemons.Postgres
) -> None:
    """SHOW lock_timeout inside examples/backend's migrate.ts, PGOPTIONS set as the build sets it."""
    from tests.helpers.bun import bun_env, ensure_bun

    app = tmp_path / "backend"
    shutil.copytree(
        ROOT / "examples" / "backend", app, ignore=shutil.ignore_patterns("node_modules")
    )
    for old in (app / "migrations").glob("*.sql"):
        old.unlink()
    (app / "migrations" / "0001_show.sql").write_text(
        "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock, "
        "current_setting('statement_timeout') AS stmt;"
    )
    env = {
        **bun_env(tmp_path / "home"),
        "DATABASE_URL": db_url,
        "PGOPTIONS": "-c lock_timeout=1500ms -c statement_timeout=45s",
    }
    done = subprocess.run(
        [str(ensure_bun()), "src/db/migrate.ts"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    row = daemons.psql(postgres, "SELECT lock || ' ' || stmt FROM seen", database="plan_db")
    assert row.strip() == "1500ms 45s"


@pytest.mark.postgres
def test_drizzle_sample_status_after_two_of_four_shows_the_other_two(
    db_url: str, tmp_path: Path, postgres: daemons.Postgres
) -> None:
    """examples/backend-drizzle's status command after drizzle-orm's migrator applied two of four
    journal entries (the journal and files written as drizzle-kit lays them out)."""
    tools = ensure_node_tools({"drizzle-orm": "0.45.4", "pg": "8.23.1"})
    app = tmp_path / "drizzle-app"
    shutil.copytree(
        ROOT / "examples" / "backend-drizzle",
        app,
        ignore=shutil.ignore_patterns("node_modules", "drizzle"),
    )
    (app / "drizzle" / "meta").mkdir(parents=True)
    (app / "node_modules").symlink_to(tools / "node_modules")
    four = {
        "0000_users": "CREATE TABLE users (id bigint PRIMARY KEY, email text, nick text);",
        "0001_drop_nick": "ALTER TABLE users DROP COLUMN nick;",
        "0002_index": "CREATE INDEX users_email_idx ON users (email);",
        "0003_audit": "CREATE TABLE audit AS SELECT current_setting('lock_timeout') AS lock, "
        "current_setting('statement_timeout') AS stmt;",
    }
    tags = list(four)

    def journal(upto: int) -> None:
        entries = [
            {"idx": i, "version": "7", "when": 1796010478000 + i, "tag": t, "breakpoints": True}
            for i, t in enumerate(tags[:upto])
        ]
        for tag in tags[:upto]:
            (app / "drizzle" / f"{tag}.sql").write_text(four[tag])
        body = {"version": "7", "dialect": "postgresql", "entries": entries}
        (app / "drizzle" / "meta" / "_journal.json").write_text(json.dumps(body))

    def node(script: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["node", script],
            cwd=app,
            env={**os.environ, "DATABASE_URL": db_url, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    journal(2)
    applied = node("src/db/migrate.js")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    journal(4)
    shown = node("src/db/status.js")
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.strip().splitlines()) == 1
    status = read_status(shown.stdout)
    assert status.tool == "drizzle"
    assert [a.name for a in status.applied] == ["0000_users.sql", "0001_drop_nick.sql"]
    assert status.pending == ("0002_index.sql", "0003_audit.sql")
    assert status.changed == () and status.missing == ()
    # an applied file edited afterwards shows as changed
    (app / "drizzle" / "0001_drop_nick.sql").write_text("ALTER TABLE users DROP COLUMN nick; --")
    assert read_status(node("src/db/status.js").stdout).changed == ("0001_drop_nick.sql",)
    assert PASSWORD not in shown.stdout + shown.stderr
    # the other two, with the build's PGOPTIONS: the migration's session shows the timeouts
    rest = node("src/db/migrate.js", PGOPTIONS="-c lock_timeout=1500ms -c statement_timeout=45s")
    assert rest.returncode == 0, rest.stdout + rest.stderr
    row = daemons.psql(postgres, "SELECT lock || ' ' || stmt FROM audit", database="plan_db")
    assert row.strip() == "1500ms 45s"
    assert read_status(node("src/db/status.js").stdout).pending == ()
