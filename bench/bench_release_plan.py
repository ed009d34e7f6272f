"""A release's wall time with and without the migration plan (issue 14), in the same run.

Two settings, each with a reference measured in this very script:

* ``local``: ``release --env local`` in-process (the real pipeline: image build and push to a
  registry started here, the local runner, real PostgreSQL, the Bun sample backend), once with
  ``plan: false`` (the reference) and once with ``plan: true`` (the image-history estimate read
  from the local runner's build history + squawk, before the confirmation), alternating, each
  on a fresh database with a fresh image layer. The plan's own time (``make_plan``) and the
  migration build's (the ``db.migrate`` step) are reported beside them.
* ``codebuild``: ``release --env prod`` against the scripted CodeBuild fake in moto
  (tests/helpers/scripted_codebuild.py), time virtual (sleeps advance a shared clock, the fake
  reads it) plus the real time spent computing; the image stage is a fixed virtual 30 s
  (monkeypatched: the registry is not the point here). The fake's phases are its documented
  ones (PROVISIONING 20 s, BUILD 60 s...); a second column sets PROVISIONING to 90 s, the low
  end users report for CodeBuild in a VPC (docs/... migration-safety: 90 s to 5 min). Rows: no
  plan (reference), the plan as built (estimate + lint, no build), and the separate plan build
  of ``db.plan --exact`` (a release in a confirm environment with ``status_command``, asked
  instead of ``--yes``: the plan build runs before the prompt, then the migration build; the
  plan build replays the log of a real local plan build, tests/samples/plan/
  plan-build-bun-two-of-four.log, with a 5 s BUILD phase). The context is the Bun sample's two
  migrations plus two new tables (as in tests/integration/test_release_exact_plan.py).

    python3 bench/bench_release_plan.py [--runs 3] [--only local|codebuild]

Prints Markdown tables (figures go to bench/README.md). Needs dockerd, docker-registry,
PostgreSQL and bun (the test harness's services; RELEASE_TEST_STATE / RELEASE_TEST_PG_PORT pick
the state directory and the PostgreSQL port as for the tests).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.core.config import load_settings, load_yaml_file  # noqa: E402
from tasks.core.console import Console  # noqa: E402
from tasks.local import daemons  # noqa: E402
from tasks.release import planflow  # noqa: E402
from tests.helpers.migration_sets import four_migrations  # noqa: E402

STATE = Path(os.environ.get("RELEASE_TEST_STATE", "/tmp/release-suite-tests"))
PG_PORT = int(os.environ.get("RELEASE_TEST_PG_PORT", "55432"))
PASSWORD = "bench-registry-" + secrets.token_hex(6)
IMAGE_STAGE = 30.0  # virtual seconds for image.check + image.push on the CodeBuild side


@contextlib.contextmanager
def timed_plans(spent: list[float]) -> Iterator[None]:
    """Time every make_plan the release runs (planflow looks it up at call time)."""
    original = planflow.make_plan

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    planflow.make_plan = wrapper  # type: ignore[assignment]
    try:
        yield
    finally:
        planflow.make_plan = original  # type: ignore[assignment]


def raw_config(plan: bool) -> dict[str, Any]:
    raw = copy.deepcopy(load_yaml_file(ROOT / "invoke.yaml")["release"])
    for env in raw["environments"].values():
        env["plan"] = plan
    return dict(raw)


def services(work: Path) -> daemons.Registry:
    daemons.ensure_dockerd(STATE / "dockerd")
    registry = daemons.start_registry(work / "registry", daemons.free_port(), {"AWS": PASSWORD})
    os.environ["DOCKER_CONFIG"] = str(work / "docker-config")
    login = subprocess.run(
        ["docker", "login", "-u", "AWS", "--password-stdin", registry.host],
        input=PASSWORD, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if login.returncode != 0:
        raise SystemExit(f"docker login failed: {login.stderr}")
    from tests.helpers.bun import ensure_bun

    base = subprocess.run(
        [str(ROOT / "scripts" / "make_bun_base.sh"), str(ensure_bun())],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if base.returncode != 0:
        raise SystemExit(f"make_bun_base.sh failed: {base.stderr[-600:]}")
    return registry


# -- local -------------------------------------------------------------------------------------
def local_release(
    registry: daemons.Registry, pg: daemons.Postgres, local: Path, context: Path, plan: bool
) -> tuple[float, float, float]:
    """(wall, plan, migrate step) seconds of one release --env local on a fresh database."""
    from tasks.core.redact import Redactor
    from tasks.release.flow import release
    from tasks.wiring import runtime_for

    name = f"bench_{secrets.token_hex(4)}"
    url = daemons.ensure_database(pg, name, name, secrets.token_urlsafe(12))
    (local / "credentials.json").write_text(
        json.dumps(
            {"registry": {"username": "AWS", "password": PASSWORD},
             "secrets": {"local/database-url": url}}
        )
    )  # fmt: skip
    environ = {**os.environ, "RELEASE_LOCAL_DIR": str(local)}
    environ.pop("RELEASE_REGISTRY_PASSWORD", None)
    flags = {"registry": registry.host, "context": str(context), "dockerfile": str(context / "Dockerfile")}  # fmt: skip
    settings = load_settings(raw_config(plan), env="local", flags=flags, environ=environ)
    console = Console(out=io.StringIO(), err=io.StringIO(), color=False, redactor=Redactor())
    rt = runtime_for(settings, console, environ=environ)
    (context / "src" / "nonce.txt").write_text(f"{time.time()} {plan}\n")  # a fresh layer
    spent: list[float] = []
    start = time.perf_counter()
    with timed_plans(spent):
        result = release(rt, yes=True)
    wall = time.perf_counter() - start
    daemons.psql(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    migrate = next(s["duration"] for s in result["steps"] if s["name"] == "db.migrate")
    return wall, sum(spent), float(migrate)


def bench_local(registry: daemons.Registry, work: Path, runs: int) -> None:
    pg = daemons.ensure_postgres(STATE / "postgres", PG_PORT)
    context = work / "backend"
    shutil.copytree(ROOT / "examples" / "backend", context, ignore=shutil.ignore_patterns("node_modules"))  # fmt: skip
    figures: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for index in range(runs + 1):  # round 0 warms the caches and is not counted
        for plan in (False, True) if index % 2 else (True, False):
            local = work / f"local-{plan}"  # each side keeps its own build history
            local.mkdir(exist_ok=True)
            got = local_release(registry, pg, local, context, plan)
            if index:
                figures[plan].append(got)
    ref = statistics.median(w for w, _, _ in figures[False])
    print(f"\n### Local environment ({runs} rounds after a warm-up, alternating)\n")
    print("| release --env local | wall (median) | vs no plan | the plan itself | the migration build (db.migrate) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for plan in (False, True):
        walls = [w for w, _, _ in figures[plan]]
        plans = [p for _, p, _ in figures[plan]]
        steps = [m for _, _, m in figures[plan]]
        label = "with the plan (estimate + lint)" if plan else "without the plan (reference)"
        wall = statistics.median(walls)
        print(
            f"| {label} | {wall:.2f} s | {wall / ref:.2f}x | "
            f"{statistics.median(plans):.2f} s | {statistics.median(steps):.2f} s |"
        )


# -- scripted CodeBuild --------------------------------------------------------------------------
@contextlib.contextmanager
def moto() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
             "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_PROFILE")}  # fmt: skip
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing", AWS_DEFAULT_REGION="us-east-1",
    )  # fmt: skip
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def pushed_sample(registry: daemons.Registry) -> str:
    """The sample backend in the registry, pinned: the image the scripted builds ran (so the
    estimate really reads the previous build's image)."""
    tag = f"{registry.host}/daadaar-backend:bench-plan"
    for argv in (
        [
            "docker",
            "build",
            "-q",
            "--platform",
            "linux/amd64",
            "-t",
            tag,
            str(ROOT / "examples" / "backend"),
        ],
        ["docker", "push", "-q", tag],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{argv[:2]} failed: {proc.stderr[-600:]}")
    return subprocess.run(
        ["docker", "image", "inspect", "-f", "{{index .RepoDigests 0}}", tag],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


STATUS = ["bun", "src/db/status.ts"]
ACCEPT = {"require-concurrent-index-creation": "members is created empty in the same migration"}
PLAN_LOG = ROOT / "tests" / "samples" / "plan" / "plan-build-bun-two-of-four.log"


def codebuild_release(
    pinned: str, context: Path, provisioning: float, mode: str
) -> tuple[float, float]:
    """(wall, plan) seconds: virtual time advanced + real time spent, for one release."""
    import tasks.image.engine
    from tasks.codebuild.services import Services
    from tasks.release.db_actions import run_action
    from tasks.release.flow import release
    from tests.helpers.scripted_codebuild import (
        PHASES,
        Script,
        ScriptedCodeBuild,
        VirtualClock,
        codebuild_lines,
    )

    clock = VirtualClock()
    phases = tuple((n, provisioning if n == "PROVISIONING" else d) for n, d in PHASES)
    fake = ScriptedCodeBuild(clock.now).install()
    fake.projects.add("daadaar-migrations")
    try:
        fake.scripts = [Script(phases=phases)]
        seed = run_action(runtime(clock, context, plan=False), "migrate", image=pinned, yes=True)
        assert seed["status"] == "SUCCEEDED", seed  # the history the estimate compares with
        originals = (tasks.image.engine.check_platform, tasks.image.engine.push_image)

        def check(rt: Any) -> dict[str, Any]:
            return {"platform": "linux/amd64"}

        def push(rt: Any) -> dict[str, Any]:
            clock.sleep(IMAGE_STAGE)
            return {"pinned": pinned, "digest": pinned.split("@", 1)[1]}

        tasks.image.engine.check_platform, tasks.image.engine.push_image = check, push
        spent: list[float] = []
        try:
            rt = runtime(clock, context, plan=mode != "none", exact=mode == "separate")
            if mode == "separate":  # the plan build (5 s BUILD), then the migration build
                short = Script(phases=tuple((n, 5.0 if n == "BUILD" else d) for n, d in phases))
                short.lines = codebuild_lines(short, PLAN_LOG.read_text().splitlines())
                fake.scripts = [short, Script(phases=phases)]
                rt.part(Services).ask = lambda question: True  # a person confirms
            else:
                fake.scripts = [Script(phases=phases)]
            t0, r0 = clock.t, time.perf_counter()
            with timed_plans(spent):
                result = release(rt, yes=mode != "separate")
            assert all(s["status"] == "ok" for s in result["steps"]), result["steps"]
            if mode == "separate":  # the plan is the plan build: its step's (virtual) time
                spent = [float(s["duration"]) for s in result["steps"] if s["name"] == "db.plan"]
                assert len(spent) == 1, result["steps"]
            wall = (clock.t - t0) + (time.perf_counter() - r0)
        finally:
            tasks.image.engine.check_platform, tasks.image.engine.push_image = originals
        return wall, sum(spent)
    finally:
        fake.uninstall()


def runtime(clock: Any, context: Path, *, plan: bool, exact: bool = False) -> Any:
    from tasks.core.aws import AwsFactory
    from tasks.core.commands import CommandRunner
    from tasks.core.runtime import Runtime
    from tasks.wiring import wire

    flags: dict[str, Any] = {"context": str(context), "accept_rules": ACCEPT}
    if exact:
        flags["status_command"] = STATUS
    settings = load_settings(raw_config(plan), env="prod", flags=flags, environ=dict(os.environ))
    console = Console(out=io.StringIO(), err=io.StringIO(), color=False)
    rt = Runtime(
        settings, console, AwsFactory(settings), CommandRunner(console.redactor, dict(os.environ)),
        console.redactor, {**os.environ, "RELEASE_INVOCATION_ID": secrets.token_hex(6)},
        sleep=clock.sleep, now=clock.now, monotonic=clock.monotonic,
    )  # fmt: skip
    wire(rt, backup=False)
    return rt


def bench_codebuild(registry: daemons.Registry, work: Path, runs: int) -> None:
    pinned = pushed_sample(registry)
    context = four_migrations(work)
    rows = (
        ("none", "without the plan (reference)"),
        ("estimate", "with the plan as built (estimate + lint, no build)"),
        ("separate", "with the separate plan build (db.plan --exact, before the prompt)"),
    )
    table: dict[tuple[str, float], list[tuple[float, float]]] = {}
    with moto():
        for provisioning in (20.0, 90.0):
            for _ in range(runs):
                for mode, _label in rows:
                    table.setdefault((mode, provisioning), []).append(
                        codebuild_release(pinned, context, provisioning, mode)
                    )
    print(f"\n### Scripted CodeBuild ({runs} runs each; virtual time + real compute)\n")
    print("| release --env prod | PROVISIONING 20 s (the fake's) | vs ref | PROVISIONING 90 s | vs ref | the plan itself (20 s / 90 s) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    refs = {p: statistics.median(w for w, _ in table[("none", p)]) for p in (20.0, 90.0)}
    for mode, label in rows:
        cells = []
        for p in (20.0, 90.0):
            wall = statistics.median(w for w, _ in table[(mode, p)])
            cells += [f"{wall:.1f} s", f"{wall / refs[p]:.2f}x"]
        plans = [statistics.median(s for _, s in table[(mode, p)]) for p in (20.0, 90.0)]
        print(f"| {label} | {' | '.join(cells)} | {plans[0]:.2f} s / {plans[1]:.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("local", "codebuild"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-release-plan-"))
    registry = services(work)
    try:
        if args.only in (None, "local"):
            bench_local(registry, work, args.runs)
        if args.only in (None, "codebuild"):
            bench_codebuild(registry, work, args.runs)
    finally:
        os.kill(registry.pid, 15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
