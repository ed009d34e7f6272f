"""One read-only query on the local environment's database, for the diagnosis's follow-up
(``tasks.diagnose.followups.database_locks``: who holds the table a migration could not lock).

The database URL is the local "secret" ``invoke local.up`` stored (credentials.json); psql gets
it as libpq environment variables (PGHOST, PGPASSWORD...), never on its command line. The query
itself is bounded (connect timeout, statement_timeout) so a diagnosis never hangs on it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

from ..core.config import Settings
from ..core.errors import LocalEnvError
from .environment import load_credentials

SEPARATOR = "\x1f"  # the unit separator: a byte no application_name or table name carries
APPLICATION = "release-suite-diagnose"
_PARAMS = {"sslmode": "PGSSLMODE", "application_name": "PGAPPNAME"}


def libpq_environment(url: str) -> dict[str, str]:
    """A postgres:// URL as libpq's environment variables."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise LocalEnvError(
            "the local database secret is not a postgres:// URL",
            "run invoke local.up to write it again",
        )
    env = {
        "PGHOST": parts.hostname,
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")),
    }
    for key, value in parse_qsl(parts.query):
        if key in _PARAMS:
            env[_PARAMS[key]] = value
    return {k: v for k, v in env.items() if v}


def database_query(
    settings: Settings, environ: Mapping[str, str], *, timeout: float = 15.0
) -> Callable[[str], str]:
    """Runs one query on the environment's database (its ``secret``), returns ``psql -At`` rows
    separated by :data:`SEPARATOR`. Failures are one-line ``LocalEnvError``s."""

    def run(query: str) -> str:
        secrets = load_credentials(environ).get("secrets") or {}
        url = secrets.get(settings.secret)
        if not isinstance(url, str) or not url:
            raise LocalEnvError(
                f"the local environment holds no database URL for secret {settings.secret!r}",
                "run invoke local.up",
            )
        psql = shutil.which("psql")
        if psql is None:
            raise LocalEnvError("psql is not installed", "apt-get install postgresql-client")
        env = {
            **environ,
            "PGAPPNAME": APPLICATION,
            "PGCONNECT_TIMEOUT": "5",
            "PGOPTIONS": "-c statement_timeout=5s",
            **libpq_environment(url),
        }
        env["PGAPPNAME"] = APPLICATION
        argv = [psql, "-X", "-q", "-A", "-t", "-F", SEPARATOR, "-v", "ON_ERROR_STOP=1"]
        try:
            proc = subprocess.run(
                [*argv, "-c", query],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LocalEnvError(
                f"the local database did not answer within {timeout:.0f}s",
                "check it runs: invoke local.up",
            ) from None
        if proc.returncode != 0:
            said = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise LocalEnvError(
                f"psql could not query the local database: {said}",
                "check it runs: invoke local.up",
            )
        return proc.stdout

    return run
