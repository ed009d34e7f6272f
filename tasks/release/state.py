"""What one release hands from step to step (``rt.part(ReleaseState)``), typed: the run's
id (the idempotency token's part), the pinned image, the snapshot taken before a migration
(issue 15) and the flag that skips it, the plan of the run and its gate (issue 14), what the
release report collects (each build's --json form)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import LintFinding, PlanSummary
    from .snapshot import RdsSnapshots, Snapshot
    from .status import Status


@dataclass
class ReleaseState:
    invocation_id: str | None = None
    pinned: str | None = None  # registry/repo@sha256:..., from image.push or the registry
    no_backup: bool = False  # --no-backup
    rds_snapshots: RdsSnapshots | None = None
    snapshot: Snapshot | None = None
    snapshot_seconds: float | None = None  # how long the snapshot took (the report's step)
    allow_destructive: bool = False  # --allow-destructive: the plan's gate lets findings through
    planned: bool = False  # the release's plan step ran: db.migrate does not plan again
    plan: dict[str, object] | None = None  # the plan of the run (its --json form), issue 14
    # the pending files the plan checked and its gate let through (path -> sha256): the
    # migration build refuses any other pending file (APPROVED_MIGRATIONS); None: no plan ran
    approved: dict[str, str] | None = None
    exact: Status | None = None  # the exact status a plan build read (release, confirm: true)
    plan_summary: PlanSummary | None = None  # the plan as the report shows it
    lint: tuple[LintFinding, ...] = ()  # the lint findings the report shows
    in_release: bool = False  # the release publishes one report for all its steps
    # (action, the build's --json form): JSON-shaped, so its values are ``object``
    report_builds: list[tuple[str, dict[str, object]]] = field(default_factory=list)
