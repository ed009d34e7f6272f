"""The image stage against a real Docker Engine, a real htpasswd registry and moto's ECR.

The registry's user is AWS with the password moto's ECR token carries, so ``ecr.login`` and
``image.verify`` go the whole real way: GetAuthorizationToken -> docker login / basic auth.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MOTO_ACCOUNT, MOTO_TOKEN_PASSWORD, ROOT
from tests.helpers import images

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def pushed(registry, docker_config) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """amd64 and arm64 single images, an arm64-only list and a multi-arch list in the registry."""
    host = registry.host
    images.login(host, "AWS", MOTO_TOKEN_PASSWORD)
    amd = images.push(images.busybox_image("amd64", f"{host}/app:amd64"))
    arm = images.push(images.busybox_image("arm64", f"{host}/app:arm64"))
    arm_list, multi = f"{host}/app:arm-only", f"{host}/app:multi"
    images.push_manifest_list(arm_list, [arm])
    images.push_manifest_list(multi, [amd, arm])
    subprocess.run(["docker", "logout", host], capture_output=True, check=False)
    return {"amd": amd, "arm": arm, "arm_list": arm_list, "multi": multi, "host": host}


def invoke(
    args: list[str], env: dict[str, str], cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["invoke", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=240,
        check=False,
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


@pytest.fixture
def suite_env(aws_env, registry, docker_config, tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Environment for `invoke --env local`, pointed at the test registry with ECR auth."""
    env = dict(os.environ)
    env.update(
        {
            "RELEASE_ENV": "local",
            "RELEASE_REGISTRY": registry.host,
            "RELEASE_REGISTRY_AUTH": "ecr",
            "RELEASE_ACCOUNT": MOTO_ACCOUNT,
            "RELEASE_REPOSITORY": "app",
            "NO_COLOR": "1",
        }
    )
    env.pop("RELEASE_REGISTRY_PASSWORD", None)
    return env


def one_json(stdout: str) -> dict[str, object]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def test_amd64_image_passes_verify(pushed, suite_env) -> None:  # type: ignore[no-untyped-def]
    result = invoke(["image.verify", "--image", pushed["amd"], "--json"], suite_env)
    assert result.returncode == 0, result.stderr
    data = one_json(result.stdout)
    assert data["ok"] is True and data["platforms"] == ["linux/amd64"] and data["index"] is False
    assert str(data["pinned"]).startswith(f"{pushed['host']}/app@sha256:")


def test_single_arch_arm64_image_fails_with_rebuild_command(pushed, suite_env) -> None:  # type: ignore[no-untyped-def]
    result = invoke(["image.verify", "--image", pushed["arm"]], suite_env)
    assert result.returncode == 6
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "single-platform image for linux/arm64" in lines[0]
    assert "--platform linux/amd64" in lines[0] and "docker buildx build" in lines[0]


def test_arm64_only_manifest_list_fails(pushed, suite_env) -> None:  # type: ignore[no-untyped-def]
    result = invoke(["image.verify", "--image", pushed["arm_list"], "--json"], suite_env)
    assert result.returncode == 6
    data = one_json(result.stdout)
    assert data["ok"] is False
    assert data["error"]["code"] == 6  # type: ignore[index]
    assert data["verify"]["platforms"] == ["linux/arm64"]  # type: ignore[index]
    assert (
        "manifest list" in result.stderr and "no matching manifest for linux/amd64" in result.stderr
    )


def test_multi_arch_list_with_amd64_passes(pushed, suite_env) -> None:  # type: ignore[no-untyped-def]
    result = invoke(["image.verify", "--image", pushed["multi"], "--json"], suite_env)
    assert result.returncode == 0, result.stderr
    data = one_json(result.stdout)
    assert data["index"] is True
    assert sorted(data["platforms"]) == ["linux/amd64", "linux/arm64"]  # type: ignore[arg-type]


def test_verify_by_digest(pushed, suite_env) -> None:  # type: ignore[no-untyped-def]
    first = one_json(invoke(["image.verify", "--image", pushed["amd"], "--json"], suite_env).stdout)
    again = invoke(["image.verify", "--image", str(first["pinned"]), "--json"], suite_env)
    assert again.returncode == 0, again.stderr
    assert one_json(again.stdout)["digest"] == first["digest"]


def test_missing_tag_is_a_registry_error(pushed, suite_env) -> None:  # type: ignore[no-untyped-def]
    result = invoke(["image.verify", "--image", f"{pushed['host']}/app:nope"], suite_env)
    assert result.returncode == 5
    assert "not found" in result.stderr and "invoke image.push" in result.stderr


def test_registry_down(suite_env) -> None:  # type: ignore[no-untyped-def]
    from tasks.local.daemons import free_port

    result = invoke(["image.verify", "--image", f"127.0.0.1:{free_port()}/app:x"], suite_env)
    assert result.returncode == 5
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "unreachable" in errors[0]


def test_wrong_credentials(pushed, suite_env) -> None:  # type: ignore[no-untyped-def]
    env = {
        **suite_env,
        "RELEASE_REGISTRY_AUTH": "basic",
        "RELEASE_REGISTRY_PASSWORD": "wrong-pass-123",
    }
    result = invoke(["image.verify", "--image", pushed["amd"]], env)
    assert result.returncode == 5
    assert "refused access with the given credentials" in result.stderr
    assert "RELEASE_REGISTRY_PASSWORD" in result.stderr
    login = invoke(["ecr.login"], env)
    assert login.returncode == 5
    assert "refused the credentials" in login.stderr
    assert "wrong-pass-123" not in login.stderr + login.stdout
    # on --env local, a stale exported password is the usual cause: say how to use local.up's
    assert "unset it to use the one invoke local.up made" in login.stderr


def test_local_login_to_a_registry_that_is_down_says_local_up(suite_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tasks.local.daemons import free_port

    env = {
        **suite_env,
        "RELEASE_REGISTRY": f"127.0.0.1:{free_port()}",
        "RELEASE_REGISTRY_AUTH": "basic",
        "RELEASE_REGISTRY_PASSWORD": "pw-123456",
        "RELEASE_LOCAL_DIR": str(tmp_path),
    }
    login = invoke(["ecr.login"], env)
    assert login.returncode == 5
    errors = [line for line in login.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith(
        "Fix: start the local environment: invoke local.up"
    )


def test_anonymous_access_to_auth_registry_is_refused(pushed, suite_env) -> None:  # type: ignore[no-untyped-def]
    env = {**suite_env, "RELEASE_REGISTRY_AUTH": "none"}
    result = invoke(["image.verify", "--image", pushed["amd"]], env)
    assert result.returncode == 5 and "without credentials" in result.stderr


def test_daemon_down(suite_env) -> None:  # type: ignore[no-untyped-def]
    env = {**suite_env, "DOCKER_HOST": "unix:///tmp/release-suite-no-daemon.sock"}
    result = invoke(["image.check"], env)
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "DOCKER_HOST=unix:///tmp/release-suite-no-daemon.sock" in errors[0]
    as_json = invoke(["image.check", "--json"], env)
    assert one_json(as_json.stdout)["error"]["code"] == 3  # type: ignore[index]


def test_check_reports_engine_and_builder(docker_host, suite_env) -> None:  # type: ignore[no-untyped-def]
    result = invoke(["image.check", "--json"], suite_env)
    assert result.returncode == 0, result.stderr
    data = one_json(result.stdout)
    assert data["engine"]["os"] == "linux" and data["engine"]["arch"] == "amd64"  # type: ignore[index]
    has_buildx = (
        subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0
    )
    assert data["builder"] == ("buildx" if has_buildx else "classic")


@pytest.fixture
def argv_log(tmp_path) -> Iterator[tuple[Path, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A docker shim first on PATH that records every argv, then runs the real CLI."""
    real = shutil.which("docker")
    assert real
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    log = tmp_path / "argv.log"
    shim = shim_dir / "docker"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    yield log, {"PATH": f"{shim_dir}:{os.environ['PATH']}"}


def _git_context(base: Path, arch: str, from_line: str = "") -> Path:
    ctx = images.make_context(base, arch)
    if from_line:
        (ctx / "Dockerfile").write_text(from_line)
    subprocess.run(["git", "init", "-q", str(ctx)], check=True)
    subprocess.run(["git", "-C", str(ctx), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(ctx), "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"],
        check=True,
    )
    return ctx


def test_push_logs_in_builds_verifies_and_pins(pushed, suite_env, argv_log, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log, path_env = argv_log
    ctx = _git_context(tmp_path / "ctx", "amd64")
    env = {
        **suite_env,
        **path_env,
        "RELEASE_CONTEXT": str(ctx),
        "RELEASE_DOCKERFILE": str(ctx / "Dockerfile"),
        "RELEASE_TAG": "moving",
    }
    result = invoke(["image.push", "--json"], env)
    assert result.returncode == 0, result.stderr
    data = one_json(result.stdout)
    sha = subprocess.run(
        ["git", "-C", str(ctx), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert data["tags"] == [sha, "moving"]
    assert str(data["pinned"]) == f"{pushed['host']}/app@{data['digest']}"
    assert data["platforms"] == ["linux/amd64"]
    # the token is never in argv, output or errors; it is only on docker's stdin
    argv = log.read_text()
    assert "login --username AWS --password-stdin" in argv
    for secret in (MOTO_TOKEN_PASSWORD, "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu"):
        assert secret not in argv
        assert secret not in result.stdout + result.stderr
    # the moving tag now resolves to the same digest in the registry
    moving = invoke(["image.verify", "--image", f"{pushed['host']}/app:moving", "--json"], env)
    assert one_json(moving.stdout)["digest"] == data["digest"]


def test_dirty_tree_tag(pushed, suite_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = _git_context(tmp_path / "dirty", "amd64")
    (ctx / "new-file").write_text("change")
    env = {
        **suite_env,
        "RELEASE_CONTEXT": str(ctx),
        "RELEASE_DOCKERFILE": str(ctx / "Dockerfile"),
        "RELEASE_TAG_POLICY": "git-sha",
    }
    result = invoke(["image.build", "--json"], env)
    assert result.returncode == 0, result.stderr
    tags = one_json(result.stdout)["tags"]
    assert str(tags[0]).endswith("-dirty") and tags[1] == "local"  # type: ignore[index]


def test_build_refuses_to_push_a_local_arm64_image(pushed, suite_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = images.busybox_image("arm64", "release-suite-test/arm-base:1")
    ctx = _git_context(tmp_path / "armapp", "amd64", f"FROM {base}\nENV APP=1\n")
    env = {
        **suite_env,
        "RELEASE_CONTEXT": str(ctx),
        "RELEASE_DOCKERFILE": str(ctx / "Dockerfile"),
        "RELEASE_TAG": "must-not-exist",
    }
    result = invoke(["image.build", "--push"], env)
    assert result.returncode == 6, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "is linux/arm64, not linux/amd64" in errors[0] and "--platform linux/amd64" in errors[0]
    check = invoke(["image.verify", "--image", f"{pushed['host']}/app:must-not-exist"], env)
    assert check.returncode == 5 and "not found" in check.stderr


def test_ecr_login_against_registry(pushed, suite_env, argv_log) -> None:  # type: ignore[no-untyped-def]
    log, path_env = argv_log
    result = invoke(["ecr.login", "--json"], {**suite_env, **path_env})
    assert result.returncode == 0, result.stderr
    assert one_json(result.stdout) == {
        "ok": True,
        "registry": pushed["host"],
        "logged_in": True,
        "username": "AWS",
    }
    assert MOTO_TOKEN_PASSWORD not in log.read_text() + result.stdout + result.stderr


def test_a_missing_dockerfile_is_a_config_error_not_a_failed_command(suite_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        **suite_env,
        "RELEASE_DOCKERFILE": str(tmp_path / "nope"),
        "RELEASE_CONTEXT": str(tmp_path),
    }
    result = invoke(["image.build", "--json"], env)
    assert result.returncode == 2, result.stderr
    data = one_json(result.stdout)
    assert data["error"]["kind"] == "UsageError"  # type: ignore[index]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: Dockerfile '{tmp_path / 'nope'}' does not exist. Fix: fix "
        "release.environments.local.dockerfile in invoke.yaml (or RELEASE_DOCKERFILE)"
    ]
