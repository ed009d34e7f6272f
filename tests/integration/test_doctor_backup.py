"""``doctor``'s backup check against moto over HTTP: the database must exist, and the caller
(not the build role) must be allowed to create, describe and delete the suite's snapshots.

moto has no IAM policy simulator (HTTP 500), so the allowed/denied answers come from a fake
SimulatePrincipalPolicy on the suite's own IAM client, answering as AWS documents it
("EvalDecision: The result of the simulation": allowed | explicitDeny | implicitDeny)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from botocore.awsrequest import AWSResponse

from tasks.provision.doctor import Check
from tasks.provision.facts import doctor
from tests.helpers import aws_world as aw
from tests.helpers.aws_world import make_rt

NS = "https://iam.amazonaws.com/doc/2010-05-08/"


@pytest.fixture
def world(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[aw.World]:
    aw.patch_moto_codebuild(monkeypatch)
    yield aw.build_world(aws_env)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def fake_simulator(denied: set[str]) -> Any:
    def answer(request: Any, **_: Any) -> AWSResponse:
        form = parse_qs(request.body.decode() if isinstance(request.body, bytes) else request.body)
        actions = [v[0] for k, v in sorted(form.items()) if k.startswith("ActionNames.member.")]
        resource = form["ResourceArns.member.1"][0]
        members = "".join(
            f"<member><EvalActionName>{a}</EvalActionName><EvalResourceName>{resource}"
            f"</EvalResourceName><EvalDecision>{'implicitDeny' if a in denied else 'allowed'}"
            "</EvalDecision></member>"
            for a in actions
        )
        body = (
            f'<SimulatePrincipalPolicyResponse xmlns="{NS}"><SimulatePrincipalPolicyResult>'
            f"<IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults>"
            "</SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>fake</RequestId>"
            "</ResponseMetadata></SimulatePrincipalPolicyResponse>"
        ).encode()
        return AWSResponse("http://fake", 200, {}, _Raw(body))

    return answer


def backup_check(world: aw.World, denied: set[str] | None = None, **overrides: Any) -> Check:
    rt, _out, _err = make_rt(aw.settings(world.endpoint, confirm=True, **overrides))
    if denied is not None:
        rt.aws.client("iam").meta.events.register(
            "before-send.iam.SimulatePrincipalPolicy", fake_simulator(denied)
        )
    (found,) = [c for c in doctor(rt) if c.id == "backup"]
    return found


def test_without_a_simulator_it_warns_and_lists_what_the_caller_needs(world: aw.World) -> None:
    check = backup_check(world)  # moto: SimulatePrincipalPolicy answers HTTP 500
    assert check.status == "warn" and "could not verify" in check.message
    assert "Single-AZ" in check.message
    for action in ("rds:CreateDBSnapshot", "rds:DescribeDBSnapshots", "rds:DeleteDBSnapshot"):
        assert action in check.fix


def test_fake_simulator_allowing_everything_passes(world: aw.World) -> None:
    check = backup_check(world, denied=set())
    assert check.status == "pass" and "may snapshot instance daadaar-db" in check.message


def test_fake_simulator_denying_delete_fails_naming_it(world: aw.World) -> None:
    check = backup_check(world, denied={"rds:DeleteDBSnapshot"})
    assert check.status == "fail"
    assert "may not rds:DeleteDBSnapshot" in check.message
    assert "snapshot:daadaar-migrations-test-*" in check.fix and "not the build role" in check.fix


def test_missing_database_fails(world: aw.World) -> None:
    check = backup_check(world, database_instance="nope")
    assert check.status == "fail" and "does not exist" in check.message


def test_no_check_where_no_snapshot_is_taken(world: aw.World) -> None:
    rt, _out, _err = make_rt(aw.settings(world.endpoint, confirm=True, backup="none"))
    assert "backup" not in [c.id for c in doctor(rt)]
