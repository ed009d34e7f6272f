"""The prefilter's literal runs, read from a regex's text with public APIs only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.literals import required_runs

# expected values: what the previous extractor (over CPython's private re._parser) returned
CASES = [
    (r"exec (?P<path>\S+): exec format error", ["exec ", ": exec format error"]),
    (r"(?:Post|Put) x", ["P", " x"]),
    (r"[Bb]uild container died", ["uild container died"]),
    (r"abc|abd", ["ab"]),
    (r"ab+c{2,}d?e", ["a", "b", "c", "e"]),
    (r"(?:abcd)+x(?=yy)z", ["abcd", "x", "z"]),
    (r"a\.b[.]c\d", ["a.b.c"]),
    (r"(?i)Error: x", ["Error: x"]),
    (r"foo{bar}", ["foo{bar}"]),
    (r"x{,3}y", ["y"]),
    (r"(?:a|b)cc", ["cc"]),
    (r"could not obtain lock on (?:relation|row in relation) \"", ["could not obtain lock on r", ' "']),
    (r"Sequelize(?:ConnectionTimedOutError|ConnectionAcquireTimeoutError)", ["SequelizeConnection"]),
    (r"(?:^|[-:] |Error: )Connection terminated", ["Connection terminated"]),
    (r"self[- ]signed (?P<x>cert)ificate", ["self", "signed ", "cert", "ificate"]),
    (r"a(?!bc)d\x41e", ["a", "d", "e"]),
]  # fmt: skip


@pytest.mark.parametrize(("pattern", "runs"), CASES)
def test_required_runs(pattern: str, runs: list[str]) -> None:
    assert required_runs(pattern) == runs


def test_every_run_of_every_catalogue_signature_is_in_what_it_matches() -> None:
    """Soundness on the real catalogue and the real samples: a run the prefilter looks for is
    always inside the text the signature matches (else a line could be skipped wrongly)."""
    catalogue = load_catalogue()
    samples = sorted(Path("tests/samples/diagnose").rglob("*.log"))[:500]
    assert samples
    texts = [p.read_text(errors="replace") for p in samples]
    checked = 0
    for entry in catalogue.entries:
        for sig in entry.signatures:
            assert sig.literal in sig.runs
            for text in texts:
                for line in text.splitlines()[:5000]:
                    found = sig.pattern.search(line)
                    if found:
                        checked += 1
                        for run in sig.runs:
                            assert run in found.group(0), (entry.id, run, line)
    assert checked > 0


def test_no_private_re_modules_in_tasks() -> None:
    private = re.compile(r"\bre\._|\bsre_(?:parse|constants|compile)\b|from re import _")
    offenders = [
        str(path)
        for path in Path("tasks").rglob("*.py")
        if private.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
