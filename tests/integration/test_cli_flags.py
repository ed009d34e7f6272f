"""Flag values a user mistypes: one line, exit 2, one JSON object; never invoke's traceback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELEASE_"))}
    env.update(NO_COLOR="1", AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run(
        ["invoke", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("limit", ["abc", "0", "2.5"])
def test_build_list_limit_must_be_a_positive_whole_number(limit: str) -> None:
    proc = invoke("build.list", "--env", "staging", f"--limit={limit}", "--json")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: --limit '{limit}' is not a positive whole number. Fix: pass e.g. --limit 5"
    ]
    data = json.loads(proc.stdout)
    assert data["ok"] is False and data["error"]["code"] == 2


def test_release_script_alone_means_seed_with_it() -> None:
    """README: `--seed` / `--script NAME` also run a seed script; --script was silently ignored."""
    planned = invoke(
        "release", "--env", "staging", "--dry-run", "--script", "organizations", "--json"
    )
    assert planned.returncode == 0, planned.stderr
    steps = json.loads(planned.stdout)["steps"]
    assert [s["name"] for s in steps][-2:] == ["db.migrate", "db.seed"]
    assert "SEED_SCRIPT=organizations" in " ".join(steps[-1]["plan"])
    refused = invoke("release", "--env", "staging", "--dry-run", "--script", "drop-all")
    assert refused.returncode == 2
    assert "seed script 'drop-all' is not in the allow-list" in refused.stderr


@pytest.mark.parametrize("task", ["build.wait", "build.logs", "build.stop"])
def test_an_empty_build_id_is_bad_input_not_an_aws_error(task: str) -> None:
    proc = invoke(task, "", "--env", "staging")  # e.g. an unset $ID in a script
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: no build id given. Fix: pass one: `invoke build.list` shows the recent builds"
    ]
