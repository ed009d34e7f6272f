"""Reads of the CodeBuild project and its recent builds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...codebuild.client import AwsCaller, CodeBuildBackend
from ...codebuild.model import IN_PROGRESS, TIMED_OUT
from ...core.aws import ReadRefused
from ...core.errors import SuiteError
from ...core.retrying import EXPIRED_CODES, INVALID_CREDENTIAL_CODES
from ...core.runtime import Runtime
from ..doctor import (
    BuildHistory,
)
from .calls import read_refusable

RECENT_BUILDS = 20


LISTED_BUILDS = 100  # ids listed to find RECENT_BUILDS completed ones


def read_project(rt: Runtime) -> tuple[Mapping[str, Any] | None, str]:
    name = rt.settings.project
    if not name:
        return None, ""
    client = rt.aws.client("codebuild")
    try:
        found = read_refusable(
            "reading the CodeBuild project", lambda: client.batch_get_projects(names=[name])
        )
    except ReadRefused as err:
        return None, str(err)
    projects = found.get("projects") or []
    return (projects[0] if projects else None), ""


def read_builds(rt: Runtime, project: str) -> BuildHistory:
    """The durations of the newest completed builds, read by the CodeBuild adapter the release
    waits with (one implementation of "recent builds"); a refused read is the check's fact."""
    backend = CodeBuildBackend(
        lambda service: rt.aws.client(service, suite_retries=True),
        AwsCaller(refresh=rt.aws.refresh, source=rt.aws.credential_source, sleep=rt.sleep),
        region=rt.settings.region,
    )
    try:
        builds = backend.recent(project, LISTED_BUILDS)
    except SuiteError as err:
        code = str(err.details.get("aws_code") or "")
        if not code or code in INVALID_CREDENTIAL_CODES or code in EXPIRED_CODES:
            raise
        return BuildHistory(error=err.message.split(": ", 1)[-1])
    done = [b for b in builds if b.start and b.end and b.status != IN_PROGRESS]
    recent = done[:RECENT_BUILDS]  # newest first, as ``recent`` sorts them
    durations = tuple((b.end - b.start) / 60 for b in recent if b.end and b.start)
    timed_out = sum(1 for b in recent if b.status == TIMED_OUT)
    return BuildHistory(durations, timed_out)
