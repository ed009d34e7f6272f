"""Ranking: structured data first, wrappers attributed, consequences last, variants, values."""

from __future__ import annotations

import json

from tasks.codebuild.model import Build, Context, Phase
from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.matcher import Scan, scan_lines
from tasks.diagnose.ranking import build_from_json, diagnose, fill

CAT = load_catalogue()
C = "[Container] 2024/07/12 01:21:51 "


def facts(build_id: str, status: str, phases: tuple[Phase, ...] = ()) -> Build:
    """The shared build model as a saved batch-get-builds gives it (no project, phase unknown)."""
    return Build(build_id, "", status=status, current_phase="", phases=phases)


def ids(lines: list[str], build: Build | None = None) -> list[str]:
    return [f.id for f in diagnose(CAT, scan_lines(lines, CAT), build).findings]


def test_wrapper_is_attributed_to_the_first_specific_signal_of_its_phase() -> None:
    lines = [
        C + "Entering phase BUILD",
        'error: Module not found "src/db/migrate.ts"',
        'error: script "migrate" exited with code 1',
        C + "Command did not exit successfully bun run migrate exit status 1",
        C + "Phase complete: BUILD State: FAILED",
        C + "Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing "
        "command: bun run migrate. Reason: exit status 1",
    ]
    result = diagnose(CAT, scan_lines(lines, CAT))
    assert [f.id for f in result.findings] == ["bun_module_not_found"]
    evidence = [e.line for e in result.findings[0].evidence]
    assert evidence == [2, 4, 6]  # the specific line first, then the wrapper's lines
    assert result.findings[0].confidence == "high"


def test_wrapper_alone_names_the_command_and_exit_code() -> None:
    lines = [
        C + "Entering phase BUILD",
        "boom",
        C + "Command did not exit successfully make x exit status 2",
    ]
    result = diagnose(CAT, scan_lines(lines, CAT))
    assert [f.id for f in result.findings] == ["cb_command_failed"]
    assert "`make x` exited with status 2" in result.findings[0].cause


def test_platform_warning_then_exec_format_error_is_one_finding() -> None:
    lines = [
        "WARNING: The requested image's platform (linux/arm64) does not match the detected "
        "host platform (linux/amd64) and no specific platform was requested",
        "exec /usr/local/bin/bun: exec format error",
    ]
    result = diagnose(CAT, scan_lines(lines, CAT))
    assert [f.id for f in result.findings] == ["docker_exec_format_error"]
    assert len(result.findings[0].evidence) == 2


def test_first_specific_signal_beats_later_consequences() -> None:
    lines = [
        C + "Entering phase BUILD",
        'password authentication failed for user "app"',
        C + "Phase complete: BUILD State: FAILED",
        C + "Entering phase POST_BUILD",
        "Error response from daemon: manifest for r/app:1 not found: manifest unknown: x",
        C + "Phase complete: POST_BUILD State: FAILED",
    ]
    assert ids(lines) == ["pg_auth_failed", "registry_manifest_unknown"]


def test_consequence_of_pushes_a_finding_below_its_cause() -> None:
    lines = [
        "Error response from daemon: manifest for r/app:1 not found: manifest unknown: x",
        "no basic auth credentials",
    ]
    result = diagnose(CAT, scan_lines(lines, CAT))
    assert [f.id for f in result.findings] == ["ecr_no_basic_auth", "registry_manifest_unknown"]
    assert result.findings[1].secondary and result.findings[1].confidence != "high"


def test_artifact_error_after_a_failed_build_is_secondary() -> None:
    lines = [
        C + "Entering phase BUILD",
        "no basic auth credentials",
        C + "Phase complete: BUILD State: FAILED",
        C + "Phase complete: UPLOAD_ARTIFACTS State: FAILED",
        C + "Phase context status code: CLIENT_ERROR Message: no matching artifact paths found",
    ]
    result = diagnose(CAT, scan_lines(lines, CAT))
    assert [f.id for f in result.findings] == ["ecr_no_basic_auth", "cb_no_artifact_paths"]
    assert result.findings[1].secondary


def test_tolerated_errors_in_succeeded_phases_are_not_findings() -> None:
    lines = [
        C + "Entering phase INSTALL",
        "bash: bun: command not found",
        C + "Phase complete: INSTALL State: SUCCEEDED",
    ]
    assert ids(lines) == []


def test_a_succeeded_build_has_no_findings() -> None:
    build = facts("p:1", "SUCCEEDED")
    result = diagnose(CAT, scan_lines(["exec /x: exec format error"], CAT), build)
    assert result.succeeded and result.findings == ()


def test_structured_contexts_decide_without_a_log() -> None:
    build = facts(
        "p:1",
        "FAILED",
        (
            Phase(
                "DOWNLOAD_SOURCE",
                "FAILED",
                contexts=(Context("YAML_FILE_ERROR", "YAML file does not exist"),),
            ),
        ),
    )
    result = diagnose(CAT, Scan(), build)
    assert [f.id for f in result.findings] == ["cb_buildspec_not_found"]
    assert result.findings[0].evidence[0].line == 0 and result.failed_phase == "DOWNLOAD_SOURCE"


def test_timed_out_build_whose_last_command_migrates_infers_a_db_timeout() -> None:
    lines = [
        C + "Entering phase BUILD",
        C + "Running command docker run --rm -e DATABASE_URL img bun run src/db/migrate.ts",
        "migrate: database db.internal:5432/app",
        C + "Phase complete: BUILD State: TIMED_OUT",
    ]
    result = diagnose(CAT, scan_lines(lines, CAT), facts("p:9", "TIMED_OUT"))
    assert [f.id for f in result.findings] == ["pg_connect_timeout", "cb_timeouts"]
    assert result.findings[0].confidence == "medium"
    assert "p:9" in result.findings[1].cause


def test_a_stopped_build_whose_last_command_migrates_is_just_stopped() -> None:
    """Ctrl-C during a slow migration: the build was stopped, not a database timeout."""
    lines = [
        C + "Entering phase BUILD",
        C + "Running command docker run --rm -e DATABASE_URL img bun run src/db/migrate.ts",
        "migrate: database 127.0.0.1:55439/daadaar",
        C + "Phase complete: BUILD State: STOPPED",
    ]
    build = facts("p:9", "STOPPED")
    assert ids(lines, build) == ["cb_build_stopped"]
    assert "pg_connect_timeout" not in ids(lines, facts("p:9", "FAULT"))


def test_variants_refine_the_text_from_evidence() -> None:
    local = diagnose(CAT, scan_lines(["Error: connect ECONNREFUSED 127.0.0.1:5432"], CAT))
    assert "localhost" in local.findings[0].title
    remote = diagnose(CAT, scan_lines(["Error: connect ECONNREFUSED 10.0.0.5:5432"], CAT))
    assert "localhost" not in remote.findings[0].title
    undefined = diagnose(CAT, scan_lines(["Error: getaddrinfo ENOTFOUND undefined"], CAT))
    assert "undefined" in undefined.findings[0].title


def test_fix_is_filled_with_the_users_values() -> None:
    values = {"project": "acme-migrations", "region": "eu-west-1", "port": "6432"}
    result = diagnose(CAT, scan_lines(["connect ETIMEDOUT 10.1.2.3:6432"], CAT), values=values)
    fix = result.findings[0].fix
    assert "acme-migrations" in fix and "TCP 6432" in fix and "<" not in fix


def test_fill_marks_unknown_placeholders() -> None:
    assert fill("push {image} to {region}", {"region": "us-east-1"}) == "push <image> to us-east-1"
    assert fill("literal {{ ca }}", {}) == "literal { ca }"


def test_build_from_json_accepts_pascal_case_and_unknown_statuses() -> None:
    raw = json.loads(
        '{"Builds": [{"Id": "x:1", "BuildStatus": "FAILED", "Phases": [{"PhaseType": "QUEUED",'
        ' "PhaseStatus": "CLIENT_ERROR", "Contexts": [{"StatusCode": "VPC_CLIENT_ERROR",'
        ' "Message": "Unexpected EC2 error: RequestLimitExceeded"}]}]}]}'
    )
    build = build_from_json(raw)
    assert build.failed_phase_names() == ["QUEUED"]
    assert [f.id for f in diagnose(CAT, Scan(), build).findings] == ["cb_vpc_eni_capacity"]


def test_no_match_keeps_the_failing_phase_context_and_last_lines() -> None:
    lines = [
        C + "Entering phase BUILD",
        "something unusual",
        C + "Phase complete: BUILD State: FAILED",
        C + "Phase context status code: ODD_ERROR Message: odd",
    ]
    result = diagnose(CAT, scan_lines(lines, CAT))
    assert result.findings == ()
    assert result.failed_phase == "BUILD" and result.context == "ODD_ERROR: odd"
    assert [line.text for line in result.before_failure][-1] == "something unusual"
