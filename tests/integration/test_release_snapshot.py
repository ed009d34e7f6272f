"""The snapshot before a migration, against moto's RDS over HTTP and a scripted CodeBuild.

moto makes snapshots ``available`` at once and never refuses one for the database's state, so
two things are scripted with ``before-send`` hooks on the suite's own RDS client (fakes, named
so in the tests): a snapshot still ``creating`` (progress), and ``InvalidDBInstanceState`` /
``InvalidDBClusterStateFault``, answered as AWS documents them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tasks.codebuild.model import BuildUnsuccessful
from tasks.codebuild.services import Services
from tasks.core.errors import ExitCode, QuotaExceeded
from tasks.release import collaborators, db_actions, failure, flow, snapshot
from tasks.release.state import ReleaseState
from tests.helpers.aws_world import client
from tests.helpers.scripted_codebuild import Script, ScriptedCodeBuild, VirtualClock
from tests.integration.test_codebuild_stage import PROJECT, Harness, _script

DB = "daadaar-db"
CLUSTER = "daadaar-aurora"
NS = "http://rds.amazonaws.com/doc/2014-10-31/"


@pytest.fixture
def fake(scripted_codebuild: Callable[..., ScriptedCodeBuild]) -> ScriptedCodeBuild:
    return scripted_codebuild(PROJECT)


def make_instance(endpoint: str, *, multi_az: bool = False) -> Any:
    rds = client("rds", endpoint)
    rds.create_db_instance(
        DBInstanceIdentifier=DB,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        MultiAZ=multi_az,
    )
    return rds


def make_cluster(endpoint: str) -> Any:
    rds = client("rds", endpoint)
    rds.create_db_cluster(
        DBClusterIdentifier=CLUSTER,
        Engine="aurora-postgresql",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
    )
    return rds


def harness(clock: VirtualClock, **flags: Any) -> Harness:
    h = Harness(clock, **flags)  # env prod: confirm: true, so backup defaults to snapshot
    h.questions: list[str] = []  # type: ignore[misc]
    h.rt.part(Services).ask = lambda q: h.questions.append(q) or True  # type: ignore[attr-defined]
    return h


def snapshots(rds: Any) -> dict[str, dict[str, str]]:
    found = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    return {s["DBSnapshotIdentifier"]: {t["Key"]: t["Value"] for t in s["TagList"]} for s in found}


def test_snapshot_is_created_tagged_waited_for_and_recorded(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    rds = make_instance(aws_env)
    fake.scripts = [_script(3)]
    h = harness(clock, database_instance=DB)
    result = db_actions.run_action(h.rt, "migrate")
    snap = result["snapshot"]
    # project, the first 12 hex of the image digest, the UTC time
    assert snap["id"].startswith(f"{PROJECT}-abababababab-")
    assert snap["status"] == "available" and snap["kind"] == "instance"
    tags = snapshots(rds)[snap["id"]]
    assert tags[snapshot.SUITE_TAG_KEY] == PROJECT and tags["release-suite:env"] == "prod"
    assert "after a snapshot of instance daadaar-db" in h.questions[0]  # type: ignore[attr-defined]
    # made before the build started: the step line precedes "started build"
    text = h.out.getvalue()
    assert text.index("snapshot instance daadaar-db") < text.index("started build")
    assert "is Single-AZ" in h.err.getvalue() and "brief I/O suspension" in h.err.getvalue()


def test_multi_az_instance_gets_no_io_pause_warning(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    make_instance(aws_env, multi_az=True)
    fake.scripts = [_script(1)]
    h = harness(clock, database_instance=DB)
    db_actions.run_action(h.rt, "migrate")
    assert "Single-AZ" not in h.err.getvalue()


def test_retention_deletes_only_the_suites_own_beyond_keep(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    rds = make_instance(aws_env)
    own = {snapshot.SUITE_TAG_KEY: PROJECT}
    for i in range(3):
        rds.create_db_snapshot(
            DBSnapshotIdentifier=f"a-old-{i}",
            DBInstanceIdentifier=DB,
            Tags=[{"Key": k, "Value": v} for k, v in own.items()],
        )
        time.sleep(0.01)  # distinct SnapshotCreateTime
    for i in range(2):  # someone else's manual snapshots: never touched
        rds.create_db_snapshot(DBSnapshotIdentifier=f"theirs-{i}", DBInstanceIdentifier=DB)
    fake.scripts = [_script(1)]
    h = harness(clock, database_instance=DB, backup_keep=2)
    result = db_actions.run_action(h.rt, "migrate")
    left = set(snapshots(rds))
    assert left == {"a-old-2", result["snapshot"]["id"], "theirs-0", "theirs-1"}
    assert sorted(result["snapshots_deleted"]) == ["a-old-0", "a-old-1"]


def test_failed_migration_line_gives_the_restore_command_and_keeps_snapshots(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    rds = make_instance(aws_env)
    rds.create_db_snapshot(
        DBSnapshotIdentifier="a-old-0",
        DBInstanceIdentifier=DB,
        Tags=[{"Key": snapshot.SUITE_TAG_KEY, "Value": PROJECT}],
    )
    fake.scripts = [_script(2, final="FAILED")]
    h = harness(clock, database_instance=DB, backup_keep=1)
    h.rt.part(Services).diagnose = False
    with pytest.raises(BuildUnsuccessful) as caught:
        db_actions.run_action(h.rt, "migrate")
    line = caught.value.line()
    assert "\n" not in line
    sid = caught.value.details["snapshot"]["id"]
    assert (
        "aws rds restore-db-instance-from-db-snapshot --db-instance-identifier "
        f"daadaar-db-restored --db-snapshot-identifier {sid} --region us-east-1" in line
    )
    assert "modify-db-instance --db-instance-identifier daadaar-db" in line  # how to switch
    assert set(snapshots(rds)) == {"a-old-0", sid}  # no pruning after a failure


def test_cluster_path_snapshots_the_aurora_cluster_and_restores_a_cluster(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    rds = make_cluster(aws_env)
    fake.scripts = [_script(1, final="FAILED")]
    h = harness(clock, database_cluster=CLUSTER)
    h.rt.part(Services).diagnose = False
    with pytest.raises(BuildUnsuccessful) as caught:
        db_actions.run_action(h.rt, "migrate")
    sid = caught.value.details["snapshot"]["id"]
    found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=sid)
    assert found["DBClusterSnapshots"][0]["DBClusterIdentifier"] == CLUSTER
    line = caught.value.line()
    assert (
        f"aws rds restore-db-cluster-from-snapshot --db-cluster-identifier daadaar-aurora-restored "
        f"--snapshot-identifier {sid} --engine aurora-postgresql" in line
    )
    assert "Single-AZ" not in h.err.getvalue()


def test_no_backup_skips_it_and_the_prompt_says_so(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    rds = make_instance(aws_env)
    fake.scripts = [_script(1)]
    h = harness(clock, database_instance=DB)
    h.rt.part(ReleaseState).no_backup = True
    result = db_actions.run_action(h.rt, "migrate")
    assert "WITHOUT a snapshot first (--no-backup)" in h.questions[0]  # type: ignore[attr-defined]
    assert "snapshot" not in result and snapshots(rds) == {}


@pytest.mark.parametrize("kind", ["instance", "cluster"])
def test_database_that_does_not_exist_is_one_line_and_starts_nothing(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str, kind: str
) -> None:
    flags = {"database_cluster": "nope"} if kind == "cluster" else {"database_instance": "nope"}
    h = harness(clock, **flags)
    with pytest.raises(snapshot.BackupFailed) as caught:
        db_actions.run_action(h.rt, "migrate")
    line = caught.value.line()
    assert "does not exist in us-east-1" in line and "Fix: fix database_" in line
    assert caught.value.code == ExitCode.BACKUP
    assert fake.builds == {} or not fake.builds


def test_snapshot_quota_reached_is_one_line(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_instance(aws_env)
    monkeypatch.setenv("MOTO_RDS_SNAPSHOT_LIMIT", "0")  # moto's own SnapshotQuotaExceeded
    h = harness(clock, database_instance=DB)
    with pytest.raises(QuotaExceeded) as caught:
        db_actions.run_action(h.rt, "migrate")
    assert "manual snapshot quota" in caught.value.line()
    assert "SnapshotQuotaExceeded" in caught.value.line()
    assert caught.value.code == ExitCode.AWS_QUOTA


def _error_xml(code: str, message: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>fake-1</RequestId></ErrorResponse>"
    ).encode()


@pytest.mark.parametrize(
    ("kind", "operation", "code"),
    [
        # AWS, CreateDBSnapshot, Errors: "InvalidDBInstanceState: The DB instance isn't in a
        # valid state. HTTP Status Code: 400"
        ("instance", "CreateDBSnapshot", "InvalidDBInstanceState"),
        # AWS, CreateDBClusterSnapshot, Errors: "InvalidDBClusterStateFault: The requested
        # operation can't be performed while the cluster is in this state. HTTP 400"
        ("cluster", "CreateDBClusterSnapshot", "InvalidDBClusterStateFault"),
    ],
)
def test_fake_database_state_that_cannot_snapshot_is_one_line(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str, kind: str, operation: str, code: str
) -> None:
    make_cluster(aws_env) if kind == "cluster" else make_instance(aws_env)
    flags = {"database_cluster": CLUSTER} if kind == "cluster" else {"database_instance": DB}
    h = harness(clock, **flags)
    body = _error_xml(code, "Instance daadaar-db is not in available state.")

    def refuse(**_: Any) -> AWSResponse:
        return AWSResponse("http://fake", 400, {}, _Raw(body))

    h.rt.aws.client("rds").meta.events.register(f"before-send.rds.{operation}", refuse)
    with pytest.raises(snapshot.BackupFailed) as caught:
        db_actions.run_action(h.rt, "migrate")
    line = caught.value.line()
    assert "in its current state" in line and code in line and "wait until it is" in line
    assert not fake.builds


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def test_fake_snapshot_still_creating_shows_progress_then_waits(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    make_instance(aws_env)
    fake.scripts = [_script(1)]
    h = harness(clock, database_instance=DB)
    left = [2]

    def creating(request: Any, **_: Any) -> AWSResponse | None:
        # AWS (DBSnapshot): "Status: Specifies the status of this DB snapshot";
        # "PercentProgress: The percentage of the estimated data that has been transferred"
        if left[0] <= 0:
            return None
        left[0] -= 1
        body = (
            f'<DescribeDBSnapshotsResponse xmlns="{NS}"><DescribeDBSnapshotsResult>'
            "<DBSnapshots><DBSnapshot><DBSnapshotIdentifier>x</DBSnapshotIdentifier>"
            f"<DBInstanceIdentifier>{DB}</DBInstanceIdentifier><Status>creating</Status>"
            f"<PercentProgress>{40 + 30 * (1 - left[0])}</PercentProgress></DBSnapshot>"
            "</DBSnapshots></DescribeDBSnapshotsResult><ResponseMetadata><RequestId>r"
            "</RequestId></ResponseMetadata></DescribeDBSnapshotsResponse>"
        ).encode()
        return AWSResponse("http://fake", 200, {}, _Raw(body))

    h.rt.aws.client("rds").meta.events.register("before-send.rds.DescribeDBSnapshots", creating)
    result = db_actions.run_action(h.rt, "migrate")
    out = h.out.getvalue()
    assert "creating, 40% done" in out and "creating, 70% done" in out
    assert result["snapshot"]["status"] == "available"


def test_fake_snapshot_that_never_finishes_is_bounded(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    make_instance(aws_env)
    h = harness(clock, database_instance=DB, backup_wait=60)

    def creating(request: Any, **_: Any) -> AWSResponse:
        body = (
            f'<DescribeDBSnapshotsResponse xmlns="{NS}"><DescribeDBSnapshotsResult>'
            "<DBSnapshots><DBSnapshot><DBSnapshotIdentifier>x</DBSnapshotIdentifier>"
            "<Status>creating</Status><PercentProgress>1</PercentProgress></DBSnapshot>"
            "</DBSnapshots></DescribeDBSnapshotsResult></DescribeDBSnapshotsResponse>"
        ).encode()
        return AWSResponse("http://fake", 200, {}, _Raw(body))

    h.rt.aws.client("rds").meta.events.register("before-send.rds.DescribeDBSnapshots", creating)
    with pytest.raises(snapshot.BackupFailed) as caught:
        db_actions.run_action(h.rt, "migrate")
    assert "still creating after 60s" in caught.value.line()
    assert len(clock.sleeps) <= 6 and not fake.builds


def test_policy_defaults_and_refusals() -> None:
    from tasks.core.config import load_settings
    from tasks.core.errors import UsageError

    def policy(**env: Any) -> snapshot.BackupPolicy:
        raw = {"environments": {"e": {"project": "p", **env}}}
        return snapshot.backup_policy(load_settings(raw, env="e", environ={}))

    assert policy(confirm=True, database_instance="d").enabled
    assert not policy(database_instance="d").enabled  # confirm false: default none
    assert policy(backup="snapshot", database_instance="d").enabled
    assert not policy(confirm=True, backup="none", database_instance="d").enabled
    assert policy(confirm=True, database_instance="d").keep == 5
    for bad in ({"backup": "daily"}, {"backup_keep": 0}, {"backup_keep": "five"}):
        with pytest.raises(UsageError):
            policy(database_instance="d", **bad)
    with pytest.raises(UsageError, match="names no database"):
        policy(backup="snapshot")


def test_snapshot_name_is_a_valid_rds_identifier() -> None:
    name = snapshot.snapshot_name("9--my_project", "r/x@sha256:" + "0f" * 32, 1_700_000_000)
    assert name == "r-9-my-project-0f0f0f0f0f0f-20231114-221320"
    assert snapshot.snapshot_name("p", "r/x:tag", 0).startswith("p-nodigest-19700101")


def test_to_prune_keeps_newest_own_and_never_others() -> None:
    S = snapshot.Snapshot
    snaps = [
        S("o1", "instance", "d", "r", created=1, own=True),
        S("o2", "instance", "d", "r", created=2, own=True),
        S("o3", "instance", "d", "r", created=3, own=True),
        S("x0", "instance", "d", "r", created=0, own=False),
        S("e1", "instance", "other", "r", created=0, own=True),
    ]
    assert [s.id for s in snapshot.to_prune(snaps, 2, "d")] == ["o1"]


_ = Script  # the scripted build's script type (used through _script)


def test_diagnose_of_the_failed_migration_names_its_restore_point(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    from tasks.core.errors import SuiteError

    rds = make_instance(aws_env)
    rds.create_db_snapshot(  # the suite's, but for another image: not this build's
        DBSnapshotIdentifier="a-other-image",
        DBInstanceIdentifier=DB,
        Tags=[
            {"Key": snapshot.SUITE_TAG_KEY, "Value": PROJECT},
            {"Key": snapshot.IMAGE_TAG_KEY, "Value": "sha256:" + "cd" * 32},
        ],
    )
    fake.scripts = [_script(2, final="FAILED")]
    h = harness(clock, database_instance=DB)
    h.rt.part(Services).diagnose = False
    with pytest.raises(BuildUnsuccessful) as caught:
        db_actions.run_action(h.rt, "migrate")
    sid = caught.value.details["snapshot"]["id"]
    later = harness(clock, database_instance=DB)
    try:
        result = snapshot.diagnose_with_restore_point(
            later.rt,
            caught.value.build.id,
            checks=False,
            backend=collaborators.backend_for(later.rt),
            checks_factory=failure.diagnosis_checks,
        )
    except SuiteError as err:  # no catalogue entry for the scripted lines: exit 21
        result = err.details
    assert result["restore_point"]["id"] == sid
    out = later.out.getvalue()
    assert f"restore point: snapshot {sid}" in out
    assert f"restore-db-instance-from-db-snapshot --db-instance-identifier {DB}-restored" in out


def test_release_prompt_names_the_snapshot_and_the_release_records_it(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    rds = make_instance(aws_env)
    fake.scripts = [_script(1)]
    h = harness(clock, database_instance=DB)
    done = flow.release(h.rt, skip_build=True)
    assert "after a snapshot of instance daadaar-db" in h.questions[0]  # type: ignore[attr-defined]
    sid = done["results"]["db.migrate"]["snapshot"]["id"]
    assert done["report"]["snapshot"]["id"] == sid and sid in snapshots(rds)
    steps = [s["name"] for s in done["report"]["steps"]]
    assert steps[-1] == "db.migrate"
