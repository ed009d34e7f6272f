"""The suite side of the exact plan (issue 14): the status line read from a build's log, the
plan build's overrides, when a release runs it, and what the migration build is handed."""

from __future__ import annotations

import io
import json

import pytest

from tasks.codebuild.model import Build, EnvVar, overrides_for
from tasks.core.aws import AwsFactory
from tasks.core.commands import CommandRunner
from tasks.core.config import Settings
from tasks.core.console import Console
from tasks.core.errors import UsageError
from tasks.core.runtime import Runtime
from tasks.release.planflow import approval_overrides, plan_action, wants_exact_plan
from tasks.release.state import ReleaseState
from tasks.release.status import StatusError, status_from_log

LINE = 'MIGRATION-STATUS/1 {"tool":"t","applied":[{"name":"0001_a.sql"}],"pending":["0002_b.sql"]}'


def runtime(**extra: object) -> Runtime:
    s = Settings(env="prod", project="proj", confirm=True, extra=extra)
    console = Console(out=io.StringIO(), err=io.StringIO(), color=False)
    return Runtime(
        s, console, AwsFactory(s), CommandRunner(console.redactor, {}), console.redactor, {}
    )


def test_the_status_is_the_one_line_at_the_start_of_a_log_line() -> None:
    log = ["image working directory /app", "  status | " + LINE, LINE, "[Container] done"]
    status = status_from_log(log)
    assert status.pending == ("0002_b.sql",) and [a.name for a in status.applied] == ["0001_a.sql"]
    # the status command's own line, indented under "  status | ", never counts
    with pytest.raises(StatusError, match="printed no MIGRATION-STATUS/1 line"):
        status_from_log(log[:2])
    with pytest.raises(StatusError, match="printed 2 MIGRATION-STATUS/1 lines"):
        status_from_log([LINE, LINE])


def test_the_plan_build_never_migrates_and_is_told_apart() -> None:
    sent = {v.name: v.value for v in overrides_for("plan", "img@sha256:0")}
    assert sent == {
        "RUN_MIGRATIONS": "false",
        "RUN_SEED": "false",
        "IMAGE_URI": "img@sha256:0",
        "RUN_PLAN": "true",
    }
    plan = Build(id="p:1", project="p", environment=tuple(overrides_for("plan", "i")))
    assert plan.action == "plan"  # never counted as a migration build
    assert "RUN_PLAN" not in {v.name for v in overrides_for("migrate", "i")}


@pytest.mark.parametrize(
    ("confirm", "yes", "extra", "wanted"),
    [
        (True, False, {"status_command": ["s"]}, True),
        (True, True, {"status_command": ["s"]}, False),  # --yes: nobody confirms in between
        (True, False, {}, False),  # no status command: the estimate, and the build decides
        (True, False, {"status_command": ["s"], "plan": False}, False),
        (False, False, {"status_command": ["s"]}, False),
    ],
)
def test_a_release_runs_the_plan_build_only_when_a_person_confirms(
    confirm: bool, yes: bool, extra: dict[str, object], wanted: bool
) -> None:
    s = Settings(env="prod", confirm=confirm, extra=extra)
    assert wants_exact_plan(s, migrate=True, yes=yes) is wanted
    assert wants_exact_plan(s, migrate=False, yes=yes) is False


def test_the_migration_build_gets_the_approved_files_only_with_an_exact_status() -> None:
    rt = runtime(status_command=["bun", "src/db/status.ts"])
    assert approval_overrides(rt) == ()  # no plan ran: nothing to compare
    rt.part(ReleaseState).approved = {"migrations/0002_b.sql": "ab" * 32}
    assert approval_overrides(rt) == (
        EnvVar(
            "APPROVED_MIGRATIONS", json.dumps({"migrations/0002_b.sql": "ab" * 32}).replace(" ", "")
        ),
    )
    rt.part(ReleaseState).approved = {}
    assert approval_overrides(rt)[0].value == "{}"  # a plan with nothing pending: run nothing new
    no_status = runtime()
    no_status.part(ReleaseState).approved = {"m.sql": "ab" * 32}
    assert approval_overrides(no_status) == ()  # the build has no status to check it against


def test_db_plan_exact_refuses_before_any_build() -> None:
    with pytest.raises(UsageError, match="sets no status_command") as info:
        plan_action(runtime(), exact=True)  # before resolving any image
    assert "status_command" in info.value.remedy
    with pytest.raises(UsageError, match="--dir has no database"):
        plan_action(runtime(status_command=["s"]), exact=True, directory=".")
