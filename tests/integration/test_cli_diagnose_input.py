"""``invoke diagnose`` given nothing to diagnose: bad input (exit 2), not "no match" (21)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def diagnose(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELEASE_"))}
    env.update(NO_COLOR="1", AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run(
        ["invoke", "diagnose", "--no-checks", "--json", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _usage(proc: subprocess.CompletedProcess[str], text: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [text]
    data = json.loads(proc.stdout)
    assert data["ok"] is False and data["error"]["code"] == 2


def test_an_empty_log_on_stdin() -> None:
    _usage(
        diagnose("--log", "-"),
        "error: the log stdin is empty: nothing to diagnose. Fix: pass the failing command's "
        "output (both streams: `cmd 2>&1 | invoke diagnose --log -`) or a saved build log",
    )


@pytest.mark.parametrize(
    ("saved", "why"),
    [
        (
            {"builds": [], "buildsNotFound": ["daadaar-migrations:nope"]},
            ": CodeBuild did not find daadaar-migrations:nope",
        ),
        ({}, ""),
    ],
)
def test_a_batch_get_builds_answer_without_a_build(
    tmp_path: Path, saved: dict[str, object], why: str
) -> None:
    path = tmp_path / "build.json"
    path.write_text(json.dumps(saved))
    _usage(
        diagnose("--build-json", str(path)),
        f"error: {path} holds no build{why}. Fix: check the id (`invoke build.list`), then save "
        "it again with `aws codebuild batch-get-builds --ids ID > build.json`",
    )


def test_log_dash_on_a_terminal_does_not_wait_silently() -> None:
    """`invoke diagnose --log -` typed without a pipe would block forever on the keyboard."""
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELEASE_"))}
    env.update(NO_COLOR="1", AWS_EC2_METADATA_DISABLED="true")
    try:
        proc = subprocess.run(
            ["invoke", "diagnose", "--no-checks", "--log", "-"],
            cwd=ROOT,
            env=env,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: --log - reads the log from stdin, but stdin is this")


@pytest.mark.parametrize(
    ("sample", "title", "fix"),
    [
        (
            "statement-timeout",
            "A migration ran past statement_timeout (rolled back)",
            "SET LOCAL statement_timeout = '15min';` at the top of migrations/0004_backfill_orgs.sql",
        ),
        (
            "lock-timeout",
            "A migration waited too long for a lock (rolled back)",
            "raise `SET LOCAL lock_timeout` in migrations/0005_orgs_slug_index.sql",
        ),
    ],
)
def test_a_migration_cancelled_by_a_timeout_is_not_bad_sql(
    sample: str, title: str, fix: str
) -> None:
    log = ROOT / "tests" / "samples" / "diagnose" / f"app_migration_failed--{sample}.log"
    proc = diagnose("--log", str(log))
    assert proc.returncode == 0, proc.stderr
    top = json.loads(proc.stdout)["findings"][0]
    assert (top["id"], top["title"]) == ("app_migration_failed", title)
    assert fix in top["fix"] and "Fix the SQL" not in top["fix"]
