"""Bad configuration through the real `invoke` entry: one line, exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def project_copy(tmp_path: Path, invoke_yaml: str) -> Path:
    """A project dir using this suite's tasks.py and tasks/ with its own invoke.yaml."""
    (tmp_path / "tasks.py").symlink_to(ROOT / "tasks.py")
    (tmp_path / "tasks").symlink_to(ROOT / "tasks")
    (tmp_path / "invoke.yaml").write_text(invoke_yaml)
    return tmp_path


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("RELEASE_ENV", None)
    return subprocess.run(
        ["invoke", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("release:\n  env: prod\n\tenvironments: {}\n", "line 3"),
        ("release: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_broken_invoke_yaml_is_one_line_exit_2(tmp_path: Path, yaml_text: str, needle: str) -> None:
    done = run(project_copy(tmp_path, yaml_text), "--list")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_unknown_environment_and_bad_values(tmp_path: Path) -> None:
    project = project_copy(
        tmp_path, "release:\n  env: prod\n  environments:\n    prod:\n      account: '12'\n"
    )
    bad_account = run(project, "image.verify", "--image", "127.0.0.1:1/app:x")
    assert bad_account.returncode == 2 and "12-digit" in bad_account.stderr
    unknown = run(project, "image.check", "--env", "qa", "--json")
    assert unknown.returncode == 2
    assert '"code": 2' in unknown.stdout and "unknown environment 'qa'" in unknown.stderr
    assert "Traceback" not in bad_account.stderr + unknown.stderr
