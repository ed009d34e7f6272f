"""The Docker endpoint resolver's rules, on a context store laid out as the docker CLI writes it
(the same layout `docker context create` produced in tests/integration/test_docker_endpoint.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tasks.core.errors import DockerUnavailable
from tasks.image import dockerhost


def _context(config: Path, name: str, host: str, *, tls: bool = True, skip: bool = False) -> None:
    ident = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / ident
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    if tls:
        files = config / "contexts" / "tls" / ident / "docker"
        files.mkdir(parents=True)
        for pem in ("ca.pem", "cert.pem", "key.pem"):
            (files / pem).write_text("x")


def _certs(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text("x")
    return directory


def test_docker_host_wins_over_docker_context_and_current_context(tmp_path: Path) -> None:
    _context(tmp_path, "remote", "tcp://remote:2376")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "remote", "DOCKER_HOST": "unix:///x"}
    endpoint = dockerhost.resolve(env)
    assert (endpoint.host, endpoint.context, endpoint.source) == (
        "unix:///x",
        "default",
        "DOCKER_HOST",
    )


def test_docker_context_wins_over_current_context(tmp_path: Path) -> None:
    _context(tmp_path, "a", "tcp://a:2376")
    _context(tmp_path, "b", "tcp://b:2376")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "a"}))
    endpoint = dockerhost.resolve({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "b"})
    assert (endpoint.host, endpoint.context) == ("tcp://b:2376", "b")
    assert endpoint.tls is not None and endpoint.tls.verify
    assert endpoint.tls.ca.endswith(f"{hashlib.sha256(b'b').hexdigest()}/docker/ca.pem")


def test_current_context_from_the_config_file_under_home(tmp_path: Path) -> None:
    config = tmp_path / ".docker"
    _context(config, "dind", "tcp://docker:2376", skip=True)
    (config / "config.json").write_text(json.dumps({"currentContext": "dind"}))
    endpoint = dockerhost.resolve({"HOME": str(tmp_path)})
    assert (endpoint.context, endpoint.source) == ("dind", "config.json")
    assert endpoint.tls is not None and not endpoint.tls.verify


def test_nothing_set_is_the_local_socket(tmp_path: Path) -> None:
    endpoint = dockerhost.resolve({"HOME": str(tmp_path)})
    assert endpoint == dockerhost.Endpoint("unix:///var/run/docker.sock", "default", "default")


def test_a_context_that_does_not_exist_is_refused_not_replaced_by_the_socket(
    tmp_path: Path,
) -> None:
    with pytest.raises(DockerUnavailable) as caught:
        dockerhost.resolve({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "gone"})
    line = caught.value.line()
    assert "docker context 'gone' (from DOCKER_CONTEXT) does not exist" in line
    assert "docker context ls" in line


@pytest.mark.parametrize("value", ["1", "0", "false", "yes"])
def test_any_non_empty_docker_tls_verify_turns_verification_on(tmp_path: Path, value: str) -> None:
    certs = _certs(tmp_path / "certs", "ca.pem", "cert.pem", "key.pem")
    env = {
        "DOCKER_HOST": "tcp://docker",
        "DOCKER_TLS_VERIFY": value,
        "DOCKER_CERT_PATH": str(certs),
    }
    endpoint = dockerhost.resolve(env)
    assert endpoint.host == "tcp://docker:2376"
    assert endpoint.tls == dockerhost.TlsFiles(
        str(certs / "ca.pem"), str(certs / "cert.pem"), str(certs / "key.pem"), True
    )
    assert endpoint.describe() == "DOCKER_HOST=tcp://docker:2376 (TLS, verified)"


def test_docker_tls_without_verify_and_plain_tcp_ports(tmp_path: Path) -> None:
    certs = _certs(tmp_path / "certs", "ca.pem")
    env = {"DOCKER_HOST": "tcp://docker", "DOCKER_TLS": "1", "DOCKER_CERT_PATH": str(certs)}
    endpoint = dockerhost.resolve(env)
    assert endpoint.tls == dockerhost.TlsFiles(str(certs / "ca.pem"), "", "", False)
    plain = dockerhost.resolve({"DOCKER_HOST": "tcp://docker", "HOME": str(tmp_path)})
    assert plain.host == "tcp://docker:2375" and plain.tls is None


def test_cert_path_defaults_to_the_config_dir(tmp_path: Path) -> None:
    _certs(tmp_path, "ca.pem", "cert.pem", "key.pem")
    env = {
        "DOCKER_HOST": "tcp://10.0.0.5:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CONFIG": str(tmp_path),
    }
    tls = dockerhost.resolve(env).tls
    assert tls is not None and tls.ca == str(tmp_path / "ca.pem")


def test_missing_ca_is_one_line_naming_the_file(tmp_path: Path) -> None:
    env = {
        "DOCKER_HOST": "tcp://docker:2376",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(tmp_path),
    }
    with pytest.raises(DockerUnavailable) as caught:
        dockerhost.resolve(env)
    line = caught.value.line()
    assert str(tmp_path / "ca.pem") in line and "DOCKER_CERT_PATH" in line and "\n" not in line


def test_tls_settings_do_not_apply_to_a_socket_or_ssh(tmp_path: Path) -> None:
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    assert dockerhost.resolve({**env, "DOCKER_HOST": "unix:///run/docker.sock"}).tls is None
    ssh = dockerhost.resolve({**env, "DOCKER_HOST": "ssh://deploy@builder"})
    assert ssh.host == "ssh://deploy@builder" and ssh.tls is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate",
            "refused our client certificate",
        ),
        (
            "SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
            "not signed by the given CA",
        ),
        ("ConnectionRefusedError(111, 'Connection refused')", ""),
    ],
)
def test_tls_reason(text: str, reason: str) -> None:
    assert (reason in dockerhost.tls_reason(text)) if reason else dockerhost.tls_reason(text) == ""
