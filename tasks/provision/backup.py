"""``invoke doctor``'s backup check: may the CALLER (you, or the CI role; not the build role)
create, describe and delete the pre-migration snapshots, and does the database exist?

``read_backup`` is the read-only adapter (STS GetCallerIdentity, RDS Describe*, IAM
SimulatePrincipalPolicy for ``snapshot_needs``); ``check_backup`` is pure. Added to doctor's
checks only where ``backup: snapshot`` applies.

AWS (IAM API, SimulatePrincipalPolicy): "EvalDecision: The result of the simulation" —
``allowed``, ``explicitDeny`` or ``implicitDeny``. The simulator is unavailable to callers
without ``iam:SimulatePrincipalPolicy`` (and in moto): then the check says what it could not
verify and lists what is needed, rather than passing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .doctor import FAIL, PASS, WARN, Check
from .requirements import BackupPolicy, backup_policy, snapshot_needs

SINGLE_AZ = "Single-AZ: a snapshot briefly suspends I/O (AWS, Creating a DB snapshot)"


@dataclass(frozen=True)
class BackupFacts:
    policy: BackupPolicy
    exists: bool | None = None  # None: could not read
    multi_az: bool | None = None
    caller: str = ""
    decisions: Mapping[str, str] | None = None  # "action resource" -> EvalDecision
    needed: tuple[str, ...] = ()  # "action resource"
    error: str = ""


def check_backup(f: BackupFacts) -> Check:
    p = f.policy
    what = f"{p.kind} {p.database}"
    if f.exists is False:
        return Check(
            "backup",
            FAIL,
            f"backup: snapshot, but {what} does not exist in {p.region}",
            f"fix database_{p.kind} in invoke.yaml, or set backup: none",
        )
    evidence = tuple(f.needed) + ((f"caller {f.caller}",) if f.caller else ())
    az = f" ({SINGLE_AZ})" if f.multi_az is False else ""
    if f.decisions is None:
        return Check(
            "backup",
            WARN,
            f"snapshot of {what} before migrating; could not verify the caller's permissions"
            + (f" ({f.error})" if f.error else "")
            + az,
            "make sure the caller may: " + ", ".join(sorted({n.split()[0] for n in f.needed})),
            evidence,
        )
    denied = sorted(n for n in f.needed if f.decisions.get(n, "implicitDeny") != "allowed")
    if denied:
        return Check(
            "backup",
            FAIL,
            f"the caller may not {', '.join(sorted({d.split()[0] for d in denied}))} "
            f"(needed for the snapshot of {what} before migrating)",
            "grant them to the caller (not the build role): " + "; ".join(denied),
            evidence,
        )
    return Check("backup", PASS, f"the caller may snapshot {what} and prune its snapshots{az}")


DATABASE_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault", "DBClusterNotFoundFault")


def read_backup(rt: Any) -> BackupFacts | None:
    """None where no snapshot is taken (backup: none, or no database configured)."""
    from ..core.aws import ReadRefused, read_aws
    from ..core.retrying import error_code

    policy = backup_policy(rt.settings)
    if not policy.enabled:
        return None
    needs = snapshot_needs(rt.settings)
    needed = tuple(f"{n.action} {n.resource}" for n in needs)
    rds = rt.aws.client("rds")
    exists: bool | None = None
    multi_az: bool | None = None
    try:  # a refused read leaves it unknown; no credentials at all is raised, as doctor's reads
        if policy.kind == "cluster":
            read_aws(
                lambda: rds.describe_db_clusters(DBClusterIdentifier=policy.database),
                "RDS DescribeDBClusters",
            )
        else:
            found = read_aws(
                lambda: rds.describe_db_instances(DBInstanceIdentifier=policy.database),
                "RDS DescribeDBInstances",
            )
            multi_az = bool((found.get("DBInstances") or [{}])[0].get("MultiAZ"))
        exists = True
    except ReadRefused as refused:
        exists = False if refused.code in DATABASE_NOT_FOUND else None
    caller, error = "", ""
    decisions: dict[str, str] | None = None
    try:
        caller = caller_principal(rt.aws.client("sts").get_caller_identity()["Arn"])
        decisions = {}
        iam = rt.aws.client("iam")
        by_resource: dict[str, list[str]] = {}
        for n in needs:
            by_resource.setdefault(n.resource, []).append(n.action)
        for resource, actions in by_resource.items():
            answer = iam.simulate_principal_policy(
                PolicySourceArn=caller, ActionNames=actions, ResourceArns=[resource]
            )
            for item in answer.get("EvaluationResults") or []:
                decisions[f"{item.get('EvalActionName')} {resource}"] = str(
                    item.get("EvalDecision")
                )
    except Exception as exc:
        decisions, error = None, f"IAM policy simulator: {error_code(exc) or type(exc).__name__}"
    return BackupFacts(policy, exists, multi_az, caller, decisions, needed, error)


def caller_principal(arn: str) -> str:
    """The IAM principal to simulate: an assumed-role session's role (path not known here)."""
    if ":assumed-role/" in arn:
        account = arn.split(":")[4]
        role = arn.split(":assumed-role/", 1)[1].split("/")[0]
        return f"arn:aws:iam::{account}:role/{role}"
    return arn


def backup_checks(rt: Any) -> list[Check]:
    facts = read_backup(rt)
    return [] if facts is None else [check_backup(facts)]
