"""The exact plan on the real components (issue 14): the local environment's plan build runs
the buildspec's RUN_PLAN=true path against its PostgreSQL, with the Bun sample's status command
(``bun src/db/status.ts``) inside the pinned image; a release a person confirms runs it before
the prompt and skips the migration build when nothing is pending; a migration build refuses a
pending file the suite did not approve (exit 27)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tasks.codebuild.services import Services
from tasks.core.errors import ExitCode
from tasks.release.state import ReleaseState
from tests.e2e.conftest import LocalEnv, Outcome
from tests.helpers.migration_sets import four_migrations

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
STATUS = ["bun", "src/db/status.ts"]
# squawk flags the sample's index on the table its own migration creates
ACCEPT = {"require-concurrent-index-creation": "members is created empty in the same migration"}
TABLES = (
    "SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') FROM pg_tables "
    "WHERE schemaname = 'public'"
)


def applied(env: LocalEnv) -> list[str]:
    return env.sql("SELECT version FROM schema_migrations ORDER BY version").splitlines()


def builds(env: LocalEnv) -> int:
    return len(list((env.root / "builds").glob("*/build.log")))


def confirmed_release(env: LocalEnv, asked: list[str], **flags: Any) -> Outcome:
    """``invoke release --env local`` with confirm: true, answered yes by a person."""

    def action(rt: Any) -> dict[str, Any]:
        from tasks.release.flow import release

        rt.part(Services).ask = lambda question: asked.append(question) or True
        return release(rt, yes=False)

    return env.run(
        action,
        {"confirm": True, "status_command": STATUS, "accept_rules": ACCEPT, **flags},  # type: ignore[dict-item]
    )


def context(path: Path) -> dict[str, str]:
    return {"context": str(path), "dockerfile": str(path / "Dockerfile")}


def test_db_plan_exact_reads_the_database_and_never_migrates(
    local_env: LocalEnv, backend_image: str
) -> None:
    def action(rt: Any) -> dict[str, Any]:
        from tasks.release.planflow import plan_action

        return plan_action(rt, exact=True)

    before = local_env.sql(TABLES)
    outcome = local_env.run(action, {"tag": "e2e", "status_command": STATUS})  # type: ignore[dict-item]
    assert outcome.ok, outcome.out
    assert outcome.result is not None
    plan = outcome.result["plan"]
    assert plan["status"]["source"] == "exact" and plan["status"]["tool"] == "daadaar-bun"
    assert plan["status"]["pending"] == [
        "0001_create_organizations.sql",
        "0002_create_members.sql",
    ]
    assert outcome.result["plan_build"]["status"] == "SUCCEEDED"
    assert "exact (read from the database)" in outcome.out
    assert "pending 2: 0002_create_members.sql" in outcome.out
    assert "migrations/0002_create_members.sql:" in outcome.out  # the lint of the pending files
    assert "plan build (RUN_PLAN=true): reading the migration status; nothing is migrated" in (
        outcome.out
    )
    assert "running migrations with" not in outcome.out
    assert local_env.sql(TABLES) == before == ""  # the plan build never migrated


def test_confirmed_release_plans_first_and_skips_the_build_when_nothing_is_pending(
    local_env: LocalEnv,
) -> None:
    asked: list[str] = []
    first = confirmed_release(local_env, asked)
    assert first.ok, first.out
    assert applied(local_env) == ["0001_create_organizations.sql", "0002_create_members.sql"]
    assert builds(local_env) == 2  # the plan build, then the migration build
    assert len(asked) == 1
    out = first.out
    # the exact plan is shown before the question, the migration runs after it
    assert out.index("pending 2: 0002_create_members.sql") < out.index("migrate: 2 applied")
    assert first.result is not None and first.result["results"]["db.plan"]["pending"] == [
        "0001_create_organizations.sql",
        "0002_create_members.sql",
    ]
    tables = local_env.sql(TABLES)

    asked.clear()
    second = confirmed_release(local_env, asked)
    assert second.ok, second.out
    assert builds(local_env) == 3  # one more: the plan build only
    assert "db.migrate skipped: the plan build's exact status says nothing is pending" in (
        second.out
    )
    assert asked == []  # nothing to run, nothing to confirm
    assert second.result is not None
    skipped = second.result["results"]["db.migrate"]
    assert skipped["skipped"] is True and "nothing is pending (2 applied)" in skipped["reason"]
    assert [s["status"] for s in second.result["steps"]][-1] == "skipped"
    assert local_env.sql(TABLES) == tables


def test_after_two_of_four_the_exact_plan_shows_exactly_the_other_two(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    assert confirmed_release(local_env, []).ok
    asked: list[str] = []
    four = confirmed_release(
        local_env, asked, **context(four_migrations(tmp_path, whole_sample=True))
    )
    assert four.ok, four.out
    assert four.result is not None
    assert four.result["results"]["db.plan"]["pending"] == [
        "0003_create_audit.sql",
        "0004_create_tags.sql",
    ]
    plan = four.result["plan"]
    assert plan["pending_files"] == [
        "migrations/0003_create_audit.sql",
        "migrations/0004_create_tags.sql",
    ]
    assert sorted(plan["checksums"]) == plan["pending_files"]
    assert "pending 1: 0003_create_audit.sql" in four.out and "pending 3:" not in four.out
    assert len(asked) == 1
    assert applied(local_env)[-2:] == ["0003_create_audit.sql", "0004_create_tags.sql"]
    assert "the 2 pending migration(s) are the files the suite checked" in four.out


def test_a_pending_file_the_suite_did_not_approve_stops_the_build_with_27(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    assert confirmed_release(local_env, []).ok
    tables = local_env.sql(TABLES)
    four = four_migrations(tmp_path, whole_sample=True)
    audit = "migrations/0003_create_audit.sql"
    approved = {audit: hashlib.sha256((four / audit).read_bytes()).hexdigest()}

    def action(rt: Any) -> dict[str, Any]:
        from tasks.release.flow import release

        # the plan checked 0003 only (an estimate that missed 0004): the build must refuse
        state = rt.part(ReleaseState)
        state.approved = approved
        state.planned = True
        return release(rt, yes=True)

    outcome = local_env.run(
        action,
        {**context(four), "status_command": STATUS, "plan": False},  # type: ignore[dict-item]
    )
    assert outcome.error is not None, outcome.out
    assert outcome.error.code == ExitCode.MIGRATION_NOT_APPROVED == 27  # the build's own code
    assert "Fix: let the suite lint exactly these" in outcome.error.line()
    assert (
        "error: 1 pending migration(s) were not approved by the suite's plan: "
        "0004_create_tags.sql (not in the plan the suite checked); nothing was migrated"
    ) in outcome.out
    assert "exit status 27" in outcome.out
    assert local_env.sql(TABLES) == tables  # neither 0003 nor 0004 ran


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (["bun", "-e", "console.log('all good')"], "printed no MIGRATION-STATUS/1 line"),
        (["bun", "-e", "process.exit(0)"], "the status command printed nothing"),
    ],
)
def test_a_status_command_printing_garbage_or_nothing_stops_the_release_before_migrating(
    local_env: LocalEnv, status: list[str], words: str
) -> None:
    before = local_env.sql(TABLES)
    outcome = local_env.release(flags={"status_command": status})  # --yes: the build decides
    assert outcome.error is not None, outcome.out
    assert outcome.error.code == ExitCode.MIGRATION_STATUS == 26  # the build's own code
    line = outcome.error.line()
    assert "the migration status command's output is unreadable" in line and words in line
    assert "nothing was migrated. Fix: make status_command print one MIGRATION-STATUS/1" in line
    assert "running migrations with bun src/db/migrate.ts" in outcome.out
    assert "migrate: database" not in outcome.out  # the migrate command never ran
    assert local_env.sql(TABLES) == before == ""
