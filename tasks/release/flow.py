"""The action behind ``invoke release``: its steps as data (``pipeline``), the real work behind
each step, the plan gate and one confirmation before any step runs, and the release report.

When a person confirms between the plan and the migration (``planflow.wants_exact_plan``), the
confirmation moves into a ``db.plan`` step after the image is pinned: the plan build's exact
status is shown first, and nothing pending skips the migration build."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..codebuild.wait import fmt_seconds
from ..core.runtime import Runtime
from .collaborators import project_name
from .db_actions import run_action, worker_request
from .guards import confirm, pinned_image, refuse_if_running, seed_script
from .state import ReleaseState


def release(
    rt: Runtime,
    *,
    seed: bool = False,
    migrate: bool = True,
    skip_build: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    detach: bool = False,
    script: str | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """``invoke release``: image.check -> image.push -> db.migrate -> db.seed, as data."""
    from .pipeline import (
        DryRunExecutor,
        Executor,
        ReleaseOptions,
        release_steps,
    )
    from .planflow import exact_plan_step, wants_exact_plan

    seed = seed or bool(script)  # `--script NAME` alone means "and seed with NAME"
    chosen = seed_script(rt, script) if seed else ""
    opts = ReleaseOptions(
        seed=seed,
        migrate=migrate,
        skip_build=skip_build,
        seed_script=chosen,
        detach=detach,
        exact_plan=wants_exact_plan(rt.settings, migrate=migrate, yes=yes),
    )
    worker = worker_request(rt) if dry_run else None  # the local runner's, for its plan
    question: list[str] = []  # the prompt, asked by the db.plan step when there is one
    fns = step_functions(rt, opts, timeout)
    if opts.exact_plan:
        fns = replace(fns, plan=lambda rt: exact_plan_step(rt, question[0], seeding=opts.seed))
    steps = release_steps(rt.settings, opts, fns, worker)
    base = {"env": rt.settings.env, "project": rt.settings.project, "dry_run": dry_run}
    if dry_run:
        results = DryRunExecutor(rt.console).run(steps, rt)
        return {**base, "steps": [{**r.as_dict(), **r.result} for r in results]}
    if migrate:  # issue 14: the plan of the build context, before the confirmation
        from .planflow import gate_migration

        if not opts.exact_plan:  # else the db.plan step plans on the exact status instead
            gate_migration(rt, directory=rt.settings.context)
        rt.part(ReleaseState).planned = True
    if migrate or seed:
        from .snapshot import confirm_note

        names = " + ".join(s.name for s in steps if s.name != "db.plan")
        note = confirm_note(rt) if migrate else ""
        question.append(f"release {names} ({rt.settings.project}){note}")
        if not opts.exact_plan:  # else the db.plan step asks, after the exact plan is shown
            confirm(rt, question[0], yes=yes)
    from . import reporting
    from .pipeline import PipelineStopped

    rt.part(ReleaseState).in_release = True
    try:
        results = Executor(rt.console, rt.monotonic).run(steps, rt)
    except PipelineStopped as err:
        done = list(err.details.get("steps") or [])
        err.details["report"] = reporting.release_report(
            rt, done, status="FAILED", error=err.line()
        )
        raise
    out: dict[str, Any] = {**base, "steps": [r.as_dict() for r in results]}
    out["results"] = {r.name: dict(r.result) for r in results}
    out["pinned"] = rt.part(ReleaseState).pinned
    if rt.part(ReleaseState).plan:
        out["plan"] = rt.part(ReleaseState).plan
    total = sum(r.duration for r in results)
    rt.console.ok(
        f"release done in {fmt_seconds(total)}: "
        + ", ".join(f"{r.name} {fmt_seconds(r.duration)}" for r in results)
    )
    out["report"] = reporting.release_report(rt, out["steps"], status="SUCCEEDED")
    return out


def step_functions(rt: Runtime, opts: Any, timeout: float | None) -> Any:
    """The real work behind each release step."""
    from .pipeline import StepFunctions

    def guard(rt: Runtime) -> dict[str, Any]:
        refuse_if_running(rt, project_name(rt))
        return {"running": 0}

    def check(rt: Runtime) -> dict[str, Any]:
        from ..image.engine import check_platform

        return check_platform(rt)

    def push(rt: Runtime) -> dict[str, Any]:
        from ..image.engine import push_image

        result = push_image(rt)
        rt.part(ReleaseState).pinned = str(result["pinned"])
        return result

    def resolve(rt: Runtime) -> dict[str, Any]:
        return {"pinned": pinned_image(rt)}

    def migrate(rt: Runtime) -> dict[str, Any]:
        from .planflow import skip_migration

        skipped = skip_migration(rt)  # the exact plan said nothing is pending
        if skipped is not None:
            return skipped
        return run_action(rt, "migrate", yes=True, detach=opts.detach, timeout=timeout)

    def seed(rt: Runtime) -> dict[str, Any]:
        return run_action(
            rt, "seed", script=opts.seed_script, yes=True, detach=opts.detach, timeout=timeout
        )

    return StepFunctions(
        guard=guard, check=check, push=push, resolve=resolve, migrate=migrate, seed=seed
    )
