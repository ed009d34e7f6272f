"""Who holds a table when a migration fails on 55P03 (lock_timeout) or 57014 (statement_timeout).

Pure: the query text and the parsing of its ``psql -At`` rows (``|``-separated). After the
failure the migration's own session is gone, so ``pg_blocking_pids`` has nothing to say; the
sessions still holding a granted lock on the table are the ones it waited for. The same query
is what a user runs on a database the suite cannot reach (the diagnosis quotes it)."""

from __future__ import annotations

from dataclasses import dataclass


def blockers_sql(table: str) -> str:
    """Sessions holding a granted lock on ``table`` (pid, application, state, since, mode)."""
    literal = table.replace("'", "''")
    return (
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), "
        "coalesce(to_char(coalesce(a.xact_start, a.query_start) AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), string_agg(DISTINCT l.mode, ',') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        f"WHERE l.relation = to_regclass('{literal}') AND l.granted "
        "AND a.pid <> pg_backend_pid() "
        "GROUP BY 1, 2, 3, 4 ORDER BY 4, 1"
    )


@dataclass(frozen=True)
class Blocker:
    pid: int
    application: str
    state: str
    since: str
    modes: str
    table: str = ""

    def text(self) -> str:
        app = self.application or "(no application_name)"
        on = f" on {self.table}" if self.table else ""
        return (
            f"pid {self.pid} ({app}), {self.state or 'unknown state'} since {self.since}, "
            f"holds {self.modes}{on}"
        )


def parse_blockers(rows: str, table: str = "") -> list[Blocker]:
    """``psql -At`` rows of :func:`blockers_sql` -> blockers (malformed rows are skipped)."""
    out: list[Blocker] = []
    for row in rows.splitlines():
        parts = row.split("|")
        if len(parts) != 5 or not parts[0].strip().isdigit():
            continue
        pid, app, state, since, modes = parts
        out.append(Blocker(int(pid), app, state, since, modes, table))
    return out
