"""The shared build model: exit codes, tokens, overrides, JSON shape."""

from __future__ import annotations

import pytest

from tasks.codebuild.model import (
    Build,
    BuildBackend,
    Context,
    EnvVar,
    LogLocation,
    Phase,
    digest_of,
    exit_code_for,
    idempotency_token,
    overrides_for,
)
from tasks.core.errors import ExitCode


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("SUCCEEDED", ExitCode.OK),
        ("FAILED", ExitCode.BUILD_FAILED),
        ("FAULT", ExitCode.BUILD_FAULT),
        ("TIMED_OUT", ExitCode.BUILD_TIMED_OUT),
        ("STOPPED", ExitCode.BUILD_STOPPED),
        ("SOMETHING_NEW", ExitCode.UNEXPECTED),
    ],
)
def test_each_final_status_has_its_exit_code(status: str, code: ExitCode) -> None:
    assert exit_code_for(status) == code


def test_exit_codes_are_distinct() -> None:
    codes = [exit_code_for(s) for s in ("SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED")]
    assert len(set(codes)) == 5


def test_token_is_stable_per_invocation_and_differs_otherwise() -> None:
    a = idempotency_token("p", "migrate", "sha256:aa", "run-1")
    assert a == idempotency_token("p", "migrate", "sha256:aa", "run-1")
    assert a != idempotency_token("p", "migrate", "sha256:aa", "run-2")
    assert a != idempotency_token("p", "seed", "sha256:aa", "run-1")
    assert a != idempotency_token("p", "migrate", "sha256:bb", "run-1")
    assert a != idempotency_token("q", "migrate", "sha256:aa", "run-1")
    assert len(a) <= 64 and a.isalnum()


def test_overrides_are_plaintext_and_name_the_action() -> None:
    image = "r/x@sha256:" + "a" * 64
    migrate = {v.name: v.value for v in overrides_for("migrate", image)}
    assert migrate == {"RUN_MIGRATIONS": "true", "RUN_SEED": "false", "IMAGE_URI": image}
    seed = {v.name: v.value for v in overrides_for("seed", image, "organizations")}
    assert seed["RUN_SEED"] == "true" and seed["RUN_MIGRATIONS"] == "false"
    assert seed["SEED_SCRIPT"] == "organizations"
    assert all(v.type == "PLAINTEXT" for v in overrides_for("seed", image, "x"))
    with pytest.raises(ValueError):
        overrides_for("drop-database", image)


def test_digest_of() -> None:
    assert digest_of("r/x@sha256:abc") == "sha256:abc"
    assert digest_of("r/x:latest") == ""


def _build(**kw: object) -> Build:
    base: dict[str, object] = {
        "id": "proj:1234",
        "project": "proj",
        "status": "FAILED",
        "current_phase": "COMPLETED",
        "start": 100.0,
        "end": 160.0,
        "phases": (
            Phase("SUBMITTED", "SUCCEEDED", 100.0, 100.0, 0.0),
            Phase(
                "BUILD",
                "FAILED",
                100.0,
                160.0,
                60.0,
                (Context("COMMAND_EXECUTION_ERROR", "exit 1"),),
            ),
        ),
        "environment": (EnvVar("RUN_MIGRATIONS", "true"), EnvVar("RUN_SEED", "false")),
        "exported_variables": (("MIGRATED", "12"),),
        "logs": LogLocation("/aws/codebuild/proj", "1234", "https://x"),
    }
    base.update(kw)
    return Build(**base)  # type: ignore[arg-type]


def test_build_facts() -> None:
    b = _build()
    assert b.final and b.exit_code == ExitCode.BUILD_FAILED
    assert b.uuid == "1234"
    assert b.action == "migrate"
    assert b.failed_phase() is not None and b.failed_phase().name == "BUILD"  # type: ignore[union-attr]
    assert b.duration(999.0) == 60.0
    running = _build(status="IN_PROGRESS", end=None)
    assert not running.final and running.duration(130.0) == 30.0


def test_build_json_shape() -> None:
    data = _build().as_dict(200.0)
    assert data["id"] == "proj:1234" and data["status"] == "FAILED"
    assert data["phases"][1] == {
        "name": "BUILD",
        "status": "FAILED",
        "duration": 60.0,
        "contexts": [{"status_code": "COMMAND_EXECUTION_ERROR", "message": "exit 1"}],
    }
    assert data["logs"] == {"group": "/aws/codebuild/proj", "stream": "1234", "url": "https://x"}
    assert data["exported_variables"] == {"MIGRATED": "12"}
    assert data["exit_code"] == int(ExitCode.BUILD_FAILED)


def test_running_phase_elapsed() -> None:
    phase = Phase("BUILD", None, 100.0)
    assert phase.elapsed(142.0) == 42.0
    assert Phase("X").elapsed(5.0) == 0.0


def test_protocol_is_checkable() -> None:
    class Nothing:
        pass

    assert not isinstance(Nothing(), BuildBackend)
