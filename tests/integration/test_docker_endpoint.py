"""One Docker endpoint resolver, proved against a real TLS-protected engine and the real CLI.

A second dockerd listens only on tcp://127.0.0.1:<free port> with --tlsverify and certificates
made here with openssl; the shared engine answers on the default socket. For each way a user
points docker somewhere (DOCKER_HOST with TLS, a context made by `docker context create`, the
current context, DOCKER_CONTEXT, and their precedence), the docker CLI and our resolver must
reach the same engine: both are asked for the engine's DockerRootDir, which differs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.image import dockerhost, engine
from tests.conftest import ROOT, STATE
from tests.helpers.tls_engine import Pki, TlsEngine, make_pki, start_tls_dockerd

pytestmark = pytest.mark.docker

_DOCKER_VARS = (
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_TLS",
    "DOCKER_CERT_PATH",
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_engine(pki: Pki, docker_host: str) -> Iterator[TlsEngine]:
    state = STATE / "tls-dockerd"
    shutil.rmtree(state, ignore_errors=True)
    engine = start_tls_dockerd(state, pki)
    try:
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_root(docker_host: str) -> str:
    env = {**os.environ, "DOCKER_HOST": docker_host}
    return _cli_root(env)


@pytest.fixture(scope="module")
def config_with_context(
    tmp_path_factory: pytest.TempPathFactory, tls_engine: TlsEngine, pki: Pki
) -> Path:
    """A DOCKER_CONFIG holding context `tlsctx`, made by the real `docker context create`."""
    config = tmp_path_factory.mktemp("docker-config-ctx")
    env = {**_clean_env(), "DOCKER_CONFIG": str(config)}
    spec = (
        f"host={tls_engine.host},ca={pki.client / 'ca.pem'},cert={pki.client / 'cert.pem'},"
        f"key={pki.client / 'key.pem'}"
    )
    made = subprocess.run(
        ["docker", "context", "create", "tlsctx", "--docker", spec],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return config


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DOCKER_VARS}
    return env


def _cli_root(env: dict[str, str]) -> str:
    done = subprocess.run(
        ["docker", "info", "--format", "{{.DockerRootDir}}"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _our_root(env: dict[str, str]) -> str:
    client = engine.sdk_client(dockerhost.resolve(env))
    try:
        return str(client.info()["DockerRootDir"])
    finally:
        client.close()


def _use_context(config: Path, name: str) -> None:
    env = {**_clean_env(), "DOCKER_CONFIG": str(config)}
    done = subprocess.run(
        ["docker", "context", "use", name], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr


def invoke(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["invoke", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=240,
        check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def _suite_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **env,
        "RELEASE_ENV": "local",
        "RELEASE_LOCAL_DIR": str(tmp_path / "local"),
        "NO_COLOR": "1",
    }


def test_docker_host_with_tls_reaches_the_tls_engine_like_the_cli(
    tls_engine: TlsEngine, pki: Pki, tmp_path: Path
) -> None:
    env = {
        **_clean_env(),
        "DOCKER_HOST": tls_engine.host,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(pki.client),
        "DOCKER_CONFIG": str(tmp_path),
    }
    assert _cli_root(env) == str(tls_engine.data_root) == _our_root(env)
    check = invoke(["image.check", "--json"], _suite_env(env, tmp_path))
    assert check.returncode == 0, check.stderr
    engine = json.loads(check.stdout)["engine"]
    assert engine["host"] == tls_engine.host and engine["context"] == "default"


def test_docker_tls_verify_0_still_means_tls_as_for_the_cli(
    tls_engine: TlsEngine, pki: Pki, tmp_path: Path
) -> None:
    """The CLI reads DOCKER_TLS_VERIFY as 'set and non-empty': 0 turns verification on."""
    env = {
        **_clean_env(),
        "DOCKER_HOST": tls_engine.host,
        "DOCKER_TLS_VERIFY": "0",
        "DOCKER_CERT_PATH": str(pki.client),
        "DOCKER_CONFIG": str(tmp_path),
    }
    assert _cli_root(env) == str(tls_engine.data_root) == _our_root(env)


def test_current_context_with_tls_files_agrees_with_the_cli(
    tls_engine: TlsEngine, config_with_context: Path, tmp_path: Path
) -> None:
    _use_context(config_with_context, "tlsctx")
    try:
        env = {**_clean_env(), "DOCKER_CONFIG": str(config_with_context)}
        assert _cli_root(env) == str(tls_engine.data_root) == _our_root(env)
        check = invoke(["image.check", "--json"], _suite_env(env, tmp_path))
        assert check.returncode == 0, check.stderr
        engine = json.loads(check.stdout)["engine"]
        assert engine["context"] == "tlsctx" and engine["host"] == tls_engine.host
    finally:
        _use_context(config_with_context, "default")


@pytest.mark.parametrize(
    ("variables", "current", "expect"),
    [
        ({"DOCKER_CONTEXT": "tlsctx"}, "default", "tls"),
        ({"DOCKER_CONTEXT": "default"}, "tlsctx", "shared"),
        (
            {"DOCKER_HOST": "unix:///var/run/docker.sock", "DOCKER_CONTEXT": "tlsctx"},
            "tlsctx",
            "shared",
        ),
    ],
    ids=["DOCKER_CONTEXT-over-current", "DOCKER_CONTEXT-default", "DOCKER_HOST-over-context"],
)
def test_precedence_matches_the_cli(
    variables: dict[str, str],
    current: str,
    expect: str,
    tls_engine: TlsEngine,
    config_with_context: Path,
    shared_root: str,
) -> None:
    _use_context(config_with_context, current)
    try:
        env = {**_clean_env(), "DOCKER_CONFIG": str(config_with_context), **variables}
        want = str(tls_engine.data_root) if expect == "tls" else shared_root
        assert _cli_root(env) == want == _our_root(env)
    finally:
        _use_context(config_with_context, "default")


@pytest.mark.parametrize(
    ("certs", "reason"),
    [
        ("rogue_client", "the engine refused our client certificate"),
        ("wrong_ca", "the engine's certificate is not signed by the given CA"),
    ],
)
def test_a_wrong_certificate_is_one_clear_line(
    certs: str, reason: str, tls_engine: TlsEngine, pki: Pki, tmp_path: Path
) -> None:
    env = {
        **_clean_env(),
        "DOCKER_HOST": tls_engine.host,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(getattr(pki, certs)),
        "DOCKER_CONFIG": str(tmp_path),
    }
    cli = subprocess.run(["docker", "version"], env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode != 0  # the CLI refuses it too
    check = invoke(["image.check"], _suite_env(env, tmp_path))
    assert check.returncode == 3
    errors = [line for line in check.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, check.stderr
    assert f"TLS to the Docker daemon at DOCKER_HOST={tls_engine.host} (TLS, verified)" in errors[0]
    assert reason in errors[0] and "Fix:" in errors[0]
    assert str(getattr(pki, certs) / "ca.pem") in errors[0]
