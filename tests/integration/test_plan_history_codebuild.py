"""The image-history estimate against the scripted CodeBuild fake (moto over HTTP), the real
registry and the real Docker Engine (issue 14): the build history is read with the suite's own
ListBuildsForProject + BatchGetBuilds (``BuildBackend.recent``), the image of the last SUCCEEDED
migration build is pulled from the registry by digest, and its migrations are compared with the
new image's, by name and by content."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tasks.core.config import load_settings, load_yaml_file
from tasks.core.console import Console
from tasks.core.runtime import Runtime
from tasks.local import daemons
from tasks.release.planflow import plan_action
from tests.conftest import MOTO_TOKEN_PASSWORD, ROOT
from tests.helpers import images
from tests.helpers.scripted_codebuild import (
    Script,
    ScriptedCodeBuild,
    VirtualClock,
    virtual_runtime,
)

pytestmark = [pytest.mark.docker]
PROJECT = "daadaar-migrations"
# a nonce layer: an image of this run only (no other tag on the shared engine keeps it alive
# once this test untags it)
DOCKERFILE = "FROM scratch\nWORKDIR /app\nCOPY nonce /nonce\nCOPY migrations /app/migrations\n"


@pytest.fixture
def fake(scripted_codebuild: Callable[..., ScriptedCodeBuild]) -> ScriptedCodeBuild:
    return scripted_codebuild(PROJECT)


def push_migrations(registry: daemons.Registry, tmp: Path, tag: str, files: dict[str, str]) -> str:
    """A scratch image holding only migrations/, pushed; returns it pinned by digest."""
    context = tmp / tag
    (context / "migrations").mkdir(parents=True)
    for name, sql in files.items():
        (context / "migrations" / name).write_text(sql)
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "nonce").write_text(secrets.token_hex(16))
    ref = f"{registry.host}/plan-history:{tag}"
    built = subprocess.run(
        ["docker", "build", "-t", ref, str(context)],
        capture_output=True, text=True, env=images.docker_env(), timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    images.push(ref)
    digest = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{index .RepoDigests 0}}", ref],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return digest


def migrated(fake: ScriptedCodeBuild, clock: VirtualClock, image: str, *, final: str) -> str:
    """One migration build of ``image`` through StartBuild, run to its end on the virtual clock."""
    fake.scripts = [Script(final=final)]
    build = boto3.client("codebuild", region_name="us-east-1").start_build(
        projectName=PROJECT,
        environmentVariablesOverride=[
            {"name": "RUN_MIGRATIONS", "value": "true", "type": "PLAINTEXT"},
            {"name": "RUN_SEED", "value": "false", "type": "PLAINTEXT"},
            {"name": "IMAGE_URI", "value": image, "type": "PLAINTEXT"},
        ],
    )["build"]
    clock.sleep(Script().duration + 1)
    return str(build["id"])


def runtime(clock: VirtualClock) -> tuple[Runtime, io.StringIO]:
    raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
    settings = load_settings(raw, env="prod", flags={}, environ=dict(os.environ))
    out = io.StringIO()
    console = Console(out=out, err=out, color=False)
    rt: Runtime = virtual_runtime(settings, console, clock, dict(os.environ))
    return rt, out


def test_fake_codebuild_history_gives_the_pending_list_against_the_real_registry(
    fake: ScriptedCodeBuild,
    clock: VirtualClock,
    registry: daemons.Registry,
    docker_config: Path,
    tmp_path: Path,
) -> None:
    images.login(registry.host, "AWS", MOTO_TOKEN_PASSWORD)
    one = {"0001_users.sql": "CREATE TABLE users (id bigint);\n"}
    old = push_migrations(registry, tmp_path, "v1", one)
    two = {**one, "0002_orders.sql": "CREATE TABLE orders (id bigint);\n"}
    older_failed = push_migrations(registry, tmp_path, "v2", two)
    three = {**two, "0003_audit.sql": "CREATE TABLE audit (id bigint);\n"}
    new = push_migrations(registry, tmp_path, "v3", three)

    rt, out = runtime(clock)
    nothing = plan_action(rt, image=new)["plan"]["status"]  # an empty history
    assert len(nothing["pending"]) == 3
    assert "no SUCCEEDED migration build yet: the project has no build" in nothing["notes"][0]

    good = migrated(fake, clock, old, final="SUCCEEDED")
    migrated(fake, clock, older_failed, final="FAILED")  # newer, but it failed: not the basis
    rt, out = runtime(clock)
    status: dict[str, Any] = plan_action(rt, image=new)["plan"]["status"]
    assert status["pending"] == ["migrations/0002_orders.sql", "migrations/0003_audit.sql"]
    assert [a["name"] for a in status["applied"]] == ["0001_users.sql"]
    assert status["compared_with"] == {"build": good, "image": old}
    assert f"ESTIMATE (image history: compared with build {good})" in out.getvalue()

    # the old image gone from the registry (and from the engine): one line, all pending
    images.delete_from_registry(registry.host, "AWS", MOTO_TOKEN_PASSWORD, old)
    rt, out = runtime(clock)
    gone = plan_action(rt, image=new)["plan"]["status"]
    assert len(gone["pending"]) == 3
    assert f"the image of build {good} (image {old}) cannot be read" in gone["notes"][0]
    assert len([ln for ln in out.getvalue().splitlines() if "note:" in ln]) == 1
