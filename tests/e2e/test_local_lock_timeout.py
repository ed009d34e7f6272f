"""Bounded locks, end to end on the local environment (issue 14): a session of the application
holds a table, a release's migration fails fast on 55P03, and the diagnosis (the automatic one
after the followed build, and ``invoke diagnose`` of that build) names the blocker: pid,
application, state, since when. Real engine, registry, PostgreSQL, Bun and buildspec."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tasks.core.errors import ExitCode
from tasks.local import daemons
from tests.conftest import ROOT
from tests.e2e.conftest import LocalEnv

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
BACKEND = ROOT / "examples" / "backend"


def test_a_held_table_fails_the_migration_fast_and_the_diagnosis_names_the_blocker(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    from tasks.release.collaborators import backend_for
    from tasks.release.failure import diagnosis_checks
    from tasks.release.snapshot import diagnose_with_restore_point

    assert local_env.release().ok  # organizations and members exist
    app = tmp_path / "lock"
    shutil.copytree(BACKEND, app, ignore=shutil.ignore_patterns("node_modules"))
    (app / "migrations" / "0003_org_note.sql").write_text(
        "SET lock_timeout = '1s';\nALTER TABLE organizations ADD COLUMN note text;\n"
    )
    holder = subprocess.Popen(  # the application, same role, in a transaction on the table
        [daemons._pg_bin("psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(local_env.pg.port),
         "-U", local_env.database, "-d", local_env.database],
        stdin=subprocess.PIPE, text=True,
        env={**os.environ, "PGAPPNAME": "orders-api", "PGPASSWORD": local_env.password},
    )  # fmt: skip
    assert holder.stdin is not None
    holder.stdin.write(
        "BEGIN; LOCK TABLE organizations IN ACCESS SHARE MODE; SELECT pg_sleep(120);\n"
    )
    holder.stdin.flush()
    try:
        deadline = time.monotonic() + 20  # bounded: the lock shows in pg_locks within seconds
        while time.monotonic() < deadline and local_env.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE a.application_name = 'orders-api' AND l.relation = 'organizations'::regclass"
        ) in ("", "0"):
            time.sleep(0.2)
        pid = local_env.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'orders-api'"
        )
        outcome = local_env.release(
            flags={"context": str(app), "dockerfile": str(app / "Dockerfile")}
        )
        assert outcome.error is not None and outcome.error.code == ExitCode.BUILD_FAILED
        assert "migration 0003_org_note.sql failed: canceling statement due to lock timeout" in (
            outcome.out
        )
        # the automatic diagnosis after the followed build
        check = next(ln for ln in outcome.out.splitlines() if "Check: blocking sessions:" in ln)
        assert f"held by pid {pid} (orders-api), active since 20" in check
        assert "AccessShareLock on organizations" in check
        assert f"pg_terminate_backend({pid})" in check
        # `invoke diagnose` of that build (the most recent failed one)
        later = local_env.run(
            lambda rt: diagnose_with_restore_point(
                rt, None, checks=True, backend=backend_for(rt), checks_factory=diagnosis_checks
            )
        )
        assert later.ok and later.result is not None, later.out
        [finding] = [f for f in later.result["findings"] if f["id"] == "app_migration_failed"]
        [blockers] = [c for c in finding["checks"] if c["name"] == "blocking sessions"]
        assert blockers["status"] == "fail"
        assert f"pid {pid} (orders-api)" in blockers["message"]
        assert local_env.password not in outcome.out + later.out
    finally:
        local_env.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'orders-api'"
        )
        holder.kill()
        holder.wait(timeout=10)
