"""Secret redaction for everything the suite prints, logs or serialises. Pure module.

Two mechanisms: known secret values (tokens, passwords learnt at run time) are replaced
wherever they appear, and patterns catch secrets we never saw (passwords inside URLs,
basic-auth headers, ``password=`` / ``token=`` assignments).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

# scheme://user:password@host -> scheme://user:***@host (postgres, mysql, redis, http...)
_URL_PASSWORD = re.compile(
    r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*:)(?P<pw>[^@\s'\"/]+)(?=@)"
)
_AUTH_HEADER = re.compile(
    r"(?i)(?P<pre>authorization\s*[:=]\s*(?:basic|bearer)\s+)(?P<pw>[A-Za-z0-9+/=._~-]+)"
)
# ``password=x``, and the usual variable names ending in the word: DB_PASSWORD=,
# POSTGRES_PASSWORD=, API_TOKEN:, GITHUB_TOKEN=, SECRET_KEY= (the word may follow ``_``/``-``;
# camelCase names such as idempotencyToken are not secrets and stay)
_ASSIGNMENT = re.compile(
    r"(?i)(?P<pre>(?<![:/a-z0-9])(?:password|passwd|secret|token|api[_-]?key|secret[_-]?key|"
    r"private[_-]?key|aws_secret_access_key|aws_session_token|pgpassword)\b"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<pw>[^\s\"'&,;}]+)"
)
# ``--password hunter2`` / ``--db-token=x`` on a command line (never ``--password-stdin``)
_FLAG = re.compile(
    r"(?i)(?P<pre>(?<![\w-])--(?:[a-z0-9]+-)*(?:password|passwd|token|secret)(?:=|\s+))"
    r"(?P<pw>[^\s\"'-][^\s\"']*)"
)
_PATTERNS = (_URL_PASSWORD, _AUTH_HEADER, _ASSIGNMENT, _FLAG)


class Redactor:
    """Replaces secrets in text. Register values learnt at run time with :meth:`add`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for value in secrets:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Remember a secret; also its base64 ``user:password`` forms when it is a token."""
        if not value or len(value) < 4:
            return
        self._secrets.add(value)
        if ":" in value:  # user:password pairs also travel base64-encoded (docker config)
            self._secrets.add(base64.b64encode(value.encode()).decode())

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        for value in sorted(self._secrets, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group("pre") + MASK, text)
        return text

    def redact_obj(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like structure."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_obj(v) for v in obj]
        return obj


def redact_url(url: str) -> str:
    """A URL with its password masked (for display of DATABASE_URL-like values)."""
    return _URL_PASSWORD.sub(lambda m: m.group("pre") + MASK, url)


__all__ = ["MASK", "Redactor", "redact_url"]
