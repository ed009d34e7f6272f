"""Findings -> the human screen and the ``--json`` object. Pure module.

Everything that leaves here has passed the redactor (passwords in URLs, tokens, ``password=``
assignments), because evidence lines are copied from logs that may hold secrets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.redact import Redactor
from .facts import build_dict
from .findings import Diagnosis, Finding
from .matcher import LogLine

TEXT_WIDTH = 160


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one follow-up check (registry platforms, a doctor network check...)."""

    name: str
    status: str  # pass | warn | fail | skipped
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class Report:
    diagnosis: Diagnosis
    source: str  # "build <id>", a file name, or "stdin"
    checks: Mapping[str, Sequence[CheckResult]] = field(default_factory=dict)  # by finding id
    entries: int = 0  # catalogue size, for the no-match message

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.diagnosis.findings

    @property
    def matched(self) -> bool:
        return self.diagnosis.matched

    def as_dict(self, redactor: Redactor | None = None) -> dict[str, Any]:
        """The ``--json`` shape: ``{"build": ..., "findings": [...]}`` plus no-match context."""
        d = self.diagnosis
        build: dict[str, Any] = build_dict(d.build) if d.build.id or d.build.phases else {}
        build.update(
            source=self.source,
            lines=d.lines,
            failed_phase=d.failed_phase or None,
            context=d.context or None,
        )
        findings = []
        for finding in d.findings:
            item = finding.as_dict()
            item["checks"] = [c.as_dict() for c in self.checks.get(finding.id, ())]
            findings.append(item)
        result: dict[str, Any] = {
            "build": build,
            "findings": findings,
            "matched": self.matched,
            "succeeded": d.succeeded,
        }
        if not self.matched:
            result["last_lines"] = [_line_dict(line) for line in d.before_failure]
        return (redactor or Redactor()).redact_obj(result)  # type: ignore[no-any-return]


def _line_dict(line: LogLine) -> dict[str, Any]:
    return {"line": line.line, "phase": line.phase, "text": line.text}


def _where(line: LogLine) -> str:
    number = f"L{line.line}" if line.line else "build"
    return f"{number:>8} {line.phase or '-':<16}"


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 1] + "…"


def render(report: Report, redactor: Redactor | None = None) -> list[tuple[str, str]]:
    """The human screen as (kind, text) lines; kind is a console style ('' plain)."""
    redact = (redactor or Redactor()).redact
    d = report.diagnosis
    out: list[tuple[str, str]] = []
    status = f" ({d.build.status}{' in ' + d.failed_phase if d.failed_phase else ''})"
    head = f"Diagnosis of {report.source}{status if d.build.status else ''}"
    out.append(("step", head))
    if d.succeeded:
        out.append(("ok", "The build succeeded: nothing to diagnose."))
        return out
    if not report.matched:
        out += _no_match(report)
        return [(kind, redact(text)) for kind, text in out]
    for number, finding in enumerate(d.findings, 1):
        out += _finding_lines(number, finding, report.checks.get(finding.id, ()))
    return [(kind, redact(text)) for kind, text in out]


def _finding_lines(
    number: int, finding: Finding, checks: Sequence[CheckResult]
) -> list[tuple[str, str]]:
    tag = f"[{finding.confidence}{', consequence' if finding.secondary else ''}]"
    kind = "error" if number == 1 else "warn"
    lines: list[tuple[str, str]] = [
        ("", ""),
        (kind, f"{number}. {finding.title}  {tag}  ({finding.id})"),
        ("", f"   Cause: {finding.cause}"),
        ("", f"   Fix:   {finding.fix}"),
        ("", "   Evidence:"),
    ]
    lines += [("dim", f"   {_where(e)} {_clip(e.text)}") for e in finding.evidence]
    if finding.docs:
        lines.append(("", f"   Docs:  {finding.docs}"))
    for check in checks:
        style = {"pass": "ok", "fail": "error", "warn": "warn"}.get(check.status, "dim")
        fix = f" -> {check.fix}" if check.fix and check.status != "pass" else ""
        lines.append((style, f"   Check: {check.name}: {check.status}: {check.message}{fix}"))
    return lines


def _no_match(report: Report) -> list[tuple[str, str]]:
    d = report.diagnosis
    entries = f"{report.entries} catalogue entries" if report.entries else "the catalogue"
    lines: list[tuple[str, str]] = [
        ("warn", f"No known failure matched ({entries} checked, {d.lines} log lines read)."),
    ]
    if d.failed_phase:
        lines.append(("", f"Failing phase: {d.failed_phase}"))
    if d.context:
        lines.append(("", f"Context:       {d.context}"))
    for number, finding in enumerate(d.findings, 1):  # only the generic "command failed"
        lines += _finding_lines(number, finding, report.checks.get(finding.id, ()))
    if d.before_failure:
        lines.append(("", "Last lines before the failure:"))
        lines += [("dim", f"   {_where(e)} {_clip(e.text)}") for e in d.before_failure]
    lines.append(
        (
            "",
            "If this failure recurs, add it to tasks/diagnose/catalogue.yaml "
            "(see docs/diagnose.md, 'Adding a catalogue entry').",
        )
    )
    return lines


def summary_line(report: Report) -> str:
    """One line for the wait loop's failure message: the root cause and its fix."""
    if not report.matched:
        return ""
    top = report.findings[0]
    return f"{top.title} ({top.id}): {top.fix}"


__all__ = ["CheckResult", "Report", "render", "summary_line"]
