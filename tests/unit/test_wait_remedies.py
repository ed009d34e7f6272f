"""The remedy of a STOPPED build: CodeBuild's initiator is who started it, not who stopped it."""

from __future__ import annotations

from tasks.codebuild.model import Build
from tasks.codebuild.wait import outcome_error
from tasks.core.errors import ExitCode


def test_stopped_names_the_starter_as_such() -> None:
    err = outcome_error(Build("p:1", "p", status="STOPPED", initiator="github-release/42"))
    assert err.code == ExitCode.BUILD_STOPPED
    assert "(by github-release/42)" not in err.remedy
    assert "StopBuild on a build started by github-release/42" in err.remedy
    assert outcome_error(Build("p:1", "p", status="STOPPED")).remedy.startswith(
        "the build was stopped (StopBuild); "
    )
