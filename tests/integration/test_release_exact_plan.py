"""A release a person confirms, on the scripted CodeBuild fake (moto over HTTP, virtual clock):
the plan build runs first (RUN_PLAN=true), its exact status is read from the build's log as
the follower streams it, the plan is shown before the prompt, and nothing pending means no
migration build. The plan builds' log bodies are real: captured from the local environment's
plan builds of the Bun sample (tests/e2e/test_local_exact_plan.py), replayed by the fake."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tasks.codebuild.services import Services
from tasks.core.errors import ExitCode, MigrationStatusError
from tasks.release import flow
from tasks.release.pipeline import PipelineStopped
from tests.helpers.migration_sets import four_migrations
from tests.helpers.scripted_codebuild import (
    Script,
    ScriptedCodeBuild,
    VirtualClock,
    codebuild_lines,
)
from tests.integration.test_codebuild_stage import PROJECT, Harness, _script

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples" / "plan"
STATUS = ["bun", "src/db/status.ts"]
ACCEPT = {"require-concurrent-index-creation": "members is created empty in the same migration"}


@pytest.fixture
def fake(scripted_codebuild: Callable[..., ScriptedCodeBuild]) -> ScriptedCodeBuild:
    return scripted_codebuild(PROJECT)


def replay(sample: str) -> Script:
    """A build whose BUILD phase prints the captured lines (provisioning included)."""
    script = Script()
    script.lines = codebuild_lines(script, (SAMPLES / sample).read_text().splitlines())
    return script


def harness(clock: VirtualClock, context: Path, asked: list[str], **flags: Any) -> Harness:
    h = Harness(clock, status_command=STATUS, context=str(context), accept_rules=ACCEPT, **flags)
    text = h.err  # the human lines: what the person had read when the question came

    def ask(question: str) -> bool:
        asked.append(h.out.getvalue() + text.getvalue())
        return True

    h.rt.part(Services).ask = ask
    return h


def overrides(request: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in request["environmentVariablesOverride"]}


def test_fake_codebuild_nothing_pending_means_no_migration_build(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    fake.scripts = [replay("plan-build-bun-nothing-pending.log"), _script(1)]
    asked: list[str] = []
    h = harness(clock, four_migrations(tmp_path), asked)
    done = flow.release(h.rt, skip_build=True)
    assert len(fake.requests) == 1  # the plan build only
    sent = overrides(fake.requests[0])
    assert (sent["RUN_PLAN"], sent["RUN_MIGRATIONS"], sent["RUN_SEED"]) == (
        "true",
        "false",
        "false",
    )
    assert json.loads(sent["STATUS_COMMAND"]) == STATUS
    assert done["results"]["db.migrate"] == {
        "skipped": True,
        "reason": "the plan build's exact status says nothing is pending (2 applied)",
    }
    assert [(s["name"], s["status"]) for s in done["steps"]][-2:] == [
        ("db.plan", "ok"),
        ("db.migrate", "skipped"),
    ]
    assert asked == []  # nothing would run: nothing to confirm
    text = h.out.getvalue() + h.err.getvalue()
    assert "db.migrate skipped: the plan build's exact status says nothing is pending" in text
    assert "no migration build started" in text


def test_fake_codebuild_after_two_of_four_the_plan_shows_exactly_the_other_two(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    fake.scripts = [replay("plan-build-bun-two-of-four.log"), _script(1)]
    asked: list[str] = []
    context = four_migrations(tmp_path)
    h = harness(clock, context, asked)
    done = flow.release(h.rt, skip_build=True)
    assert len(fake.requests) == 2 and len(asked) == 1
    seen = asked[0]  # the exact plan, shown before the question
    assert "pending migrations, exact (read from the database)" in seen
    assert "  pending 1: 0003_create_audit.sql\n  pending 2: 0004_create_tags.sql\n" in seen
    assert "pending 3:" not in seen
    assert "applied: 0001_create_organizations.sql (2026-11-30T06:54:09Z)" in seen
    assert "migrations/0003_create_audit.sql:1:" in seen  # the lint covers the pending files
    assert "0002_create_members.sql:" not in seen  # ...only: 0002 is applied
    assert done["results"]["db.plan"]["pending"] == [
        "0003_create_audit.sql",
        "0004_create_tags.sql",
    ]
    # the migration build gets exactly the files the plan checked, with their sha256
    approved = json.loads(overrides(fake.requests[1])["APPROVED_MIGRATIONS"])
    assert approved == {
        f"migrations/{name}": hashlib.sha256(
            (context / "migrations" / name).read_bytes()
        ).hexdigest()
        for name in ("0003_create_audit.sql", "0004_create_tags.sql")
    }
    assert overrides(fake.requests[1])["RUN_MIGRATIONS"] == "true"
    assert "RUN_PLAN" not in overrides(fake.requests[1])
    assert done["plan"]["status"]["source"] == "exact"


def test_fake_codebuild_a_plan_build_without_the_status_line_stops_before_the_prompt(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    # a project still on an older buildspec: RUN_PLAN is unknown, the build prints no status
    body = (SAMPLES / "plan-build-bun-nothing-pending.log").read_text().splitlines()[:2]
    old = Script()
    old.lines = codebuild_lines(old, body)
    fake.scripts = [old, _script(1)]
    asked: list[str] = []
    h = harness(clock, four_migrations(tmp_path), asked)
    with pytest.raises(PipelineStopped) as info:
        flow.release(h.rt, skip_build=True)
    assert isinstance(info.value.cause, MigrationStatusError)
    assert info.value.code == ExitCode.MIGRATION_STATUS == 26
    assert "printed no MIGRATION-STATUS/1 line; nothing was migrated" in info.value.line()
    assert "invoke setup --apply" in info.value.remedy
    assert len(fake.requests) == 1 and asked == []


def test_fake_codebuild_with_yes_no_plan_build_runs_and_the_estimate_never_skips(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    fake.scripts = [_script(1)]
    empty = tmp_path / "empty"
    empty.mkdir()  # no migration files: the estimate sees nothing pending
    h = harness(clock, empty, [])
    done = flow.release(h.rt, skip_build=True, yes=True)  # CI: nobody confirms in between
    assert len(fake.requests) == 1
    sent = overrides(fake.requests[0])
    assert sent["RUN_MIGRATIONS"] == "true" and "RUN_PLAN" not in sent
    assert done["steps"][-1]["status"] == "ok"
    assert done["plan"]["status"]["source"] == "estimate"
    assert "the estimate sees nothing pending; the migration build still runs" in (
        h.out.getvalue() + h.err.getvalue()
    )


def test_dry_run_shows_the_plan_build_step(clock: VirtualClock, tmp_path: Path) -> None:
    h = Harness(clock, status_command=STATUS)
    done = flow.release(h.rt, skip_build=True, dry_run=True)
    names = [s["name"] for s in done["steps"]]
    assert names[-2:] == ["db.plan", "db.migrate"]
    shown = "\n".join(done["steps"][-2]["plan"])
    # rendered from the very StartRequest the plan build sends (release.start)
    assert "RUN_MIGRATIONS=false RUN_PLAN=true RUN_SEED=false" in shown, shown
    assert """STATUS_COMMAND='["bun", "src/db/status.ts"]'""" in shown
    assert "--entrypoint bun '<pinned image>' src/db/status.ts" in shown
    yes = flow.release(
        Harness(clock, status_command=STATUS).rt, skip_build=True, dry_run=True, yes=True
    )
    assert "db.plan" not in [s["name"] for s in yes["steps"]]


def test_fake_codebuild_a_refusal_of_unapproved_files_exits_27_with_the_build_line(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    from tasks.core.errors import MigrationNotApproved
    from tasks.release import db_actions

    # the local runner's real log of that refusal, replayed as a CodeBuild build that FAILED
    refused = Script(
        final="FAILED",
        context=(
            "COMMAND_EXECUTION_ERROR",
            'Error while executing command: [ "$RUN_MIGRATIONS" != "true" ] || python3 -c '
            '"$RUN_IN_IMAGE_PY" migrate. Reason: exit status 27',
        ),
    )
    body = (SAMPLES / "migration-build-not-approved.log").read_text().splitlines()
    refused.lines = codebuild_lines(refused, body)
    fake.scripts = [refused]
    h = harness(clock, four_migrations(tmp_path), [])
    h.rt.part(Services).diagnose = False
    with pytest.raises(MigrationNotApproved) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    assert info.value.code == ExitCode.MIGRATION_NOT_APPROVED == 27
    assert info.value.line().startswith(
        "1 pending migration(s) were not approved by the suite's plan: 0004_create_tags.sql "
        "(not in the plan the suite checked); nothing was migrated. Fix: let the suite lint"
    )
    assert info.value.details["build_status"] == "FAILED"
