"""How every read of this adapter calls AWS: a refusal of one resource is a fact, not a failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from ...core.aws import ReadRefused, read_aws

T = TypeVar("T")


def read_refusable(action: str, fn: Callable[[], T]) -> T:
    """One AWS read; a refusal of this resource is ReadRefused (its check reports it)."""
    return read_aws(fn, action)


def read_or_code(fn: Callable[[], T]) -> tuple[T | None, str]:
    """(result, '') or (None, error code) for reads where 'not found' is an answer."""
    try:
        return read_aws(fn, "reading AWS"), ""
    except ReadRefused as refused:
        return None, refused.code


def policy_document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return dict(json.loads(unquote(value)))
    return dict(value or {})
