"""The local runner and the buildspec constructs of issue 12: it names what it skips, runs the
file's own values, collects artifacts (and fails like CodeBuild when nothing matches), switches
user for run-as, reads versioned secrets by ARN, sets CODEBUILD_* from git, runs version 0.1
commands in shells of their own, and runs in the configured source folder.

Real worker processes, real bash and git; no Docker needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from tasks.codebuild.model import FAILED, SUCCEEDED, Build, EnvVar, StartRequest
from tasks.core.config import Settings
from tasks.local.backend import LocalBackend, source_dir
from tasks.local.state import PROJECT_ROOT

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests/samples/buildspecs"
SECRET_URL = "postgres://app:Sup3r-Secret-pw@127.0.0.1:5432/app"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"


@pytest.fixture
def local(tmp_path: Path) -> Path:
    versions = [
        {"id": "v1", "stages": ["AWSPREVIOUS"], "value": json.dumps({"password": "old-pw-1"})},
        {"id": "v2", "stages": ["AWSCURRENT"], "value": json.dumps({"password": "new-pw-2"})},
    ]
    (tmp_path / "credentials.json").write_text(
        json.dumps(
            {
                "secrets": {
                    "test/database-url": SECRET_URL,
                    "prod/db": {"versions": versions},
                    "remote/database-url": "postgres://app:pw@db.example.com:5432/app",
                }
            }
        )
    )
    return tmp_path


def backend(local: Path, text: str, src_dir: Path | None = None) -> LocalBackend:
    spec = local / "buildspec.yml"
    spec.write_text(text)
    return LocalBackend(
        buildspec_path=spec,
        secret="test/database-url",
        root=local / "builds",
        environ={**os.environ, "RELEASE_LOCAL_DIR": str(local)},
        src_dir=src_dir or PROJECT_ROOT,
    )


def run(b: LocalBackend, seconds: float = 30) -> tuple[Build, list[str]]:
    build = b.start(
        StartRequest(
            project="proj",
            action="migrate",
            env_overrides=(EnvVar("RUN_MIGRATIONS", "true"),),
            image="img@sha256:00",
            idempotency_token=f"t-{time.monotonic_ns()}",
        )
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        build = b.get(build.id)
        if build.final:
            break
        time.sleep(0.05)
    assert build.final, build
    lines: list[str] = []
    token = None
    for _ in range(1000):
        page = b.read_logs(build.logs, token)
        lines += [e.message for e in page.events]
        if page.next_token == token:
            return build, lines
        token = page.next_token
    raise AssertionError("log never caught up")


def build_dir(local: Path) -> Path:
    [directory] = [d for d in (local / "builds").iterdir() if d.is_dir()]
    return directory


def agent(lines: list[str], text: str) -> bool:
    return any(line.split(" ", 3)[-1] == text for line in lines if line.startswith("[Container]"))


def test_the_start_of_a_build_names_each_construct_the_runner_skips(local: Path) -> None:
    text = (SAMPLES / "valid/full-0.2.yml").read_text()
    build, lines = run(backend(local, text))
    notes = [line.split(" ", 3)[3] for line in lines if " local runner: " in line]
    keys = [
        re.match(r"local runner: \S*buildspec\.yml: line \d+: ([^:]+): CodeBuild ", n)
        for n in notes
    ]
    assert [k.group(1) for k in keys if k] == [
        "env.parameter-store",
        "env.git-credential-helper",
        "run-as",
        "phases.install.runtime-versions",
        "phases.install.run-as",
        "proxy",
        "reports",
        "cache",
    ]
    first_phase = next(i for i, line in enumerate(lines) if "Processing environment" in line)
    assert all(
        lines.index(line) < first_phase for line in lines if " local runner: buildspec" in line
    )
    # the sample's secret prod/api is not in the local store: the build fails as on CodeBuild
    assert build.status == FAILED


def test_values_reach_the_build_as_written(local: Path) -> None:
    text = (SAMPLES / "valid/yaml11-traps.yml").read_text()
    build, lines = run(backend(local, text))
    assert build.status == SUCCEEDED
    assert "FLAG=on VERSION=1.10 OCTAL=0123 EMPTY=[] NO=no" in lines
    stored = build_dir(local) / "buildspec.yml"
    assert stored.read_text() == text  # the very text of the file, comments and all


ARTIFACTS = """version: 0.2
phases:
  build:
    commands:
      - mkdir -p out/sub docs && echo a > out/a.txt && echo b > out/sub/b.txt && echo t > out/x.tmp
      - echo d > docs/readme.md
artifacts:
  files:
    - "**/*"
  base-directory: out
  exclude-paths:
    - "**/*.tmp"
  secondary-artifacts:
    docs:
      files:
        - docs/*
      discard-paths: yes
"""


def test_artifacts_are_collected_into_the_build_folder(local: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    build, lines = run(backend(local, ARTIFACTS, src))
    assert build.status == SUCCEEDED, lines
    folder = build_dir(local) / "artifacts"
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert found == ["a.txt", "docs/readme.md", "sub/b.txt"]
    assert agent(lines, "Expanding base directory path: out")
    assert agent(lines, "Found 2 file(s)")


def test_artifacts_that_match_nothing_fail_upload_artifacts_like_codebuild(
    local: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    text = "version: 0.2\nphases:\n  build:\n    commands: [echo built]\nartifacts:\n  files:\n    - imagedefinitions.json\n"
    build, lines = run(backend(local, text, src))
    assert build.status == FAILED
    failed = build.failed_phase()
    assert failed is not None and failed.name == "UPLOAD_ARTIFACTS"
    assert (failed.contexts[0].status_code, failed.contexts[0].message) == (
        "CLIENT_ERROR",
        "no matching artifact paths found",
    )
    # the agent's lines as CodeBuild logs them (aws-samples/amazon-ecs-fargate-cdk-cicd#13)
    for expected in (
        "Expanding imagedefinitions.json",
        "Skipping invalid file path imagedefinitions.json",
        "Phase complete: UPLOAD_ARTIFACTS State: FAILED",
        "Phase context status code: CLIENT_ERROR Message: no matching artifact paths found",
    ):
        assert agent(lines, expected), expected


def test_version_0_1_runs_each_command_in_a_shell_of_its_own(local: Path) -> None:
    text = (
        "version: 0.1\nphases:\n  build:\n    commands:\n"
        '      - export CARRIED=yes; cd /\n      - echo "carried=[${CARRIED:-}] cwd=$(pwd)"\n'
    )
    same = text.replace("version: 0.1", "version: 0.2")
    _, isolated = run(backend(local, text))
    _, session = run(backend(local, same))
    assert f"carried=[] cwd={PROJECT_ROOT}" in isolated
    assert "carried=[yes] cwd=/" in session


def test_codebuild_variables_from_git_and_the_build(local: Path, tmp_path: Path) -> None:
    src = tmp_path / "repo"
    src.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()

    git("init", "-q")
    git("remote", "add", "origin", "https://someone:ghp_token123@example.com/team/app.git")
    (src / "f").write_text("x")
    git("add", "f")
    git("commit", "-qm", "one")
    sha = git("rev-parse", "HEAD")
    names = [
        "CODEBUILD_RESOLVED_SOURCE_VERSION",
        "CODEBUILD_SOURCE_VERSION",
        "CODEBUILD_SOURCE_REPO_URL",
        "CODEBUILD_BUILD_NUMBER",
        "CODEBUILD_BUILD_URL",
        "CODEBUILD_INITIATOR",
        "CODEBUILD_BUILD_ID",
        "CODEBUILD_BUILD_ARN",
        "CODEBUILD_SRC_DIR",
        "CODEBUILD_START_TIME",
        "CODEBUILD_BUILD_IMAGE",
    ]
    commands = "".join(f'      - echo "{n}=${n}"\n' for n in names)
    b = backend(local, f"version: 0.2\nphases:\n  build:\n    commands:\n{commands}", src)
    build, lines = run(b)
    seen = dict(line.split("=", 1) for line in lines if line.split("=", 1)[0] in names)
    assert seen["CODEBUILD_RESOLVED_SOURCE_VERSION"] == sha
    assert seen["CODEBUILD_SOURCE_VERSION"] == sha
    assert seen["CODEBUILD_SOURCE_REPO_URL"] == "https://example.com/team/app.git"
    assert "ghp_token123" not in "\n".join(lines)
    assert seen["CODEBUILD_BUILD_NUMBER"] == str(build.number)
    assert seen["CODEBUILD_BUILD_ID"] == build.id
    assert seen["CODEBUILD_BUILD_ARN"].endswith(":build/" + build.id)
    assert seen["CODEBUILD_BUILD_URL"].startswith("file:///")
    assert seen["CODEBUILD_INITIATOR"] == build.initiator
    assert seen["CODEBUILD_SRC_DIR"] == str(src)
    assert seen["CODEBUILD_BUILD_IMAGE"] == "img@sha256:00"
    assert abs(int(seen["CODEBUILD_START_TIME"]) / 1000 - float(build.start or 0)) < 1


def test_secrets_by_arn_with_json_key_and_version(local: Path) -> None:
    text = f"""version: 0.2
env:
  secrets-manager:
    OLD: {ARN}:password:AWSPREVIOUS
    NEW: {ARN}:password
    BY_ID: prod/db:password::v1
phases:
  build:
    commands:
      - '[ "$OLD" = old-pw-1 ] && echo old-ok'
      - '[ "$NEW" = new-pw-2 ] && echo new-ok'
      - '[ "$BY_ID" = old-pw-1 ] && echo id-ok'
      - echo "masked=$NEW"
"""
    build, lines = run(backend(local, text))
    assert build.status == SUCCEEDED, lines
    assert {"old-ok", "new-ok", "id-ok", "masked=***"} <= set(lines)
    missing = text.replace("AWSPREVIOUS", "AWSPENDING")
    build, lines = run(backend(local, missing))
    failed = build.failed_phase()
    assert failed is not None and failed.name == "DOWNLOAD_SOURCE"
    assert "can't find the specified secret value for staging label: AWSPENDING" in (
        failed.contexts[0].message
    )


def test_run_as_switches_to_an_existing_user(local: Path) -> None:
    src = Path(tempfile.mkdtemp(prefix="run-as-src-"))
    src.chmod(0o755)
    text = (
        'version: 0.2\nphases:\n  pre_build:\n    commands: [echo "pre=$(id -un)"]\n'
        "  build:\n    run-as: nobody\n    commands:\n      - export SEEN=1\n"
        '      - echo "build=$(id -un)"\n  post_build:\n    commands: [echo "post=$(id -un) seen=$SEEN"]\n'
    )
    try:
        build, lines = run(backend(local, text, src))
    finally:
        src.rmdir()
    me = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    assert build.status == SUCCEEDED, lines
    assert f"pre={me}" in lines and f"post={me} seen=1" in lines
    if os.geteuid() == 0:  # root may switch: the phase runs as nobody, and says nothing
        assert "build=nobody" in lines
        assert not any("run-as" in line for line in lines if "local runner:" in line)
    else:  # anyone else cannot: the phase runs as itself, and the start of the log says so
        assert f"build={me}" in lines
        assert any("phases.build.run-as: CodeBuild runs" in line for line in lines)


def test_the_source_setting_is_codebuild_src_dir(local: Path, tmp_path: Path) -> None:
    assert source_dir(SimpleNamespace(source="")) == PROJECT_ROOT
    assert source_dir(SimpleNamespace(source=str(tmp_path))) == tmp_path
    assert source_dir(SimpleNamespace(source="examples")) == PROJECT_ROOT / "examples"
    settings = Settings(
        env="local",
        buildspec=str(SAMPLES / "valid/version-0.1.yml"),
        secret="remote/database-url",
        region="us-east-1",
        source=str(tmp_path / "absent"),
    )
    environ = {**os.environ, "RELEASE_LOCAL_DIR": str(local)}
    broken = LocalBackend.from_runtime(SimpleNamespace(settings=settings, environ=environ))
    assert broken.spec_error is not None and "is not a directory" in broken.spec_error.message
    fixed = replace(settings, source=str(tmp_path))
    b = LocalBackend.from_runtime(SimpleNamespace(settings=fixed, environ=environ))
    assert b.spec_error is None and b.src_dir == tmp_path


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "is a directory, not a file"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", "binary data (a NUL byte)"),
        (b"version: 0.2\nphases: " + b"[" * 50_000 + b"]" * 50_000 + b"\n", "nested too deeply"),
    ],
    ids=["directory", "binary", "nesting"],
)
def test_a_release_with_a_hostile_buildspec_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None, needle: str
) -> None:
    """Issue 10: these ended in "unexpected" (exit 1) or a traceback."""
    target = tmp_path / "bs.yml"
    if content is None:
        target.mkdir()
    else:
        target.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "release", "--env", "local"],
        cwd=ROOT,
        env={
            **os.environ,
            "RELEASE_BUILDSPEC": str(target),
            "RELEASE_LOCAL_DIR": str(tmp_path / "local"),
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and needle in errors[0] and "Fix: " in errors[0], proc.stderr


def test_a_bin_sh_buildspec_with_only_secondary_artifacts(local: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    text = (SAMPLES / "valid/sh-shell-secondary-only.yml").read_text()
    build, lines = run(backend(local, text, src))
    assert build.status == SUCCEEDED, lines
    assert (build_dir(local) / "artifacts/out/out/a.txt").read_text() == "x\n"
