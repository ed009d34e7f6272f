"""The CodeBuild-side database probe: one verdict line per outcome, never the password."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "db_probe.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("db_probe", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe_mod = load()


def run(url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if url is not None:
        env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30
    )


def test_target_parsing() -> None:
    assert probe_mod.target("postgres://u:p@db.internal:6543/x") == ("db.internal", 6543)
    assert probe_mod.target("postgresql://u:p@db.internal/x") == ("db.internal", 5432)
    with pytest.raises(ValueError, match="no host"):
        probe_mod.target("postgres:///x")
    with pytest.raises(ValueError) as caught:
        probe_mod.target("postgres://u:s3cret@h:99999999/x")
    assert "s3cret" not in str(caught.value)


def test_ok_against_a_listening_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        proc = run(f"postgres://app:pw-secret-1@127.0.0.1:{port}/db")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"db-probe: ok: 127.0.0.1:{port} accepts TCP connections")
    assert proc.stdout.count("\n") == 1
    assert "pw-secret-1" not in proc.stdout + proc.stderr


def test_refused_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run(f"postgres://app:pw-secret-2@127.0.0.1:{port}/db")
    assert proc.returncode == 5
    assert proc.stdout.startswith(f"db-probe: refused: 127.0.0.1:{port}")
    assert "pw-secret-2" not in proc.stdout + proc.stderr


def test_name_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_name(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(probe_mod.socket, "getaddrinfo", no_name)
    code, verdict = probe_mod.probe("db.nowhere.internal", 5432, 1.0)
    assert code == probe_mod.NO_NAME
    assert verdict.startswith("name does not resolve: db.nowhere.internal")


def test_timeout_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    class Silent:
        def __init__(self, *_: object) -> None: ...
        def __enter__(self) -> Silent:
            return self

        def __exit__(self, *_: object) -> None: ...
        def settimeout(self, value: float) -> None:
            self.timeout = value

        def connect(self, _: object) -> None:
            time.sleep(self.timeout)
            raise TimeoutError

    monkeypatch.setattr(probe_mod.socket, "socket", Silent)
    started = time.monotonic()
    code, verdict = probe_mod.probe("127.0.0.1", 5432, 0.3)
    assert time.monotonic() - started < 1.0
    assert code == probe_mod.TIMED_OUT
    assert verdict.startswith(
        "timed out: no answer from 127.0.0.1:5432 within 0.3s: security group or routing"
    )


def test_usage_errors_never_quote_the_url() -> None:
    missing = run(None)
    assert missing.returncode == 2 and "DATABASE_URL is not set" in missing.stdout
    bad = run("postgres://u:topsecret@h:notaport/db")
    assert bad.returncode == 2
    assert "topsecret" not in bad.stdout + bad.stderr
