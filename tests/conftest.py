"""Test harness: starts the real services the tests need (never assumes they run).

- ``moto_server``: moto's ThreadedMotoServer on 127.0.0.1 (session), reset per test by ``aws_env``.
- ``docker_host``: a Docker Engine (Debian dockerd started when none answers).
- ``registry``: a Registry v2 on 127.0.0.1 with htpasswd basic auth, user AWS and the password
  moto's ECR token carries, so ``ecr.login`` works end to end against a real registry.
- ``postgres``: a PostgreSQL server on 127.0.0.1 with its data under the session tmp dir.
"""

from __future__ import annotations

import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.local import daemons

ROOT = Path(__file__).resolve().parents[1]
MOTO_ACCOUNT = "123456789012"
MOTO_TOKEN_PASSWORD = f"{MOTO_ACCOUNT}-auth-token"  # moto's ECR token decodes to AWS:<this>
STATE = Path(os.environ.get("RELEASE_TEST_STATE", "/tmp/release-suite-tests"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fresh moto state and an environment that points every AWS client at it."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"))
    for key, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture(scope="session")
def docker_host() -> str:
    host = os.environ.get("DOCKER_HOST") or daemons.DEFAULT_DOCKER_HOST
    daemons.ensure_dockerd(STATE / "dockerd", host)
    os.environ["DOCKER_HOST"] = host
    return host


@pytest.fixture(scope="session")
def docker_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private DOCKER_CONFIG so tests never touch ~/.docker."""
    path = tmp_path_factory.mktemp("docker-config")
    os.environ["DOCKER_CONFIG"] = str(path)
    return path


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> Iterator[daemons.Registry]:
    root = tmp_path_factory.mktemp("registry")
    reg = daemons.start_registry(root, daemons.free_port(), {"AWS": MOTO_TOKEN_PASSWORD})
    yield reg
    os.kill(reg.pid, 15)


@pytest.fixture(scope="session")
def postgres() -> daemons.Postgres:
    port = int(os.environ.get("RELEASE_TEST_PG_PORT", "55432"))
    return daemons.ensure_postgres(STATE / "postgres", port)


@pytest.fixture(autouse=True)
def _signal_handlers_restored() -> Iterator[None]:
    """A test that loads tasks.py in-process installs the suite's start-up SIGINT handler;
    put back what was there so no test sees another's handlers."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        if handler is not None:
            signal.signal(sig, handler)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    for item in items:
        if "integration" in str(item.fspath) or "e2e" in str(item.fspath):
            item.add_marker(pytest.mark.slow)
