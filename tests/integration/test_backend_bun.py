"""The sample backend's migrate and seed scripts, run by the real bun against PostgreSQL.

No Docker: bun runs the TypeScript straight from ``examples/backend`` (the e2e tests run the
same scripts inside the built image through the buildspec).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.local import daemons
from tests.conftest import ROOT
from tests.helpers.bun import bun_env, ensure_bun

pytestmark = [pytest.mark.postgres]
BACKEND = ROOT / "examples" / "backend"


@pytest.fixture
def database(postgres: daemons.Postgres) -> Iterator[tuple[str, str, str]]:
    name = f"bun_{secrets.token_hex(4)}"
    password = f"pw-{secrets.token_urlsafe(10)}"
    url = daemons.ensure_database(postgres, name, name, password)
    yield name, url, password
    daemons.psql(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bun(script: str, url: str | None, tmp_path: Path, cwd: Path = BACKEND) -> subprocess.Popen[str]:
    env = bun_env(tmp_path / "home")
    if url is not None:
        env["DATABASE_URL"] = url
    return subprocess.Popen(
        [str(ensure_bun()), script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(script: str, url: str | None, tmp_path: Path, cwd: Path = BACKEND) -> tuple[int, str]:
    proc = bun(script, url, tmp_path, cwd)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def sql(pg: daemons.Postgres, name: str, query: str) -> str:
    return daemons.psql(pg, query, database=name).strip()


def test_concurrent_migrators_apply_each_file_once(
    database: tuple[str, str, str], postgres: daemons.Postgres, tmp_path: Path
) -> None:
    name, url, password = database
    procs = [bun("src/db/migrate.ts", url, tmp_path) for _ in range(3)]
    results = [(p.wait(timeout=60), p.communicate()[0]) for p in procs]
    assert all(code == 0 for code, _ in results), results
    applied = sum(out.count("migrate: applied ") for _, out in results)
    assert applied == 2
    assert sql(postgres, name, "SELECT count(*) FROM schema_migrations") == "2"
    assert all(password not in out for _, out in results)
    code, out = run("src/db/migrate.ts", url, tmp_path)
    assert code == 0 and "migrate: 0 applied, 2 already up to date" in out


def test_a_failing_file_is_named_and_rolled_back(
    database: tuple[str, str, str], postgres: daemons.Postgres, tmp_path: Path
) -> None:
    name, url, _ = database
    copy = tmp_path / "backend"
    shutil.copytree(BACKEND, copy)
    (copy / "migrations" / "0003_audit.sql").write_text(
        "CREATE TABLE audit (id int);\nINSERT INTO audit VALUES (1);\nSELEC nope;\n"
    )
    (copy / "migrations" / "0004_later.sql").write_text("CREATE TABLE later (id int);\n")
    code, out = run("src/db/migrate.ts", url, tmp_path, copy)
    assert code == 1
    assert 'migrate: migration 0003_audit.sql failed: syntax error at or near "SELEC"' in out
    assert "0003_audit.sql was rolled back" in out
    assert "migrate: applied 0002_create_members.sql" in out
    tables = "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname='public'"
    assert sql(postgres, name, tables) == "members,organizations,schema_migrations"
    assert sql(postgres, name, "SELECT count(*) FROM schema_migrations") == "2"


def test_seed_is_idempotent(
    database: tuple[str, str, str], postgres: daemons.Postgres, tmp_path: Path
) -> None:
    name, url, _ = database
    assert run("src/db/migrate.ts", url, tmp_path)[0] == 0
    first = run("src/db/seed-organizations.ts", url, tmp_path)
    second = run("src/db/seed-organizations.ts", url, tmp_path)
    assert first == (0, first[1]) and "3 inserted, 0 already present" in first[1]
    assert second[0] == 0 and "0 inserted, 3 already present" in second[1]
    assert sql(postgres, name, "SELECT count(*) FROM organizations") == "3"


def test_unreachable_database_and_missing_url(tmp_path: Path) -> None:
    port = daemons.free_port()
    code, out = run(
        "src/db/migrate.ts", f"postgres://app:Hunter2-pw@127.0.0.1:{port}/app", tmp_path
    )
    assert code == 1
    assert f"migrate: failed on 127.0.0.1:{port}/app" in out
    assert "Hunter2-pw" not in out
    code, out = run("src/db/migrate.ts", None, tmp_path)
    assert code == 2 and "DATABASE_URL is not set" in out


def _with_migration(tmp_path: Path, name: str, text: str) -> Path:
    copy = tmp_path / "backend"
    shutil.copytree(BACKEND, copy, dirs_exist_ok=True)
    (copy / "migrations" / name).write_text(text)
    return copy


def test_a_file_with_its_own_commit_is_refused_and_nothing_of_it_runs(
    database: tuple[str, str, str], postgres: daemons.Postgres, tmp_path: Path
) -> None:
    """The old migrator let the file's COMMIT commit its table, then said "rolled back"."""
    name, url, _ = database
    copy = _with_migration(
        tmp_path,
        "0003_own.sql",
        "-- audit table\nCREATE TABLE audit (id int);\ncommit;\nINSERT INTO no_such VALUES (1);\n",
    )
    for _ in range(2):  # and the next run is no worse off
        code, out = run("src/db/migrate.ts", url, tmp_path, copy)
        assert code == 1, out
        assert (
            "migrate: migration 0003_own.sql failed: refused before running it: line 3: COMMIT: "
            "a migration file must not control its transaction" in out
        )
        assert "migrate: nothing of 0003_own.sql was run" in out
        assert "rolled back" not in out
        assert sql(postgres, name, "SELECT to_regclass('public.audit')") == ""
    assert sql(postgres, name, "SELECT count(*) FROM schema_migrations") == "2"
    # PL/pgSQL's own BEGIN ... END and a savepoint stay inside the file's transaction
    (copy / "migrations" / "0003_own.sql").write_text(
        "CREATE TABLE audit (id int);\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\n"
        "CREATE FUNCTION audit_count() RETURNS bigint LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  RETURN (SELECT count(*) FROM audit);\nEND;\n$$;\n"
    )
    code, out = run("src/db/migrate.ts", url, tmp_path, copy)
    assert code == 0 and "migrate: applied 0003_own.sql" in out, out


def test_a_failed_commit_reports_what_the_database_shows(
    database: tuple[str, str, str], postgres: daemons.Postgres, tmp_path: Path
) -> None:
    """A deferred constraint fails at COMMIT, after every statement of the file ran: the
    migrator reads schema_migrations again instead of assuming."""
    name, url, _ = database
    copy = _with_migration(
        tmp_path,
        "0003_deferred.sql",
        "CREATE TABLE parent (id int PRIMARY KEY);\n"
        "CREATE TABLE child (parent_id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);\n"
        "INSERT INTO child VALUES (42);\n",
    )
    code, out = run("src/db/migrate.ts", url, tmp_path, copy)
    assert code == 1, out
    assert "migrate: migration 0003_deferred.sql failed: insert or update on table" in out
    assert (
        "migrate: 0003_deferred.sql was not committed (schema_migrations has no row for it)" in out
    )
    assert sql(postgres, name, "SELECT to_regclass('public.child')") == ""


def test_a_migrator_waiting_for_the_lock_says_who_holds_it(
    database: tuple[str, str, str], postgres: daemons.Postgres, tmp_path: Path
) -> None:
    """A session holding the migration lock (a migration still running, or one whose client
    died): the waiting migrator names it every few seconds instead of sitting silent."""
    import os
    import threading
    import time

    name, url, password = database
    holder = subprocess.Popen(
        [
            "psql",
            "-X",
            "-q",
            "-At",
            f"host=127.0.0.1 port={postgres.port} user={name} dbname={name} "
            "application_name=holder-test",
        ],
        env={**os.environ, "PGPASSWORD": password},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write(
        "SELECT pg_backend_pid();\nBEGIN;\nSELECT pg_advisory_xact_lock(727465001);\n"
    )
    holder.stdin.flush()
    pid = holder.stdout.readline().strip()
    assert pid.isdigit()
    released = threading.Lock()

    def release() -> None:
        if released.acquire(blocking=False):
            holder.stdin.write("COMMIT;\n")  # type: ignore[union-attr]
            holder.stdin.close()  # type: ignore[union-attr]

    migrator = bun("src/db/migrate.ts", url, tmp_path)
    assert migrator.stdout is not None
    timer = threading.Timer(30, release)  # a silent migrator still ends (the bound)
    timer.start()
    notices: list[tuple[float, str]] = []
    seen: list[str] = []
    started = time.monotonic()
    for line in migrator.stdout:  # ends when the migrator does, at the latest after the timer
        seen.append(line)
        if "waiting for the migration lock" in line:
            notices.append((time.monotonic() - started, line.strip()))
            if len(notices) == 2:
                release()
    timer.cancel()
    rest, _ = migrator.communicate(timeout=60)
    holder.wait(timeout=10)
    assert migrator.returncode == 0, (notices, rest)
    assert len(notices) == 2, notices
    first = notices[0][1]
    assert first.startswith(
        "migrate: waiting for the migration lock (advisory lock 727465001), held by pid "
        f"{pid} (application holder-test, client 127.0.0.1, transaction open since "
    ), first
    assert first.endswith("idle in transaction); waited 0s"), first
    assert 4.0 <= notices[1][0] - notices[0][0] <= 7.0  # every few seconds, not every poll
    assert any(line.startswith("migrate: got the migration lock after ") for line in seen)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);", None),
        ("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;", "1 BEGIN"),
        (
            "-- BEGIN;\nCREATE TABLE a (id int); /* COMMIT; /* nested */ still */\ncommit;",
            "3 COMMIT",
        ),
        (
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM 1;\n"
            "END;\n$$;\nSELECT 'COMMIT;';",
            None,
        ),
        (
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $b$ BEGIN RAISE '$$'; END; $b$;",
            None,
        ),
        (
            "CREATE FUNCTION g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n"
            "  SELECT CASE WHEN true THEN 1 ELSE 2 END;\n  SELECT 2;\nEND;\nSELECT 1;",
            None,
        ),
        ("SAVEPOINT s; INSERT INTO a VALUES (1); ROLLBACK TO SAVEPOINT s; RELEASE s;", None),
        ("SELECT E'it\\'s; COMMIT'; SELECT \"end\" FROM t;\nend;", "2 END"),
        ("start transaction isolation level serializable;", "1 START TRANSACTION"),
        ("select 1;\n\n  Rollback;", "3 ROLLBACK"),
        ("UPDATE t SET begin = 1; -- a column named begin", None),
    ],
)
def test_transaction_control_is_found_outside_comments_strings_and_bodies(
    tmp_path: Path, text: str, found: str | None
) -> None:
    """The migrator's lexer (src/db/transaction-control.ts), run by the real bun."""
    import json

    probe = tmp_path / "probe.ts"
    probe.write_text(
        f'import {{ transactionControl }} from "{BACKEND}/src/db/transaction-control.ts";\n'
        "const hit = transactionControl(await Bun.stdin.text());\n"
        "console.log(JSON.stringify(hit ? `${hit.line} ${hit.statement}` : null));\n"
    )
    proc = subprocess.run(
        [str(ensure_bun()), str(probe)],
        input=text,
        env=bun_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == found
