"""The restore point before a migration: an RDS / Aurora manual snapshot, made, waited for,
pruned, and the restore command to paste when the migration fails.

Two halves. Pure: ``BackupPolicy`` (read from the environment's ``backup``, ``backup_keep``,
``database_instance`` / ``database_cluster``), ``snapshot_name``, ``restore_command``, ``to_prune``.
Adapter: ``RdsSnapshots`` talks to RDS through one boto3 client and translates ``ClientError``
by its error code (never by message text). ``take_snapshot`` / ``prune_snapshots`` are the small
hook the release flow calls.

Assumptions (AWS's documentation, CreateDBSnapshot / CreateDBClusterSnapshot):
- "The source DB instance must be in the available or storage-optimization state."
- identifiers: "1 to 255 letters, numbers, or hyphens; First character must be a letter; Can't
  end with a hyphen or contain two consecutive hyphens".
- Single-AZ: "Creating this DB snapshot on a Single-AZ DB instance results in a brief I/O
  suspension that can last from a few seconds to a few minutes, depending on the size and class
  of your DB instance." (RDS User Guide, USER_CreateSnapshot). Multi-AZ (backup taken from the
  standby) and Aurora (cluster storage) do not pause.
"""

from __future__ import annotations

import re
import shlex
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..codebuild.model import BuildBackend
from ..core.errors import AwsError, ExitCode, QuotaExceeded, SuiteError
from ..core.runtime import Runtime
from ..provision.requirements import BackupPolicy, backup_policy
from .state import ReleaseState

# the policy lives with the permissions it needs (provision/requirements.py), so doctor reads it

SUITE_TAG_KEY = "release-suite:backup"  # the tag that marks a snapshot as the suite's own
IMAGE_TAG_KEY = "release-suite:image"  # the image digest the migration after it ran
SINGLE_AZ_WARNING = (
    "{db} is Single-AZ: AWS says creating a snapshot of it 'results in a brief I/O suspension "
    "that can last from a few seconds to a few minutes, depending on the size and class of your "
    "DB instance' (RDS User Guide, Creating a DB snapshot)"
)


class BackupFailed(SuiteError):
    """The pre-migration snapshot could not be made (database missing or in the wrong state)."""

    code = ExitCode.BACKUP


# -- pure ------------------------------------------------------------------------------------


def snapshot_name(project: str, image: str, now: float) -> str:
    """``<project>-<12 hex of the digest>-<UTC time>``, valid as an RDS identifier."""
    digest = re.sub(r"[^0-9a-f]", "", image.partition("@sha256:")[2])[:12] or "nodigest"
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")
    base = re.sub(r"[^A-Za-z0-9-]+", "-", project).strip("-") or "release"
    name = f"{base}-{digest}-{stamp}"
    name = re.sub(r"-{2,}", "-", name)
    if not name[0].isalpha():
        name = "r-" + name
    return name[:255].rstrip("-")


@dataclass(frozen=True)
class Snapshot:
    """One manual snapshot as the suite made or found it."""

    id: str
    kind: str  # instance | cluster
    database: str
    region: str
    status: str = ""
    created: float | None = None
    engine: str = ""
    own: bool = False  # carries the suite's tag
    image: str = ""  # the digest of the image whose migration it preceded (its tag)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "database": self.database,
            "region": self.region,
            "status": self.status,
            "restore": restore_command(self),
        }


def restore_command(snap: Snapshot) -> str:
    """Paste-ready: restore to a NEW database (the broken one stays for inspection), then
    how to switch the application over."""
    new = f"{snap.database}-restored"[:63]
    region = ["--region", snap.region]
    if snap.kind == "cluster":
        restore = [
            "aws", "rds", "restore-db-cluster-from-snapshot",
            "--db-cluster-identifier", new,
            "--snapshot-identifier", snap.id,
            "--engine", snap.engine or "aurora-postgresql",
            *region,
        ]  # fmt: skip
        then = (
            f"then add an instance (`aws rds create-db-instance --db-cluster-identifier {new} "
            f"...`), and switch by pointing DATABASE_URL at {new}'s endpoint"
        )
    else:
        restore = [
            "aws", "rds", "restore-db-instance-from-db-snapshot",
            "--db-instance-identifier", new,
            "--db-snapshot-identifier", snap.id,
            *region,
        ]  # fmt: skip
        then = (
            f"then switch by pointing DATABASE_URL at {new}'s endpoint (or rename: "
            f"`aws rds modify-db-instance --db-instance-identifier {snap.database} "
            f"--new-db-instance-identifier {snap.database}-broken --apply-immediately`, then "
            f"rename {new} to {snap.database})"
        )
    return f"{shlex.join(restore)}; {then}"


def to_prune(snapshots: list[Snapshot], keep: int, database: str) -> list[Snapshot]:
    """The suite's own snapshots of ``database`` beyond the newest ``keep``; nobody else's."""
    own = [s for s in snapshots if s.own and s.database == database]
    own.sort(key=lambda s: (s.created or 0.0, s.id), reverse=True)
    return own[keep:]


# -- adapter ---------------------------------------------------------------------------------

_NOT_FOUND = {"DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault"}
_BAD_STATE = {
    "InvalidDBInstanceState",
    "InvalidDBInstanceStateFault",
    "InvalidDBClusterStateFault",
}
_QUOTA = {"SnapshotQuotaExceeded", "SnapshotQuotaExceededFault"}


def translate(exc: Exception, kind: str, database: str, region: str) -> SuiteError:
    """A ClientError from RDS as one line with its remedy, by ``Error.Code``."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    said = str(response.get("Error", {}).get("Message", "")) or str(exc)
    what = "DB cluster" if kind == "cluster" else "DB instance"
    key = "database_cluster" if kind == "cluster" else "database_instance"
    if code in _QUOTA:
        return QuotaExceeded(
            f"cannot snapshot {what} {database}: the account's manual snapshot quota in "
            f"{region} is reached ({code})",
            "delete old manual snapshots (`aws rds describe-db-snapshots --snapshot-type manual`) "
            "or request a higher 'Manual DB snapshots' quota in Service Quotas; "
            "or rerun with --no-backup",
        )
    if code in _NOT_FOUND:
        return BackupFailed(
            f"cannot snapshot {what} {database}: it does not exist in {region} ({code})",
            f"fix {key} in invoke.yaml (list them: `aws rds describe-db-"
            f"{'clusters' if kind == 'cluster' else 'instances'} --region {region}`)",
        )
    if code in _BAD_STATE:
        return BackupFailed(
            f"cannot snapshot {what} {database} in its current state ({code}: {said})",
            "wait until it is 'available' (`aws rds describe-db-"
            f"{'clusters' if kind == 'cluster' else 'instances'}`) and rerun, or rerun with "
            "--no-backup",
        )
    from ..core.aws import translate as aws_translate

    err = aws_translate(exc, f"snapshot {what} {database}")
    return err if isinstance(err, SuiteError) else AwsError(str(exc))


class RdsSnapshots:
    """RDS manual snapshots of one instance or cluster (one boto3 ``rds`` client)."""

    def __init__(
        self,
        client: Any,
        policy: BackupPolicy,
        *,
        sleep: Callable[[float], None] = _time.sleep,
        monotonic: Callable[[], float] = _time.monotonic,
    ) -> None:
        self.client = client
        self.policy = policy
        self.sleep = sleep
        self.monotonic = monotonic

    @property
    def cluster(self) -> bool:
        return self.policy.kind == "cluster"

    def _fail(self, exc: Exception) -> SuiteError:
        return translate(exc, self.policy.kind, self.policy.database, self.policy.region)

    def single_az(self) -> bool:
        """True for a Single-AZ instance (Aurora clusters never pause for a snapshot)."""
        if self.cluster:
            return False
        try:
            found = self.client.describe_db_instances(DBInstanceIdentifier=self.policy.database)
        except Exception as exc:
            raise self._fail(exc) from None
        instances = found.get("DBInstances") or [{}]
        return not bool(instances[0].get("MultiAZ"))

    def create(self, name: str, tags: Mapping[str, str]) -> Snapshot:
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        try:
            if self.cluster:
                got = self.client.create_db_cluster_snapshot(
                    DBClusterSnapshotIdentifier=name,
                    DBClusterIdentifier=self.policy.database,
                    Tags=tag_list,
                )["DBClusterSnapshot"]
            else:
                got = self.client.create_db_snapshot(
                    DBSnapshotIdentifier=name,
                    DBInstanceIdentifier=self.policy.database,
                    Tags=tag_list,
                )["DBSnapshot"]
        except Exception as exc:
            raise self._fail(exc) from None
        return self._snapshot(got)

    def wait(
        self,
        snap: Snapshot,
        *,
        bound: float,
        delay: float = 15.0,
        progress: Callable[[str], None] = lambda _t: None,
    ) -> Snapshot:
        """boto3's waiter, one attempt at a time, so progress is shown between attempts and
        the whole wait is bounded by ``bound`` seconds (``sleep``/``monotonic`` injected)."""
        from botocore.exceptions import WaiterError

        if self.cluster:
            waiter = self.client.get_waiter("db_cluster_snapshot_available")
            params = {"DBClusterSnapshotIdentifier": snap.id}
        else:
            waiter = self.client.get_waiter("db_snapshot_available")
            params = {"DBSnapshotIdentifier": snap.id}
        deadline = self.monotonic() + bound
        while True:
            try:
                waiter.wait(**params, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
                return self.describe(snap.id)
            except WaiterError as exc:
                last = exc.last_response or {}
                if "Error" in last:
                    raise self._fail(_as_client_error(last)) from None
                items = last.get("DBClusterSnapshots" if self.cluster else "DBSnapshots") or []
                state = items[0] if items else {}
                status = str(state.get("Status", "?"))
                if status in ("failed", "deleted", "deleting"):
                    raise BackupFailed(
                        f"snapshot {snap.id} of {self.policy.database} ended {status!r}",
                        "look at it in the RDS console (Events), then rerun; or --no-backup",
                    ) from None
                if self.monotonic() >= deadline:
                    raise BackupFailed(
                        f"snapshot {snap.id} is still {status} after {bound:.0f}s",
                        f"it keeps going: wait for it (`aws rds wait "
                        f"{'db-cluster-snapshot' if self.cluster else 'db-snapshot'}-available`) "
                        "and rerun, or raise backup_wait (seconds) in invoke.yaml",
                    ) from None
                progress(f"snapshot {snap.id}: {status}, {state.get('PercentProgress', 0)}% done")
                self.sleep(delay)

    def describe(self, snapshot_id: str) -> Snapshot:
        try:
            if self.cluster:
                got = self.client.describe_db_cluster_snapshots(
                    DBClusterSnapshotIdentifier=snapshot_id
                )["DBClusterSnapshots"][0]
            else:
                got = self.client.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)[
                    "DBSnapshots"
                ][0]
        except Exception as exc:
            raise self._fail(exc) from None
        return self._snapshot(got)

    def manual(self) -> list[Snapshot]:
        """Every manual snapshot of this database (own or not), with the suite's tag read."""
        try:
            if self.cluster:
                pages = self.client.get_paginator("describe_db_cluster_snapshots").paginate(
                    DBClusterIdentifier=self.policy.database, SnapshotType="manual"
                )
                found = [s for p in pages for s in p.get("DBClusterSnapshots", [])]
            else:
                pages = self.client.get_paginator("describe_db_snapshots").paginate(
                    DBInstanceIdentifier=self.policy.database, SnapshotType="manual"
                )
                found = [s for p in pages for s in p.get("DBSnapshots", [])]
        except Exception as exc:
            raise self._fail(exc) from None
        return [self._snapshot(s) for s in found]

    def delete(self, snap: Snapshot) -> None:
        try:
            if self.cluster:
                self.client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=snap.id)
            else:
                self.client.delete_db_snapshot(DBSnapshotIdentifier=snap.id)
        except Exception as exc:
            raise self._fail(exc) from None

    def _snapshot(self, raw: Mapping[str, Any]) -> Snapshot:
        sid = raw.get("DBClusterSnapshotIdentifier") or raw.get("DBSnapshotIdentifier") or ""
        db = raw.get("DBClusterIdentifier") or raw.get("DBInstanceIdentifier") or ""
        created = raw.get("SnapshotCreateTime")
        tags = {t.get("Key"): t.get("Value") for t in raw.get("TagList") or []}
        return Snapshot(
            id=str(sid),
            kind=self.policy.kind,
            database=str(db),
            region=self.policy.region,
            status=str(raw.get("Status", "")),
            created=created.timestamp() if isinstance(created, datetime) else None,
            engine=str(raw.get("Engine", "")),
            own=SUITE_TAG_KEY in tags,
            image=str(tags.get(IMAGE_TAG_KEY) or ""),
        )


def _as_client_error(response: Mapping[str, Any]) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(dict(response), "DescribeDBSnapshots")  # type: ignore[arg-type]
    return error


# -- the hook the release flow calls ---------------------------------------------------------


def confirm_note(rt: Runtime) -> str:
    """What the confirmation prompt says about the restore point."""
    policy = backup_policy(rt.settings)
    if rt.part(ReleaseState).no_backup:
        return " WITHOUT a snapshot first (--no-backup)"
    if policy.enabled:
        return f" after a snapshot of {policy.kind} {policy.database}"
    return ""


def snapshots_for(rt: Runtime, policy: BackupPolicy) -> RdsSnapshots:
    state = rt.part(ReleaseState)
    if state.rds_snapshots is None:
        state.rds_snapshots = RdsSnapshots(
            rt.aws.client("rds"), policy, sleep=rt.sleep, monotonic=rt.monotonic
        )
    return state.rds_snapshots


def take_snapshot(rt: Runtime, image: str) -> Snapshot | None:
    """Before the migration build: create, tag, wait (bounded, with progress), record."""
    policy = backup_policy(rt.settings)
    if rt.part(ReleaseState).no_backup:
        if policy.enabled:
            rt.console.warn(f"--no-backup: no snapshot of {policy.database} before migrating")
        return None
    if not policy.enabled:
        return None
    rds = snapshots_for(rt, policy)
    if rds.single_az():
        rt.console.warn(SINGLE_AZ_WARNING.format(db=policy.database))
    name = snapshot_name(rt.settings.project or rt.settings.env, image, rt.now())
    tags = {
        SUITE_TAG_KEY: rt.settings.project or rt.settings.env,
        IMAGE_TAG_KEY: image.rpartition("@")[2][:128],
        "release-suite:env": rt.settings.env,
    }
    rt.console.step(f"snapshot {policy.kind} {policy.database} as {name}")
    began = rt.monotonic()
    snap = rds.create(name, tags)
    bound = rt.settings.backup_wait
    snap = rds.wait(snap, bound=bound, progress=rt.console.progress)
    rt.console.ok(f"snapshot {snap.id} is {snap.status or 'available'}")
    rt.part(ReleaseState).snapshot = snap
    rt.part(ReleaseState).snapshot_seconds = rt.monotonic() - began
    return snap


def prune_snapshots(rt: Runtime) -> list[str]:
    """After a successful migration: delete the suite's own snapshots beyond ``backup_keep``."""
    snap = rt.part(ReleaseState).snapshot
    if snap is None:
        return []
    policy = backup_policy(rt.settings)
    rds = snapshots_for(rt, policy)
    gone = []
    for old in to_prune(rds.manual(), policy.keep, policy.database):
        if old.id == snap.id:
            continue
        rds.delete(old)
        gone.append(old.id)
    if gone:
        rt.console.info(f"deleted {len(gone)} older snapshot(s) of the suite: {', '.join(gone)}")
    return gone


def on_failure(rt: Runtime, err: SuiteError) -> None:
    """A failed migration: its one line ends with the paste-ready restore command, and the
    ``--json`` error carries the snapshot."""
    snap = rt.part(ReleaseState).snapshot
    if snap is None:
        return
    hint = f"to go back to the snapshot taken before it: {restore_command(snap)}"
    err.remedy = f"{err.remedy.rstrip('. ')}; {hint}" if err.remedy else hint
    err.details["snapshot"] = snap.as_dict()


def restore_point_for(rt: Any, build: Any) -> Snapshot | None:
    """For ``invoke diagnose`` of a migration build: the suite's snapshot taken just before it
    (same image digest, made before the build started), found among the database's manual
    snapshots. None when no database is configured or none matches."""
    if "migrate" not in str(getattr(build, "action", "")):
        return None
    policy = backup_policy(rt.settings)
    if not policy.database:
        return None
    env = {v.name: v.value for v in getattr(build, "environment", ())}
    digest = env.get("IMAGE_URI", "").rpartition("@")[2]
    start = getattr(build, "start", None) or rt.now()
    found = [
        s
        for s in snapshots_for(rt, policy).manual()
        if s.own and digest and s.image == digest and (s.created or 0.0) <= start + 60.0
    ]
    return max(found, key=lambda s: (s.created or 0.0, s.id)) if found else None


def diagnose_note(rt: Any, build: Any) -> dict[str, Any] | None:
    """Print the restore point of a failed migration build; never fail the diagnosis."""
    if getattr(build, "status", "") == "SUCCEEDED":
        return None
    try:
        snap = restore_point_for(rt, build)
    except SuiteError as err:
        rt.console.warn(f"restore point unknown ({err.line()})")
        return None
    if snap is None:
        return None
    rt.console.line(f"restore point: snapshot {snap.id} taken before this migration")
    rt.console.line(f"  {restore_command(snap)}")
    return snap.as_dict()


def diagnose_with_restore_point(
    rt: Any,
    build_id: str | None,
    *,
    checks: bool,
    backend: BuildBackend,
    checks_factory: Callable[[Any], Mapping[str, Any]],
) -> dict[str, Any]:
    """``invoke diagnose`` of a build: the diagnosis, then the restore point of a failed
    migration (in the result, or in the error's ``--json`` details)."""
    from ..diagnose.service import run
    from ..diagnose.source import read_build

    build = read_build(rt, backend, build_id)
    try:
        result = run(
            rt, backend=backend, build_id=build.id, checks=checks, checks_factory=checks_factory
        )
    except SuiteError as err:
        note = diagnose_note(rt, build)
        if note:
            err.details["restore_point"] = note
        raise
    note = diagnose_note(rt, build)
    return {**result, "restore_point": note} if note else result
