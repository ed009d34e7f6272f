"""Fixtures shared by the integration tests that run the suite against the scripted CodeBuild
(tests/helpers/scripted_codebuild.py, a fake inside moto's server) on a virtual clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.helpers.scripted_codebuild import ScriptedCodeBuild, VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    """Time that moves only when the code under test sleeps."""
    return VirtualClock()


@pytest.fixture
def scripted_codebuild(
    aws_env: str, clock: VirtualClock
) -> Iterator[Callable[..., ScriptedCodeBuild]]:
    """``scripted_codebuild(project, ...)``: the fake CodeBuild installed in moto, serving those
    projects on ``clock``; uninstalled after the test, whatever way it ends."""
    installed: list[ScriptedCodeBuild] = []

    def install(*projects: str) -> ScriptedCodeBuild:
        scripted = ScriptedCodeBuild(clock.now).install()
        installed.append(scripted)
        scripted.projects |= set(projects)
        return scripted

    try:
        yield install
    finally:
        for scripted in reversed(installed):
            scripted.uninstall()
