"""The release report's pure parts: cost, timeline, outputs syntax, the saved builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.release import report as rp

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "report"


def test_billed_minutes_round_up_and_use_the_compute_types_price() -> None:
    assert rp.build_cost(61.0, "BUILD_GENERAL1_SMALL", rp.PRICES).billed_minutes == 2
    assert rp.build_cost(60.0, "BUILD_GENERAL1_SMALL", rp.PRICES).billed_minutes == 1
    cost = rp.build_cost(96.5, "BUILD_GENERAL1_LARGE", rp.PRICES)
    assert (cost.billed_minutes, cost.usd, cost.prices_date) == (2, 0.04, rp.PRICES_DATE)
    unknown = rp.build_cost(30.0, "BUILD_GENERAL1_2XLARGE", rp.PRICES)
    assert (
        unknown.usd is None
        and "no price known"
        in rp.render_text(rp.Report("migrate", "prod", "SUCCEEDED", build_id="b", cost=unknown))[-1]
    )


def test_configured_prices_override_the_table_and_bad_values_are_ignored() -> None:
    table = rp.prices_from({"BUILD_GENERAL1_SMALL": 0.004, "X": "free", "Y": -1, "Z": True})
    assert table["BUILD_GENERAL1_SMALL"] == 0.004 and "X" not in table and "Y" not in table
    assert "Z" not in table and table["BUILD_GENERAL1_MEDIUM"] == 0.01


@pytest.mark.parametrize("name", ["succeeded", "failed"])
def test_saved_build_timeline_lays_phases_end_to_end(name: str) -> None:
    build = json.loads((SAMPLES / f"{name}.json").read_text())
    report = rp.build_report(action="migrate", env="prod", status=build["status"], build=build)
    offsets = [p.offset for p in report.phases]
    assert offsets == sorted(offsets) and report.phases[0].offset == 0.0
    assert "COMPLETED" not in [p.name for p in report.phases]
    last = report.phases[-1]
    assert last.offset + last.seconds == pytest.approx(
        sum(p["duration"] for p in build["phases"] if p["name"] != "COMPLETED")
    )
    assert report.cost is not None and report.cost.billed_minutes >= 1
    local = rp.build_report(action="migrate", env="l", status="SUCCEEDED", build=build, local=True)
    assert local.cost is None  # the local runner bills no CodeBuild minutes


def test_outputs_round_trip_including_a_multiline_value() -> None:
    outputs = {"build_id": "p:1", "image": "r/x@sha256:ab", "status": "FAILED\nsecond"}
    text = rp.output_lines(outputs, "ghadelim_x")
    assert "status<<ghadelim_x\nFAILED\nsecond\nghadelim_x\n" in text
    assert rp.parse_output_lines(text) == outputs


def test_markdown_escapes_pipes_in_the_error_and_names_links() -> None:
    r = rp.Report(
        "migrate",
        "prod",
        "FAILED",
        image="r/x@sha256:ab",
        build_id="p:1",
        console_url="https://console/x",
        logs_url="https://logs/x",
        error="a | b",
    )
    md = rp.render_markdown(r)
    assert "a \\| b" in md and "[p:1](https://console/x) · [logs](https://logs/x)" in md
    assert rp.github_outputs(r) == {"build_id": "p:1", "image": "r/x@sha256:ab", "status": "FAILED"}


def test_the_callers_snapshot_permissions_name_the_database_and_own_snapshots() -> None:
    from tasks.core.config import load_settings
    from tasks.provision.requirements import snapshot_needs

    def needs(**env: str) -> set[tuple[str, str]]:
        base = {"project": "app-migrations", "account": "123456789012", "region": "eu-west-1"}
        s = load_settings({"environments": {"e": {**base, **env}}}, env="e", environ={})
        return {(n.action, n.resource) for n in snapshot_needs(s)}

    inst = needs(database_instance="db1")
    prefix = "arn:aws:rds:eu-west-1:123456789012"
    assert ("rds:CreateDBSnapshot", f"{prefix}:db:db1") in inst
    assert ("rds:DeleteDBSnapshot", f"{prefix}:snapshot:app-migrations-*") in inst
    assert ("rds:AddTagsToResource", f"{prefix}:snapshot:app-migrations-*") in inst
    cluster = needs(database_cluster="c1")
    assert ("rds:CreateDBClusterSnapshot", f"{prefix}:cluster:c1") in cluster
    assert ("rds:DeleteDBClusterSnapshot", f"{prefix}:cluster-snapshot:app-migrations-*") in cluster
    assert needs() == set()
