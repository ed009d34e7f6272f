"""Set-up on a fresh Debian, whose python3 is externally managed (PEP 668): every install goes
into .venv (issue 10, items 1 and 2). The whole path (quick start and `.ci/run` in a fresh
debootstrap chroot) is run by /work/shared/tools/fresh-debian.sh; these are its pieces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT


def test_venv_is_ignored_so_images_from_a_fresh_clone_are_not_dirty() -> None:
    proc = subprocess.run(["git", "check-ignore", "-q", ".venv/lib/x.py"], cwd=ROOT, check=False)
    assert proc.returncode == 0


def _ensure(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(project / "scripts" / "ensure_venv.sh"), "requirements.txt"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_ensure_venv_creates_reuses_and_remakes_a_broken_venv(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "ensure_venv.sh", project / "scripts")
    (project / "requirements.txt").write_text("# nothing to install\n")

    first = _ensure(project)
    assert first.returncode == 0, first.stderr
    python = first.stdout.strip()
    assert python == f"{project}/.venv/bin/python"
    assert "creating .venv" in first.stderr
    in_venv = subprocess.run(
        [python, "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert in_venv.stdout.strip() == "True"

    again = _ensure(project)
    assert again.returncode == 0 and "creating" not in again.stderr

    (project / ".venv" / "bin" / "python").unlink()
    (project / ".venv" / "bin" / "python").write_text("#!/nonexistent\n")
    (project / ".venv" / "bin" / "python").chmod(0o755)
    remade = _ensure(project)
    assert remade.returncode == 0, remade.stderr
    assert "broken" in remade.stderr and "creating .venv" in remade.stderr


def test_readme_installs_into_a_venv_and_says_how_to_get_invoke() -> None:
    readme = (ROOT / "README.md").read_text()
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "python3 -m venv .venv" in install and ". .venv/bin/activate" in install
    assert "python3 -m pip install" not in readme  # fails on Debian: externally-managed-environment
    quickstart = (ROOT / "scripts" / "quickstart.sh").read_text()
    assert ". .venv/bin/activate" in quickstart
