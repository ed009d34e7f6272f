from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tasks.core.config import load_settings, load_yaml_file
from tasks.core.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "invoke.yaml").read_text())
    assert isinstance(data, dict)
    return data["release"]  # type: ignore[no-any-return]


def test_daadaar_example_values(raw: dict[str, object]) -> None:
    s = load_settings(raw, env="prod", environ={})
    assert (s.project, s.repository, s.region) == (
        "daadaar-migrations",
        "daadaar-backend",
        "us-east-1",
    )
    assert s.dockerfile == "backend/Dockerfile" and s.secret == "daadaar/prod/database-url"
    assert str(s.platform) == "linux/amd64" and s.confirm is True
    assert s.registry == "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert s.image_name == "123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend"
    assert s.seed_scripts == ("organizations",)


def test_precedence_flag_over_env_over_file(raw: dict[str, object]) -> None:
    environ = {
        "RELEASE_TAG": "from-env",
        "RELEASE_PLATFORM": "linux/arm64",
        "RELEASE_ENV": "staging",
    }
    s = load_settings(raw, environ=environ, flags={"tag": "from-flag"})
    assert s.env == "staging" and s.tag == "from-flag" and str(s.platform) == "linux/arm64"
    assert load_settings(raw, env="prod", environ=environ).tag == "from-env"
    assert load_settings(raw, env="prod", environ={}).tag == "latest"


def test_region_falls_back_to_aws_region_only_when_unset() -> None:
    raw = {"environments": {"x": {"repository": "r"}}}
    assert load_settings(raw, env="x", environ={"AWS_REGION": "eu-west-1"}).region == "eu-west-1"
    raw2 = {"environments": {"x": {"region": "us-east-2"}}}
    assert load_settings(raw2, env="x", environ={"AWS_REGION": "eu-west-1"}).region == "us-east-2"


def test_default_env_from_file(raw: dict[str, object]) -> None:
    """The shipped default is this machine: production is always named explicitly."""
    settings = load_settings(raw, environ={})
    assert (settings.env, settings.runner) == ("local", "local")
    assert load_settings(raw, environ={"RELEASE_ENV": "prod"}).env == "prod"
    assert load_settings({"environments": {"local": {}}}, environ={}).env == "local"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"platform": "amd64"}, "malformed platform"),
        ({"account": "12ab"}, "12-digit"),
        ({"region": "mars"}, "region"),
        ({"tag_policy": "random"}, "tag_policy"),
        ({"tag": "bad tag"}, "is not a Docker tag"),
        ({"seed_scripts": "../../etc/passwd"}, "seed script"),
        ({"timeout": "-1"}, "timeout"),
        ({"confirm": "maybe"}, "confirm"),
    ],
)
def test_bad_values_are_usage_errors(
    raw: dict[str, object], flags: dict[str, str], needle: str
) -> None:
    with pytest.raises(UsageError) as info:
        load_settings(raw, env="prod", environ={}, flags=flags)
    assert needle in info.value.message and info.value.code == 2


def test_unknown_environment_lists_known(raw: dict[str, object]) -> None:
    with pytest.raises(UsageError) as info:
        load_settings(raw, env="qa", environ={})
    assert "known: local, prod, staging" in info.value.message


def test_broken_yaml_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "invoke.yaml"
    bad.write_text("release:\n  env: prod\n\tenvironments: {}\n")
    with pytest.raises(UsageError) as info:
        load_yaml_file(bad)
    assert "line 3" in info.value.message


def test_unknown_keys_are_kept_as_extra(raw: dict[str, object]) -> None:
    # compute_type, the key this test used, is a Settings field now: an unknown key instead
    s = load_settings(raw, env="prod", environ={}, flags={"build_image": "BUILD_GENERAL1_SMALL"})
    assert s.extra["build_image"] == "BUILD_GENERAL1_SMALL"
    assert "compute_type" not in s.extra
