"""A real TLS-protected Docker Engine on 127.0.0.1, for the endpoint-resolver tests.

``make_pki(dir)`` writes, with openssl, a CA, a server certificate for IP 127.0.0.1
(serverAuth), a client certificate (clientAuth) and a second, unrelated CA with its own client
certificate (the "wrong certificate" cases), laid out as docker expects: ``client/`` holds
ca.pem, cert.pem and key.pem for DOCKER_CERT_PATH.

``start_tls_dockerd(dir, pki)`` starts Debian's dockerd with ``--tlsverify`` on a free port of
127.0.0.1 only (no unix socket), with ``--iptables=false --bridge=none --storage-driver=vfs``
and its own data-root, exec-root and pidfile under ``dir``; ``stop`` ends it (SIGTERM, then
SIGKILL after 20 s) and with it the containerd it manages.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.local.daemons import free_port


@dataclass(frozen=True)
class Pki:
    root: Path
    client: Path  # DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem (the right ones)
    rogue_client: Path  # a client cert from another CA, with the right ca.pem
    wrong_ca: Path  # the right client cert, but a CA that did not sign the server


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(cwd: Path, name: str) -> None:
    _openssl("genrsa", "-out", f"{name}-key.pem", "2048", cwd=cwd)
    _openssl(
        "req", "-x509", "-new", "-key", f"{name}-key.pem", "-days", "2",
        "-subj", f"/CN={name}", "-out", f"{name}.pem", cwd=cwd,
    )  # fmt: skip


def _signed(cwd: Path, ca: str, name: str, cn: str, ext: str) -> None:
    (cwd / f"{name}.ext").write_text(ext)
    _openssl("genrsa", "-out", f"{name}-key.pem", "2048", cwd=cwd)
    _openssl("req", "-new", "-key", f"{name}-key.pem", "-subj", f"/CN={cn}",
             "-out", f"{name}.csr", cwd=cwd)  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
        "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        cwd=cwd,
    )  # fmt: skip


def _client_dir(root: Path, name: str, ca: str, cert: str) -> Path:
    out = root / name
    out.mkdir()
    shutil.copy(root / f"{ca}.pem", out / "ca.pem")
    shutil.copy(root / f"{cert}.pem", out / "cert.pem")
    shutil.copy(root / f"{cert}-key.pem", out / "key.pem")
    return out


def make_pki(root: Path) -> Pki:
    root.mkdir(parents=True, exist_ok=True)
    _ca(root, "ca")
    _ca(root, "rogue-ca")
    _signed(root, "ca", "server", "127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")  # fmt: skip
    _signed(root, "ca", "client", "client", "extendedKeyUsage=clientAuth\n")
    _signed(root, "rogue-ca", "rogue", "client", "extendedKeyUsage=clientAuth\n")
    return Pki(
        root,
        _client_dir(root, "client", "ca", "client"),
        _client_dir(root, "rogue-client", "ca", "rogue"),
        _client_dir(root, "wrong-ca", "rogue-ca", "client"),
    )


@dataclass
class TlsEngine:
    host: str  # tcp://127.0.0.1:PORT
    data_root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM to this dockerd (by its own pid), SIGKILL after 20 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _answers(host: str, pki: Pki) -> bool:
    env = {
        **os.environ,
        "DOCKER_HOST": host,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(pki.client),
    }
    env.pop("DOCKER_CONTEXT", None)
    proc = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env=env, capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    return proc.returncode == 0


def start_tls_dockerd(state: Path, pki: Pki, timeout: float = 90) -> TlsEngine:
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    host = f"tcp://127.0.0.1:{port}"
    log = state / "dockerd.log"
    argv = [
        "dockerd", "--iptables=false", "--bridge=none", "--storage-driver=vfs",
        "-H", host, "--tlsverify",
        "--tlscacert", str(pki.root / "ca.pem"),
        "--tlscert", str(pki.root / "server.pem"),
        "--tlskey", str(pki.root / "server-key.pem"),
        "--data-root", str(state / "data"), "--exec-root", str(state / "exec"),
        "--pidfile", str(state / "dockerd.pid"),
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
    engine = TlsEngine(host, state / "data", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _answers(host, pki):
            return engine
        time.sleep(0.5)
    engine.stop()
    tail = log.read_text(errors="replace")[-800:]
    raise RuntimeError(f"TLS dockerd on {host} did not come up: {tail}")
