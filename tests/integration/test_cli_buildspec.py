"""``invoke buildspec.check``: exit 0 with the local runner's warnings, or 2 with the error's
line; ``--json`` is one object; a directory, binary bytes or deep nesting is one line too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests/samples/buildspecs"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "buildspec.check", "--env", "local", *args],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_valid_file_passes_with_its_warnings() -> None:
    proc = check("--file", str(SAMPLES / "valid/full-0.2.yml"))
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING: ")]
    assert len(warnings) == 8
    assert any(": cache: CodeBuild restores and saves the cached paths" in w for w in warnings)
    assert "a valid buildspec (version 0.2)" in proc.stdout


def test_json_gives_one_object_with_errors_and_warnings() -> None:
    proc = check("--file", str(SAMPLES / "valid/install-runtime-only.yml"), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True and result["valid"] is True and result["errors"] == []
    assert len(result["warnings"]) == 1 and "runtime-versions" in result["warnings"][0]
    bad = check("--file", str(SAMPLES / "invalid/duplicate-phases.yml"), "--json")
    assert bad.returncode == 2
    failed = json.loads(bad.stdout)
    assert failed["ok"] is False and failed["valid"] is False
    assert failed["errors"] == [failed["error"]["message"]]
    assert "line 8: duplicate key 'phases' (first at line 4)" in failed["errors"][0]


def test_the_default_is_the_environments_buildspec() -> None:
    proc = check()
    assert proc.returncode == 0, proc.stderr
    assert "buildspec/migrations.yml: a valid buildspec" in proc.stdout


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "is a directory"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary data"),
        (b"version: 0.2\nphases: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", "nested too deeply"),
    ],
)
def test_hostile_input_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None, needle: str
) -> None:
    target = tmp_path / "spec.yml"
    if content is None:
        target.mkdir()
    else:
        target.write_bytes(content)
    proc = check("--file", str(target))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and needle in errors[0]
    assert "Fix: " in errors[0]
