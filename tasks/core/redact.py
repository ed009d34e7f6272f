"""Secret redaction for everything the suite prints, logs or serialises. Pure module.

Two mechanisms: known secret values (tokens, passwords learnt at run time) are replaced
wherever they appear, and patterns catch secrets we never saw (passwords inside URLs,
basic-auth headers, ``password=`` / ``token=`` assignments).
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"

# scheme://user:password@host -> scheme://user:***@host (postgres, mysql, redis, http...). The
# password runs to the LAST '@' of the authority: a raw '@' in it ("p@ss") is masked whole.
_URL_PASSWORD = re.compile(
    r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*:)(?P<pw>[^\s'\"/]+)"
    r"(?=@[^@\s'\"/]*(?:[/\s'\"?#,;)]|$))"
)
# the same without a scheme: user:pass@host[:port] (psql, mysql, rsync and log lines)
_BARE_USERINFO = re.compile(
    r"(?P<pre>(?<![\w/:@.%-])[A-Za-z0-9._-]+:)(?P<pw>[^\s'\"/]+)"
    r"(?=@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?(?:[/\s'\",;)]|$))"
)
_AUTH_HEADER = re.compile(
    r"(?i)(?P<pre>authorization\s*[:=]\s*(?:basic|bearer)\s+)(?P<pw>[A-Za-z0-9+/=._~-]+)"
)
# SigV4: Authorization: AWS4-HMAC-SHA256 Credential=<access key id>/..., Signature=<hex>, and
# the same in presigned URLs (X-Amz-Credential=, X-Amz-Signature=, X-Amz-Security-Token=)
_SIGV4 = re.compile(
    r"(?i)(?P<pre>\b(?:X-Amz-)?(?:Credential|Signature|Security-Token)=)(?P<pw>[^\s,&\"'/%]+)"
)
_ACCESS_KEY_ID = re.compile(r"(?P<pre>)(?P<pw>\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b)")
# ``password=x`` and the variable names that end in a secret word: DB_PASSWORD=, DBPASSWORD=,
# sslpassword=, db_pass=, PWD=, secret_value=, API_TOKEN:, X-Amz-Security-Token:. A camelCase
# hump before the word (idempotencyToken, nextForwardToken) is not a secret and stays.
_ASSIGNMENT = re.compile(
    r"(?i)(?P<name>(?<![\w/:.@-])(?P<prefix>[a-z0-9_.-]*?)"
    r"(?P<word>password|passwd|passphrase|pwd|pass|secret|token|api[_-]?key|private[_-]?key|"
    r"access[_-]?key)(?:[_-]?(?:value|string|key))?)"
    r"(?P<eq>[\"']?\s*[:=]\s*[\"']?)(?P<pw>[^\s\"'&,;}]+)"
)
# ``--password hunter2`` / ``--password "a b"`` / ``--db-token=x`` (never ``--password-stdin``)
_FLAG = re.compile(
    r"(?i)(?P<pre>(?<![\w-])--(?:[a-z0-9]+-)*(?:password|passwd|token|secret)(?:=|\s+))"
    r"(?P<pw>\"[^\"]*\"|'[^']*'|[^\s\"'-][^\s\"']*)"
)
# mysql/mariadb style ``-pSECRET`` (attached); -p5432 / -p8080:80 ports and gcc's -pthread stay
_SHORT_P = re.compile(r"(?P<pre>(?<![\w-])-p)(?P<pw>[^\s\"'-][^\s\"']*)")
_NOT_A_PASSWORD = re.compile(r"[0-9]+(?::[0-9]+)*(?:/(?:tcp|udp))?|thread|threads|edantic.*|ipe|g")
# base64 of user:password (docker config "auth", basic credentials pasted without a header)
_BASE64 = re.compile(
    r"(?P<pre>)(?P<pw>(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=]))"
)
_USER_PASSWORD = re.compile(r"[!-9;-~]{1,128}:[!-~]{3,}")  # printable, no spaces


def _assignment(m: re.Match[str]) -> str:
    prefix, word = m.group("prefix"), m.group("word")
    if prefix and prefix[-1].islower() and word[0].isupper():
        return m.group(0)  # camelCase: idempotencyToken=..., nextForwardToken: ...
    return m.group("name") + m.group("eq") + MASK


def _short_p(m: re.Match[str]) -> str:
    return m.group(0) if _NOT_A_PASSWORD.fullmatch(m.group("pw")) else m.group("pre") + MASK


def _base64_auth(m: re.Match[str]) -> str:
    token = m.group("pw")
    if len(token) % 4:
        return token
    try:
        decoded = base64.b64decode(token, validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return token
    return MASK if _USER_PASSWORD.fullmatch(decoded) else token


def _masked(m: re.Match[str]) -> str:
    return m.group("pre") + MASK


# (pattern, replacement, a quick test that must pass before the pattern is tried): most log
# lines hold none of these, and the cheap test keeps redaction near its old cost per line
_SECRET_WORDS = re.compile(r"(?i)pass|pwd|secret|token|key")
_PATTERNS: tuple[tuple[re.Pattern[str], Any, Any], ...] = (
    (_URL_PASSWORD, _masked, lambda t: "://" in t),
    (_BARE_USERINFO, _masked, lambda t: "@" in t),
    (_AUTH_HEADER, _masked, lambda t: True),
    (_SIGV4, _masked, lambda t: "=" in t),
    (_ACCESS_KEY_ID, _masked, lambda t: "A" in t),
    (_ASSIGNMENT, _assignment, _SECRET_WORDS.search),
    (_FLAG, _masked, lambda t: "--" in t),
    (_SHORT_P, _short_p, lambda t: "-p" in t),
    (_BASE64, _base64_auth, lambda t: True),
)


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
        decoded = unquote(value)  # a URL's password is percent-encoded; programs print it decoded
        if decoded != value and len(decoded) >= 4:
            self._secrets.add(decoded)
        if "://" in value:
            with contextlib.suppress(ValueError):
                password = urlsplit(value).password
                if password:
                    self.add(password)

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        if not text:
            return text
        for value in sorted(self._secrets, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        for pattern, replace, worth_trying in _PATTERNS:
            if worth_trying(text):
                text = pattern.sub(replace, text)
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
