from __future__ import annotations

import pytest

from tasks.core.errors import PlatformMismatch
from tasks.core.platforms import from_fields, parse_platform
from tasks.core.references import parse_image
from tasks.image.plan import (
    BuildxFacts,
    EngineFacts,
    assess,
    build_argv,
    commit_tag,
    parse_buildx_inspect,
    plan_tags,
)
from tasks.image.registry import (
    ManifestInfo,
    check_target,
    is_loopback,
    media_type_of,
    platforms_of_index,
)

AMD = parse_platform("linux/amd64")
ENGINE = EngineFacts("unix:///var/run/docker.sock", "default", "linux", "amd64", "28.0", "1.47")

INSPECT = """Name:          default
Driver:        docker
Last Activity: 2026-11-24 10:00:00 +0000 UTC

Nodes:
Name:      default
Endpoint:  default
Status:    running
Platforms: linux/amd64, linux/amd64/v2, linux/386, linux/arm64*
"""


def test_parse_buildx_inspect() -> None:
    name, driver, platforms = parse_buildx_inspect(INSPECT)
    assert (name, driver) == ("default", "docker")
    assert parse_platform("linux/arm64") in platforms and AMD in platforms


def test_assess_arm_host_warns_loudly_and_classic_fallback_noted() -> None:
    result = assess(AMD, "arm64", ENGINE, BuildxFacts(False))
    assert result.ok and result.builder == "classic"
    levels = {f.topic: f.level for f in result.findings}
    assert levels["host"] == "warn" and levels["buildx"] == "warn"
    host = next(f for f in result.findings if f.topic == "host")
    assert "Apple Silicon" in host.message and "--platform linux/amd64" in host.message


def test_assess_buildx_without_target_fails() -> None:
    facts = BuildxFacts(
        True, "v0.12", "arm-only", "docker-container", (parse_platform("linux/arm64"),)
    )
    result = assess(AMD, "x86_64", ENGINE, facts)
    assert not result.ok and result.builder == "buildx"


def test_assess_engine_arch_mismatch_warns() -> None:
    arm_engine = EngineFacts("h", "c", "linux", "aarch64", "28", "1.47")
    result = assess(
        AMD, "aarch64", arm_engine, BuildxFacts(True, "v0.12", "default", "docker", (AMD,))
    )
    assert result.ok
    assert any(f.topic == "engine" and f.level == "warn" for f in result.findings)


def test_tags_and_argv() -> None:
    assert commit_tag("abc1234def56", True) == "abc1234def56-dirty"
    assert commit_tag("not a sha", False) == ""
    assert plan_tags("git-sha", "latest", "abc1234") == ["abc1234", "latest"]
    assert plan_tags("moving", "latest", "abc1234") == ["latest"]
    classic = build_argv(
        builder="classic",
        platform=AMD,
        dockerfile="backend/Dockerfile",
        context="backend",
        image_name="r/app",
        tags=["abc1234", "latest"],
    )
    assert classic == [
        "docker",
        "build",
        "--platform",
        "linux/amd64",
        "-f",
        "backend/Dockerfile",
        "-t",
        "r/app:abc1234",
        "-t",
        "r/app:latest",
        "backend",
    ]
    bx = build_argv(
        builder="buildx", platform=AMD, dockerfile="D", context=".", image_name="r/a", tags=["t"]
    )
    assert bx[:5] == ["docker", "buildx", "build", "--platform", "linux/amd64"] and "--load" in bx


def test_index_platforms_skip_attestations() -> None:
    doc = {
        "manifests": [
            {"platform": {"os": "linux", "architecture": "amd64"}},
            {"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            },
        ]
    }
    assert [str(p) for p in platforms_of_index(doc)] == ["linux/amd64", "linux/arm64"]
    assert media_type_of(doc, "application/json") == "application/vnd.oci.image.index.v1+json"


def test_check_target_names_rebuild_command() -> None:
    ref = parse_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend:latest")
    info = ManifestInfo(ref, "sha256:" + "b" * 64, "x", True, (from_fields("linux", "arm64"),))
    with pytest.raises(PlatformMismatch) as err:
        check_target(info, AMD, dockerfile="backend/Dockerfile", context="backend")
    assert err.value.code == 6
    assert (
        "docker buildx build --platform linux/amd64 -f backend/Dockerfile -t "
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend:latest --push backend"
    ) in err.value.remedy
    ok = ManifestInfo(ref, "d", "x", False, (AMD,))
    assert check_target(ok, AMD) == AMD


@pytest.mark.parametrize(
    ("host", "loop"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("1234.dkr.ecr.x.amazonaws.com", False),
    ],
)
def test_loopback_registries_use_http(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_engine_error_reason_keeps_the_cause_not_a_cut_off_prefix() -> None:
    from tasks.image.plan import engine_error_reason

    tcp = (
        "Error while fetching server API version: HTTPConnectionPool(host='127.0.0.1', port=1): "
        'Max retries exceeded with url: /version (Caused by NewConnectionError("HTTPConnection('
        "host='127.0.0.1', port=1): Failed to establish a new connection: [Errno 111] "
        'Connection refused"))'
    )
    assert engine_error_reason(tcp) == "Connection refused"
    unix = (
        "Error while fetching server API version: ('Connection aborted.', "
        "FileNotFoundError(2, 'No such file or directory'))"
    )
    assert engine_error_reason(unix) == "No such file or directory (FileNotFoundError)"
    assert engine_error_reason("Install paramiko package") == "Install paramiko package"
    long = "word " * 60
    cut = engine_error_reason(long)
    assert cut.endswith("word ...") and len(cut) <= 164
