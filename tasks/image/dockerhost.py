"""Where the docker CLI would connect: the one Docker endpoint resolver.

``image.check`` and the local image inspection use the Docker SDK, while build, push and login
run the docker CLI. Both must reach the same engine, so the SDK client is made from the endpoint
the CLI itself would use, read with the CLI's own rules (docker/cli 28):

1. ``DOCKER_HOST`` set and non-empty -> the ``default`` context with that host
   (cli/command/cli.go ``resolveContextName``: "the default context is used if ... the
   DOCKER_HOST environment variable is set to a non-empty value");
2. ``DOCKER_CONTEXT``;
3. ``currentContext`` in ``$DOCKER_CONFIG/config.json`` (``~/.docker/config.json``);
4. ``default``: ``unix:///var/run/docker.sock``.

For the default context TLS comes from the environment as the CLI reads it
(cli/flags/options.go): ``DOCKER_TLS_VERIFY`` with ANY non-empty value (``0`` included) turns
TLS on with verification, ``DOCKER_TLS`` turns TLS on without it; the files are ``ca.pem``,
``cert.pem`` and ``key.pem`` in ``DOCKER_CERT_PATH`` (default: the config directory); a missing
cert or key is dropped, a missing CA is an error. A ``tcp://`` host without a port gets 2376
with TLS and 2375 without. A named context is read from the context store:
``$DOCKER_CONFIG/contexts/meta/<sha256 of the name>/meta.json`` (``Endpoints.docker.Host`` and
``SkipTLSVerify``) and its TLS files in ``contexts/tls/<sha256>/docker/``. A context that does
not exist is an error, as it is for the CLI, never a silent fall-back to the local socket.

Pure: reads only files and the given environment. The SDK client for an endpoint is made by
``image.engine.sdk_client`` (the docker side); ``ssh://`` hosts go through the ``ssh`` binary
like the CLI does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import DockerUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"
CONTEXT_FIX = (
    "list the contexts with `docker context ls`; pick one with `docker context use NAME` "
    "(or DOCKER_CONTEXT), or `docker context use default`"
)


@dataclass(frozen=True)
class TlsFiles:
    ca: str  # '' = none given
    cert: str
    key: str
    verify: bool


@dataclass(frozen=True)
class Endpoint:
    host: str
    context: str  # "default" or the context's name
    source: str  # DOCKER_HOST | DOCKER_CONTEXT | config.json | default
    tls: TlsFiles | None = None

    def describe(self) -> str:
        """Where, as the user set it: ``DOCKER_HOST=tcp://docker:2376 (TLS)``."""
        tls = ""
        if self.tls is not None:
            tls = " (TLS, verified)" if self.tls.verify else " (TLS, not verified)"
        if self.source == "DOCKER_HOST":
            return f"DOCKER_HOST={self.host}{tls}"
        if self.context == "default":
            return f"{self.host}{tls}"
        how = "DOCKER_CONTEXT" if self.source == "DOCKER_CONTEXT" else "current context"
        return f"{how} {self.context!r} ({self.host}{tls})"


def config_dir(environ: Mapping[str, str]) -> Path:
    """$DOCKER_CONFIG, else ~/.docker (cli/config ``Dir()``)."""
    if environ.get("DOCKER_CONFIG"):
        return Path(environ["DOCKER_CONFIG"])
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".docker"


def context_id(name: str) -> str:
    """The context store's directory name: the sha256 of the context name."""
    return hashlib.sha256(name.encode()).hexdigest()


def context_name(environ: Mapping[str, str]) -> tuple[str, str]:
    """(context name, where it came from) by the CLI's precedence."""
    if environ.get("DOCKER_HOST"):
        return "default", "DOCKER_HOST"
    if environ.get("DOCKER_CONTEXT"):
        return environ["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    current = _read_json(config_dir(environ) / "config.json").get("currentContext")
    if isinstance(current, str) and current:
        return current, "config.json"
    return "default", "default"


def resolve(environ: Mapping[str, str]) -> Endpoint:
    """The endpoint the docker CLI would use with this environment (DockerUnavailable if the
    CLI too would refuse: a context that does not exist, a TLS CA file that is missing)."""
    name, source = context_name(environ)
    if name == "default":
        return _default_endpoint(environ, source)
    return _context_endpoint(environ, name, source)


def _default_endpoint(environ: Mapping[str, str], source: str) -> Endpoint:
    verify = bool(environ.get("DOCKER_TLS_VERIFY"))
    use_tls = verify or bool(environ.get("DOCKER_TLS"))
    host = normalise_host(environ.get("DOCKER_HOST") or DEFAULT_HOST, tls=use_tls)
    if not use_tls or not host.startswith("tcp://"):
        # the CLI sets up no TLS for a socket connection (cli/context/docker/load.go)
        return Endpoint(host, "default", source)
    certs = Path(environ.get("DOCKER_CERT_PATH") or config_dir(environ))
    ca, cert, key = (certs / "ca.pem", certs / "cert.pem", certs / "key.pem")
    if not ca.is_file():
        where = "DOCKER_CERT_PATH" if environ.get("DOCKER_CERT_PATH") else "the Docker config dir"
        var = "DOCKER_TLS_VERIFY" if verify else "DOCKER_TLS"
        raise DockerUnavailable(
            f"{var} is set for DOCKER_HOST={host} but there is no CA certificate {ca} "
            f"({where}); the docker CLI refuses this too",
            "put the engine's ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (GitLab "
            "docker-in-docker: DOCKER_CERT_PATH=$DOCKER_TLS_CERTDIR/client), or unset "
            f"{var} for a plain-TCP engine",
        )
    files = TlsFiles(
        str(ca), str(cert) if cert.is_file() else "", str(key) if key.is_file() else "", verify
    )
    return Endpoint(host, "default", source, files)


def _context_endpoint(environ: Mapping[str, str], name: str, source: str) -> Endpoint:
    store = config_dir(environ) / "contexts"
    meta_file = store / "meta" / context_id(name) / "meta.json"
    meta = _read_json(meta_file)
    how = (
        "DOCKER_CONTEXT"
        if source == "DOCKER_CONTEXT"
        else f"currentContext in {config_dir(environ) / 'config.json'}"
    )
    if not meta:
        raise DockerUnavailable(
            f"docker context {name!r} (from {how}) does not exist: no {meta_file}",
            CONTEXT_FIX,
        )
    docker = (meta.get("Endpoints") or {}).get("docker") or {}
    host = str(docker.get("Host") or "")
    if not host:
        raise DockerUnavailable(
            f"docker context {name!r} has no Docker endpoint ({meta_file})",
            f"docker context update {name} --docker host=..., or {CONTEXT_FIX}",
        )
    tls_dir = store / "tls" / context_id(name) / "docker"
    ca, cert, key = (tls_dir / "ca.pem", tls_dir / "cert.pem", tls_dir / "key.pem")
    skip = bool(docker.get("SkipTLSVerify"))
    files = None
    if host.startswith("tcp://") and (ca.is_file() or cert.is_file() or skip):
        files = TlsFiles(
            str(ca) if ca.is_file() else "",
            str(cert) if cert.is_file() else "",
            str(key) if key.is_file() else "",
            not skip,
        )
    return Endpoint(host, name, source, files)


def normalise_host(host: str, *, tls: bool) -> str:
    """``tcp://docker`` -> ``tcp://docker:2376`` with TLS, 2375 without (opts.ParseHost)."""
    host = host.strip()
    if host.startswith("tcp://"):
        rest = host[len("tcp://") :]
        address, slash, path = rest.partition("/")
        if address and not address.rsplit("]", 1)[-1].count(":"):
            address += ":2376" if tls else ":2375"
        return f"tcp://{address}{slash}{path}".rstrip("/")
    return host


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def tls_reason(text: str) -> str:
    """The TLS part of an SDK error, e.g. ``certificate verify failed: ...`` ('' if none)."""
    lowered = text.lower()
    for needle, reason in (
        ("certificate verify failed", "the engine's certificate is not signed by the given CA"),
        ("hostname mismatch", "the engine's certificate is not issued for this host name"),
        ("ip address mismatch", "the engine's certificate is not issued for this IP address"),
        ("bad certificate", "the engine refused our client certificate"),
        ("certificate required", "the engine requires a client certificate"),
        ("unknown ca", "the engine does not trust our client certificate's CA"),
        ("wrong version number", "the engine does not speak TLS on this port"),
    ):
        if needle in lowered:
            return reason
    if "sslerror" in lowered or "[ssl" in lowered:
        return "the TLS handshake failed"
    return ""
