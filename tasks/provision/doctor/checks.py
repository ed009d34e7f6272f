"""The checks in the order doctor runs and prints them, and their summary."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .identity import check_role, check_secret
from .image import check_image
from .models import FAIL, PASS, WARN, Check, Facts
from .network import check_egress, check_vpc, database_path
from .project import (
    check_auto_retry,
    check_commands,
    check_concurrency,
    check_environment,
    check_logs,
    check_privileged,
    check_project,
    check_timeout,
    check_variables,
)

CHECKS: tuple[Callable[[Facts], Check], ...] = (
    check_project,
    check_environment,
    check_privileged,
    check_variables,
    check_commands,
    check_role,
    check_vpc,
    check_egress,
    database_path,
    check_secret,
    check_image,
    check_concurrency,
    check_timeout,
    check_auto_retry,
    check_logs,
)


def run_checks(facts: Facts) -> list[Check]:
    return [check(facts) for check in CHECKS]


def network_checks(facts: Facts, port: int | None = None) -> list[Check]:
    """The network-path subset (for ``diagnose`` after a database timeout)."""
    return [check_egress(facts), database_path(facts, port)]


def failed(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if c.status == FAIL]


def summary(checks: Sequence[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in (PASS, WARN, FAIL)}
