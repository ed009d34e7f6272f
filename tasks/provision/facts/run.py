"""Gathers every area's facts, runs the checks and renders them: what ``invoke doctor`` calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ...core.errors import ExitCode, SuiteError
from ...core.runtime import Runtime
from ..doctor import (
    BuildHistory,
    Check,
    Facts,
    failed,
    network_checks,
    run_checks,
    split_secret_reference,
    summary,
)
from .identity import read_role, read_secret, simulate
from .image import Fetch, fetch_url, read_image
from .network import read_database, read_network
from .project import read_builds, read_project


def _secret_key(project: Mapping[str, Any] | None) -> str:
    """The JSON key DATABASE_URL reads from the secret (``secret-id:KEY``), if any."""
    for var in ((project or {}).get("environment") or {}).get("environmentVariables") or []:
        if var.get("name") == "DATABASE_URL" and var.get("type") == "SECRETS_MANAGER":
            return split_secret_reference(str(var.get("value", "")))[1]
    return ""


def gather(rt: Runtime, *, use_simulator: bool = True, fetch: Fetch = fetch_url) -> Facts:
    s = rt.settings
    project, project_error = read_project(rt)
    secret = read_secret(rt, _secret_key(project))
    database = read_database(rt, secret.url.host if secret.url else "")
    network = read_network(rt, project, database.group_ids)
    facts = Facts(
        settings=s,
        project=project,
        project_error=project_error,
        network=network,
        database=database,
        secret=secret,
        image=read_image(rt, fetch),
        builds=read_builds(rt, s.project) if project is not None else BuildHistory(),
    )
    role = read_role(rt, project)
    if role is not None and role.exists and not role.error and use_simulator:
        role = replace(role, simulated=simulate(rt, role, facts))
    return replace(facts, role=role)


def doctor(rt: Runtime) -> list[Check]:
    from ..backup import backup_checks

    return run_checks(gather(rt)) + backup_checks(rt)


def network_path_checks(rt: Runtime, port: int | None = None) -> list[Check]:
    """``subnet_egress`` and ``database_path`` only: for ``diagnose`` after a DB timeout.

    ``port`` overrides the database's own port (e.g. the one in the failing URL).
    """
    project, _ = read_project(rt)
    secret = read_secret(rt, _secret_key(project))
    database = read_database(rt, secret.url.host if secret.url else "")
    network = read_network(rt, project, database.group_ids)
    facts = Facts(
        settings=rt.settings, project=project, network=network, database=database, secret=secret
    )
    return network_checks(facts, port)


def render_checks(console: Any, checks: Any, *, verbose: bool = False) -> None:
    """One line per check; the fix under each warn/fail; evidence with --verbose."""
    kinds = {"pass": "ok", "warn": "warn", "fail": "error"}
    for check in checks:
        label = check.status.upper()
        console.line(f"{label:<5} {check.id:<22} {check.message}", kinds[check.status])
        if check.status != "pass" and check.fix:
            console.line(f"{'':<5} {'':<22} fix: {check.fix}")
        if verbose:
            for item in check.evidence:
                console.line(f"{'':<5} {'':<22} - {item}")


def run_doctor(rt: Runtime, *, verbose: bool = False) -> dict[str, Any]:
    """``invoke doctor``: every check, printed; DOCTOR_FAILED when any fails."""
    s = rt.settings
    rt.console.step(f"doctor: {s.env} ({s.region}), project {s.project or '-'}")
    checks = doctor(rt)
    render_checks(rt.console, checks, verbose=verbose)
    counts = summary(checks)
    rt.console.line(
        f"{len(checks)} checks: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail"
    )
    bad = failed(checks)
    result = {"ok": not bad, "checks": [ch.as_dict() for ch in checks], "summary": counts}
    if bad:
        raise SuiteError(
            f"doctor: {len(bad)} check(s) failed ({', '.join(ch.id for ch in bad)})",
            f"apply the fix shown under each failed check, then rerun `invoke doctor --env {s.env}`",
            code=ExitCode.DOCTOR_FAILED,
            details=result,
        )
    return result
