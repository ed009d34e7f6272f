"""The plan before a migration: its settings per environment, the timeouts for the migration's
sessions, and the plan as data (status + lint + gate) with its human rendering.

Pure (no boto3, docker or invoke). The plan settings live in the environment's section of
invoke.yaml beside the other keys (read from ``Settings.extra`` so config.py stays the owner of
the shared keys):

    migrations_glob: ["migrations/*.sql"]      # paths inside the image, relative to its workdir
    status_command: ["bun", "run", "status"]   # argv printing one MIGRATION-STATUS/1 line
    lock_timeout: 5s                           # reaches the sessions through PGOPTIONS
    statement_timeout: 15min
    postgres_version: "16"                     # squawk --pg-version
    plan: true                                 # default: the environment's confirm
    accept_rules: {ban-drop-column: "nickname unused since 2024-05"}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import UsageError
from .lint import Gate, LintReport
from .status import Status

# The samples' layouts and the common ones (drizzle-kit, prisma, knex/sequelize, plain SQL).
DEFAULT_GLOBS: tuple[str, ...] = (
    "migrations/*.sql",
    "migrations/*.js",
    "migrations/*.ts",
    "drizzle/*.sql",
    "prisma/migrations/*/migration.sql",
    "db/migrations/*.sql",
    "supabase/migrations/*.sql",
)
_DURATION = re.compile(r"^\d{1,9}(ms|s|min|h)?$")
_RULE = re.compile(r"^[a-z0-9-]{2,80}$")


@dataclass(frozen=True)
class PlanSettings:
    migrations_glob: tuple[str, ...] = DEFAULT_GLOBS
    status_command: tuple[str, ...] = ()
    lock_timeout: str = ""
    statement_timeout: str = ""
    postgres_version: str = ""
    plan: bool = False
    accept_rules: Mapping[str, str] = field(default_factory=dict)

    @property
    def timeouts_set(self) -> bool:
        return bool(self.lock_timeout and self.statement_timeout)


def _duration(key: str, value: Any) -> str:
    text = str(value).strip()
    if not _DURATION.match(text) or text.rstrip("minsh") in ("0", ""):
        raise UsageError(
            f"{key} must be a PostgreSQL duration such as 5s or 500ms, not {value!r}",
            f"set {key}: 5s (units ms, s, min, h; 0 would mean no limit)",
        )
    return text


def _argv(key: str, value: Any) -> tuple[str, ...]:
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) for v in value)
    ):
        raise UsageError(
            f"{key} must be a list of strings (an argv)", f'set {key}: ["bun", "run", "status"]'
        )
    return tuple(value)


def plan_settings(extra: Mapping[str, Any], *, confirm: bool) -> PlanSettings:
    """The plan keys of one environment (``Settings.extra``), checked; bad input is one line."""
    globs: tuple[str, ...] = DEFAULT_GLOBS
    if "migrations_glob" in extra:
        raw = extra["migrations_glob"]
        globs = (raw,) if isinstance(raw, str) else _argv("migrations_glob", raw)
    accept: dict[str, str] = {}
    raw_accept = extra.get("accept_rules") or {}
    if not isinstance(raw_accept, Mapping):
        raise UsageError(
            "accept_rules must map a squawk rule to the reason it is accepted",
            'set accept_rules: {ban-drop-column: "column unused since v2"}',
        )
    for rule, reason in raw_accept.items():
        if not _RULE.match(str(rule)) or not str(reason or "").strip():
            raise UsageError(
                f"accept_rules entry {rule!r} needs a squawk rule name and a non-empty reason",
                f'write {rule}: "why this is safe here"',
            )
        accept[str(rule)] = str(reason).strip()
    plan = extra.get("plan", confirm)
    if not isinstance(plan, bool):
        raise UsageError(f"plan must be true or false, not {plan!r}", "set plan: true or false")
    return PlanSettings(
        migrations_glob=globs,
        status_command=_argv("status_command", extra["status_command"])
        if "status_command" in extra
        else (),
        lock_timeout=_duration("lock_timeout", extra["lock_timeout"])
        if "lock_timeout" in extra
        else "",
        statement_timeout=_duration("statement_timeout", extra["statement_timeout"])
        if "statement_timeout" in extra
        else "",
        postgres_version=str(extra.get("postgres_version") or ""),
        plan=plan,
        accept_rules=accept,
    )


def pgoptions(settings: PlanSettings, inherited: str = "") -> str:
    """PGOPTIONS for the migration's sessions: libpq clients (psql, node-postgres' native
    binding, prisma's engine via libpq) read it; postgres.js and node-postgres' pure-JS client
    do not, so the Bun/knex/drizzle samples also read it (see examples/*/README.md)."""
    parts = [inherited.strip()] if inherited.strip() else []
    if settings.lock_timeout:
        parts.append(f"-c lock_timeout={settings.lock_timeout}")
    if settings.statement_timeout:
        parts.append(f"-c statement_timeout={settings.statement_timeout}")
    return " ".join(parts)


@dataclass(frozen=True)
class Plan:
    env: str
    image: str
    status: Status
    lint: LintReport
    gate: Gate
    files: tuple[str, ...] = ()
    # (path, sha256 hex) of each pending file as linted: what the migration build may run
    checksums: tuple[tuple[str, str], ...] = ()

    @property
    def pending_files(self) -> tuple[str, ...]:
        return pending_files(self.files, self.status.pending)

    @property
    def approved(self) -> dict[str, str]:
        """The pending files this plan checked, with their sha256: what the migration build may
        run (APPROVED_MIGRATIONS) once the gate let the plan through (a blocked gate in a
        confirm: true environment stops the release before any build)."""
        return dict(self.checksums)

    def as_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "image": self.image,
            "status": self.status.as_dict(),
            "pending_files": list(self.pending_files),
            "findings": [f.as_dict() for f in self.lint.findings],
            "not_linted": [n.as_dict() for n in self.lint.not_linted],
            "covered_rules": list(self.lint.covered_rules),
            "gate": self.gate.as_dict(),
            "checksums": dict(self.checksums),
        }


def pending_files(files: Sequence[str], pending: Sequence[str]) -> tuple[str, ...]:
    """The image's files that hold a pending migration (matched on the name or its stem)."""
    wanted = {p for p in pending} | {p.rsplit(".", 1)[0] for p in pending}
    out = []
    for path in files:
        base = path.rsplit("/", 1)[-1]
        key = path.rsplit("/", 2)[-2] if base == "migration.sql" and "/" in path else base
        if key in wanted or key.rsplit(".", 1)[0] in wanted or path in wanted:
            out.append(path)
    return tuple(out)


def render(plan: Plan) -> list[str]:
    """The plan as human lines (the console prints them; colour is the console's business)."""
    st = plan.status
    label = "exact (read from the database)" if st.source == "exact" else "ESTIMATE"
    if st.source != "exact" and st.compared_with:
        label += f" (image history: compared with build {st.compared_with})"
    lines = [f"plan for {plan.env} ({plan.image or 'no image'}): pending migrations, {label}"]
    lines += [f"  note: {n}" for n in st.notes]
    lines += [f"  applied: {a.name}" + (f" ({a.at})" if a.at else "") for a in st.applied]
    lines += [f"  pending {i}: {name}" for i, name in enumerate(st.pending, 1)] or [
        "  nothing pending"
    ]
    lines += [f"  odd: {m} is applied but not in the image" for m in st.missing]
    lines += [f"  odd: {m} was applied with another checksum" for m in st.changed]
    for finding in plan.lint.findings:
        lines.append("  " + finding.text())
    for skipped in plan.lint.not_linted:
        lines.append(f"  not linted: {skipped.file}: {skipped.reason}")
    if plan.lint.covered_rules:
        lines.append(
            "  covered: " + ", ".join(plan.lint.covered_rules) + " (the environment sets them)"
        )
    g = plan.gate
    for finding, reason in g.accepted:
        lines.append(f"  accepted: {finding.file}:{finding.line} {finding.rule}: {reason}")
    if g.blocking:
        verdict = "allowed by --allow-destructive" if g.allowed_by_flag else "BLOCKED"
        lines.append(f"  gate: {len(g.blocking)} destructive or locking finding(s): {verdict}")
    else:
        lines.append("  gate: nothing blocks")
    return lines
