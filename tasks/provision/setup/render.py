"""The plan as lines for a person: one sign and one line per change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .model import Change

_SIGNS = {"create": "+", "update": "~", "none": "=", "missing": "!"}


_KINDS = {"create": "ok", "update": "warn", "none": "", "missing": "error"}


def render_plan(console: Any, changes: Sequence[Change]) -> None:
    """The plan for humans: one line per change, its details below."""
    for change in changes:
        what = "no change" if change.action == "none" else change.action
        if change.action == "missing":
            what = "missing: setup never creates it" if change.blocking else "missing (advisory)"
        line = f"  {_SIGNS[change.action]} {change.kind:<16} {change.name} ({what})"
        console.line(line, _KINDS[change.action])
        if change.action != "none":
            for detail in change.details:
                console.line(f"      {detail}")
