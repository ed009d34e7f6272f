"""The labelled sample set: every catalogue entry has a sample, every TUNING sample is won by its
entry, the HELD-OUT part stays above the issue's aim, and successful logs give no finding.

A sample is ``tests/samples/diagnose/[<folder>/]<expected id>[--<variant>].log`` (a log) or
``...build.json`` (a saved batch-get-builds response). The split into a tuning part (the only
samples patterns are written against) and a held-out part is fixed by file name in
``tests/helpers/samples.py``; ``bench/bench_diagnose.py`` reports both figures. Where each sample
came from (a live run on this machine, or a public paste) is listed in
``tests/samples/diagnose/SOURCES.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.matcher import Scan, scan_chunks
from tasks.diagnose.ranking import Diagnosis, build_from_json, diagnose
from tests.helpers.samples import expected_id, holdout, labelled, successful, tuning, unlabelled

HELD_OUT_AIM = 0.90  # issue 11: ">= 90 % top-1 on the unseen part"


def run_sample(path: Path) -> Diagnosis:
    catalogue = load_catalogue()
    if path.name.endswith(".build.json"):
        return diagnose(catalogue, Scan(), build_from_json(json.loads(path.read_text())))
    return diagnose(catalogue, scan_chunks([path.read_bytes()], catalogue))


@pytest.mark.parametrize("path", tuning(), ids=lambda p: p.name)
def test_tuning_sample_top_finding_is_its_entry(path: Path) -> None:
    result = run_sample(path)
    ids = [f.id for f in result.findings]
    assert ids, f"{path.name}: nothing matched"
    assert ids[0] == expected_id(path), f"{path.name}: ranked {ids}"
    top = result.findings[0]
    assert top.evidence, "a finding always shows its evidence"
    assert "<" not in top.title


def test_every_entry_has_a_sample() -> None:
    covered = {expected_id(p) for p in labelled()}
    missing = [e.id for e in load_catalogue().entries if e.id not in covered]
    assert missing == []


def test_cross_matches_rank_below_the_sample_entry() -> None:
    """Any other entry firing on a sample is ranked after the sample's own entry."""
    for path in tuning():
        ids = [f.id for f in run_sample(path).findings]
        assert ids.index(expected_id(path)) == 0, (path.name, ids)


def test_every_live_sample_is_labelled() -> None:
    missing = [p.name for p in unlabelled()]
    assert missing == [], "add '<file> <expected finding id>' lines to that folder's labels.txt"


def test_held_out_top1_meets_the_aim() -> None:
    """Measured, not tuned: a drop below the aim means a change broke unseen wordings."""
    paths = holdout()
    right = [p for p in paths if [f.id for f in run_sample(p).findings][:1] == [expected_id(p)]]
    assert len(paths) >= 80
    assert len(right) / len(paths) >= HELD_OUT_AIM, sorted(p.name for p in set(paths) - set(right))


@pytest.mark.parametrize("path", successful(), ids=lambda p: p.name)
def test_successful_logs_give_no_finding(path: Path) -> None:
    result = run_sample(path)
    assert [f.id for f in result.findings] == []


def test_background_sample_gives_no_finding() -> None:
    background = Path("tasks/diagnose/background.log")
    catalogue = load_catalogue()
    result = diagnose(catalogue, scan_chunks([background.read_bytes()], catalogue))
    assert result.findings == ()
