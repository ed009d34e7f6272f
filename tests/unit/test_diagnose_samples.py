"""The labelled sample set: every catalogue entry has a sample that it wins, no entry fires on
another's sample unless ranked below it, and successful logs give no finding at all.

A sample is ``tests/samples/diagnose/<expected id>[--<variant>].log`` (a log) or
``<expected id>[--<variant>].build.json`` (a saved batch-get-builds response). Several samples
are real output captured from the components (names ending in ``--bun-sql``, ``--registry``...);
the integration tests regenerate those live.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.matcher import scan_chunks
from tasks.diagnose.ranking import Diagnosis, diagnose, facts_from_json

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "diagnose"
LABELLED = sorted(p for p in SAMPLES.iterdir() if p.is_file())
SUCCESS = sorted((SAMPLES / "success").iterdir())


def expected_id(path: Path) -> str:
    return path.name.split(".")[0].split("--")[0]


def run_sample(path: Path) -> Diagnosis:
    catalogue = load_catalogue()
    if path.name.endswith(".build.json"):
        from tasks.diagnose.matcher import Scan

        return diagnose(catalogue, Scan(), facts_from_json(json.loads(path.read_text())))
    return diagnose(catalogue, scan_chunks([path.read_bytes()], catalogue))


@pytest.mark.parametrize("path", LABELLED, ids=lambda p: p.name)
def test_sample_top_finding_is_its_entry(path: Path) -> None:
    result = run_sample(path)
    ids = [f.id for f in result.findings]
    assert ids, f"{path.name}: nothing matched"
    assert ids[0] == expected_id(path), f"{path.name}: ranked {ids}"
    top = result.findings[0]
    assert top.evidence, "a finding always shows its evidence"
    assert "<" not in top.title


def test_every_entry_has_a_sample() -> None:
    covered = {expected_id(p) for p in LABELLED}
    missing = [e.id for e in load_catalogue().entries if e.id not in covered]
    assert missing == []


def test_cross_matches_rank_below_the_sample_entry() -> None:
    """Any other entry firing on a sample is ranked after the sample's own entry."""
    for path in LABELLED:
        ids = [f.id for f in run_sample(path).findings]
        assert ids.index(expected_id(path)) == 0, (path.name, ids)


@pytest.mark.parametrize("path", SUCCESS, ids=lambda p: p.name)
def test_successful_logs_give_no_finding(path: Path) -> None:
    result = run_sample(path)
    assert [f.id for f in result.findings] == []


def test_background_sample_gives_no_finding() -> None:
    background = Path("tasks/diagnose/background.log")
    catalogue = load_catalogue()
    result = diagnose(catalogue, scan_chunks([background.read_bytes()], catalogue))
    assert result.findings == ()
