"""Who holds the table when a migration fails on 55P03 (lock_timeout) or 57014
(statement_timeout, often a wait on a lock when no lock_timeout is set).

Pure: the table named by a failure's output, the query that lists the sessions holding it, and
the parsing of that query's ``psql -At`` rows. After the failure the migration's own session
is gone, so ``pg_blocking_pids`` has nothing left to say; the sessions still holding a granted
lock on the table (or, when the output names no table, on any user table inside an open
transaction) are the ones it waited for. The same query is what a user runs on a database the
suite cannot reach (the diagnosis quotes it); in the local environment the wiring hands the
follow-up a way to run it (``followups.database_locks``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEPARATOR = "\x1f"  # psql -F: a byte no application_name or table name carries
ROW_LIMIT = 20
# as written: a quoted name keeps its quotes, so to_regclass() finds a mixed-case table
_IDENT = r'(?P<table>"?[A-Za-z_][\w$]*"?(?:\."?[A-Za-z_][\w$]*"?)?)'
# the statement forms that name the table they lock (PostgreSQL's grammar, simplified)
_TABLE_IN = re.compile(
    r"\b(?:alter\s+table(?:\s+if\s+exists)?(?:\s+only)?"
    r"|lock\s+table(?:\s+only)?"
    r"|drop\s+table(?:\s+if\s+exists)?"
    r"|truncate(?:\s+table)?(?:\s+only)?"
    r"|create\s+(?:unique\s+)?index(?:\s+concurrently)?(?:\s+if\s+not\s+exists)?"
    r"(?:\s+[\w$\"]+)?\s+on(?:\s+only)?"
    r"|update(?:\s+only)?(?=\s+\S+\s+set\b)|delete\s+from(?:\s+only)?|insert\s+into)\s+" + _IDENT,
    re.IGNORECASE,
)


def table_in(text: str) -> str:
    """The table a failed statement (or PostgreSQL's 'could not obtain lock on relation "x"')
    names, '' when it names none."""
    named = re.search(r'lock on (?:relation|row in relation) "([^"]+)"', text)
    if named:
        return named.group(1)
    found = _TABLE_IN.search(text)
    return found.group("table") if found else ""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def blockers_sql(table: str = "") -> str:
    """Sessions holding a granted lock on ``table`` (or, without one, on any user table inside
    an open transaction): pid, application, state, since (UTC), lock modes, tables."""
    where = (
        f"l.relation = to_regclass({_literal(table)})"
        if table
        else "a.xact_start IS NOT NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND c.relkind IN ('r', 'p')"
    )
    return (
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), "
        "coalesce(to_char(coalesce(a.xact_start, a.query_start) AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), string_agg(DISTINCT l.mode, ','), "
        "string_agg(DISTINCT c.relname, ',') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE l.granted AND l.locktype = 'relation' AND a.pid <> pg_backend_pid() AND {where} "
        f"GROUP BY 1, 2, 3, 4 ORDER BY 4, 1 LIMIT {ROW_LIMIT}"
    )


@dataclass(frozen=True)
class Blocker:
    pid: int
    application: str
    state: str
    since: str
    modes: str
    tables: str = ""

    def text(self) -> str:
        app = self.application or "no application_name"
        state = self.state or "state hidden from this role"
        since = f" since {self.since}" if self.since else ""
        on = f" on {self.tables}" if self.tables else ""
        return f"pid {self.pid} ({app}), {state}{since}, holds {self.modes}{on}"


def parse_blockers(rows: str) -> list[Blocker]:
    """``psql -At -F '\\x1f'`` rows of :func:`blockers_sql` -> blockers (malformed rows are
    skipped; '|' is read as the separator too, psql's default)."""
    out: list[Blocker] = []
    for row in rows.splitlines():
        parts = row.split(SEPARATOR) if SEPARATOR in row else row.split("|")
        if len(parts) != 6 or not parts[0].strip().isdigit():
            continue
        pid, app, state, since, modes, tables = parts
        out.append(Blocker(int(pid), app, state, since, modes, tables))
    return out
