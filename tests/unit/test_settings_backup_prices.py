"""backup, backup_keep, backup_wait, compute_type and build_prices are Settings fields: a
RELEASE_* variable overrides invoke.yaml for them as for every other key, and a bad value is
one line with the key to fix and exit 2 (they used to be read from ``Settings.extra``, where
no variable reached them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.core.config import load_settings
from tasks.core.errors import ExitCode, UsageError
from tasks.provision.requirements import backup_policy
from tasks.release import report as rp

RAW = {
    "environments": {
        "prod": {
            "project": "p",
            "confirm": True,
            "database_instance": "db",
            "backup": "snapshot",
            "backup_keep": 5,
            "backup_wait": 900,
            "compute_type": "BUILD_GENERAL1_SMALL",
            "build_prices": {"BUILD_GENERAL1_SMALL": 0.004},
        }
    }
}


def test_yaml_values_are_fields_not_extra() -> None:
    s = load_settings(RAW, env="prod", environ={})
    assert (s.backup, s.backup_keep, s.backup_wait) == ("snapshot", 5, 900.0)
    assert (s.compute_type, dict(s.build_prices)) == (
        "BUILD_GENERAL1_SMALL",
        {"BUILD_GENERAL1_SMALL": 0.004},
    )
    assert not {"backup", "backup_keep", "backup_wait", "compute_type", "build_prices"} & set(
        s.extra
    )


def test_release_variables_override_invoke_yaml() -> None:
    environ = {
        "RELEASE_BACKUP": "none",
        "RELEASE_BACKUP_KEEP": "2",
        "RELEASE_BACKUP_WAIT": "60",
        "RELEASE_COMPUTE_TYPE": "BUILD_GENERAL1_MEDIUM",
        "RELEASE_BUILD_PRICES": '{"BUILD_GENERAL1_MEDIUM": 0.02}',
    }
    s = load_settings(RAW, env="prod", environ=environ)
    assert (s.backup, s.backup_keep, s.backup_wait) == ("none", 2, 60.0)
    assert s.compute_type == "BUILD_GENERAL1_MEDIUM"
    assert dict(s.build_prices) == {"BUILD_GENERAL1_MEDIUM": 0.02}
    assert not backup_policy(s).enabled  # RELEASE_BACKUP=none wins over backup: snapshot
    kept = load_settings(RAW, env="prod", environ={"RELEASE_BACKUP_KEEP": "2"})
    assert backup_policy(kept).keep == 2
    assert rp.prices_from(s.build_prices)["BUILD_GENERAL1_MEDIUM"] == 0.02
    defaults = load_settings({"environments": {"e": {}}}, env="e", environ={})
    assert (defaults.backup, defaults.backup_keep, defaults.backup_wait) == ("", 5, 3600.0)
    assert defaults.compute_type == "BUILD_GENERAL1_SMALL" and dict(defaults.build_prices) == {}


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "RELEASE_BACKUP",
            "daily",
            "environment 'prod': backup must be snapshot or none, not 'daily'. Fix: fix "
            "release.environments.prod.backup in invoke.yaml (or RELEASE_BACKUP)",
        ),
        (
            "RELEASE_BACKUP_KEEP",
            "0",
            "backup_keep must be a whole number from 1, not '0'. Fix: fix backup_keep (e.g. 5)",
        ),
        (
            "RELEASE_BACKUP_WAIT",
            "soon",
            "backup_wait must be a positive number of seconds, not 'soon'. Fix: fix "
            "backup_wait (e.g. 3600)",
        ),
        (
            "RELEASE_COMPUTE_TYPE",
            "small",
            "environment 'prod': compute_type 'small' is not a CodeBuild compute type (e.g. "
            "BUILD_GENERAL1_SMALL). Fix: fix release.environments.prod.compute_type in "
            "invoke.yaml (or RELEASE_COMPUTE_TYPE)",
        ),
        (
            "RELEASE_BUILD_PRICES",
            '{"BUILD_GENERAL1_SMALL": -1}',
            "build_prices.BUILD_GENERAL1_SMALL must be a CodeBuild compute type with a price "
            ">= 0 in USD per minute, not -1. Fix: fix build_prices (e.g. "
            "BUILD_GENERAL1_SMALL: 0.005)",
        ),
        (
            "RELEASE_BUILD_PRICES",
            "cheap",
            "build_prices must be a mapping of compute type to USD per build minute, not "
            "'cheap'. Fix: write build_prices: {BUILD_GENERAL1_SMALL: 0.005} "
            '(RELEASE_BUILD_PRICES as JSON: {"BUILD_GENERAL1_SMALL": 0.005})',
        ),
        (
            "RELEASE_BUILD_PRICES",
            "{nope",
            "RELEASE_BUILD_PRICES is not valid JSON: '{nope'. Fix: set it to a JSON object, "
            'e.g. {"BUILD_GENERAL1_SMALL":0.005}',
        ),
    ],
)
def test_a_bad_value_is_one_line_with_the_key_and_exit_2(
    variable: str, value: str, line: str
) -> None:
    with pytest.raises(UsageError) as bad:
        load_settings(RAW, env="prod", environ={variable: value})
    assert bad.value.code == ExitCode.USAGE == 2
    assert bad.value.line() == line


def test_the_command_refuses_a_bad_variable_in_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tasks.cli.program import main

    (tmp_path / "invoke.yaml").write_text(
        "release:\n  env: prod\n  environments:\n    prod: {project: p, region: us-east-1}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELEASE_BACKUP_KEEP", "five")
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit) as done:
        main(["release-suite", "build.list", "--env", "prod"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "error: backup_keep must be a whole number from 1, not 'five'. Fix: fix backup_keep "
        "(e.g. 5)\n"
    )


def test_the_report_times_and_prices_every_build_of_the_run() -> None:
    migrate = {"id": "p:1", "status": "SUCCEEDED", "duration": 61.0}
    seed = {"id": "p:2", "status": "SUCCEEDED", "duration": 30.0}
    r = rp.build_report(
        action="release",
        env="prod",
        status="SUCCEEDED",
        build=migrate,
        compute_type="BUILD_GENERAL1_MEDIUM",
        prices=rp.prices_from({}),
        other_builds=[("seed", seed)],
    )
    assert r.cost is not None and (r.cost.billed_minutes, r.cost.usd) == (2, 0.02)
    (other,) = r.other_builds
    assert (other.action, other.build_id, other.seconds) == ("seed", "p:2", 30.0)
    assert other.cost is not None and (other.cost.billed_minutes, other.cost.usd) == (1, 0.01)
    total = r.as_dict()["total_cost"]
    assert (total["billed_minutes"], total["usd"]) == (3, pytest.approx(0.03))
    assert r.as_dict()["other_builds"][0]["cost"]["usd"] == 0.01
    text = rp.render_text(r)
    assert "  build     seed: p:2 SUCCEEDED (30.0s)" in text
    assert any(line.startswith("  cost      seed: 1 build minute(s)") for line in text)
    assert "  total     3 build minute(s), $0.0300 (prices of 2026-05)" in text
    markdown = rp.render_markdown(r)
    assert "| seed build | `p:2` SUCCEEDED (30.0s) |" in markdown
    assert "| total cost | 3 build minute(s), $0.0300" in markdown
    local = rp.build_report(
        action="release", env="l", status="SUCCEEDED", build=migrate, local=True,
        other_builds=[("seed", seed)],
    )  # fmt: skip
    assert local.other_builds[0].seconds == 30.0 and local.other_builds[0].cost is None
    assert local.as_dict()["total_cost"] is None
