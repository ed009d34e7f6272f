"""``invoke setup``: plan (and with --apply create) the role and the CodeBuild project."""

from __future__ import annotations

from typing import Any

from invoke.context import Context
from invoke.tasks import task

from tasks.cli.common import AWS_HELP, HELP, execute

_SIGNS = {"create": "+", "update": "~", "none": "=", "missing": "!"}
_KINDS = {"create": "ok", "update": "warn", "none": "", "missing": "error"}


def render_plan(console: Any, changes: Any) -> None:
    for change in changes:
        what = "no change" if change.action == "none" else change.action
        if change.action == "missing":
            what = "missing: setup never creates it" if change.blocking else "missing (advisory)"
        line = f"  {_SIGNS[change.action]} {change.kind:<16} {change.name} ({what})"
        console.line(line, _KINDS[change.action])
        if change.action != "none":
            for detail in change.details:
                console.line(f"      {detail}")


@task(
    help={
        **HELP,
        **AWS_HELP,
        "apply": "carry out the plan (without it, only print what would change)",
    }
)
def setup(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    apply: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Plan the service role, its policy, the log group and the CodeBuild project; --apply."""

    def action(rt):  # type: ignore[no-untyped-def]
        from tasks import setup as setup_mod

        s = rt.settings
        rt.console.step(f"setup: {s.env} ({s.region}), project {s.project or '-'}")
        changes = setup_mod.plan(s, setup_mod.read_state(rt))
        render_plan(rt.console, changes)
        counts = setup_mod.summary(changes)
        blocked = setup_mod.blockers(changes)
        result: dict[str, Any] = {
            "applied": False,
            "changes": [ch.as_dict() for ch in changes],
            "summary": counts,
            "blocked": [f"{ch.kind} {ch.name}" for ch in blocked],
        }
        pending = counts["create"] + counts["update"]
        if not apply:
            tail = "run `invoke setup --apply` to apply" if pending else "nothing to do"
            rt.console.line(
                f"Plan: {counts['create']} to create, {counts['update']} to update, "
                f"{counts['none']} unchanged, {counts['missing']} missing; {tail}"
            )
            if blocked:
                rt.console.warn(setup_mod.blocked_error(blocked).line())
            return result
        if blocked:
            rt.console.emit({"ok": False, **result})
            raise setup_mod.blocked_error(blocked)
        done = setup_mod.apply(rt, changes)
        rt.console.line(f"Applied {len(done)} change(s)" if done else "No changes: up to date")
        rt.console.line("Next: `invoke doctor` proves the whole path (network, database, image)")
        return {**result, "applied": True, "done": [f"{c.action} {c.kind} {c.name}" for c in done]}

    execute(c, action, env=env, json_=json_, flags={"profile": profile, "region": region})
