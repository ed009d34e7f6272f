"""Domain errors and the exit-code table.

Every user-facing failure is a ``SuiteError``: what went wrong and what to do, with a distinct
exit code. Adapters raise them (translating ``ClientError`` by its error code, never by message
text); only the invoke layer turns them into process exit codes. Pure module.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Documented exit codes (README "Exit codes"). Values are part of the public contract."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2  # bad input: unknown environment, malformed URI/platform, broken YAML
    DOCKER = 3  # Docker daemon unreachable or docker CLI missing
    AWS_AUTH = 4  # credentials missing, expired or denied
    REGISTRY = 5  # registry unreachable, login refused, manifest not found
    PLATFORM = 6  # image does not hold the target platform
    COMMAND = 7  # an external command (docker build/push) failed
    BUILD_CONFLICT = 8  # another build of the project is running
    CONFIRM = 9  # production guard: confirmation refused or --yes missing
    AWS = 10  # other AWS API error
    BUILD_FAILED = 11
    BUILD_FAULT = 12
    BUILD_TIMED_OUT = 13
    BUILD_STOPPED = 14
    WAIT_TIMEOUT = 15  # our own --timeout elapsed while the build still runs
    AWS_QUOTA = 16  # an AWS account or resource quota is reached (Service Quotas), no conflict
    DOCTOR_FAILED = 20
    DIAGNOSE_NO_MATCH = 21
    LOCAL_ENV = 22  # the local environment cannot be started
    SETUP_BLOCKED = 23  # setup --apply: a prerequisite it never creates is missing (VPC, secret)
    BACKUP = 24  # the snapshot before a migration could not be made (missing db, wrong state)
    MIGRATION_BLOCKED = 25  # the plan's gate: destructive/locking findings not accepted
    MIGRATION_STATUS = 26  # the status command's output cannot be read: nothing was migrated
    MIGRATION_NOT_APPROVED = (
        27  # the build's exact status found pending files the plan never let through
    )
    INTERRUPTED = 130


class SuiteError(Exception):
    """A failure the user can act on: ``message`` says what broke, ``remedy`` what to do."""

    code: ExitCode = ExitCode.UNEXPECTED

    def __init__(
        self,
        message: str,
        remedy: str = "",
        *,
        code: ExitCode | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})
        self.retryable = False  # set by adapters for failures a later try may not meet

    def line(self) -> str:
        """The one line shown to the user (line breaks inside a message or remedy, e.g. from
        an error body we quote, are folded: a failure is always one line)."""
        text = _one_line(self.message).rstrip(".")
        remedy = _one_line(self.remedy)
        return f"{text}. Fix: {remedy}" if remedy else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": int(self.code),
            "kind": type(self).__name__,
            "message": self.message,
            "remedy": self.remedy,
        }


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text).strip()


class UsageError(SuiteError):
    code = ExitCode.USAGE


class DockerUnavailable(SuiteError):
    code = ExitCode.DOCKER


class AwsAuthError(SuiteError):
    code = ExitCode.AWS_AUTH


class AwsError(SuiteError):
    code = ExitCode.AWS


class RegistryError(SuiteError):
    code = ExitCode.REGISTRY


class PlatformMismatch(SuiteError):
    code = ExitCode.PLATFORM


class CommandFailed(SuiteError):
    code = ExitCode.COMMAND


class BuildConflict(SuiteError):
    code = ExitCode.BUILD_CONFLICT


class QuotaExceeded(SuiteError):
    """An AWS quota of the account (or of a resource kind) is reached: not throttling, not a
    conflict with another build; retrying does not help, a quota increase does."""

    code = ExitCode.AWS_QUOTA


class ConfirmationRequired(SuiteError):
    code = ExitCode.CONFIRM


class MigrationBlocked(SuiteError):
    code = ExitCode.MIGRATION_BLOCKED


class MigrationStatusError(SuiteError):
    code = ExitCode.MIGRATION_STATUS


class MigrationNotApproved(SuiteError):
    code = ExitCode.MIGRATION_NOT_APPROVED


class LocalEnvError(SuiteError):
    code = ExitCode.LOCAL_ENV
