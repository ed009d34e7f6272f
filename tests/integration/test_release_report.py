"""The release report of a scripted build (moto over HTTP, virtual clock): phases and cost match
the script, and the GitHub step summary and outputs are written, then read back."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tasks.codebuild.model import BuildUnsuccessful
from tasks.codebuild.services import Services
from tasks.release import builds, db_actions, flow
from tasks.release import report as rp
from tasks.release.state import ReleaseState
from tests.helpers.scripted_codebuild import PHASES, ScriptedCodeBuild, VirtualClock
from tests.integration.test_codebuild_stage import PINNED, PROJECT, Harness, _script

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "report"


@pytest.fixture
def fake(scripted_codebuild: Callable[..., ScriptedCodeBuild]) -> ScriptedCodeBuild:
    return scripted_codebuild(PROJECT)


def gh_harness(clock: VirtualClock, tmp_path: Path, **flags: Any) -> Harness:
    h = Harness(clock, **flags)
    h.rt.environ = {
        **h.rt.environ,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    return h


def test_report_phases_and_cost_match_the_scripted_build(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    fake.scripts = [_script(3)]
    h = gh_harness(clock, tmp_path, compute_type="BUILD_GENERAL1_MEDIUM")
    result = db_actions.run_action(h.rt, "migrate", yes=True)
    report = result["report"]
    assert [(p["name"], p["seconds"]) for p in report["phases"]] == [
        (name, pytest.approx(seconds, abs=1.0)) for name, seconds in PHASES
    ]
    total = sum(d for _, d in PHASES)
    assert report["cost"]["billed_minutes"] == math.ceil(result["duration"] / 60)
    assert math.ceil(total / 60) == report["cost"]["billed_minutes"]
    assert report["cost"]["usd"] == pytest.approx(report["cost"]["billed_minutes"] * 0.01)
    assert report["image"] == PINNED and report["build"]["id"] == result["id"]
    assert report["plan"] is None and report["lint"] == []  # issue 14's slots, empty here
    text = h.out.getvalue()
    assert "report: migrate in prod: SUCCEEDED" in text and "PROVISIONING" in text
    outputs = rp.parse_output_lines((tmp_path / "output").read_text())
    assert outputs == {"build_id": result["id"], "image": PINNED, "status": "SUCCEEDED"}
    summary = (tmp_path / "summary.md").read_text()
    assert "```mermaid\ngantt" in summary and "| PROVISIONING | SUCCEEDED |" in summary


def test_failed_build_still_reports_and_writes_outputs(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    fake.scripts = [_script(2, final="FAILED")]
    h = gh_harness(clock, tmp_path)
    h.rt.part(Services).diagnose = False
    with pytest.raises(BuildUnsuccessful) as caught:
        db_actions.run_action(h.rt, "migrate", yes=True)
    report = caught.value.details["report"]
    assert report["status"] == "FAILED" and report["error"].startswith("build ")
    assert report["phases"][-1]["status"] in ("FAILED", "SUCCEEDED")
    assert any(p["status"] == "FAILED" for p in report["phases"])
    outputs = rp.parse_output_lines((tmp_path / "output").read_text())
    assert outputs["status"] == "FAILED" and outputs["build_id"] == report["build"]["id"]
    summary = (tmp_path / "summary.md").read_text()
    assert ":crit, " in summary and "❌ migrate in `prod`: FAILED" in summary


def test_plan_and_lint_slots_are_reported_when_issue_14_fills_them(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    fake.scripts = [_script(1)]
    h = gh_harness(clock, tmp_path)
    h.rt.part(ReleaseState).plan_summary = rp.PlanSummary(
        pending=("001_a", "002_b"), applied=("001_a", "002_b")
    )
    h.rt.part(ReleaseState).lint = (
        rp.LintFinding("add-column-default", "002_b", "rewrites", True),
    )
    result = db_actions.run_action(h.rt, "migrate", yes=True)
    assert result["report"]["plan"] == {
        "pending": ["001_a", "002_b"],
        "applied": ["001_a", "002_b"],
    }
    assert result["report"]["lint"][0]["accepted"] is True
    assert "2 pending -> 2 applied" in h.out.getvalue()
    assert "1 finding(s), 1 accepted" in (tmp_path / "summary.md").read_text()


# -- a real Mermaid parser on the saved builds (tests/samples/report: two scripted builds'
# --json results, saved from the tests above) --------------------------------------------

MERMAID_PACKAGES = {"mermaid": "12.3.0", "jsdom": "26.1.0"}  # mermaid's parse needs a DOM
PARSE_JS = """
import { JSDOM } from "jsdom";
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window; globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
const chunks = []; for await (const c of process.stdin) chunks.push(c);
try { const r = await mermaid.parse(Buffer.concat(chunks).toString("utf8"));
  console.log(JSON.stringify({ ok: true, type: r.diagramType })); }
catch (e) { console.log(JSON.stringify({ ok: false, error: String(e.message || e).split("\\n")[0] })); }
"""


def mermaid_parse(tools: Path, text: str) -> dict[str, Any]:
    import subprocess

    script = tools / "parse.mjs"
    script.write_text(PARSE_JS)
    proc = subprocess.run(
        ["node", str(script)], input=text, capture_output=True, text=True, timeout=90, check=False
    )
    assert proc.returncode == 0, proc.stderr[-400:]
    parsed: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return parsed


def mermaid_blocks(markdown: str) -> list[str]:
    blocks, inside, cur = [], False, []
    for line in markdown.splitlines():
        if line == "```mermaid":
            inside, cur = True, []
        elif line == "```" and inside:
            inside = False
            blocks.append("\n".join(cur))
        elif inside:
            cur.append(line)
    return blocks


def table_rows(markdown: str, header: str) -> list[list[str]]:
    lines = markdown.splitlines()
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


@pytest.mark.parametrize("name", ["succeeded", "failed"])
def test_step_summary_of_a_saved_build_parses_with_real_mermaid(name: str, tmp_path: Path) -> None:
    from tests.helpers.node_tools import ensure_node_tools

    tools = ensure_node_tools(MERMAID_PACKAGES)
    build = json.loads((SAMPLES / f"{name}.json").read_text())
    report = rp.build_report(
        action="migrate", env="prod", status=build["status"], image=PINNED, build=build
    )
    markdown = rp.render_markdown(report)
    (blocks,) = mermaid_blocks(markdown)
    assert mermaid_parse(tools, blocks) == {"ok": True, "type": "gantt"}
    rows = table_rows(markdown, "| phase | status | start | duration |")
    phases = [p for p in build["phases"] if p["name"] != "COMPLETED"]
    assert [r[0] for r in rows] == [p["name"] for p in phases]
    assert [r[1] for r in rows] == [p["status"] for p in phases]
    if name == "failed":
        assert any(":crit, " in line for line in blocks.splitlines())
    # the parser is real: a broken line is refused
    broken = mermaid_parse(tools, blocks + "\n    this line has no colon")
    assert broken["ok"] is False and "Parse error" in broken["error"]


def test_build_list_shows_the_image_digest_of_each_build(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(1)]
    h = Harness(clock)
    first = db_actions.run_action(h.rt, "migrate", yes=True)
    lister = Harness(clock)
    listed = builds.list_recent(lister.rt, limit=5)["builds"]
    assert listed[0]["id"] == first["id"] and listed[0]["action"] == "migrate"
    assert listed[0]["image_digest"] == PINNED.rpartition("@")[2]
    line = next(x for x in lister.out.getvalue().splitlines() if x.startswith(first["id"]))
    assert "migrate" in line and "sha256:abababababab " in line and "SUCCEEDED" in line


def test_release_writes_one_report_with_its_steps_on_success_and_failure(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    from tasks.release.pipeline import PipelineStopped

    fake.scripts = [_script(1), _script(1, final="FAILED")]
    h = gh_harness(clock, tmp_path)
    questions: list[str] = []
    h.rt.part(Services).ask = lambda q: questions.append(q) or True
    done = flow.release(h.rt, skip_build=True)
    report = done["report"]
    assert report["action"] == "release" and report["status"] == "SUCCEEDED"
    assert [s["name"] for s in report["steps"]][-1] == "db.migrate"
    assert report["build"]["id"] and report["phases"]
    assert "release" in questions[0]
    h2 = gh_harness(clock, tmp_path)
    h2.rt.part(Services).diagnose = False
    h2.rt.part(ReleaseState).invocation_id = "second"
    with pytest.raises(PipelineStopped) as caught:
        flow.release(h2.rt, skip_build=True, yes=True)
    failed = caught.value.details["report"]
    assert failed["status"] == "FAILED" and failed["steps"][-1]["status"] == "failed"
    outputs = (tmp_path / "output").read_text()
    assert outputs.count("status=") == 2 and "status=FAILED" in outputs  # one per run
    assert (tmp_path / "summary.md").read_text().count("```mermaid") == 2


def test_release_with_seed_times_and_prices_the_seed_build_too(
    fake: ScriptedCodeBuild, clock: VirtualClock, tmp_path: Path
) -> None:
    fake.scripts = [_script(1), _script(1)]
    h = gh_harness(clock, tmp_path, compute_type="BUILD_GENERAL1_MEDIUM")
    done = flow.release(h.rt, skip_build=True, yes=True, seed=True, script="organizations")
    report = done["report"]
    assert [s["name"] for s in report["steps"]][-2:] == ["db.migrate", "db.seed"]
    (seed,) = report["other_builds"]
    assert seed["action"] == "seed" and seed["id"] and seed["id"] != report["build"]["id"]
    assert seed["seconds"] == pytest.approx(sum(d for _, d in PHASES), abs=1.0)
    assert seed["cost"]["billed_minutes"] == math.ceil(seed["seconds"] / 60)
    assert seed["cost"]["usd"] == pytest.approx(seed["cost"]["billed_minutes"] * 0.01)
    total = report["total_cost"]
    assert (
        total["billed_minutes"] == report["cost"]["billed_minutes"] + seed["cost"]["billed_minutes"]
    )
    assert total["usd"] == pytest.approx(report["cost"]["usd"] + seed["cost"]["usd"])
    summary = (tmp_path / "summary.md").read_text()
    assert f"| seed build | `{seed['id']}` SUCCEEDED" in summary and "| total cost |" in summary
