"""``invoke diagnose`` as a user runs it: exit codes, one JSON object, stdin, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples" / "diagnose"


def invoke(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELEASE_"))}
    env.update(NO_COLOR="1", AWS_EC2_METADATA_DISABLED="true")
    return subprocess.run(
        ["invoke", "diagnose", "--no-checks", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_saved_log_with_json() -> None:
    proc = invoke("--log", str(SAMPLES / "docker_exec_format_error--with-warning.log"), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert [f["id"] for f in data["findings"]] == ["docker_exec_format_error"]
    assert data["findings"][0]["evidence"][0]["phase"] == "BUILD"
    assert "1. The image is built for another CPU architecture" in proc.stderr


def test_stdin_and_build_json_together() -> None:
    log = (SAMPLES / "pg_connect_timeout--sample-backend.log").read_text()
    proc = invoke("--log", "-", "--build-json", str(SAMPLES / "cb_timeouts.build.json"), stdin=log)
    assert proc.returncode == 0, proc.stderr
    assert "Diagnosis of build daadaar-migrations:6b1d1a4e" in proc.stdout
    assert proc.stdout.index("pg_connect_timeout") < proc.stdout.index("cb_timeouts")


def test_no_match_exits_with_its_own_code() -> None:
    log = "starting\nsomething nobody catalogued\n"
    proc = invoke("--log", "-", "--json", stdin=log)
    assert proc.returncode == 21
    data = json.loads(proc.stdout)
    assert data["ok"] is False and data["findings"] == [] and data["matched"] is False
    assert data["error"]["code"] == 21 and data["error"]["kind"] == "SuiteError"
    assert data["last_lines"][-1]["text"] == "something nobody catalogued"
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no known failure matched")


def test_missing_log_file_is_one_line_and_a_usage_code() -> None:
    proc = invoke("--log", "/nonexistent/build.log")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "cannot read log file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_secrets_never_reach_the_output() -> None:
    secret = "Sup3r-Secret-Pw"
    log = (
        f"connecting to postgres://app:{secret}@db.internal:5432/app\n"
        f'error: password authentication failed for user "app" '
        f"(postgres://app:{secret}@db.internal:5432/app) token={secret}\n"
    )
    for extra in ((), ("--json",)):
        proc = invoke("--log", "-", *extra, stdin=log)
        assert proc.returncode == 0
        assert secret not in proc.stdout + proc.stderr
        assert "app:***@db.internal" in proc.stdout + proc.stderr


def test_gzipped_logs_file_and_stdin(tmp_path: Path) -> None:
    import gzip

    packed = gzip.compress((SAMPLES / "ecr_token_expired.log").read_bytes())
    (tmp_path / "build.log.gz").write_bytes(packed)
    proc = invoke("--log", str(tmp_path / "build.log.gz"), "--json")
    assert (
        proc.returncode == 0 and json.loads(proc.stdout)["findings"][0]["id"] == "ecr_token_expired"
    )
    piped = subprocess.run(
        ["invoke", "diagnose", "--no-checks", "--log", "-", "--json"],
        cwd=ROOT,
        input=packed,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert json.loads(piped.stdout)["findings"][0]["id"] == "ecr_token_expired"
