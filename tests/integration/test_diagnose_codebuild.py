"""diagnose against CodeBuild over HTTP (moto + the scripted CodeBuild of tests/helpers), both as
``invoke diagnose`` reads a build and as the wait loop's automatic on-failure hook."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.codebuild.model import BuildUnsuccessful
from tasks.codebuild.services import Services
from tasks.core.config import load_settings, load_yaml_file
from tasks.core.console import Console
from tasks.core.runtime import Runtime
from tasks.diagnose import service
from tasks.release import collaborators, db_actions
from tasks.release.state import ReleaseState
from tests.helpers.scripted_codebuild import (
    Script,
    ScriptedCodeBuild,
    VirtualClock,
    codebuild_lines,
    virtual_runtime,
)

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "daadaar-migrations"
PINNED = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend@sha256:{'ab' * 32}"
BODY = [
    "[Container] 2024/07/12 01:21:53 Running command docker run --rm -e DATABASE_URL $IMAGE bun run src/db/migrate.ts",
    "migrate: database acme.cluster-x.us-east-1.rds.amazonaws.com:5432/app, migrations from /app/migrations",
    "migrate: migrate failed: Connection timeout after 10s",
    "[Container] 2024/07/12 01:22:04 Command did not exit successfully docker run --rm -e DATABASE_URL $IMAGE bun run src/db/migrate.ts exit status 1",
]


@pytest.fixture
def fake(scripted_codebuild: Callable[..., ScriptedCodeBuild]) -> ScriptedCodeBuild:
    return scripted_codebuild(PROJECT)


def runtime(clock: VirtualClock, json_mode: bool = False) -> tuple[Runtime, io.StringIO]:
    raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
    settings = load_settings(raw, env="prod", environ=dict(os.environ))
    out = io.StringIO()
    console = Console(out=out, err=out, json_mode=json_mode, color=False)
    environ = {**os.environ, "RELEASE_INVOCATION_ID": "diagnose-test"}
    rt: Runtime = virtual_runtime(settings, console, clock, environ, max_attempts=1)
    rt.part(ReleaseState).pinned = PINNED
    return rt, out


def failing_script() -> Script:
    script = Script(final="FAILED")
    script.lines = codebuild_lines(script, BODY)
    return script


def test_wait_loop_diagnoses_a_failed_migration_automatically(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [failing_script()]
    rt, out = runtime(clock)
    rt.part(Services).on_failure = service.failure_hook(rt, checks_factory=None)
    with pytest.raises(BuildUnsuccessful) as info:
        db_actions.run_action(rt, "migrate", yes=True)
    assert "The database did not answer" in info.value.remedy  # the diagnosis is the remedy
    text = out.getvalue()
    assert "1. The database did not answer (connection timed out)" in text
    assert "migrate failed: Connection timeout after 10s" in text


def test_diagnose_reads_the_latest_failed_build_and_its_log_from_aws(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [failing_script()]
    rt, _ = runtime(clock)
    with pytest.raises(BuildUnsuccessful):
        db_actions.run_action(rt, "migrate", yes=True)
    rt2, _ = runtime(clock, json_mode=True)
    result = service.run(rt2, backend=collaborators.backend_for(rt2), checks_factory=lambda rt: {})
    assert result["build"]["id"] == fake.only().id and result["build"]["status"] == "FAILED"
    assert result["build"]["failed_phase"] == "BUILD"
    top = result["findings"][0]
    assert top["id"] == "pg_connect_timeout"
    assert any("Connection timeout after 10s" in e["text"] for e in top["evidence"])
    assert any(e["phase"] == "BUILD" for e in top["evidence"])
    assert "daadaar-migrations" in top["fix"]  # the configured project, filled in


def test_db_timeout_follow_up_runs_doctors_network_path_checks(
    aws_env: str, clock: VirtualClock
) -> None:
    """The hook calls the real ``invoke doctor`` network-path checks (over moto)."""
    from tasks.diagnose.followups import default_checks, run_followups
    from tasks.diagnose.matcher import scan_lines
    from tasks.diagnose.ranking import diagnose
    from tasks.provision.facts import network_path_checks

    rt, _ = runtime(clock)
    catalogue = service.load_catalogue()
    found = diagnose(catalogue, scan_lines(BODY, catalogue), values={"port": "5432"}).findings
    assert found[0].id == "pg_connect_timeout"
    results = run_followups(found, default_checks(rt, network_path_checks))
    checks = results["pg_connect_timeout"]
    # doctor's own checks, by their ids; this empty account has no VPC config or database
    assert [c.name for c in checks] == ["subnet_egress", "database_path"]
    assert all(c.status == "warn" and c.fix for c in checks)
