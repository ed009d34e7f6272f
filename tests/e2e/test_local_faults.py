"""Interruptions and faults on the real stack: engine, registry, PostgreSQL, bun, buildspec.

A stopped migration must stop in the database too, not only on this machine; a migration file
that commits on its own is refused before it runs (issue 10, items 6 and 9).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tasks.codebuild.model import FAILED, STOPPED, Build, EnvVar, StartRequest
from tasks.core.errors import ExitCode
from tasks.local.backend import LocalBackend
from tests.e2e.conftest import LocalEnv
from tests.e2e.test_local_release import applied, flags_for, runner, variant

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]

SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND state = 'active' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"
)


def _push_variant(env: LocalEnv, context: Path, tag: str) -> str:
    image = f"{env.registry.host}/daadaar-backend:{tag}"
    for argv in (
        ["docker", "build", "--platform", "linux/amd64", "-t", image, str(context)],
        ["docker", "push", image],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return image


def _slow_build(
    env: LocalEnv, backend_image: str, tmp_path: Path
) -> tuple[LocalBackend, Build, str]:
    """A release's migration build, caught while PostgreSQL runs its 60 s statement."""
    del backend_image  # (its session fixture has logged docker in to the registry)
    slow = variant(tmp_path, "slow")
    (slow / "migrations" / "0003_slow.sql").write_text(
        "CREATE TABLE slow_marker (id int);\nSELECT pg_sleep(60);\n"
    )
    image = _push_variant(env, slow, "e2e-slow60")
    b = runner(env)
    overrides = (EnvVar("RUN_MIGRATIONS", "true"), EnvVar("RUN_SEED", "false"))
    build = b.start(
        StartRequest(
            "e2e", "migrate", (*overrides, EnvVar("IMAGE_URI", image)), image, os.urandom(8).hex()
        )
    )
    deadline = time.monotonic() + 120
    while env.sql(SLEEPING) != "1":
        assert time.monotonic() < deadline, f"the slow statement never ran: {b.get(build.id)}"
        time.sleep(0.2)
    return b, build, image


def _seconds_until_gone(env: LocalEnv, since: float, limit: float = 30.0) -> float:
    while env.sql(SLEEPING) != "0":
        if time.monotonic() - since > limit:
            return limit
        time.sleep(0.1)
    return time.monotonic() - since


def _log(b: LocalBackend, build: Build) -> str:
    lines: list[str] = []
    token = None
    for _ in range(100):
        page = b.read_logs(build.logs, token)
        lines += [e.message for e in page.events]
        if page.next_token == token:
            break
        token = page.next_token
    return "\n".join(lines)


def test_stopping_a_build_cancels_its_statement_in_the_database(
    local_env: LocalEnv, backend_image: str, tmp_path: Path
) -> None:
    """build.stop (and Ctrl-C, which calls it) mid-statement: the server-side statement ends
    within seconds, not when its pg_sleep(60) would have; the file is rolled back."""
    b, build, _ = _slow_build(local_env, backend_image, tmp_path)
    stopped_at = time.monotonic()
    b.stop(build.id)
    deadline = stopped_at + 30
    while not build.final and time.monotonic() < deadline:
        time.sleep(0.1)
        build = b.get(build.id)
    assert build.status == STOPPED, build
    gone = _seconds_until_gone(local_env, stopped_at)
    assert gone < 5.0, f"the statement still ran {gone:.1f}s after the stop"
    text = _log(b, build)
    local_env.outputs.append(text)
    assert (
        "migrate: SIGTERM: stopping during 0003_slow.sql; cancelling the running statement" in text
    )
    assert "migrate: 0003_slow.sql was rolled back (its transaction never committed)" in text
    assert "0003_slow.sql" not in applied(local_env)
    assert local_env.sql("SELECT to_regclass('public.slow_marker')") == ""


def test_a_migrator_killed_outright_is_noticed_by_the_server(
    local_env: LocalEnv, backend_image: str, tmp_path: Path
) -> None:
    """SIGKILL of the migration container (nothing can be cancelled politely): the socket
    closes and PostgreSQL ends the statement within seconds (client_connection_check_interval),
    instead of running it to its end while holding the migration lock."""
    b, build, image = _slow_build(local_env, backend_image, tmp_path)
    listed = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"ancestor={image}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(listed) == 1, listed
    killed_at = time.monotonic()
    subprocess.run(
        ["docker", "kill", "--signal", "KILL", listed[0]], capture_output=True, check=True
    )
    gone = _seconds_until_gone(local_env, killed_at)
    assert gone < 5.0, f"the statement still ran {gone:.1f}s after its client was killed"
    deadline = time.monotonic() + 30
    while not build.final and time.monotonic() < deadline:
        time.sleep(0.1)
        build = b.get(build.id)
    local_env.outputs.append(_log(b, build))
    assert build.status == FAILED, build  # the container died: the command failed (exit 137)
    assert local_env.sql("SELECT to_regclass('public.slow_marker')") == ""


def test_a_migration_with_its_own_commit_is_refused_before_it_runs(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    """BEGIN ... COMMIT in a file used to commit its table while the migrator said "rolled
    back", and every later release failed on it. Now: refused before any of it runs, the
    database untouched, and the next release (file fixed) applies it."""
    assert local_env.release().ok
    tables = (
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
        "WHERE schemaname = 'public'"
    )
    before = (local_env.sql(tables), applied(local_env))
    own = variant(tmp_path, "own-transaction")
    migration = own / "migrations" / "0003_audit.sql"
    migration.write_text(
        "BEGIN;\nCREATE TABLE audit (id int);\nCOMMIT;\nINSERT INTO no_such_table VALUES (1);\n"
    )
    outcome = local_env.release(flags=flags_for(own))
    assert outcome.error is not None and outcome.error.code == ExitCode.BUILD_FAILED
    assert (
        "migrate: migration 0003_audit.sql failed: refused before running it: line 1: BEGIN: "
        "a migration file must not control its transaction;"
    ) in outcome.out
    assert "migrate: nothing of 0003_audit.sql was run;" in outcome.out
    assert "rolled back" not in outcome.out  # neither the migrator nor the diagnosis says so
    assert "(app_migration_failed)" in outcome.out
    assert outcome.error.remedy.startswith(
        "A migration file controls its own transaction (refused, nothing of it ran)"
    )
    assert "Remove BEGIN/COMMIT/ROLLBACK from migrations/0003_audit.sql" in outcome.error.remedy
    assert (local_env.sql(tables), applied(local_env)) == before
    migration.write_text("CREATE TABLE audit (id int);\n")
    fixed = local_env.release(flags=flags_for(own))
    assert fixed.ok, fixed.out
    assert applied(local_env)[-1] == "0003_audit.sql"


def test_a_stopped_build_kills_a_container_that_ignores_sigterm(
    local_env: LocalEnv, backend_image: str, tmp_path: Path
) -> None:
    """A migration program that ignores SIGTERM: once the stop's grace is over the runner
    kills its docker CLI, which alone would leave the container running (and connected) on
    the shared engine; the container must die with the build, as on CodeBuild."""
    del backend_image  # (its session fixture has logged docker in to the registry)
    stubborn = variant(tmp_path, "stubborn")
    (stubborn / "src" / "stubborn.ts").write_text(
        'process.on("SIGTERM", () => console.log("stubborn: ignoring SIGTERM"));\n'
        'console.log("stubborn: started");\nawait Bun.sleep(120_000);\n'
    )
    image = _push_variant(local_env, stubborn, "e2e-stubborn")
    b = runner(local_env)
    overrides = (
        EnvVar("RUN_MIGRATIONS", "true"),
        EnvVar("RUN_SEED", "false"),
        EnvVar("IMAGE_URI", image),
        EnvVar("MIGRATE_COMMAND", '["bun", "src/stubborn.ts"]'),
    )
    build = b.start(StartRequest("e2e", "migrate", overrides, image, os.urandom(8).hex()))
    deadline = time.monotonic() + 120
    while "stubborn: started" not in _log(b, build):
        assert time.monotonic() < deadline, f"the program never started: {b.get(build.id)}"
        time.sleep(0.2)

    def running() -> list[str]:
        ps = ["docker", "ps", "-q", "--filter", f"ancestor={image}"]
        return subprocess.run(ps, capture_output=True, text=True, check=True).stdout.split()

    assert len(running()) == 1
    stopped_at = time.monotonic()
    b.stop(build.id)
    while (running() or not build.final) and time.monotonic() - stopped_at < 30:
        time.sleep(0.2)
        build = b.get(build.id)
    took = time.monotonic() - stopped_at
    left = running()
    if left:  # (a failing run must not leave it behind)
        subprocess.run(["docker", "kill", *left], capture_output=True, check=False)
    assert left == [], f"the container still ran {took:.1f}s after the stop"
    assert build.status == STOPPED, build
    assert took < 16.0  # the 10 s grace, then the kill
    text = _log(b, build)
    local_env.outputs.append(text)
    assert "stubborn: ignoring SIGTERM" in text  # it got the polite request first
