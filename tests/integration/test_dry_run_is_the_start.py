"""The dry-run plan of a start is the start: what ``--dry-run --json`` shows equals what the
backend then receives (guide, rule 10; issue 13).

CodeBuild side: ``ScriptedCodeBuild`` (moto's CodeBuild, scripted) records every StartBuild's
parameters as received. Local side: the local runner's own ``request.json`` of the build it
starts (its worker is a fake: no process is spawned). Settings cover a migration, a seed with a
script, the local runner, and an environment with issue 14's PGOPTIONS and STATUS_COMMAND
overrides.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tasks.codebuild.services import Services
from tasks.core.config import load_settings, load_yaml_file
from tasks.core.console import Console
from tasks.core.runtime import Runtime
from tasks.local.backend import LocalBackend
from tasks.release import db_actions, flow
from tasks.release.start import PINNED_PLACEHOLDER
from tests.helpers.scripted_codebuild import (
    Script,
    ScriptedCodeBuild,
    VirtualClock,
    virtual_runtime,
)

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "daadaar-migrations"
DIGEST = "sha256:" + "cd" * 32
PINNED = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend@{DIGEST}"
LOCAL_PINNED = f"127.0.0.1:5000/daadaar-backend@{DIGEST}"
# issue 14: the session settings a migration build gets as overrides
SESSION = {
    "plan": False,  # no plan gate here (it reads the image): only the overrides matter
    "lock_timeout": "5s",
    "statement_timeout": "10min",
    "status_command": ["npx", "prisma", "migrate", "status"],
}


@pytest.fixture
def fake(scripted_codebuild: Callable[..., ScriptedCodeBuild]) -> ScriptedCodeBuild:
    return scripted_codebuild(PROJECT, f"{PROJECT}-staging")


def runtime(clock: VirtualClock, env: str, extra: dict[str, Any] | None = None) -> Runtime:
    raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
    raw["environments"][env].update(extra or {})
    settings = load_settings(raw, env=env, environ=dict(os.environ))
    console = Console(out=io.StringIO(), err=io.StringIO(), json_mode=True, color=False)
    environ = {**os.environ, "RELEASE_INVOCATION_ID": "dry-run-1"}
    rt: Runtime = virtual_runtime(settings, console, clock, environ)
    return rt


def received(fake: ScriptedCodeBuild) -> dict[str, Any]:
    """The one StartBuild's parameters (the fake records an absent parameter as None)."""
    (params,) = fake.requests
    return {k: v for k, v in params.items() if v is not None}


CASES = [
    pytest.param("prod", "migrate", None, {}, id="migrate"),
    pytest.param("prod", "seed", "organizations", {}, id="seed-with-script"),
    pytest.param("staging", "migrate", None, SESSION, id="migrate-with-session-overrides"),
]


@pytest.mark.parametrize(("env", "action", "script", "extra"), CASES)
def test_db_dry_run_equals_what_the_scripted_start_build_receives(
    fake: ScriptedCodeBuild,
    clock: VirtualClock,
    env: str,
    action: str,
    script: str | None,
    extra: dict[str, Any],
) -> None:
    planned = db_actions.run_action(
        runtime(clock, env, extra), action, script=script, image=PINNED, dry_run=True
    )
    assert fake.requests == []  # the plan started nothing
    fake.scripts = [Script()]
    started = db_actions.run_action(
        runtime(clock, env, extra), action, script=script, image=PINNED, yes=True, detach=True
    )
    sent = received(fake)
    assert planned["start_build"] == sent  # the token too: same image, same invocation
    assert planned["command"] == started["command"]
    if extra:
        names = [v["name"] for v in sent["environmentVariablesOverride"]]
        assert {"PGOPTIONS", "STATUS_COMMAND"} <= set(names)


@pytest.mark.parametrize(("env", "action", "script", "extra"), CASES)
def test_release_dry_run_equals_the_start_apart_from_the_pinned_digest(
    fake: ScriptedCodeBuild,
    clock: VirtualClock,
    env: str,
    action: str,
    script: str | None,
    extra: dict[str, Any],
) -> None:
    """``invoke release --dry-run``: the image is not built yet, so IMAGE_URI and the token
    (which hashes its digest) are placeholders; everything else is what is then sent."""
    seed = action == "seed"
    plan = flow.release(
        runtime(clock, env, extra),
        seed=seed,
        migrate=not seed,
        skip_build=True,
        dry_run=True,
        script=script,
    )
    (step,) = [s for s in plan["steps"] if s["name"] == f"db.{action}"]
    fake.scripts = [Script()]
    db_actions.run_action(
        runtime(clock, env, extra), action, script=script, image=PINNED, yes=True, detach=True
    )
    sent = received(fake)

    def apart_from_the_digest(params: dict[str, Any], image: str) -> dict[str, Any]:
        env_vars = [
            {**v, "value": "<image>"} if v["name"] == "IMAGE_URI" and v["value"] == image else v
            for v in params["environmentVariablesOverride"]
        ]
        rest = {k: v for k, v in params.items() if k != "idempotencyToken"}
        return {**rest, "environmentVariablesOverride": env_vars}

    shown = step["start_build"]
    assert apart_from_the_digest(shown, PINNED_PLACEHOLDER) == apart_from_the_digest(sent, PINNED)
    assert shown["idempotencyToken"].startswith("<")  # not a token of another image
    assert PINNED_PLACEHOLDER in step["docker_argv"]
    assert " ".join(step["plan"]).count("StartBuild") == 1


def test_local_dry_run_shows_the_request_the_local_runner_hands_its_worker(
    tmp_path: Path, clock: VirtualClock
) -> None:
    """``runner: local``: the plan shows the very request.json the worker is then handed."""
    for action, script in (("migrate", None), ("seed", "organizations")):
        rt = runtime(clock, "local", {"lock_timeout": "5s"})
        s = rt.settings
        root = tmp_path / action
        backend = LocalBackend(
            buildspec_path=ROOT / s.buildspec,
            secret=s.secret,
            region=s.region,
            root=root,
            environ={**rt.environ, "DOCKER_HOST": "unix:///run/fake-docker.sock"},
            spawn=lambda _directory: os.getpid(),  # a fake worker: this process stands in
            project_variables={"MIGRATE_COMMAND": '["bun", "src/db/migrate.ts"]'},
        )
        rt.put(Services(backend=backend))
        planned = db_actions.run_action(rt, action, script=script, image=LOCAL_PINNED, dry_run=True)
        assert not list(root.glob("*/request.json"))  # the plan started nothing
        started = db_actions.run_action(
            rt, action, script=script, image=LOCAL_PINNED, yes=True, detach=True
        )
        handed = json.loads((root / started["id"].split(":", 1)[1] / "request.json").read_text())
        assert json.loads(json.dumps(planned["local_request"])) == handed
        sent = planned["start_build"]["environmentVariablesOverride"]
        overrides = [[v["name"], v["value"]] for v in sent]
        assert handed["overrides"] == overrides
        assert ("PGOPTIONS" in dict(overrides)) == (action == "migrate")


def test_a_secret_in_a_planned_override_is_redacted_as_everywhere(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    """The plan shows the real overrides, through the product's one redactor: a password in a
    status_command URL is masked in the printed plan and in the --json object."""
    extra = {**SESSION, "status_command": ["psql", "postgres://app:Hunter2-pw@db:5432/app"]}
    rt = runtime(clock, "staging", extra)
    planned = db_actions.run_action(rt, "migrate", image=PINNED, dry_run=True)
    rt.console.emit(planned)
    out = rt.console.out.getvalue() + rt.console.err.getvalue()  # type: ignore[attr-defined]
    assert "Hunter2-pw" not in out
    assert "postgres://app:***@db:5432/app" in out
    assert out.count("STATUS_COMMAND") >= 2  # the printed plan and the JSON object
