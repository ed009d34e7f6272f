"""The failure catalogue, loaded from ``catalogue.yaml`` and compiled once. Pure module.

Loading validates every entry (unique ids, compilable regexes, a literal of 4+ characters in
each signature for the streaming prefilter, known references in ``absorbs``/``consequence_of``)
so a broken entry fails at load with its id, never silently at match time.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from .literals import required_runs

# package data, read through importlib.resources (the package may be installed as release_suite)
_DATA = importlib.resources.files(__name__.rpartition(".")[0])
DEFAULT_PATH: Traversable = _DATA.joinpath("catalogue.yaml")
BACKGROUND_PATH: Traversable = _DATA.joinpath("background.log")
MIN_LITERAL = 4
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Signature:
    pattern: re.Pattern[str]
    literal: str  # the longest substring every match contains (checked on candidate lines)
    weak: bool = False
    runs: tuple[str, ...] = ()  # every required literal run of MIN_LITERAL+ (trigger choices)
    companion: bool = False  # a `requires` pattern: evidence that must accompany a signature


@dataclass(frozen=True)
class Variant:
    when: tuple[tuple[str, re.Pattern[str]], ...]
    title: str | None = None
    cause: str | None = None
    fix: str | None = None

    def applies(self, values: Mapping[str, str]) -> bool:
        return all(rx.search(values.get(key, "")) for key, rx in self.when)


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    cause: str
    fix: str
    docs: str = ""
    phases: tuple[str, ...] = ()
    signatures: tuple[Signature, ...] = ()
    build_status: tuple[str, ...] = ()
    rank: int = 50
    wrapper: bool = False
    absorbs: tuple[str, ...] = ()
    consequence_of: tuple[str, ...] = ()
    secondary_after: tuple[str, ...] = ()
    timeout_command: re.Pattern[str] | None = None
    variants: tuple[Variant, ...] = ()
    followup: str | None = None

    @property
    def requires(self) -> bool:
        """Its signatures count only with one of its `requires` patterns in the same log."""
        return any(sig.companion for sig in self.signatures)

    def variant_for(self, values: Mapping[str, str]) -> Variant | None:
        return next((v for v in self.variants if v.applies(values)), None)


@dataclass(frozen=True)
class Catalogue:
    entries: tuple[Entry, ...]
    by_id: Mapping[str, Entry] = field(default_factory=dict)
    background: bytes = b""  # a sample of successful logs: tunes the streaming prefilter

    def __post_init__(self) -> None:
        if not self.by_id:
            object.__setattr__(self, "by_id", {e.id: e for e in self.entries})

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, entry_id: str) -> Entry:
        return self.by_id[entry_id]


# -- literal extraction (tasks.diagnose.literals: public APIs only) ------------------------


def required_literal(pattern: str) -> str:
    """The longest literal substring every match of ``pattern`` contains ('' if none)."""
    return max(required_runs(pattern), key=len, default="")


# -- loading ----------------------------------------------------------------------------------


def _problem(entry_id: str, message: str) -> UsageError:
    return UsageError(
        f"failure catalogue entry {entry_id!r}: {message}",
        "fix tasks/diagnose/catalogue.yaml (see docs/diagnose.md, 'Adding a catalogue entry')",
    )


def _compile(entry_id: str, text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise _problem(entry_id, f"bad regex {text!r} ({exc})") from None


def _signature(entry_id: str, text: str, weak: bool, companion: bool = False) -> Signature:
    pattern = _compile(entry_id, text)
    runs = tuple(r for r in required_runs(text) if len(r) >= MIN_LITERAL)
    if not runs:
        raise _problem(
            entry_id,
            f"signature {text!r} has no literal of {MIN_LITERAL}+ characters to search for",
        )
    return Signature(pattern, max(runs, key=len), weak, runs, companion)


def _strings(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key) or ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _variant(entry_id: str, raw: Mapping[str, Any]) -> Variant:
    when = raw.get("when") or {}
    if not isinstance(when, Mapping) or not when:
        raise _problem(entry_id, "a variant needs a non-empty `when` mapping")
    return Variant(
        when=tuple((str(k), _compile(entry_id, str(v))) for k, v in when.items()),
        title=raw.get("title"),
        cause=raw.get("cause"),
        fix=raw.get("fix"),
    )


def parse_entry(raw: Mapping[str, Any]) -> Entry:
    entry_id = str(raw.get("id", ""))
    if not _ID.match(entry_id):
        raise _problem(entry_id, "id must be snake_case")
    for key in ("title", "cause", "fix"):
        if not str(raw.get(key) or "").strip():
            raise _problem(entry_id, f"`{key}` is required")
    signatures = tuple(_signature(entry_id, s, False) for s in _strings(raw, "signatures"))
    signatures += tuple(_signature(entry_id, s, True) for s in _strings(raw, "weak"))
    companions = tuple(_signature(entry_id, s, False, True) for s in _strings(raw, "requires"))
    if companions and not signatures:
        raise _problem(entry_id, "`requires` needs signatures to accompany")
    signatures += companions
    build_status = _strings(raw, "build_status")
    if not signatures and not build_status:
        raise _problem(entry_id, "needs at least one signature or a build_status")
    timeout = raw.get("timeout_command")
    return Entry(
        id=entry_id,
        title=str(raw["title"]).strip(),
        cause=" ".join(str(raw["cause"]).split()),
        fix=" ".join(str(raw["fix"]).split()),
        docs=str(raw.get("docs") or ""),
        phases=_strings(raw, "phases"),
        signatures=signatures,
        build_status=build_status,
        rank=int(raw.get("rank", 50)),
        wrapper=bool(raw.get("wrapper", False)),
        absorbs=_strings(raw, "absorbs"),
        consequence_of=_strings(raw, "consequence_of"),
        secondary_after=_strings(raw, "secondary_after"),
        timeout_command=_compile(entry_id, str(timeout)) if timeout else None,
        variants=tuple(_variant(entry_id, v) for v in raw.get("variants") or ()),
        followup=raw.get("followup"),
    )


def parse_catalogue(raw: Mapping[str, Any], background: bytes = b"") -> Catalogue:
    items: Sequence[Any] = raw.get("entries") or ()
    entries = tuple(parse_entry(item) for item in items)
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise _problem(entry.id, "duplicate id")
        seen.add(entry.id)
    for entry in entries:
        for ref in (*entry.absorbs, *entry.consequence_of):
            if ref not in seen:
                raise _problem(entry.id, f"refers to unknown entry {ref!r}")
    return Catalogue(entries, background=background)


@functools.lru_cache(maxsize=4)
def load_catalogue(path: Path | Traversable = DEFAULT_PATH) -> Catalogue:
    """The catalogue at ``path`` (compiled once per process)."""
    import yaml

    from ..core.config_file import load_yaml_file

    try:  # libyaml when present: the catalogue is large and read at every diagnosis
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError):
        raw = load_yaml_file(Path(str(path)))  # the same failure, worded as one line with its place
    if not isinstance(raw, Mapping):
        raise UsageError(f"{path} must hold a mapping with `entries`", "fix the catalogue file")
    background = BACKGROUND_PATH.read_bytes() if BACKGROUND_PATH.is_file() else b""
    return parse_catalogue(raw, background)


__all__ = [
    "Catalogue",
    "Entry",
    "Signature",
    "Variant",
    "load_catalogue",
    "parse_catalogue",
    "required_literal",
    "required_runs",
]
