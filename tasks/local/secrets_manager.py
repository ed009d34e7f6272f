"""``env.secrets-manager`` on this machine: a reference (name or ARN, JSON key, version stage
or id) resolved from the local environment's store (``credentials.json``, written by
``invoke local.up``), failing with Secrets Manager's own wording.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from .buildspec import reference_parts


class SecretError(Exception):
    pass


def stored_name(stored: Mapping[str, Any], sid: str) -> str | None:
    """The local store's key for a secret name or ARN (``...:secret:NAME-AbCdEf``)."""
    if sid in stored:
        return sid
    if sid.startswith("arn:"):
        name = sid.split(":secret:", 1)[-1]
        for candidate in (name, re.sub(r"-[A-Za-z0-9]{6}$", "", name)):
            if candidate in stored:
                return candidate
    return None


def secret_version(value: Any, sid: str, stage: str, version_id: str) -> Any:
    """The value of one version. The local store holds a string (the AWSCURRENT version) or
    ``{"versions": [{"id": ..., "stages": [...], "value": ...}]}``."""
    versions = (
        value["versions"]
        if isinstance(value, dict) and isinstance(value.get("versions"), list)
        else [{"id": "", "stages": ["AWSCURRENT"], "value": value}]
    )
    wanted_stage = stage or ("" if version_id else "AWSCURRENT")
    for version in versions:
        if version_id and version.get("id") != version_id:
            continue
        if wanted_stage and wanted_stage not in (version.get("stages") or ()):
            continue
        return version.get("value")
    label = f"VersionId: {version_id}" if version_id else f"staging label: {wanted_stage}"
    raise SecretError(
        f"ResourceNotFoundException: Secrets Manager can't find the specified secret value "
        f"for {label} (secret id: {sid})"
    )


def resolve_secret(stored: Mapping[str, Any], reference: str) -> str:
    sid, key, stage, version_id = reference_parts(reference)
    name = stored_name(stored, sid)
    if name is None:
        raise SecretError(
            f"ResourceNotFoundException: Secrets Manager can't find the specified secret. "
            f"secret id: {sid} (local environment: run invoke local.up)"
        )
    value = secret_version(stored[name], sid, stage, version_id)
    if key:
        try:
            value = json.loads(value)[key]
        except (ValueError, KeyError, TypeError):
            raise SecretError(f"InvalidSecretKey: secret {sid} has no JSON key {key!r}") from None
    return str(value)


def url_password(url: str) -> str:
    from urllib.parse import urlsplit

    with contextlib.suppress(ValueError):
        return urlsplit(url).password or ""
    return ""
