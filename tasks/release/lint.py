"""The lint of the migrations about to run: squawk's argv, its JSON report as findings, the gate.

Pure: plain data in, plain data out (no boto3, docker or invoke). The squawk binary comes from
the pinned PyPI package ``squawk-cli`` (requirements.txt); the adapter that runs it is
``tasks/release/planrun.py``.

squawk quirks recorded here (squawk 2.70.0, measured on real files):
- ``--reporter json`` prints one JSON array on stdout; ``line`` is 0-based (a statement on the
  first line of a file reports ``"line": 0``), so we add 1 for ``file:line``.
- It exits 1 when it found anything, 0 when clean; anything else (or a non-JSON stdout) is a
  failure of squawk itself.
- ``require-lock-timeout`` / ``require-statement-timeout`` want a ``SET`` in the file; when the
  environment sets ``lock_timeout``/``statement_timeout`` for the migration's sessions
  (PGOPTIONS), those two rules are covered and excluded rather than reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any

DESTRUCTIVE = "destructive"  # drops or rewrites data, or breaks running clients
LOCKING = "locking"  # takes a long lock on an existing table
ADVISORY = "advisory"  # worth reading, never blocks

# rule -> (category, the safer rewrite). The rewrites are ours; the rule names are squawk's
# (https://squawkhq.com/docs/rules).
RULES: Mapping[str, tuple[str, str]] = {
    "ban-drop-column": (
        DESTRUCTIVE,
        "stop reading the column in the code first, release that, then drop it in a later "
        "migration (expand/contract)",
    ),
    "ban-drop-table": (
        DESTRUCTIVE,
        "stop using the table, release that, then drop it in a later migration after a backup",
    ),
    "ban-drop-database": (DESTRUCTIVE, "never drop a database from a migration"),
    "ban-truncate-cascade": (DESTRUCTIVE, "delete the rows you mean explicitly, table by table"),
    "ban-drop-schema": (DESTRUCTIVE, "drop the objects one by one after they are unused"),
    "ban-drop-constraint": (DESTRUCTIVE, "keep the constraint until no code depends on it"),
    "ban-drop-not-null": (DESTRUCTIVE, "keep NOT NULL until the code writes NULLs on purpose"),
    "changing-column-type": (
        DESTRUCTIVE,
        "add a new column of the new type, backfill it in batches, switch reads, drop the old one",
    ),
    "renaming-column": (
        DESTRUCTIVE,
        "add the new column, write both, backfill, switch reads, drop the old one later",
    ),
    "renaming-table": (DESTRUCTIVE, "create a view with the old name while the code moves over"),
    "adding-required-field": (
        DESTRUCTIVE,
        "add the column nullable (or with a non-volatile DEFAULT), backfill, then SET NOT NULL "
        "via a CHECK (col IS NOT NULL) NOT VALID constraint validated separately",
    ),
    "adding-not-nullable-field": (
        LOCKING,
        "add a CHECK (col IS NOT NULL) NOT VALID constraint, VALIDATE it, then SET NOT NULL",
    ),
    "require-concurrent-index-creation": (
        LOCKING,
        "CREATE INDEX CONCURRENTLY (outside a transaction), then check the index is valid",
    ),
    "require-concurrent-index-deletion": (LOCKING, "DROP INDEX CONCURRENTLY"),
    "ban-concurrent-index-creation-in-transaction": (
        LOCKING,
        "run CREATE INDEX CONCURRENTLY in a migration without a transaction",
    ),
    "constraint-missing-not-valid": (
        LOCKING,
        "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a separate migration",
    ),
    "adding-foreign-key-constraint": (
        LOCKING,
        "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT separately",
    ),
    "disallowed-unique-constraint": (
        LOCKING,
        "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX",
    ),
    "adding-field-with-default": (
        LOCKING,
        "add the column without the volatile default, backfill in batches, then set the default",
    ),
    "adding-serial-primary-key-field": (
        LOCKING,
        "build a unique index concurrently, then ADD PRIMARY KEY USING INDEX",
    ),
    "adding-primary-key-constraint": (
        LOCKING,
        "build a unique index concurrently, then ADD PRIMARY KEY USING INDEX",
    ),
}
TIMEOUT_RULES = ("require-lock-timeout", "require-statement-timeout")
SQL_SUFFIXES = (".sql",)
CODE_SUFFIXES = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts")


@dataclass(frozen=True)
class Finding:
    """One squawk finding, 1-based line."""

    file: str
    line: int
    column: int
    rule: str
    message: str
    help: str = ""

    @property
    def category(self) -> str:
        return RULES.get(self.rule, (ADVISORY, ""))[0]

    @property
    def rewrite(self) -> str:
        safer = RULES.get(self.rule, (ADVISORY, ""))[1]
        return safer or self.help

    @property
    def gating(self) -> bool:
        return self.category in (DESTRUCTIVE, LOCKING)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "rule": self.rule,
            "category": self.category,
            "message": self.message,
            "rewrite": self.rewrite,
        }

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.rule} ({self.category}): {self.message} Safer: {self.rewrite}"


@dataclass(frozen=True)
class NotLinted:
    file: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...] = ()
    not_linted: tuple[NotLinted, ...] = ()
    covered_rules: tuple[str, ...] = ()  # excluded because the environment sets the timeouts


@dataclass(frozen=True)
class Gate:
    """The gate's verdict: what blocks, what was accepted (rule -> reason) and why it passes."""

    blocking: tuple[Finding, ...]
    accepted: tuple[tuple[Finding, str], ...] = ()
    allowed_by_flag: bool = False

    @property
    def blocked(self) -> bool:
        return bool(self.blocking) and not self.allowed_by_flag

    def as_dict(self) -> dict[str, Any]:
        return {
            "blocked": self.blocked,
            "allowed_by_flag": self.allowed_by_flag,
            "blocking": [f.as_dict() for f in self.blocking],
            "accepted": [{**f.as_dict(), "reason": r} for f, r in self.accepted],
        }


@dataclass(frozen=True)
class SquawkCall:
    argv: tuple[str, ...]
    covered_rules: tuple[str, ...] = field(default_factory=tuple)


def split_files(paths: Iterable[str]) -> tuple[list[str], list[NotLinted]]:
    """SQL files to lint, and the migrations written in code that squawk cannot read."""
    sql: list[str] = []
    skipped: list[NotLinted] = []
    for path in paths:
        lower = path.lower()
        if lower.endswith(SQL_SUFFIXES):
            sql.append(path)
        elif lower.endswith(CODE_SUFFIXES):
            skipped.append(
                NotLinted(
                    path,
                    "written in JS/TS: the SQL it runs is built at run time, squawk reads SQL "
                    "files only (review it by hand, or generate SQL migrations)",
                )
            )
    return sql, skipped


def squawk_argv(
    files: Sequence[str],
    *,
    pg_version: str = "",
    timeouts_set: bool = False,
    binary: str = "squawk",
) -> SquawkCall:
    """The squawk command for ``files``; the timeout rules are covered when the env sets them."""
    argv = [binary, "--reporter", "json"]
    if pg_version:
        argv.append(f"--pg-version={pg_version}")
    covered = TIMEOUT_RULES if timeouts_set else ()
    if covered:
        argv.append("--exclude=" + ",".join(covered))
    argv.append("--")
    argv.extend(files)
    return SquawkCall(tuple(argv), tuple(covered))


class SquawkOutputError(ValueError):
    """squawk printed something that is not its JSON report."""


def parse_squawk_json(text: str, *, strip_prefix: str = "") -> list[Finding]:
    """squawk's ``--reporter json`` stdout -> findings (1-based lines), in file/line order."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        rows = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise SquawkOutputError(f"squawk's report is not JSON ({exc.msg})") from exc
    if not isinstance(rows, list):
        raise SquawkOutputError("squawk's report is not a JSON list")
    findings: list[Finding] = []
    for row in rows:
        if not isinstance(row, dict) or "rule_name" not in row:
            raise SquawkOutputError("squawk's report has an entry without rule_name")
        name = str(row.get("file", ""))
        if strip_prefix and name.startswith(strip_prefix):
            name = name[len(strip_prefix) :].lstrip("/")
        findings.append(
            Finding(
                file=name,
                line=int(row.get("line") or 0) + 1,
                column=int(row.get("column") or 0) + 1,
                rule=str(row["rule_name"]),
                message=str(row.get("message") or ""),
                help=str(row.get("help") or ""),
            )
        )
    return sorted(findings, key=lambda f: (f.file, f.line, f.column, f.rule))


def gate(
    findings: Iterable[Finding],
    accepted_rules: Mapping[str, str],
    *,
    allow_destructive: bool = False,
) -> Gate:
    """Findings that drop/rewrite data or lock long block, unless the rule is accepted in config
    (with its reason) or ``--allow-destructive`` is given."""
    blocking: list[Finding] = []
    accepted: list[tuple[Finding, str]] = []
    for finding in findings:
        if not finding.gating:
            continue
        if finding.rule in accepted_rules:
            accepted.append((finding, accepted_rules[finding.rule]))
        else:
            blocking.append(finding)
    return Gate(
        tuple(blocking), tuple(accepted), allowed_by_flag=allow_destructive and bool(blocking)
    )


def matches_glob(path: str, patterns: Sequence[str]) -> bool:
    """``fnmatch`` on the path inside the image (``*`` crosses ``/``, as in the defaults)."""
    return any(fnmatch(path, pattern) for pattern in patterns)
