"""What a diagnosis says: its findings (cause, fix, evidence, confidence) and the whole result.

Pure data, shared by the ranking (which makes them) and the report (which prints them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..codebuild.model import Build
from .matcher import LogLine


@dataclass(frozen=True)
class Finding:
    id: str
    title: str
    cause: str
    fix: str
    docs: str
    evidence: tuple[LogLine, ...]
    confidence: str
    phase: str = ""
    secondary: bool = False
    followup: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    wrapper: bool = False  # only the generic "command failed": show the lines before it

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "cause": self.cause,
            "fix": self.fix,
            "docs": self.docs,
            "evidence": [{"line": e.line, "phase": e.phase, "text": e.text} for e in self.evidence],
            "confidence": self.confidence,
            "phase": self.phase,
            "secondary": self.secondary,
        }


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]
    build: Build  # the build diagnosed (facts.UNKNOWN_BUILD for a log alone)
    failed_phase: str
    context: str  # the failing phase's context (statusCode: message)
    before_failure: tuple[LogLine, ...]
    lines: int
    succeeded: bool = False

    @property
    def matched(self) -> bool:
        """A specific failure was named (the generic "command failed" alone is no match)."""
        return any(not f.wrapper for f in self.findings)


class _Defaults(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with ``{name}`` placeholders filled; unknown names print as ``<name>``."""
    try:
        return template.format_map(_Defaults(values))
    except (ValueError, IndexError, KeyError):  # a stray brace in a catalogue text
        return template


__all__ = ["Diagnosis", "Finding", "fill"]
