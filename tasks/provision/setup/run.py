"""``invoke setup``'s flow: read, plan, render, and with ``--apply`` apply."""

from __future__ import annotations

from typing import Any

from ...core.runtime import Runtime
from .executor import apply
from .model import blocked_error, blockers, summary
from .planner import plan
from .reader import read_state
from .render import render_plan


def run_setup(rt: Runtime, *, carry_out: bool) -> dict[str, Any]:
    """``invoke setup``: read, plan, print; with ``carry_out`` apply the plan (unless blocked)."""
    s = rt.settings
    rt.console.step(f"setup: {s.env} ({s.region}), project {s.project or '-'}")
    changes = plan(s, read_state(rt))
    render_plan(rt.console, changes)
    counts = summary(changes)
    blocked = blockers(changes)
    result: dict[str, Any] = {
        "applied": False,
        "changes": [ch.as_dict() for ch in changes],
        "summary": counts,
        "blocked": [f"{ch.kind} {ch.name}" for ch in blocked],
    }
    pending = counts["create"] + counts["update"]
    if not carry_out:
        tail = f"run `invoke setup --apply --env {s.env}` to apply" if pending else "nothing to do"
        rt.console.line(
            f"Plan: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['none']} unchanged, {counts['missing']} missing; {tail}"
        )
        if blocked:
            rt.console.warn(blocked_error(blocked, s.env).line())
        return result
    if blocked:
        err = blocked_error(blocked, s.env)
        err.details.update(result)
        raise err
    done = apply(rt, changes)
    rt.console.line(f"Applied {len(done)} change(s)" if done else "No changes: up to date")
    rt.console.line(
        f"Next: `invoke doctor --env {s.env}` proves the whole path (network, database, image)"
    )
    return {**result, "applied": True, "done": [f"{c.action} {c.kind} {c.name}" for c in done]}
