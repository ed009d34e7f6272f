#!/usr/bin/env python3
"""Database reachability probe, run inside CodeBuild before a migration (python3 stdlib only).

Reads DATABASE_URL from the environment (never from argv), resolves its host and opens a TCP
connection to host:port with a short timeout. Prints ONE verdict line, never the password:

  db-probe: ok: 10.0.1.5:5432 accepts TCP connections (12 ms)
  db-probe: timed out: no answer from 10.0.1.5:5432 within 5.0s: security group or routing ...
  db-probe: refused: 10.0.1.5:5432 answered but nothing listens on that port ...
  db-probe: name does not resolve: db.example.internal ...

Exit codes: 0 ok, 2 usage (DATABASE_URL missing or unparsable), 3 name does not resolve,
4 timed out, 5 refused, 6 other network error. ``--timeout SECONDS`` (default
DB_PROBE_TIMEOUT or 5).
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import time
from urllib.parse import urlsplit

DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "mysql": 3306, "mariadb": 3306}
OK, USAGE, NO_NAME, TIMED_OUT, REFUSED, OTHER = 0, 2, 3, 4, 5, 6


def target(url: str) -> tuple[str, int]:
    """(host, port) of a database URL; ValueError without ever quoting the URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        raise ValueError("DATABASE_URL is not a valid URL (bad port?)") from None
    if not host:
        raise ValueError("DATABASE_URL has no host (expected scheme://user:pass@host:port/db)")
    if not port:
        raise ValueError(f"DATABASE_URL has no port and scheme {parts.scheme!r} has no default")
    return host, int(port)


def probe(host: str, port: int, timeout: float) -> tuple[int, str]:
    """(exit code, verdict) for one TCP connect attempt to each resolved address."""
    started = time.monotonic()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return NO_NAME, (
            f"name does not resolve: {host} ({exc.strerror}): check the host in the secret, "
            "and for a private name the VPC's DNS settings (enableDnsHostnames/Support)"
        )
    last: tuple[int, str] = (OTHER, f"no address for {host}")
    for family, kind, proto, _, address in infos:
        where = f"{address[0]}:{port}"
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(max(0.1, timeout - (time.monotonic() - started)))
            try:
                sock.connect(address)
            except TimeoutError:
                last = (
                    TIMED_OUT,
                    f"timed out: no answer from {where} within {timeout:g}s: security group or "
                    "routing (the database's security group must allow this build's security "
                    f"group on port {port}, and the build's subnets must route to it)",
                )
                continue
            except ConnectionRefusedError:
                last = (
                    REFUSED,
                    f"refused: {where} answered but nothing listens on port {port}: check the "
                    "port in the secret and that the database is running",
                )
                continue
            except OSError as exc:
                name = errno.errorcode.get(exc.errno or 0, "error")
                last = (OTHER, f"network error: {where}: {name} ({exc.strerror}): check routing")
                continue
        ms = (time.monotonic() - started) * 1000
        return OK, f"ok: {where} accepts TCP connections ({ms:.0f} ms)"
    return last


def main(argv: list[str]) -> int:
    timeout = float(os.environ.get("DB_PROBE_TIMEOUT") or 5)
    if len(argv) == 2 and argv[0] == "--timeout":
        timeout = float(argv[1])
    elif argv:
        print("db-probe: usage: db_probe.py [--timeout SECONDS] (reads DATABASE_URL)")
        return USAGE
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print(
            "db-probe: usage: DATABASE_URL is not set: check env.secrets-manager in the buildspec"
        )
        return USAGE
    try:
        host, port = target(url)
    except ValueError as exc:
        print(f"db-probe: usage: {exc}")
        return USAGE
    code, verdict = probe(host, port, timeout)
    print(f"db-probe: {verdict}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
