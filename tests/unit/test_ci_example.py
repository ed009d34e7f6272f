"""The CI example promises only what holds: env-var credentials are not renewed mid-run."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_ci_role_session_outlives_the_job_and_promises_no_refresh() -> None:
    text = (ROOT / "examples/ci/release.yml").read_text()
    assert "refreshes expired credentials" not in text
    job = yaml.safe_load(text)["jobs"]["release"]
    creds = next(s for s in job["steps"] if "configure-aws-credentials" in str(s.get("uses", "")))
    session = int(creds["with"]["role-duration-seconds"])
    assert session > int(job["timeout-minutes"]) * 60  # the session outlives the longest wait
