"""``prisma migrate status`` read inside the build (scripts/run_in_image.py, issue 14): the real
program runs with the docker stand-in of test_exact_status_build.py, the status command playing
prisma's output (weak samples, tests/samples/plan/prisma/SOURCES.md) and its exit status: 1
whenever something is pending (Prisma 4.3+)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.local.buildspec import runner_program
from tasks.release.status import status_from_log
from tests.unit.test_exact_status_build import FAKE_DOCKER, IMAGE

PRISMA = Path(__file__).resolve().parents[1] / "samples" / "plan" / "prisma"


def plan_build(tmp_path: Path, output: str, exit_status: int) -> tuple[int, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir(parents=True)
    state, calls = tmp_path / "state.json", tmp_path / "calls.jsonl"
    state.write_text(json.dumps({"status": output, "status_exit": exit_status, "files": {}}))
    fake = bindir / "docker"
    fake.write_text(
        f"#!{sys.executable}\nSTATE = {str(state)!r}\nCALLS = {str(calls)!r}\n" + FAKE_DOCKER
    )
    fake.chmod(0o755)
    proc = subprocess.run(
        [sys.executable, "-c", runner_program(), "plan"],  # as the buildspec carries it
        env={
            "PATH": f"{bindir}:{os.environ['PATH']}",
            "IMAGE_URI": IMAGE,
            "MIGRATE_COMMAND": '["npx", "prisma", "migrate", "deploy"]',
            "STATUS_COMMAND": '["npx", "prisma", "migrate", "status"]',
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_prisma_pending_with_exit_1_is_read_not_refused(tmp_path: Path) -> None:
    rc, out = plan_build(tmp_path, (PRISMA / "pending.txt").read_text(), 1)
    assert rc == 0, out
    status = status_from_log(out.splitlines())
    assert (status.tool, status.pending, status.applied) == ("prisma", ("20201231000000_init",), ())


def test_prisma_up_to_date_and_diverged_histories(tmp_path: Path) -> None:
    rc, out = plan_build(tmp_path / "a", (PRISMA / "up-to-date.txt").read_text(), 0)
    assert rc == 0 and status_from_log(out.splitlines()).pending == ()
    rc, out = plan_build(tmp_path / "b", (PRISMA / "diverge.txt").read_text(), 1)
    status = status_from_log(out.splitlines())
    assert rc == 0 and status.missing == ("20201231000000_dogage",)


@pytest.mark.parametrize(
    ("sample", "code", "words"),
    [
        ("failed.txt", 1, "reports failed migration(s)"),
        ("baseline.txt", 1, "not managed by Prisma Migrate"),
        ("unreachable.txt", 1, "it exited 1"),  # not prisma's status at all: the exit decides
    ],
)
def test_prisma_output_that_cannot_be_read_stops_the_build_with_26(
    tmp_path: Path, sample: str, code: int, words: str
) -> None:
    rc, out = plan_build(tmp_path, (PRISMA / sample).read_text(), code)
    assert rc == 26, out
    [line] = [ln for ln in out.splitlines() if ln.startswith("error: ")]
    assert words in line and "nothing was migrated" in line
