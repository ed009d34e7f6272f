"""The catalogue file: the reference's 45 ids, validation, and entries added as data only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.core.errors import UsageError
from tasks.diagnose.catalogue import load_catalogue, parse_catalogue, required_literal
from tasks.diagnose.matcher import scan_lines
from tasks.diagnose.ranking import diagnose

REFERENCE = Path("/work/shared/reference/failure-catalogue.md")
REFERENCE_IDS = [
    "cb_command_failed", "cb_buildspec_not_found", "cb_buildspec_invalid_yaml",
    "cb_runtime_versions", "cb_image_pull_failed", "cb_build_container_dead",
    "cb_docker_daemon_unavailable", "cb_timeouts", "cb_no_artifact_paths",
    "cb_logs_access_denied", "cb_source_download_denied", "cb_parameter_store_denied",
    "cb_container_aws_credentials", "cb_ecr_get_login_removed", "cb_vpc_unauthorized_operation",
    "cb_vpc_eni_capacity", "cb_vpc_no_egress", "sm_access_denied", "sm_kms_access_denied",
    "sm_secret_not_found", "docker_exec_format_error", "docker_platform_mismatch_warning",
    "docker_no_matching_manifest", "docker_multiplatform_driver",
    "docker_invalid_reference_format", "docker_build_context_missing",
    "docker_pull_access_denied", "dockerhub_rate_limit", "ecr_no_basic_auth",
    "ecr_token_expired", "ecr_iam_denied", "ecr_repository_not_found",
    "registry_manifest_unknown", "pg_connect_timeout", "pg_connection_refused",
    "pg_dns_not_found", "pg_auth_failed", "pg_ssl_required", "pg_tls_cert_untrusted",
    "pg_database_missing", "bun_module_not_found", "bun_cannot_find_package",
    "bun_not_installed", "bun_frozen_lockfile", "bun_script_not_found",
]  # fmt: skip


def test_the_45_reference_ids_are_all_there() -> None:
    assert len(REFERENCE_IDS) == 45
    ids = {e.id for e in load_catalogue().entries}
    assert [i for i in REFERENCE_IDS if i not in ids] == []
    if REFERENCE.exists():  # the shared reference, when present, agrees with this list
        found = re.findall(r"^#### \d+\. `([a-z_]+)`", REFERENCE.read_text(), re.M)
        assert found == REFERENCE_IDS


def test_every_entry_has_cause_fix_docs_and_a_way_to_fire() -> None:
    for entry in load_catalogue().entries:
        assert entry.cause and entry.fix and entry.docs.startswith("https://"), entry.id
        assert entry.signatures or entry.build_status, entry.id


def test_required_literal() -> None:
    assert required_literal(r"exec (?P<path>\S+): exec format error") == ": exec format error"
    assert required_literal(r"(?:Post|Put) x") == " x"
    assert required_literal(r"[Bb]uild container died") == "uild container died"


ENTRY = {
    "id": "redis_refused",
    "title": "Redis refused the connection",
    "signatures": [r"Redis connection to (?P<host>\S+) failed - connect ECONNREFUSED"],
    "cause": "Nothing listens at {host}.",
    "fix": "Start Redis or fix REDIS_URL for {project}.",
    "docs": "https://redis.io/docs/",
}


def test_an_entry_added_as_data_works_without_code_changes() -> None:
    catalogue = parse_catalogue({"entries": [ENTRY]})
    scan = scan_lines(
        ["Redis connection to 10.0.0.9:6379 failed - connect ECONNREFUSED"], catalogue
    )
    found = diagnose(catalogue, scan, values={"project": "acme"}).findings
    assert [f.id for f in found] == ["redis_refused"]
    assert found[0].cause == "Nothing listens at 10.0.0.9:6379."
    assert found[0].fix == "Start Redis or fix REDIS_URL for acme."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"signatures": ["(unclosed"]}, "bad regex"),
        ({"signatures": [r"\d+ x"]}, "no literal"),
        ({"id": "Bad-Id"}, "snake_case"),
        ({"fix": ""}, "`fix` is required"),
        ({"absorbs": ["nope"]}, "unknown entry"),
        ({"signatures": []}, "signature or a build_status"),
    ],
)
def test_broken_entries_fail_at_load_with_their_id(change: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_catalogue({"entries": [{**ENTRY, **change}]})


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(UsageError, match="duplicate"):
        parse_catalogue({"entries": [ENTRY, ENTRY]})


REQUIRING = {
    "id": "old_driver",
    "title": "Old driver",
    "signatures": ["Connection terminated due to connection timeout"],
    "requires": [r"at emitCloseNT \("],
    "cause": "old driver",
    "fix": "upgrade",
    "docs": "https://example.org/",
}


def test_an_entry_with_requires_fires_only_with_its_companion() -> None:
    catalogue = parse_catalogue({"entries": [REQUIRING]})
    alone = ["Error: Connection terminated due to connection timeout", "    at TCP.<anonymous>"]
    assert diagnose(catalogue, scan_lines(alone, catalogue)).findings == ()
    companion_only = ["    at emitCloseNT (node:net:2344:8)"]
    assert diagnose(catalogue, scan_lines(companion_only, catalogue)).findings == ()
    both = [alone[0], *companion_only]
    found = diagnose(catalogue, scan_lines(both, catalogue)).findings
    assert [f.id for f in found] == ["old_driver"]
    with pytest.raises(UsageError, match="requires"):
        parse_catalogue({"entries": [{**REQUIRING, "signatures": [], "build_status": ["FAILED"]}]})


@pytest.mark.parametrize(
    ("line", "title"),
    [
        # Node's inotify limit shares the errno with a full disk (webpack/vite/jest --watch)
        (
            "Error: ENOSPC: System limit for number of file watchers reached, watch '/app/src'",
            "file watchers",
        ),
        # PostgreSQL 53100, as its server message reads in a client's error
        ('error: could not extend file "base/16384/24576": No space left on device', "53100"),
        ("dd: error writing '/data/big': No space left on device", "No space left"),
    ],
)
def test_enospc_wordings_get_the_right_disk_full_variant(line: str, title: str) -> None:
    catalogue = load_catalogue()
    found = diagnose(catalogue, scan_lines([line], catalogue)).findings
    assert found[0].id == "disk_full" and title in found[0].title
    assert "<" not in found[0].cause
