from __future__ import annotations

import pytest

from tasks.core.errors import ExitCode, UsageError
from tasks.core.platforms import Platform, describe, first_match, from_fields, parse_platform
from tasks.core.references import ecr_registry, parse_image


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("LINUX/x86_64", Platform("linux", "amd64")),
        ("linux/aarch64", Platform("linux", "arm64")),
        ("linux/arm64/v8", Platform("linux", "arm64")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
    ],
)
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize(
    "text", ["", "linux", "linux/", "/amd64", "linux/amd64/v1/x", "linux/am d64", "linux/AMD$"]
)
def test_malformed_platform_is_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_platform(text)
    assert info.value.code == ExitCode.USAGE
    assert "os/arch" in info.value.remedy


def test_matching_ignores_variant_unless_asked() -> None:
    amd = parse_platform("linux/amd64")
    assert amd.matches(from_fields("linux", "x86_64"))
    assert not amd.matches(from_fields("linux", "arm64"))
    v7 = parse_platform("linux/arm/v7")
    assert v7.matches(from_fields("linux", "arm", "v7"))
    assert not v7.matches(from_fields("linux", "arm", "v6"))
    assert first_match(amd, [from_fields("linux", "arm64"), from_fields("linux", "amd64")]) == amd
    assert describe([]) == "none"


def test_parse_ecr_reference() -> None:
    ref = parse_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend:latest")
    assert ref.is_ecr and ref.ecr_account == "123456789012" and ref.ecr_region == "us-east-1"
    assert (ref.repository, ref.tag, ref.reference) == ("daadaar-backend", "latest", "latest")


def test_parse_digest_and_port() -> None:
    digest = "sha256:" + "a" * 64
    ref = parse_image(f"127.0.0.1:5000/team/app@{digest}")
    assert ref.registry == "127.0.0.1:5000" and ref.repository == "team/app"
    assert ref.reference == digest and not ref.is_ecr
    assert str(ref.with_tag("v1")) == "127.0.0.1:5000/team/app:v1"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "https://registry/app:1",
        "reg.io/App:1",
        "reg.io/app:bad tag",
        "reg.io/app@sha256:xyz",
        "reg.io/app:" + "x" * 200,
        "reg.io//app",
    ],
)
def test_malformed_references(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_image(text)
    assert info.value.code == 2


def test_default_registry_and_hub() -> None:
    assert parse_image("app:1", default_registry="127.0.0.1:5000").name == "127.0.0.1:5000/app"
    assert parse_image("busybox").name == "registry-1.docker.io/library/busybox"
    assert ecr_registry("123456789012", "cn-north-1").endswith(".amazonaws.com.cn")


@pytest.mark.parametrize("text", ["linux/sparc", "linx/amd64", "linux/amd46"])
def test_unknown_platform_is_refused(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_platform(text)
    assert "unknown platform" in info.value.message and info.value.code == ExitCode.USAGE


def test_a_token_for_another_registry_is_refused() -> None:
    """proxyEndpoint names the registry a token is for (GetAuthorizationToken reference)."""

    from tasks.core.errors import RegistryError
    from tasks.image.ecr import _check_endpoint

    _check_endpoint(
        "https://999999999999.dkr.ecr.eu-west-1.amazonaws.com", "999999999999", "eu-west-1"
    )
    _check_endpoint("https://registry.example", "999999999999", "eu-west-1")  # not ECR: no claim
    with pytest.raises(RegistryError) as caught:
        _check_endpoint(
            "https://999999999999.dkr.ecr.us-east-1.amazonaws.com", "999999999999", "eu-west-1"
        )
    assert "token for 999999999999 in us-east-1" in caught.value.line()


def test_ecr_hosts_of_every_partition_name_account_and_region() -> None:
    for host, region in (
        ("999999999999.dkr.ecr.eu-west-1.amazonaws.com", "eu-west-1"),
        ("999999999999.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("999999999999.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ):
        ref = parse_image(f"{host}/app:v1")
        assert (ref.ecr_account, ref.ecr_region) == ("999999999999", region)


def test_the_build_role_pulls_from_the_registry_account_and_region() -> None:
    from dataclasses import replace

    from tasks.core.config import load_settings
    from tasks.provision.requirements import repository_arn

    base = load_settings(
        {
            "environments": {
                "p": {"account": "123456789012", "region": "us-east-1", "repository": "app"}
            }
        },
        env="p",
    )
    assert repository_arn(base) == "arn:aws:ecr:us-east-1:123456789012:repository/app"
    central = replace(base, registry="999999999999.dkr.ecr.eu-west-1.amazonaws.com")
    assert repository_arn(central) == "arn:aws:ecr:eu-west-1:999999999999:repository/app"
