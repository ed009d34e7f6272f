"""The human screen and the --json object, secrets redacted."""

from __future__ import annotations

from tasks.codebuild.model import Build, Phase
from tasks.core.redact import Redactor
from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.matcher import scan_lines
from tasks.diagnose.ranking import diagnose
from tasks.diagnose.report import CheckResult, Report, render, summary_line

CAT = load_catalogue()
SECRET_LINE = (
    'error: password authentication failed for user "app" '
    "(postgres://app:Hunter2-secret@db.internal:5432/app?token=abcd1234efgh)"
)


def report_for(lines: list[str], **kw: object) -> Report:
    build = Build(
        "proj:1", "", status="FAILED", current_phase="", phases=(Phase("BUILD", "FAILED"),)
    )
    return Report(
        diagnose(CAT, scan_lines(lines, CAT), build), "build proj:1", entries=len(CAT), **kw
    )  # type: ignore[arg-type]


def test_json_shape() -> None:
    data = report_for(["exec /bin/bun: exec format error"]).as_dict()
    assert set(data) >= {"build", "findings", "matched"}
    assert data["build"]["id"] == "proj:1" and data["build"]["status"] == "FAILED"
    finding = data["findings"][0]
    assert set(finding) >= {"id", "title", "cause", "fix", "evidence", "confidence", "docs"}
    assert finding["evidence"] == [
        {"line": 1, "phase": "", "text": "exec /bin/bun: exec format error"}
    ]
    assert finding["confidence"] in ("high", "medium", "low")


def test_secrets_in_evidence_are_redacted_everywhere() -> None:
    report = report_for([SECRET_LINE])
    text = "\n".join(line for _, line in render(report, Redactor()))
    data = str(report.as_dict(Redactor()))
    for out in (text, data):
        assert "Hunter2-secret" not in out and "abcd1234efgh" not in out
        assert "app:***@db.internal" in out


def test_render_lists_cause_fix_evidence_docs_and_checks() -> None:
    checks = {
        "docker_exec_format_error": [
            CheckResult("image platforms", "fail", "holds arm64", "rebuild")
        ]
    }
    report = report_for(["exec /bin/bun: exec format error"], checks=checks)
    text = "\n".join(line for _, line in render(report))
    for part in (
        "1. The image is built",
        "Cause:",
        "Fix:",
        "Evidence:",
        "L1",
        "Docs:",
        "Check: image platforms: fail: holds arm64 -> rebuild",
    ):
        assert part in text, part
    assert summary_line(report).startswith("The image is built for another CPU architecture")


def test_no_match_screen_shows_phase_context_and_last_lines() -> None:
    lines = [
        "[Container] 2024/01/01 00:00:00 Entering phase BUILD",
        "unusual output",
        "[Container] 2024/01/01 00:00:01 Phase complete: BUILD State: FAILED",
        "[Container] 2024/01/01 00:00:01 Phase context status code: X Message: y",
    ]
    report = Report(diagnose(CAT, scan_lines(lines, CAT)), "log", entries=len(CAT))
    text = "\n".join(line for _, line in render(report))
    assert "No known failure matched" in text and "Failing phase: BUILD" in text
    assert "X: y" in text and "unusual output" in text
    assert report.as_dict()["last_lines"][-1]["text"] == "unusual output"
    assert summary_line(report) == ""


def test_the_build_object_of_a_saved_build_json_keeps_its_shape() -> None:
    """The report's ``build`` object read from the shared model: a running phase says ""."""
    from tasks.diagnose.ranking import build_from_json

    raw = {
        "builds": [
            {
                "id": "proj:2",
                "projectName": "proj",
                "buildStatus": "FAILED",
                "currentPhase": "COMPLETED",
                "phases": [
                    {
                        "phaseType": "BUILD",
                        "phaseStatus": "FAILED",
                        "contexts": [
                            {"statusCode": "COMMAND_EXECUTION_ERROR", "message": "exit status 1"}
                        ],
                    },
                    {"phaseType": "FINALIZING"},
                ],
            }
        ]
    }
    data = Report(diagnose(CAT, scan_lines([], CAT), build_from_json(raw)), "x").as_dict()
    assert data["build"] == {
        "id": "proj:2",
        "project": "proj",
        "status": "FAILED",
        "current_phase": "COMPLETED",
        "failed_phase": "BUILD",
        "phases": [
            {
                "name": "BUILD",
                "status": "FAILED",
                "contexts": [
                    {"status_code": "COMMAND_EXECUTION_ERROR", "message": "exit status 1"}
                ],
            },
            {"name": "FINALIZING", "status": "", "contexts": []},
        ],
        "source": "x",
        "lines": 0,
        "context": "COMMAND_EXECUTION_ERROR: exit status 1",
    }
