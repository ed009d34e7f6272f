"""Prerequisite checks for a migration build: facts in, ``Check`` results out. Pure package.

``tasks.provision.facts`` reads AWS and fills :class:`Facts`; every decision is made here, so
each check is tested with plain data. A check never raises: what it cannot verify becomes a
``warn`` with the reason. Statuses: ``pass`` | ``warn`` | ``fail``; only ``fail`` fails the run.
Secret values never reach this module: the adapter hands over a parsed :class:`DbUrl` whose
password is reduced to a flag.

By area: ``models`` (the facts, ``Check`` and shared parsing), ``project`` (the CodeBuild
project), ``identity`` (service role, secret), ``network`` (VPC, egress, database path),
``image`` (ECR); ``checks`` runs them in order. Every area imports only ``models``.
Imports: core, codebuild (the run-command rules), ``provision.policy`` and
``provision.requirements``; never boto3, docker or invoke.
"""

from __future__ import annotations

from .checks import CHECKS, failed, network_checks, run_checks, summary
from .identity import check_role, check_secret
from .image import check_image
from .models import (
    CHECK_IDS,
    FAIL,
    PASS,
    WARN,
    BuildHistory,
    Check,
    DatabaseFacts,
    DbUrl,
    Endpoint,
    Facts,
    ImageFacts,
    NetworkFacts,
    RoleFacts,
    Route,
    Rule,
    SecretFacts,
    SecurityGroup,
    Subnet,
    parse_database_url,
    pulled_with_role,
    secret_matches,
    setup_fix,
    split_secret_reference,
)
from .network import ENDPOINT_SERVICES, HTTPS, check_egress, check_vpc, database_path
from .project import (
    STANDARD_IMAGE_PREFIXES,
    TIMEOUT_HEADROOM,
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

__all__ = [
    "CHECKS",
    "CHECK_IDS",
    "ENDPOINT_SERVICES",
    "FAIL",
    "HTTPS",
    "PASS",
    "STANDARD_IMAGE_PREFIXES",
    "TIMEOUT_HEADROOM",
    "WARN",
    "BuildHistory",
    "Check",
    "DatabaseFacts",
    "DbUrl",
    "Endpoint",
    "Facts",
    "ImageFacts",
    "NetworkFacts",
    "RoleFacts",
    "Route",
    "Rule",
    "SecretFacts",
    "SecurityGroup",
    "Subnet",
    "check_auto_retry",
    "check_commands",
    "check_concurrency",
    "check_egress",
    "check_environment",
    "check_image",
    "check_logs",
    "check_privileged",
    "check_project",
    "check_role",
    "check_secret",
    "check_timeout",
    "check_variables",
    "check_vpc",
    "database_path",
    "failed",
    "network_checks",
    "parse_database_url",
    "pulled_with_role",
    "run_checks",
    "secret_matches",
    "setup_fix",
    "split_secret_reference",
    "summary",
]
