"""The migration-status protocol: the ONE machine-readable line a status command prints.

Pure (no boto3, docker or invoke). The protocol, defined here once and documented in docs/plan.md
("Migration status protocol"):

    MIGRATION-STATUS/1 {"tool": "...", "applied": [{"name": "...", "at": "..."}], "pending": ["..."]}

- the line starts with ``MIGRATION-STATUS/1`` and one space, then one JSON object on the same line;
- ``applied``: the migrations the database records, oldest first; each ``name`` (required) and,
  where the tool records them, ``at`` (ISO 8601) and ``checksum``;
- ``pending``: the migration names in the image that are not applied, in the order they will run;
- optional ``missing`` (applied but not in the image) and ``changed`` (applied, checksum differs).

A status command may instead be a tool with its own readable status; ``knex migrate:list`` is
parsed (its lines come from knex's bin/utils/migrationsLister.js: "Found N Completed Migration
file/files.", "No Pending Migration files Found." and one file name per line), and so is
``prisma migrate status`` where it is unambiguous (see :func:`parse_prisma_status`; its wording
is from Prisma's source and tests, not from a run here: weak). Anything else, or no line at
all, is refused with one line: the release stops before it migrates.

The migration build runs this very module (``scripts/run_in_image.py`` carries its source,
put in when the buildspec is rendered: ``tasks/local/buildspec.py`` ``runner_program``), so it
imports nothing but the standard library at module level.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PREFIX = "MIGRATION-STATUS/1 "
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KNEX_FOUND = re.compile(r"^Found (\d+) (Completed|Pending) Migration file/files\.$")
_KNEX_NONE = re.compile(r"^No (Completed|Pending) Migration files Found\.$")
# prisma/prisma packages/migrate/src/commands/MigrateStatus.ts (weak: Prisma cannot be installed
# here; samples and sources in tests/samples/plan/prisma/SOURCES.md)
_PRISMA_FOUND = re.compile(r"^(?:(\d+) migrations? found|No migration found) in prisma/migrations$")
_PRISMA_PENDING = re.compile(r"^(?:Following|The) migrations? have not yet been applied:$")
_PRISMA_MISSING = re.compile(
    r"^The migrations? from the database are not found locally in prisma/migrations:$"
)
_PRISMA_FAILED = re.compile(r"^Following migrations? have failed:$")
_PRISMA_UNMANAGED = "The current database is not managed by Prisma Migrate."
_PRISMA_UP_TO_DATE = "Database schema is up to date!"
_PRISMA_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


class StatusError(ValueError):
    """The status command's output cannot be read; the message is one line."""


@dataclass(frozen=True)
class Applied:
    name: str
    at: str = ""
    checksum: str = ""


@dataclass(frozen=True)
class Status:
    tool: str
    applied: tuple[Applied, ...]
    pending: tuple[str, ...]
    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    source: str = "exact"  # exact: read from the database; estimate: from the image history
    notes: tuple[str, ...] = field(default_factory=tuple)
    compared_with: str = ""  # the estimate's basis: the build whose image it compared with
    compared_image: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "source": self.source,
            "applied": [
                {k: v for k, v in (("name", a.name), ("at", a.at), ("checksum", a.checksum)) if v}
                for a in self.applied
            ],
            "pending": list(self.pending),
            "missing": list(self.missing),
            "changed": list(self.changed),
            "notes": list(self.notes),
            **(
                {"compared_with": {"build": self.compared_with, "image": self.compared_image}}
                if self.compared_with
                else {}
            ),
        }

    def line(self) -> str:
        """This status as the protocol line (what the sample status commands print)."""
        skip = ("source", "notes", "compared_with")
        body = {k: v for k, v in self.as_dict().items() if k not in skip and v}
        body.setdefault("applied", [])
        body.setdefault("pending", [])
        return PREFIX + json.dumps(body, separators=(",", ":"))


def _names(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise StatusError(f"the status line's {key!r} is not a list of names")
    return tuple(value)


def parse_line(line: str) -> Status:
    """One protocol line -> Status (StatusError when it is not a valid protocol line)."""
    text = _ANSI.sub("", line).strip()
    if not text.startswith(PREFIX.strip()):
        raise StatusError("the status line does not start with MIGRATION-STATUS/1")
    try:
        body = json.loads(text[len(PREFIX.strip()) :].strip())
    except json.JSONDecodeError as exc:
        raise StatusError(f"the status line's JSON is invalid ({exc.msg})") from exc
    if not isinstance(body, dict) or "pending" not in body or "applied" not in body:
        raise StatusError("the status line's JSON needs 'applied' and 'pending'")
    applied_raw = body["applied"]
    if not isinstance(applied_raw, list):
        raise StatusError("the status line's 'applied' is not a list")
    applied: list[Applied] = []
    for item in applied_raw:
        if isinstance(item, str) and item:
            applied.append(Applied(item))
        elif isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
            applied.append(
                Applied(item["name"], str(item.get("at") or ""), str(item.get("checksum") or ""))
            )
        else:
            raise StatusError("an entry of the status line's 'applied' has no name")
    return Status(
        tool=str(body.get("tool") or "unknown"),
        applied=tuple(applied),
        pending=_names(body["pending"], "pending"),
        missing=_names(body.get("missing"), "missing"),
        changed=_names(body.get("changed"), "changed"),
    )


def parse_knex_list(lines: Iterable[str]) -> Status | None:
    """``knex migrate:list`` output -> Status, or None when the lines are not knex's list."""
    section = ""
    expected: dict[str, int] = {}
    found: dict[str, list[str]] = {"Completed": [], "Pending": []}
    for raw in lines:
        text = _ANSI.sub("", raw).strip()
        if not text:
            continue
        if m := _KNEX_FOUND.match(text):
            section, expected[m.group(2)] = m.group(2), int(m.group(1))
        elif m := _KNEX_NONE.match(text):
            section, expected[m.group(1)] = "", 0
        elif section and len(found[section]) < expected[section]:
            found[section].append(text)
            if len(found[section]) == expected[section]:
                section = ""
    if set(expected) != {"Completed", "Pending"}:
        return None
    if any(len(found[k]) != expected[k] for k in expected):
        raise StatusError("knex migrate:list listed fewer files than it counted")
    return Status(
        tool="knex",
        applied=tuple(Applied(n) for n in found["Completed"]),
        pending=tuple(found["Pending"]),
    )


def _prisma_names(lines: list[str], start: int) -> tuple[str, ...]:
    """The migration names listed after a heading, up to the first blank line."""
    names: list[str] = []
    for text in lines[start + 1 :]:
        if not text:
            break
        if not _PRISMA_NAME.match(text):
            raise StatusError(f"prisma migrate status listed {text[:60]!r} as a migration name")
        names.append(text)
    if not names:
        raise StatusError("prisma migrate status announced migrations but listed none")
    return tuple(names)


def parse_prisma_status(raw_lines: Iterable[str]) -> Status | None:
    """``prisma migrate status`` output -> Status, or None when the lines are not prisma's.

    Read: "N migrations found in prisma/migrations" with "Database schema is up to date!"
    (nothing pending), with "Following migrations have not yet been applied:" (pending), or
    with the diverged histories (pending plus ``missing``). Prisma names only the pending ones,
    so ``applied`` stays empty and a note gives the count. Refused with one line: failed
    migrations, a database Prisma does not manage (baselining), and anything incomplete (an
    error before the verdict). Since Prisma 4.3.0 the command exits 1 when anything is pending:
    read the output whatever the exit status."""
    lines = [_ANSI.sub("", raw).strip() for raw in raw_lines]
    found = [m for m in map(_PRISMA_FOUND.match, lines) if m]
    if not found:
        return None
    if len(found) > 1:
        raise StatusError("the output holds more than one prisma migrate status")
    total = int(found[0].group(1) or 0)
    if any(_PRISMA_FAILED.match(t) for t in lines):
        failed = _prisma_names(
            lines, next(i for i, t in enumerate(lines) if _PRISMA_FAILED.match(t))
        )
        raise StatusError(
            f"prisma migrate status reports failed migration(s) {', '.join(failed)}: resolve "
            "them first (prisma migrate resolve --rolled-back or --applied)"
        )
    if _PRISMA_UNMANAGED in lines:
        raise StatusError(
            "prisma migrate status says the database is not managed by Prisma Migrate "
            "(it needs a baseline: prisma migrate resolve --applied)"
        )
    pending: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    for i, text in enumerate(lines):
        if _PRISMA_PENDING.match(text):
            pending = _prisma_names(lines, i)
        elif _PRISMA_MISSING.match(text):
            missing = _prisma_names(lines, i)
    if not pending and _PRISMA_UP_TO_DATE not in lines:
        raise StatusError(
            "prisma migrate status stopped before its verdict (no pending list and no "
            "'Database schema is up to date!')"
        )
    applied = max(total - len(pending), 0)
    note = f"prisma names only the pending migrations: {applied} of {total} applied"
    return Status(tool="prisma", applied=(), pending=pending, missing=missing, notes=(note,))


def read_status(output: str) -> Status:
    """The status from a status command's output (or a build log holding it): exactly one
    protocol line, else a knex list, else prisma's status; anything else is a StatusError."""
    lines = output.splitlines()
    protocol = [ln for ln in lines if _ANSI.sub("", ln).strip().startswith(PREFIX.strip())]
    if len(protocol) > 1:
        raise StatusError(f"the status command printed {len(protocol)} MIGRATION-STATUS lines")
    if protocol:
        return parse_line(protocol[0])
    knex = parse_knex_list(lines)
    if knex is not None:
        return knex
    prisma = parse_prisma_status(lines)
    if prisma is not None:
        return prisma
    if not output.strip():
        raise StatusError("the status command printed nothing")
    raise StatusError(
        "the status command printed no MIGRATION-STATUS/1 line, no knex migrate:list and no "
        "prisma migrate status output"
    )


def status_or_refusal(output: str) -> Status:
    """:func:`read_status`, its refusal as the suite's one-line error (exit 26)."""
    from ..core.errors import MigrationStatusError  # here: the build runs this module alone

    try:
        return read_status(output)
    except StatusError as err:
        raise MigrationStatusError(
            f"the migration status command's output is unreadable: {err}; nothing was migrated",
            "make status_command print one MIGRATION-STATUS/1 line (docs/plan.md: Migration "
            "status protocol), or use knex migrate:list or prisma migrate status",
        ) from None


def status_from_log(lines: Iterable[str]) -> Status:
    """The exact status a build printed: the ONE protocol line ``scripts/run_in_image.py``
    writes at the start of a log line after running the status command (the command's own
    output is indented under ``  status | ``, so it never counts). None, or more than one, is a
    StatusError: the build ran an older buildspec, or not the status command."""
    found = [ln for ln in lines if _ANSI.sub("", ln).startswith(PREFIX)]
    if len(found) > 1:
        raise StatusError(f"the build printed {len(found)} MIGRATION-STATUS/1 lines, not one")
    if not found:
        raise StatusError("the build printed no MIGRATION-STATUS/1 line")
    return parse_line(found[0])


def estimate(image_files: Iterable[str], previous_files: Iterable[str] | None) -> Status:
    """The image-history estimate: migrations in the new image that were not in the image of the
    last SUCCEEDED migration build. Without a previous image, everything counts as pending."""
    previous = set(previous_files or ())
    pending = tuple(f for f in image_files if f not in previous)
    note = (
        "estimate from the image history (no build, no database read): after a restore or a "
        "failed migration it can be wrong; the migration build's exact status decides"
    )
    if previous_files is None:
        note = "estimate: no SUCCEEDED migration build found, every migration counts as pending"
    return Status(
        tool="image-history",
        applied=tuple(Applied(f) for f in image_files if f in previous),
        pending=pending,
        source="estimate",
        notes=(note,),
    )


def reconcile(status: Status, image_files: Iterable[str]) -> Status:
    """Add what is odd: applied names the image no longer holds (matched on the file stem)."""
    stems = {_stem(f) for f in image_files}
    missing = tuple(a.name for a in status.applied if _stem(a.name) not in stems)
    if not missing or status.missing:
        return status
    return Status(
        status.tool,
        status.applied,
        status.pending,
        missing,
        status.changed,
        status.source,
        status.notes,
    )


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    if base == "migration.sql":  # prisma: the directory names the migration
        base = name.rsplit("/", 2)[-2] if name.count("/") else base
    return base.rsplit(".", 1)[0] if "." in base else base
