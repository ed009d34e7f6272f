"""IAM identity-policy evaluation: Allow/Deny, wildcards, Not*, conditions, boundaries."""

from __future__ import annotations

from typing import Any

from tasks.provision.policy import (
    Decision,
    NamedDocument,
    Request,
    evaluate,
    glob_match,
    intersect,
    trusts_service,
)

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"


def doc(*statements: dict[str, Any], source: str = "inline:p") -> NamedDocument:
    return NamedDocument(source, {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(docs: list[NamedDocument], action: str, resource: str = "*", **ctx: Any) -> Decision:
    context = {k.replace("__", ":"): tuple(v) for k, v in ctx.items()}
    return evaluate(docs, Request(action, resource, context)).decision


def test_glob_wildcards() -> None:
    assert glob_match("secretsmanager:Get*", "secretsmanager:GetSecretValue")
    assert glob_match("ec2:Describe?pcs", "ec2:DescribeVpcs")
    assert not glob_match("ec2:Describe?pcs", "ec2:DescribeXXpcs")
    assert glob_match("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b")
    assert not glob_match("arn:aws:s3:::bucket", "arn:aws:s3:::bucket/a")


def test_no_statement_is_an_implicit_deny() -> None:
    assert decide([], "s3:GetObject") is Decision.IMPLICIT_DENY
    assert decide([doc(allow("s3:PutObject"))], "s3:GetObject") is Decision.IMPLICIT_DENY


def test_actions_match_case_insensitively_resources_do_not() -> None:
    docs = [doc(allow("SecretsManager:getsecretvalue", SECRET))]
    assert decide(docs, "secretsmanager:GetSecretValue", SECRET) is Decision.ALLOWED
    assert decide(docs, "secretsmanager:GetSecretValue", SECRET.upper()) is Decision.IMPLICIT_DENY


def test_wildcard_action_and_resource() -> None:
    docs = [doc(allow("secretsmanager:*", "arn:aws:secretsmanager:*:123456789012:secret:db-*"))]
    assert decide(docs, "secretsmanager:GetSecretValue", SECRET) is Decision.ALLOWED
    other = SECRET.replace("db-", "other-")
    assert decide(docs, "secretsmanager:GetSecretValue", other) is Decision.IMPLICIT_DENY


def test_explicit_deny_wins_over_any_allow() -> None:
    docs = [
        doc(allow("*")),
        doc({**deny("secretsmanager:*"), "Sid": "NoSecrets"}, source="arn:guard"),
    ]
    outcome = evaluate(docs, Request("secretsmanager:GetSecretValue", SECRET))
    assert outcome.decision is Decision.DENIED
    assert outcome.statements == ("arn:guard#NoSecrets",)
    assert decide(docs, "ecr:BatchGetImage") is Decision.ALLOWED


def test_not_action_and_not_resource() -> None:
    docs = [doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})]
    assert decide(docs, "logs:PutLogEvents") is Decision.ALLOWED
    assert decide(docs, "iam:PassRole") is Decision.IMPLICIT_DENY
    deny_others = {"Effect": "Deny", "Action": "secretsmanager:*", "NotResource": SECRET}
    docs = [doc(allow("secretsmanager:*"), deny_others)]
    assert decide(docs, "secretsmanager:GetSecretValue", SECRET) is Decision.ALLOWED
    assert decide(docs, "secretsmanager:GetSecretValue", SECRET + "x") is Decision.DENIED


def test_unknown_condition_is_conditional() -> None:
    docs = [doc(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))]
    outcome = evaluate(docs, Request("s3:GetObject", "*"))
    assert outcome.decision is Decision.CONDITIONAL
    assert outcome.unknown_conditions == ("IpAddress aws:SourceIp",)


def test_conditions_evaluated_from_context() -> None:
    cond = {
        "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
        "ArnEquals": {"ec2:Subnet": ["arn:aws:ec2:us-east-1:1:subnet/subnet-a"]},
    }
    docs = [doc(allow("ec2:CreateNetworkInterfacePermission", Condition=cond))]
    action = "ec2:CreateNetworkInterfacePermission"
    ok = decide(
        docs,
        action,
        ec2__AuthorizedService=["codebuild.amazonaws.com"],
        ec2__Subnet=["arn:aws:ec2:us-east-1:1:subnet/subnet-a"],
    )
    assert ok is Decision.ALLOWED
    wrong_subnet = decide(
        docs,
        action,
        ec2__AuthorizedService=["codebuild.amazonaws.com"],
        ec2__Subnet=["arn:aws:ec2:us-east-1:1:subnet/subnet-b"],
    )
    assert wrong_subnet is Decision.IMPLICIT_DENY
    assert decide(docs, action) is Decision.CONDITIONAL


def test_if_exists_and_negated_operators() -> None:
    cond = {"StringEqualsIfExists": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    docs = [doc(allow("kms:Decrypt", Condition=cond))]
    assert decide(docs, "kms:Decrypt") is Decision.ALLOWED  # key absent: IfExists holds
    not_like = {"StringNotLike": {"aws:PrincipalTag/team": "ops*"}}
    docs = [doc(allow("kms:Decrypt"), deny("kms:Decrypt", Condition=not_like))]
    key = "aws:PrincipalTag/team"
    ops = evaluate(docs, Request("kms:Decrypt", "*", {key: ("ops-db",)}))
    dev = evaluate(docs, Request("kms:Decrypt", "*", {key: ("dev",)}))
    assert ops.decision is Decision.ALLOWED
    assert dev.decision is Decision.DENIED
    assert decide(docs, "kms:Decrypt") is Decision.CONDITIONAL  # tag unknown


def test_conditional_deny_makes_an_allow_conditional() -> None:
    cond = {"Bool": {"aws:MultiFactorAuthPresent": "false"}}
    docs = [doc(allow("*"), deny("secretsmanager:*", Condition=cond))]
    assert decide(docs, "secretsmanager:GetSecretValue", SECRET) is Decision.CONDITIONAL


def test_permissions_boundary_caps_the_identity_policy() -> None:
    identity = evaluate([doc(allow("*"))], Request("secretsmanager:GetSecretValue", SECRET))
    boundary = evaluate([doc(allow("ecr:*"))], Request("secretsmanager:GetSecretValue", SECRET))
    assert intersect(identity, boundary).decision is Decision.IMPLICIT_DENY
    both = evaluate(
        [doc(allow("secretsmanager:*"))], Request("secretsmanager:GetSecretValue", SECRET)
    )
    assert intersect(identity, both).decision is Decision.ALLOWED


def test_trust_policy_for_codebuild() -> None:
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["codebuild.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    assert trusts_service(trust, "codebuild.amazonaws.com")
    assert not trusts_service(trust, "ec2.amazonaws.com")
    ec2_only = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:*"}
        ]
    }
    assert not trusts_service(ec2_only, "codebuild.amazonaws.com")
    assert not trusts_service({}, "codebuild.amazonaws.com")


def test_trust_conditions_are_evaluated_against_what_codebuild_supplies() -> None:
    from tasks.provision.policy import evaluate_trust

    arn = "arn:aws:codebuild:us-east-1:123456789012:project/mig"
    context = {"aws:SourceAccount": ("123456789012",), "aws:SourceArn": (arn,)}

    def trust(effect: str, condition: dict[str, Any]) -> dict[str, Any]:
        statement = {
            "Sid": effect,
            "Effect": effect,
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": condition,
        }
        return {"Statement": [statement]}

    service = "codebuild.amazonaws.com"
    ok = evaluate_trust(trust("Allow", {"ArnLike": {"aws:SourceArn": arn}}), service, context)
    assert ok.trusted and not ok.unknown
    assert trusts_service(trust("Allow", {"ArnLike": {"aws:SourceArn": arn}}), service, context)
    assert not trusts_service(trust("Allow", {"ArnLike": {"aws:SourceArn": arn}}), service)
    other = evaluate_trust(
        trust("Allow", {"StringEquals": {"aws:SourceAccount": ["1", "2"]}}), service, context
    )
    assert not other.trusted
    assert other.mismatched == (
        "StringEquals aws:SourceAccount 1, 2 (CodeBuild supplies 123456789012)",
    )
    if_exists = {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}
    assert evaluate_trust(trust("Allow", if_exists), service, context).trusted
    denied = {
        "Statement": [
            *trust("Allow", {})["Statement"],
            *trust("Deny", {"StringNotEquals": {"aws:SourceAccount": "999999999999"}})["Statement"],
        ]
    }
    result = evaluate_trust(denied, service, context)
    assert result.denied and result.statements == ("trust#Deny",)
