"""The release pipeline as data: a list of frozen ``Step``s and two executors.

Rules: building the step list makes no calls (it reads Settings only); ``Executor`` runs the
steps in order, times each, and stops at the first failure with that step's own message and
exit code; ``DryRunExecutor`` prints each step's commands and API calls and runs nothing.
Step functions are injected, so the pipeline is tested with fakes. Pure module: no boto3,
docker or invoke.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.config import Settings
from ..core.console import Console
from ..core.errors import SuiteError, UsageError
from .start import StartPreview, WorkerRequest, planned_start

StepFn = Callable[[Any], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Step:
    """One stage of the release. ``plan`` lists what it would run or call, for --dry-run."""

    name: str
    description: str
    run: StepFn
    plan: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)  # the plan's request/argv, for --json


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str  # ok | failed | skipped | planned
    duration: float = 0.0
    result: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "duration": round(self.duration, 3),
        }
        if self.error:
            out["error"] = self.error
        return out


class PipelineStopped(SuiteError):
    """A step failed: its message and exit code, plus what ran before it."""

    def __init__(self, step: str, err: SuiteError, results: Sequence[StepResult]) -> None:
        super().__init__(
            f"release stopped at {step}: {err.message}",
            err.remedy,
            code=err.code,
            details={**err.details, "steps": [r.as_dict() for r in results]},
        )
        self.step = step
        self.cause = err


class Executor:
    """Runs the steps in order; each step gets the runtime and returns its result dict."""

    def __init__(self, console: Console, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.monotonic = monotonic

    def run(self, steps: Sequence[Step], context: Any) -> list[StepResult]:
        results: list[StepResult] = []
        for index, step in enumerate(steps):
            self.console.step(f"[{index + 1}/{len(steps)}] {step.name}: {step.description}")
            start = self.monotonic()
            try:
                outcome = dict(step.run(context) or {})
            except SuiteError as err:
                took = self.monotonic() - start
                results.append(StepResult(step.name, "failed", took, error=err.message))
                results.extend(StepResult(s.name, "skipped") for s in steps[index + 1 :])
                raise PipelineStopped(step.name, err, results) from None
            took = self.monotonic() - start
            if outcome.get("skipped") is True:  # the step decided there was nothing to do
                results.append(StepResult(step.name, "skipped", took, outcome))
                self.console.info(f"{step.name} skipped: {outcome.get('reason', '')}")
                continue
            results.append(StepResult(step.name, "ok", took, outcome))
            self.console.ok(f"{step.name} ({took:.1f}s)")
        return results


class DryRunExecutor:
    """Prints the plan (every command and API call) and changes nothing."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def run(self, steps: Sequence[Step], context: Any) -> list[StepResult]:
        self.console.line("dry run: nothing below is executed")
        for index, step in enumerate(steps):
            self.console.step(f"[{index + 1}/{len(steps)}] {step.name}: {step.description}")
            for line in step.plan:
                self.console.line(f"       {line}")
        return [
            StepResult(s.name, "planned", result={"plan": list(s.plan), **s.data}) for s in steps
        ]


@dataclass(frozen=True)
class ReleaseOptions:
    seed: bool = False
    migrate: bool = True
    skip_build: bool = False
    seed_script: str = ""
    detach: bool = False
    # a person confirms between the plan and the migration: the plan build runs first
    # (db.plan step), then the prompt; nothing pending skips the migration build (issue 14)
    exact_plan: bool = False


@dataclass(frozen=True)
class StepFunctions:
    """The real work of each step, injected (``tasks.cli.release`` wires the real ones)."""

    guard: StepFn
    check: StepFn
    push: StepFn
    resolve: StepFn
    migrate: StepFn
    seed: StepFn
    plan: StepFn | None = None  # the exact plan build + gate + prompt (ReleaseOptions.exact_plan)


def _cmd(argv: Sequence[str]) -> str:
    return "$ " + shlex.join(argv)


def _manifest_url(s: Settings, reference: str) -> str:
    """What the verifier GETs: plain HTTP for an insecure or loopback registry (as it does)."""
    from ..image.registry import is_loopback

    scheme = "http" if s.registry_insecure or is_loopback(s.registry) else "https"
    return f"{scheme}://{s.registry}/v2/{s.repository}/manifests/{reference}"


def _image_plan(s: Settings) -> tuple[str, ...]:
    from ..image.plan import build_argv, plan_tags

    tags = plan_tags(s.tag_policy, s.tag, "<git-sha>")
    argv, classic = (
        build_argv(
            builder=builder,
            platform=s.platform,
            dockerfile=s.dockerfile,
            context=s.context,
            image_name=s.image_name,
            tags=tags,
        )
        for builder in ("buildx", "classic")
    )
    login = (
        (
            "api  ECR GetAuthorizationToken",
            _cmd(["docker", "login", "--username", "AWS", "--password-stdin", s.registry]),
        )
        if s.is_ecr
        else (
            _cmd(
                [
                    "docker",
                    "login",
                    "--username",
                    s.registry_username or "<user>",
                    "--password-stdin",
                    s.registry,
                ]
            ),
        )
        if s.registry_auth == "basic"
        else ()
    )
    pushes = tuple(_cmd(["docker", "push", f"{s.image_name}:{t}"]) for t in tags)
    return (
        *login,
        _cmd(argv),
        _cmd(classic) + "  # instead, when buildx is missing",
        _cmd(["docker", "image", "inspect", f"{s.image_name}:{tags[0]}"]),
        *pushes,
        f"http GET {_manifest_url(s, tags[0])} "
        f"(verify {s.platform} is in the pushed manifest; pin its digest)",
    )


def _guard_plan(s: Settings, suffix: str = "") -> str:
    if s.runner == "local":
        return (
            f"local  validate {s.buildspec}; the registry {s.registry} and the local database "
            f"answer; no local build of {s.project} is running"
        )
    return f"api  CodeBuild ListBuildsForProject+BatchGetBuilds {s.project}{suffix}"


def _start_plan(s: Settings, start: StartPreview) -> tuple[str, ...]:
    return (_guard_plan(s, " (refuse if one runs)"), *start.lines())


def release_steps(
    s: Settings, opts: ReleaseOptions, fns: StepFunctions, worker: WorkerRequest | None = None
) -> list[Step]:
    """The steps of ``invoke release`` for these options (reads Settings only; ``worker``, the
    local runner's request for its worker, is shown in the plan when given)."""
    if opts.detach and opts.seed and opts.migrate:
        raise UsageError(
            "--detach with --seed cannot work: the seed must wait for the migration to finish",
            "drop --detach, or run `invoke db.seed` after `invoke build.wait`",
        )
    running = bool(opts.migrate or opts.seed)
    steps: list[Step] = []
    if running:
        steps.append(
            Step(
                "guard",
                f"no build of {s.project} is running",
                fns.guard,
                (_guard_plan(s),),
            )
        )
    if opts.skip_build:
        steps.append(
            Step(
                "image.resolve",
                f"pin {s.image_name}:{s.tag} to its digest",
                fns.resolve,
                (
                    f"api  ECR DescribeImages repositoryName={s.repository} imageTag={s.tag}"
                    if s.is_ecr
                    else f"http GET {_manifest_url(s, s.tag)}",
                ),
            )
        )
    else:
        steps.append(
            Step(
                "image.check",
                f"the engine can build {s.platform}",
                fns.check,
                (
                    _cmd(["docker", "version"]),
                    _cmd(["docker", "buildx", "version"]),
                    _cmd(["docker", "buildx", "inspect"]),
                ),
            )
        )
        steps.append(
            Step("image.push", f"build, push and verify {s.image_name}", fns.push, _image_plan(s))
        )
    if opts.migrate and opts.exact_plan and fns.plan is not None:
        start = planned_start(s, "plan", None, worker)
        after = (
            "local  lint the pending files (squawk), the gate, then the confirmation prompt; "
            "nothing pending: db.migrate is skipped"
        )
        steps.append(
            Step(
                "db.plan",
                f"read the exact migration status on {s.project}, show the plan, then ask",
                fns.plan,
                (*_start_plan(s, start), after),
                start.as_dict(),
            )
        )
    if opts.migrate:
        start = planned_start(s, "migrate", None, worker)
        steps.append(
            Step(
                "db.migrate",
                f"run the migrations on {s.project}",
                fns.migrate,
                _start_plan(s, start),
                start.as_dict(),
            )
        )
    if opts.seed:
        start = planned_start(s, "seed", opts.seed_script, worker)
        steps.append(
            Step(
                "db.seed",
                f"run seed script {opts.seed_script}",
                fns.seed,
                _start_plan(s, start),
                start.as_dict(),
            )
        )
    return steps
