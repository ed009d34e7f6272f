"""The labelled diagnose samples and their fixed tuning / held-out split.

A labelled sample is ``tests/samples/diagnose/[<folder>/]<expected id>[--<variant>].log`` (a log)
or ``...build.json`` (a saved batch-get-builds response), or any ``.log`` of a folder whose
``labels.txt`` names its expected id (``live/``, written by the e2e tests of the Node samples);
``success/`` holds successful logs (no finding expected). Where a sample came from is listed in ``tests/samples/diagnose/SOURCES.md``.

The split was fixed before the patterns of issue 11 were written, and never changes:

* every sample whose variant starts with ``public`` (real output that users pasted in public
  issues, collected with the search tool) is HELD OUT: the catalogue's patterns for those
  families are written from documentation and live captures, never from these files;
* every other sample is held out when the first 8 hex digits of the SHA-256 of its file name
  (the name only, not the folder), read as an integer, are divisible by 3 (about one in three);
* the rest is the TUNING part: the only samples looked at while writing patterns.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples" / "diagnose"
SUCCESS = SAMPLES / "success"
SUFFIXES = (".log", ".build.json")


LABELS = "labels.txt"  # a folder whose file names are not ids lists "<file> <expected id>"


def _labels(folder: Path) -> dict[str, str]:
    table = folder / LABELS
    if not table.exists():
        return {}
    pairs = (line.split() for line in table.read_text().splitlines())
    return {p[0]: p[1] for p in pairs if len(p) == 2 and not p[0].startswith("#")}


def expected_id(path: Path) -> str:
    labels = _labels(path.parent)
    if labels:
        return labels[path.name]
    return path.name.split(".")[0].split("--")[0]


def unlabelled() -> list[Path]:
    """Samples in a labelled folder that its labels.txt does not list."""
    return sorted(
        p
        for table in SAMPLES.rglob(LABELS)
        for p in table.parent.glob("*.log")
        if p.name not in _labels(table.parent)
    )


def variant(path: Path) -> str:
    stem = path.name.split(".")[0]
    return stem.split("--", 1)[1] if "--" in stem else ""


def is_public(path: Path) -> bool:
    return variant(path).startswith("public")


def held_out(path: Path) -> bool:
    """The fixed split (see the module docstring)."""
    if is_public(path):
        return True
    digest = hashlib.sha256(path.name.encode()).hexdigest()
    return int(digest[:8], 16) % 3 == 0


def labelled() -> list[Path]:
    """Every labelled sample (any folder but ``success/``), sorted by path."""
    missing = set(unlabelled())
    return sorted(
        p
        for p in SAMPLES.rglob("*")
        if p.is_file()
        and p.name.endswith(SUFFIXES)
        and SUCCESS not in p.parents
        and p not in missing
    )


def successful() -> list[Path]:
    return sorted(p for p in SUCCESS.rglob("*") if p.is_file())


def tuning() -> list[Path]:
    return [p for p in labelled() if not held_out(p)]


def holdout() -> list[Path]:
    return [p for p in labelled() if held_out(p)]
