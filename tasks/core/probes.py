"""The one TCP probe of the suite: does anything accept a connection at host:port?

Used by the local runner (is the local database up, did a service start), ``ci_services``
and the diagnosis's network follow-up, each with the timeout it needs.
``scripts/db_probe.py`` keeps its own probe on purpose: it is copied into the CodeBuild
container and runs there standalone (stdlib only, no ``tasks`` package), and it tells a
timeout from a refusal and a name that does not resolve, which a yes/no answer does not.
"""

from __future__ import annotations

import socket


def tcp_answers(host: str, port: int, timeout: float) -> bool:
    """True when a TCP connection to host:port opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
