"""The actions behind ``db.*`` and ``build.*``: start a build safely, follow it, report it.

Starting goes through, in order: the seed allow-list, the pinned image (from the image stage,
``--image``, or the registry for the configured tag), the concurrency guard, the production
guard, then one idempotent StartBuild. The build id, console URL and log URL are printed the
moment it starts. Each action returns the ``--json`` result; failures raise ``SuiteError``.

The backend comes from ``backend_for``: the one ``tasks.wiring`` chose for the runner
(CodeBuild, or the local runner when ``runner: local``), or a test's ``Services(backend=...)``.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..codebuild.client import AwsCaller, CodeBuildBackend, conflict, resolve_image
from ..codebuild.commands import command_for, display, where
from ..codebuild.model import (
    Build,
    BuildBackend,
    StartRequest,
    digest_of,
    idempotency_token,
    overrides_for,
    start_params,
)
from ..codebuild.services import Services
from ..codebuild.wait import (
    FailureHook,
    StreamedFailureHook,
    Waiter,
    finish,
    fmt_seconds,
    logs_elsewhere,
    stop_refused,
)
from ..core.errors import ConfirmationRequired, SuiteError, UsageError
from ..core.interrupts import deferred_interrupts
from ..core.runtime import Runtime
from .state import ReleaseState

if TYPE_CHECKING:
    from ..diagnose.followups import FollowUp

ACTION_NAMES = {"migrate": "migrations", "seed": "seed"}
_PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")  # registry/repo@sha256:<64 hex>


# -- wiring ----------------------------------------------------------------------------------


def caller_for(rt: Runtime) -> AwsCaller:
    services = rt.part(Services)
    if services.caller is None:
        services.caller = AwsCaller(
            refresh=rt.aws.refresh,
            source=rt.aws.credential_source,
            sleep=rt.sleep,
            on_retry=rt.console.warn,
        )
    return services.caller


def suite_clients(rt: Runtime) -> Callable[[str], Any]:
    """Clients for calls the ``AwsCaller`` retries: botocore sends each once (one retry layer)."""
    return lambda service: rt.aws.client(service, suite_retries=True)


def codebuild_backend(rt: Runtime) -> CodeBuildBackend:
    """The CodeBuild backend of ``runner: codebuild`` (``tasks.wiring`` chooses the runner)."""
    return CodeBuildBackend(
        suite_clients(rt),
        caller_for(rt),
        region=rt.settings.region,
        log_group=rt.settings.log_group,
        env=rt.settings.env,
    )


def backend_for(rt: Runtime) -> BuildBackend:
    """The backend the wiring chose for this environment's runner, made once per run."""
    return rt.part(Services).build_backend(rt.settings.env)


def waiter_for(
    rt: Runtime,
    *,
    timeout: float | None,
    owner: bool = True,
    readers: Sequence[Callable[[str], None]] = (),
) -> Waiter:
    """``owner``: this run started the build, so Ctrl-C stops it (a follower only detaches)."""
    services = rt.part(Services)
    caller = services.caller
    return Waiter(
        backend_for(rt),
        rt.console,
        sleep=rt.sleep,
        monotonic=rt.monotonic,
        now=rt.now,
        policy=services.poll_policy,
        pressure=(lambda: caller.pressure) if caller is not None else (lambda: 0.0),
        timeout=timeout,
        env=rt.settings.env,
        owner=owner,
        readers=readers,
    )


def _project(rt: Runtime) -> str:
    if not rt.settings.project:
        raise UsageError(
            f"environment {rt.settings.env!r} names no CodeBuild project",
            f"set release.environments.{rt.settings.env}.project in invoke.yaml",
        )
    return rt.settings.project


def _timeout_seconds(rt: Runtime, minutes: float | None) -> float:
    return float(minutes if minutes is not None else rt.settings.timeout) * 60.0


# -- guards ----------------------------------------------------------------------------------


def seed_script(rt: Runtime, name: str | None) -> str:
    """The seed script, only from the configured allow-list (the keys of ``seed_commands``)."""
    allowed = rt.settings.seed_scripts
    chosen = name or (allowed[0] if allowed else "")
    command_for(rt.settings, "seed", chosen)  # refuses a name outside the allow-list
    return chosen


def pinned_image(rt: Runtime, image: str | None = None) -> str:
    """``registry/repo@sha256:...``: --image, the image stage's result, or the configured tag."""
    if image:
        if not _PINNED.match(image):  # "repo@sha256:" alone would start a build on no image
            raise UsageError(
                f"--image {image!r} is not pinned to a digest",
                "pass registry/repo@sha256:<digest> (see `invoke image.verify`)",
            )
        return image
    state = rt.part(ReleaseState)
    if state.pinned:
        return state.pinned
    s = rt.settings
    if s.is_ecr:
        from ..image.ecr import client_for

        ecr_client, registry_id = client_for(rt, suite_retries=True)
        found = resolve_image(
            lambda _service: ecr_client,
            caller_for(rt),
            registry_id=registry_id,
            repository=s.repository,
            tag=s.tag,
            image_name=s.image_name,
            env=s.env,
        )
    else:
        from ..image.engine import verify_image

        found = verify_image(rt, f"{s.image_name}:{s.tag}")
    rt.console.info(f"image {s.image_name}:{s.tag} is {found['pinned']}")
    state.pinned = str(found["pinned"])
    return state.pinned


def refuse_if_running(rt: Runtime, project: str) -> None:
    """The concurrency guard: one migration at a time per project (unless --force)."""
    running = backend_for(rt).running(project)
    if running:
        raise conflict(running[0], rt.settings.env)


def _ask_terminal(rt: Runtime, question: str) -> bool | None:
    """y/N on the terminal; None when there is no terminal to ask on (CI, pipes)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    rt.console.prompt(f"{question} [y/N]")
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def confirm(rt: Runtime, what: str, *, yes: bool) -> None:
    """The production guard: environments with ``confirm: true`` need a yes."""
    if not rt.settings.confirm or yes:
        return
    ask: Callable[[str], bool | None] = rt.part(Services).ask or (
        lambda question: _ask_terminal(rt, question)
    )
    answer = ask(f"{what} in environment {rt.settings.env!r}?")
    if answer is None:
        raise ConfirmationRequired(
            f"environment {rt.settings.env!r} needs confirmation ({what}) and there is no "
            "terminal to ask on",
            "pass --yes to confirm (CI runs do this deliberately)",
        )
    if not answer:
        raise ConfirmationRequired(f"not confirmed: {what}", "rerun and answer y, or pass --yes")


def invocation_id(rt: Runtime) -> str:
    """One id per run: retries inside it share the idempotency token; a new run gets a new one."""
    state = rt.part(ReleaseState)
    if state.invocation_id is None:
        state.invocation_id = rt.environ.get("RELEASE_INVOCATION_ID") or uuid.uuid4().hex
    return state.invocation_id


# -- actions ---------------------------------------------------------------------------------


def start_request(rt: Runtime, action: str, image: str, script: str | None) -> StartRequest:
    project = _project(rt)
    overrides = overrides_for(action, image, script)
    if action == "migrate":  # issue 14: lock_timeout/statement_timeout for its sessions
        from .planflow import session_overrides

        overrides += session_overrides(rt.settings)
    # the token covers everything StartBuild sends (SEED_SCRIPT and the image included)
    sent = start_params(project, overrides)
    token = idempotency_token(project, action, digest_of(image), invocation_id(rt), params=sent)
    return StartRequest(
        project=project,
        action=action,
        env_overrides=overrides,
        image=image,
        idempotency_token=token,
    )


def announce(rt: Runtime, build: Build) -> None:
    c = rt.console
    c.ok(f"started build {build.id}")
    if build.console_url:
        c.detail("console", build.console_url)
    c.detail("logs", build.logs.deep_link or f"{build.logs.group} {build.logs.stream}")


def run_action(
    rt: Runtime,
    action: str,
    *,
    script: str | None = None,
    image: str | None = None,
    force: bool = False,
    yes: bool = False,
    detach: bool = False,
    timeout: float | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """``db.migrate`` / ``db.seed``: guards, one idempotent start, then wait (or detach)."""
    project = _project(rt)
    chosen = seed_script(rt, script) if action == "seed" else None
    if dry_run:
        return plan_action(rt, action, chosen, image)
    pinned = pinned_image(rt, image)
    if force:
        rt.console.warn("--force: not checking for a running build of " + project)
    else:
        refuse_if_running(rt, project)
    label = ACTION_NAMES[action] + (f" ({chosen})" if chosen else "")
    if action == "migrate" and not rt.part(ReleaseState).planned:  # issue 14: plan before confirm
        from .planflow import gate_migration

        gate_migration(rt, image=pinned)
    from . import snapshot

    note = snapshot.confirm_note(rt) if action == "migrate" else ""
    confirm(rt, f"run {label} with {pinned} on CodeBuild project {project}{note}", yes=yes)
    snap = snapshot.take_snapshot(rt, pinned) if action == "migrate" else None
    request = start_request(rt, action, pinned, chosen)
    argv = command_for(rt.settings, action, chosen)
    rt.console.step(f"start {label}: {project}: {display(argv)}")
    rt.console.detail("runs", f"{where(rt.settings, argv)} (docker run in {pinned})")
    # a Ctrl-C while the start is in flight waits for it, so the build it started is known
    # and stopped below (exit 14), never left running behind an exit 130
    # (everything up to the wait stays inside the deferral: a Ctrl-C landing after the start
    # but before the wait's own handler would otherwise exit 130 with the build running)
    with deferred_interrupts(rt.console.warn) as held:
        build = backend_for(rt).start(request)
        announce(rt, build)
        extra: dict[str, Any] = {
            "action": action,
            "image": pinned,
            "seed_script": chosen,
            "command": list(argv),
        }
        if snap is not None:
            extra["snapshot"] = snap.as_dict()
        plan = rt.part(ReleaseState).plan
        if plan:
            extra["plan"] = plan
        from . import reporting
    if held.pending:
        return {**follow_build(rt, build, timeout=timeout, interrupted=True), **extra}
    if detach:
        resume = f"invoke build.wait {build.id} --env {rt.settings.env}"
        rt.console.info(f"detached; follow it with: {resume}")
        return {**build.as_dict(rt.now()), **extra, "detached": True, "resume": resume}
    try:
        try:
            final = follow_build(rt, build, timeout=timeout)
        except KeyboardInterrupt:  # landed in the few instructions before the wait's handler
            final = follow_build(rt, build, timeout=timeout, interrupted=True)
    except SuiteError as err:
        snapshot.on_failure(rt, err)
        reporting.after_failure(rt, action, pinned, err)
        raise
    if snap is not None:
        extra["snapshots_deleted"] = snapshot.prune_snapshots(rt)
    out = {**final, **extra}
    reporting.after_action(rt, action, pinned, out)
    return out


def plan_action(rt: Runtime, action: str, chosen: str | None, image: str | None) -> dict[str, Any]:
    """``--dry-run``: the StartBuild parameters and the exact ``docker run`` the build would
    execute, from the same functions a real start uses; no call is made (an image not given
    with --image shows as a placeholder rather than being resolved)."""
    from ..codebuild.commands import docker_argv

    s = rt.settings
    if image:
        pinned_image(rt, image)  # the same pinned-digest check as a real start
    shown = image or f"<{s.image_name}:{s.tag} pinned to its digest>"
    params = start_params(_project(rt), overrides_for(action, shown, chosen))
    argv = command_for(s, action, chosen)
    docker = docker_argv(s, argv, shown)
    runner = "local runner" if s.runner == "local" else "api  CodeBuild"
    rt.console.line("dry run: nothing is started")
    rt.console.line(f"  {runner} StartBuild {json.dumps(params)}")
    rt.console.line(f"  build  $ {display(docker)}  # {where(s, argv)}")
    return {
        "dry_run": True,
        "action": action,
        "seed_script": chosen,
        "command": list(argv),
        "docker_argv": docker,
        "start_build": params,
    }


def follow_build(
    rt: Runtime,
    build: Build,
    *,
    timeout: float | None,
    owner: bool = True,
    interrupted: bool = False,
) -> dict[str, Any]:
    """Wait for a build, print every log line, raise its status's error unless it SUCCEEDED.

    ``owner``: this run started the build (db.migrate, db.seed, release), so Ctrl-C stops it;
    ``build.wait`` follows someone else's build and only detaches. ``interrupted``: a Ctrl-C
    came while this run was starting it: stop it at once."""
    diagnosis = failure_hook(rt)  # reads the lines as they are printed: one stream
    readers = (diagnosis.line,) if diagnosis is not None else ()
    waiter = waiter_for(rt, timeout=_timeout_seconds(rt, timeout), owner=owner, readers=readers)
    final = waiter.wait(build, interrupted=interrupted)
    # a build that ended on its own while we were stopping it keeps its own diagnosis
    stopped = waiter.interrupted and final.status == "STOPPED"
    hook: FailureHook | None = stopped_here if stopped else diagnosis
    finish(final, list(waiter.follower.tail), hook, env=rt.settings.env)
    took = final.duration(rt.now())
    rt.console.ok(f"build {final.id} SUCCEEDED" + (f" in {fmt_seconds(took)}" if took else ""))
    caller = rt.part(Services).caller
    calls = caller.calls if caller is not None else None
    return {**final.as_dict(rt.now()), "log_lines": waiter.follower.lines, "api_calls": calls}


def stopped_here(build: Build, tail: list[str]) -> str:
    """The remedy when this very run stopped the build (Ctrl-C, or SIGTERM from a cancelled CI
    job): no diagnosis to run (it would re-read the whole log while CI waits to kill us)."""
    return "this run stopped it (Ctrl-C or SIGTERM: StopBuild); start it again when ready"


def diagnosis_for(rt: Runtime) -> StreamedFailureHook:
    """The automatic diagnosis, wired: diagnose's stream-fed hook over this run's backend, with
    doctor's network-path checks as its follow-up. Imported when a build is followed (not at
    start-up): diagnose and provision never import this stage."""
    from ..diagnose.service import FailureDiagnosis

    return FailureDiagnosis(rt, backend_for(rt), checks_factory=diagnosis_checks)


def diagnosis_checks(rt: Runtime) -> dict[str, FollowUp]:
    """The diagnosis's follow-ups, with doctor's network-path checks plugged in."""
    from ..diagnose.followups import default_checks
    from ..provision.facts import network_path_checks

    return default_checks(rt, network_path_checks)


class SafeHook:
    """A failure hook that breaks never hides the build's own failure (nor stops the follow)."""

    def __init__(self, rt: Runtime, hook: FailureHook | StreamedFailureHook) -> None:
        self.rt = rt
        self.hook = hook
        self.reader: Callable[[str], None] | None = getattr(hook, "line", None)

    def line(self, text: str) -> None:
        if self.reader is None:
            return
        try:
            self.reader(text)
        except Exception as exc:  # the diagnosis is a bonus; the build's lines are the news
            self.reader = None
            self.rt.console.warn(f"diagnosis unavailable ({type(exc).__name__}: {exc})")

    def __call__(self, build: Build, tail: list[str]) -> str | None:
        try:
            return self.hook(build, tail)
        except Exception as exc:  # the diagnosis is a bonus; the build's failure is the news
            self.rt.console.warn(f"diagnosis unavailable ({type(exc).__name__}: {exc})")
            return None


def failure_hook(rt: Runtime) -> SafeHook | None:
    """What names a failed build's cause and fix: ``Services.on_failure`` when set
    (``Services.diagnose = False`` turns diagnosis off, e.g. --no-diagnose), else the diagnosis
    wired by ``diagnosis_for``."""
    services = rt.part(Services)
    if not services.diagnose:
        return None
    hook = services.on_failure if services.on_failure is not None else diagnosis_for(rt)
    return SafeHook(rt, hook)


def wait_build(rt: Runtime, build_id: str, *, timeout: float | None = None) -> dict[str, Any]:
    """``build.wait ID``: follow an existing build (from the start of its log) to its end."""
    build = backend_for(rt).get(build_id)
    rt.console.step(f"waiting for {build.id} ({build.status}, {build.current_phase})")
    announce_links(rt, build)
    return follow_build(rt, build, timeout=timeout, owner=False)


def announce_links(rt: Runtime, build: Build) -> None:
    if build.console_url:
        rt.console.detail("console", build.console_url)
    rt.console.detail("logs", build.logs.deep_link or f"{build.logs.group} {build.logs.stream}")


def show_logs(rt: Runtime, build_id: str, *, follow: bool = False) -> dict[str, Any]:
    """``build.logs ID``: print the log so far; with ``--follow`` until the build ends."""
    backend = backend_for(rt)
    build = backend.get(build_id)
    waiter = waiter_for(rt, timeout=None, owner=False)
    if follow and not build.final:
        build = waiter.wait(build)
    elif build.logs.cloudwatch_disabled:
        rt.console.warn(logs_elsewhere(build))
    else:
        waiter.follower.round(build.logs)
    if not waiter.follower.lines and not build.logs.cloudwatch_disabled:
        # say so, rather than print nothing and exit 0
        later = (
            ""
            if build.final
            else (
                f"; `invoke build.logs {build.id} --follow --env {rt.settings.env}` waits for them"
            )
        )
        rt.console.warn(
            f"no log lines yet for {build.id} ({build.status}, {build.current_phase or '-'}): "
            f"CodeBuild creates the stream when the build container starts{later}"
        )
    return {
        "id": build.id,
        "status": build.status,
        "logs": {
            "group": build.logs.group,
            "stream": build.logs.stream,
            "url": build.logs.deep_link,
            "cloudwatch": build.logs.cloudwatch,
            "s3": build.logs.s3,
        },
        "log_lines": waiter.follower.lines,
    }


def stop_build(rt: Runtime, build_id: str, *, timeout: float | None = None) -> dict[str, Any]:
    """``build.stop ID``: StopBuild, then wait (status only) until it is final."""
    backend = backend_for(rt)
    build = backend.get(build_id)
    if build.final:
        rt.console.info(f"build {build.id} already ended: {build.status}")
        return build.as_dict(rt.now())
    try:
        # StopBuild answers with the build itself: STOPPED at once, or the final status of a
        # build that ended meanwhile; poll only while it still says otherwise
        build = backend.stop(build_id)
    except SuiteError as err:
        raise stop_refused(build, err, f" --env {rt.settings.env}") from None
    rt.console.step(f"stopping {build_id}")
    deadline = rt.monotonic() + _timeout_seconds(rt, timeout)
    while not build.final and rt.monotonic() < deadline:
        rt.sleep(2.0)
        build = backend.get(build_id)
    rt.console.ok(f"build {build.id} is {build.status}") if build.final else rt.console.warn(
        f"build {build.id} is still {build.status}; CodeBuild is stopping it"
    )
    return build.as_dict(rt.now())


def list_recent(rt: Runtime, limit: int = 10) -> dict[str, Any]:
    """``build.list``: the project's recent builds, newest first."""
    project = _project(rt)
    builds = backend_for(rt).recent(project, max(1, int(limit)))
    now = rt.now()
    rows = []
    for b in builds:
        took = b.duration(now)
        rows.append(
            {
                "id": b.id,
                "status": b.status,
                "start": b.start,
                "duration": took,
                "initiator": b.initiator,
                "action": b.action or "-",
                "image_digest": image_digest(b),
            }
        )
        started = _clock(b.start)
        short = image_digest(b)[:19] or "-"  # sha256: + 12 hex, enough to tell images apart
        rt.console.line(
            f"{b.id:<60} {b.status:<11} {started:<20} {fmt_seconds(took or 0):>7} "
            f"{(b.action or '-'):<13} {short:<19} {b.initiator}"
        )
    if not builds:
        rt.console.info(f"no builds of {project} yet")
    return {"project": project, "builds": rows}


def image_digest(build: Build) -> str:
    """The digest of the image the build ran (its IMAGE_URI override), '' when not pinned."""
    env = {v.name: v.value for v in build.environment}
    return digest_of(env.get("IMAGE_URI", ""))


def _clock(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


# -- release ---------------------------------------------------------------------------------


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

    seed = seed or bool(script)  # `--script NAME` alone means "and seed with NAME"
    chosen = seed_script(rt, script) if seed else ""
    opts = ReleaseOptions(
        seed=seed, migrate=migrate, skip_build=skip_build, seed_script=chosen, detach=detach
    )
    steps = release_steps(rt.settings, opts, step_functions(rt, opts, timeout))
    base = {"env": rt.settings.env, "project": rt.settings.project, "dry_run": dry_run}
    if dry_run:
        results = DryRunExecutor(rt.console).run(steps, rt)
        return {**base, "steps": [{**r.as_dict(), **r.result} for r in results]}
    if migrate:  # issue 14: the plan of the build context, before the confirmation
        from .planflow import gate_migration

        gate_migration(rt, directory=rt.settings.context)
        rt.part(ReleaseState).planned = True
    if migrate or seed:
        from .snapshot import confirm_note

        names = " + ".join(s.name for s in steps)
        note = confirm_note(rt) if migrate else ""
        confirm(rt, f"release {names} ({rt.settings.project}){note}", yes=yes)
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
        refuse_if_running(rt, _project(rt))
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
        return run_action(rt, "migrate", yes=True, detach=opts.detach, timeout=timeout)

    def seed(rt: Runtime) -> dict[str, Any]:
        return run_action(
            rt, "seed", script=opts.seed_script, yes=True, detach=opts.detach, timeout=timeout
        )

    return StepFunctions(
        guard=guard, check=check, push=push, resolve=resolve, migrate=migrate, seed=seed
    )
