"""The suite's own registry logins leave no credential behind (real engine, registry, moto).

``image.push`` and ``release`` log docker in with the ECR token (moto's, accepted by the
harness's htpasswd registry), build, push and verify. Afterwards no file under anything the
suite wrote (the user's DOCKER_CONFIG, TMPDIR, the local state dir, the build context) holds the
token, in clear or as docker's base64 ``user:password`` auth, and the user's config.json is
byte for byte what it was. ``invoke ecr.login``, asked for by the user, is the exception.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from tasks.local import daemons
from tests.conftest import MOTO_ACCOUNT, MOTO_TOKEN_PASSWORD, ROOT
from tests.helpers import images

pytestmark = pytest.mark.docker

SECRETS = (MOTO_TOKEN_PASSWORD, base64.b64encode(f"AWS:{MOTO_TOKEN_PASSWORD}".encode()).decode())


def _user_config(directory: Path) -> bytes:
    directory.mkdir(parents=True)
    other = base64.b64encode(b"someone:their-own-login").decode()
    config = {"auths": {"other.example": {"auth": other}}, "currentContext": "default"}
    data = json.dumps(config, indent=1).encode()
    (directory / "config.json").write_bytes(data)
    return data


def _env(tmp_path: Path, registry: daemons.Registry, user_config: Path) -> dict[str, str]:
    context = images.make_context(tmp_path / "context", "amd64")
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ)
    env.update(
        {
            "RELEASE_ENV": "local",
            "RELEASE_LOCAL_DIR": str(tmp_path / "local"),
            "RELEASE_REGISTRY": registry.host,
            "RELEASE_REGISTRY_AUTH": "ecr",
            "RELEASE_ACCOUNT": MOTO_ACCOUNT,
            "RELEASE_REPOSITORY": "private-config",
            "RELEASE_CONTEXT": str(context),
            "RELEASE_DOCKERFILE": str(context / "Dockerfile"),
            "RELEASE_TAG": "t1",
            "DOCKER_CONFIG": str(user_config),
            "TMPDIR": str(tmp_path / "tmp"),
            "NO_COLOR": "1",
        }
    )
    env.pop("RELEASE_REGISTRY_PASSWORD", None)
    return env


def _files_holding_a_secret(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(secret.encode() in data for secret in SECRETS):
                found.append(str(path))
    return found


def invoke(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["invoke", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


@pytest.mark.parametrize(
    "command", [["image.push", "--json"], ["release", "--no-migrate", "--json"]]
)
def test_no_credential_outlives_a_push_or_a_release(
    command: list[str],
    aws_env: str,
    registry: daemons.Registry,
    docker_host: str,
    tmp_path: Path,
) -> None:
    user_config = tmp_path / "home-docker"
    before = _user_config(user_config)
    env = _env(tmp_path, registry, user_config)
    done = invoke(command, env)
    assert done.returncode == 0, done.stderr
    assert "sha256:" in done.stdout  # it did log in, push and pin
    assert (user_config / "config.json").read_bytes() == before
    assert _files_holding_a_secret(tmp_path) == []
    assert list((tmp_path / "tmp").iterdir()) == []  # the private config is gone
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)


def test_ecr_login_asked_for_by_the_user_does_write_the_users_config(
    aws_env: str, registry: daemons.Registry, docker_host: str, tmp_path: Path
) -> None:
    user_config = tmp_path / "home-docker"
    _user_config(user_config)
    done = invoke(["ecr.login"], _env(tmp_path, registry, user_config))
    assert done.returncode == 0, done.stderr
    auths = json.loads((user_config / "config.json").read_text())["auths"]
    assert registry.host in auths and "other.example" in auths
