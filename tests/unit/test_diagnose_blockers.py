"""Bounded locks in the diagnosis (issue 14): the table a 55P03/57014 failure names, the query
that lists the sessions holding it, and the follow-up that names them where the database is
reachable (an injected query runner) or gives the table and the query where it is not. The
logs are real captures (tests/samples/diagnose/tools/, provoked against PostgreSQL 15 with a
session holding the table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.diagnose.blockers import SEPARATOR, blockers_sql, parse_blockers, table_in
from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.findings import Finding
from tasks.diagnose.followups import database_locks, run_followups
from tasks.diagnose.matcher import scan_chunks
from tasks.diagnose.ranking import diagnose

TOOLS = Path(__file__).resolve().parents[1] / "samples" / "diagnose" / "tools"
ROW = SEPARATOR.join(
    ["4242", "orders-api", "active", "2026-11-30T06:00:00Z", "AccessShareLock", "orders"]
)


def top(sample: str) -> Finding:
    catalogue = load_catalogue()
    found = diagnose(catalogue, scan_chunks([(TOOLS / sample).read_bytes()], catalogue)).findings
    return found[0]


@pytest.mark.parametrize(
    ("text", "table"),
    [
        (
            "migration failed with error: ALTER TABLE orders ADD COLUMN note text - canceling",
            "orders",
        ),
        ("set lock_timeout = '1s'; alter table items add column name text", "items"),
        ('could not obtain lock on relation "users"', "users"),
        (
            'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ix ON public."Users" (email)',
            'public."Users"',
        ),
        ("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", "orders"),
        ("update orders set total = 0", "orders"),
        ("canceling statement due to lock timeout", ""),  # "lock" alone names nothing
        ("could not update the thing", ""),
    ],
)
def test_the_table_a_failure_names(text: str, table: str) -> None:
    assert table_in(text) == table


def test_the_query_filters_on_the_table_or_on_open_transactions() -> None:
    named = blockers_sql("o'rders")
    assert "to_regclass('o''rders')" in named and "pg_backend_pid()" in named
    anywhere = blockers_sql()
    assert "to_regclass" not in anywhere and "a.xact_start IS NOT NULL" in anywhere
    assert "LIMIT 20" in anywhere


def test_rows_are_parsed_and_malformed_ones_skipped() -> None:
    rows = "\n".join([ROW, "garbage", "12|app|idle in transaction||RowExclusiveLock|a,b"])
    found = parse_blockers(rows)
    assert [b.pid for b in found] == [4242, 12]
    assert found[0].text() == (
        "pid 4242 (orders-api), active since 2026-11-30T06:00:00Z, holds AccessShareLock on orders"
    )
    assert found[1].text() == "pid 12 (app), idle in transaction, holds RowExclusiveLock on a,b"


@pytest.mark.parametrize(
    ("sample", "table"),
    [
        ("migration_lock_timeout--knex-alter-orders.log", "orders"),
        ("migration_lock_timeout--drizzle-orm-55P03.log", "orders"),
        ("migration_lock_timeout--psycopg2-55P03.log", ""),
        ("migration_lock_timeout--node-postgres-55P03.log", ""),
        ("app_migration_failed--sample-backend-55P03.log", ""),
        ("migration_statement_timeout--node-postgres-57014.log", ""),
    ],
)
def test_where_the_database_is_unreachable_the_table_and_the_query_are_given(
    sample: str, table: str
) -> None:
    finding = top(sample)
    results = run_followups([finding], {"database_locks": database_locks(None)})
    [check] = results[finding.id]
    assert check.name == "blocking sessions" and check.status == "skipped"
    named = f"table {table}" if table else "the output names no table"
    assert check.message.startswith(named)
    assert check.fix == "run on the database: " + blockers_sql(table)


def test_where_the_database_is_reachable_the_blockers_are_named() -> None:
    finding = top("migration_lock_timeout--knex-alter-orders.log")
    asked: list[str] = []

    def sql(query: str) -> str:
        asked.append(query)
        return ROW + "\n"

    [check] = database_locks(sql)(finding)
    assert asked == [blockers_sql("orders")]
    assert check.status == "fail"
    assert "table orders: held by pid 4242 (orders-api), active since 2026-11-30T06:00:00Z" in (
        check.message
    )
    assert "pg_terminate_backend(4242)" in check.fix
    [gone] = database_locks(lambda q: "")(finding)
    assert gone.status == "pass" and "no session holds orders now" in gone.message


def test_a_failure_that_is_no_timeout_gets_no_lock_check() -> None:
    finding = top("migration_sql_failed--knex-42601.log")
    assert finding.followup is None or database_locks(lambda q: ROW)(finding) == []
    sample = top("app_migration_failed--sample-backend-55P03.log")
    assert sample.followup == "database_locks"
    other = Finding(
        "app_migration_failed", "t", "c", "f", "", (), "high", values={"detail": "syntax error"}
    )
    assert database_locks(lambda q: ROW)(other) == []
