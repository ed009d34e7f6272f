"""The image-history estimate on the local environment (issue 14): the real local runner's build
history, the sample backend's image in the harness's registry, real PostgreSQL. ``db.plan``
compares the migrations it is about to run with the image of the project's last SUCCEEDED
migration build, and says what it compared with; when that image is gone from the registry it
says so in one line and counts everything as pending."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

from tasks.release.planflow import plan_action
from tests.conftest import MOTO_TOKEN_PASSWORD, ROOT
from tests.e2e.conftest import LocalEnv
from tests.helpers import images

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
BACKEND = ROOT / "examples" / "backend"


def plan(env: LocalEnv, context: Path) -> dict[str, Any]:
    outcome = env.run(lambda rt: plan_action(rt, directory=str(context)))
    assert outcome.ok and outcome.result is not None, outcome.out
    return dict(outcome.result["plan"]["status"]) | {"out": outcome.out}


def test_the_estimate_compares_with_the_last_succeeded_migration_builds_image(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    # an image of its own (a nonce layer): no other session's tag keeps its layers and its
    # manifest on the shared engine (Docker 20.10 caches a pushed manifest in its content store
    # and answers a pull by digest from there while the image exists)
    app = tmp_path / "app"
    shutil.copytree(BACKEND, app, ignore=shutil.ignore_patterns("node_modules"))
    (app / "src" / "nonce.txt").write_text(secrets.token_hex(16))
    first = plan(local_env, app)  # no build yet: everything pending, said so
    assert first["pending"] == [
        "migrations/0001_create_organizations.sql",
        "migrations/0002_create_members.sql",
    ]
    assert "no SUCCEEDED migration build yet: the project has no build" in first["notes"][0]

    released = local_env.release(flags={"context": str(app), "dockerfile": str(app / "Dockerfile")})
    assert released.ok and released.result is not None, released.out
    build_id = released.result["results"]["db.migrate"]["id"]
    pinned = released.result["pinned"]

    changed = tmp_path / "next"
    shutil.copytree(app, changed)
    (changed / "migrations" / "0003_add_audit.sql").write_text("CREATE TABLE audit (id int);\n")
    members = changed / "migrations" / "0002_create_members.sql"
    members.write_text(members.read_text() + "\n-- edited after it was applied\n")
    second = plan(local_env, changed)
    assert second["source"] == "estimate"
    assert second["pending"] == ["migrations/0003_add_audit.sql"]
    assert [a["name"] for a in second["applied"]] == [
        "0001_create_organizations.sql",
        "0002_create_members.sql",
    ]
    assert second["changed"] == ["0002_create_members.sql"]  # odd, not pending
    assert second["compared_with"] == {"build": build_id, "image": pinned}
    assert f"ESTIMATE (image history: compared with build {build_id})" in second["out"]
    assert f"compared with build {build_id} (image {pinned})" in second["out"]
    assert "odd: 0002_create_members.sql was applied with another checksum" in second["out"]

    images.delete_from_registry(local_env.registry.host, "AWS", MOTO_TOKEN_PASSWORD, pinned)
    gone = plan(local_env, changed)
    assert len(gone["pending"]) == 3
    assert f"the image of build {build_id} (image {pinned}) cannot be read" in gone["notes"][0]
    assert "every migration counts as pending" in gone["notes"][0]
    notes = [ln for ln in gone["out"].splitlines() if "note:" in ln]
    assert len(notes) == 1  # one line, not docker's whole answer
