"""Follow-up checks run after a finding, where the registry or AWS is reachable.

* ``image_platforms`` (after exec format error, a platform warning, no matching manifest, an
  unknown manifest): ask the registry what the image reference holds, with the image stage's
  verifier (``tasks.image.engine.registry_client`` + ``tasks.image.registry.inspect``).
* ``network_path`` (after a database timeout): the network-path checks of ``invoke doctor``
  for the database port, handed in by the wiring (``NetworkChecks``; this package never
  imports the provision stage).
* ``database_locks`` (after a migration failed on 55P03 lock_timeout or 57014
  statement_timeout): the table the output names and the query that lists the sessions holding
  it; where the wiring hands in a way to run SQL on the environment's database (``SqlRunner``:
  the local environment), the blocking sessions themselves (pid, application, state, since).

The orchestration (:func:`run_followups`) is pure: checks are plain callables
``(Finding) -> list[CheckResult]`` keyed by the catalogue's ``followup`` name, so tests inject
their own and doctor plugs in by name. A check that cannot run (no credentials, registry down,
doctor not installed) yields one ``skipped`` result with the reason; it never fails diagnose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core.errors import SuiteError
from ..core.probes import tcp_answers
from .blockers import blockers_sql, parse_blockers, table_in
from .findings import Finding
from .report import CheckResult

FollowUp = Callable[[Finding], list[CheckResult]]
# doctor's network-path checks: (runtime, database port) -> checks with id, status, message, fix
NetworkChecks = Callable[[Any, int | None], Sequence[Any]]
# runs one query on the environment's database, returns its `psql -At` rows (the local wiring)
SqlRunner = Callable[[str], str]
SKIPPED = "skipped"


def run_followups(
    findings: Sequence[Finding], checks: Mapping[str, FollowUp]
) -> dict[str, list[CheckResult]]:
    """Run each needed follow-up once (for the first finding asking for it)."""
    done: set[str] = set()
    out: dict[str, list[CheckResult]] = {}
    for finding in findings:
        name = finding.followup
        if not name or name in done or name not in checks:
            continue
        done.add(name)
        try:
            out[finding.id] = checks[name](finding)
        except SuiteError as err:
            out[finding.id] = [CheckResult(name, SKIPPED, err.message, err.remedy)]
        except Exception as exc:  # a follow-up must never hide the diagnosis itself
            out[finding.id] = [CheckResult(name, SKIPPED, f"{type(exc).__name__}: {exc}")]
    return out


# -- production checks (adapters) -------------------------------------------------------------


def tcp_reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    return tcp_answers(host, port, timeout)


def _registry_endpoint(registry: str, insecure: bool) -> tuple[str, int]:
    host, _, port = registry.rpartition(":") if ":" in registry else (registry, "", "")
    if not host:
        host = registry
    return host, int(port) if port.isdigit() else (80 if insecure else 443)


def image_platforms(rt: Any) -> FollowUp:
    """The registry verifier, bound to the runtime (returns a skipped result when offline)."""

    def check(finding: Finding) -> list[CheckResult]:
        s = rt.settings
        # the image the build ran (IMAGE_URI, pinned by release), else the configured tag
        reference = finding.values.get("build_image") or (
            f"{s.image_name}:{s.tag}" if s.repository and s.registry else ""
        )
        if not reference:
            return [CheckResult("image platforms", SKIPPED, "no registry/repository configured")]
        from ..core.references import parse_image
        from ..image import engine as image
        from ..image import registry

        ref = parse_image(reference, default_registry=s.registry)
        host, port = _registry_endpoint(ref.registry, s.registry_insecure)
        if not tcp_reachable(host, port):
            return [CheckResult("image platforms", SKIPPED, f"registry {ref.registry} unreachable")]
        info = registry.inspect(image.registry_client(rt, ref), ref)
        found = ", ".join(str(p) for p in info.platforms) or "no platform"
        if any(s.platform.matches(p) for p in info.platforms):
            message = f"{ref} holds {found} (includes {s.platform})"
            return [CheckResult("image platforms", "pass", message)]
        fix = registry.rebuild_command(ref, s.platform, s.dockerfile, s.context)
        message = f"{ref} holds {found}, not {s.platform}"
        return [CheckResult("image platforms", "fail", message, fix)]

    return check


def network_path(rt: Any, doctor: NetworkChecks) -> FollowUp:
    """Doctor's network-path checks for the database port (``doctor``: injected)."""

    def check(finding: Finding) -> list[CheckResult]:
        if not _aws_credentials(rt):
            return [CheckResult("network path", SKIPPED, "no AWS credentials to inspect the VPC")]
        if not _aws_reachable(rt):
            return [CheckResult("network path", SKIPPED, "the AWS API endpoint is unreachable")]
        port_text = finding.values.get("port", "")
        port = int(port_text) if port_text.isdigit() else None
        return [
            CheckResult(str(c.id), str(c.status), str(c.message), str(getattr(c, "fix", "")))
            for c in doctor(rt, port)
        ]

    return check


def _aws_reachable(rt: Any) -> bool:
    """A quick TCP probe of the EC2 endpoint (or AWS_ENDPOINT_URL) before doctor's calls."""
    from urllib.parse import urlsplit

    endpoint = rt.settings.endpoint_url or rt.environ.get("AWS_ENDPOINT_URL") or ""
    if endpoint:
        parts = urlsplit(endpoint)
        default = 443 if parts.scheme == "https" else 80
        return tcp_reachable(parts.hostname or "", parts.port or default)
    return tcp_reachable(f"ec2.{rt.settings.region}.amazonaws.com", 443)


def _aws_credentials(rt: Any) -> bool:
    try:
        return rt.aws.session().get_credentials() is not None
    except SuiteError:
        return False


_TIMED_OUT = re.compile(
    r"(?:lock|statement) timeout|could not obtain lock|55P03|57014|LockNotAvailable|QueryCanceled"
)
_LOCK_FINDINGS = frozenset({"migration_lock_timeout", "migration_statement_timeout"})
BLOCKERS = "blocking sessions"


def _timed_out(finding: Finding) -> bool:
    if finding.id in _LOCK_FINDINGS:
        return True
    return bool(_TIMED_OUT.search(finding.values.get("detail", "")))


def failed_table(finding: Finding) -> str:
    """The table the failure's output names: PostgreSQL's NOWAIT message, the statement the
    tool printed (knex, drizzle), else any evidence line; '' when the output names none."""
    texts = [finding.values.get(k, "") for k in ("object", "statement", "detail")]
    texts += [e.text for e in finding.evidence]
    return next((t for t in map(table_in, texts) if t), "")


def database_locks(sql: SqlRunner | None) -> FollowUp:
    """The sessions holding the table a migration could not lock in time (``sql``: how to
    query the environment's database, None where the suite cannot reach it)."""

    def check(finding: Finding) -> list[CheckResult]:
        if not _timed_out(finding):
            return []
        table = failed_table(finding)
        query = blockers_sql(table)
        what = f"table {table}" if table else "the output names no table"
        if sql is None:
            message = f"{what}; the database is not reachable from here"
            return [CheckResult(BLOCKERS, SKIPPED, message, f"run on the database: {query}")]
        found = parse_blockers(sql(query))
        if not found:
            scope = f"{table}" if table else "any table inside an open transaction"
            message = f"{what}: no session holds {scope} now (the blocker has ended)"
            return [CheckResult(BLOCKERS, "pass", message)]
        held = "; ".join(b.text() for b in found)
        fix = (
            "release when they are done, or end the one in the way if that is safe: "
            f"SELECT pg_terminate_backend({found[0].pid})"
        )
        return [CheckResult(BLOCKERS, "fail", f"{what}: held by {held}", fix)]

    return check


def default_checks(
    rt: Any, network: NetworkChecks | None = None, sql: SqlRunner | None = None
) -> dict[str, FollowUp]:
    """The follow-ups; ``network_path`` only when the wiring hands in doctor's checks; the
    blocking sessions are named only when it hands in a way to query the database (``sql``),
    else ``database_locks`` gives the table and the query to run."""
    checks = {"image_platforms": image_platforms(rt), "database_locks": database_locks(sql)}
    if network is not None:
        checks["network_path"] = network_path(rt, network)
    return checks


__all__ = [
    "CheckResult",
    "FollowUp",
    "NetworkChecks",
    "SqlRunner",
    "database_locks",
    "default_checks",
    "run_followups",
    "tcp_reachable",
]
