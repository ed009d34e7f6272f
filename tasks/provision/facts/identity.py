"""Reads of the service role (its policies, IAM's simulator) and of the database secret."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from ...core.aws import ReadRefused, translate
from ...core.retrying import INVALID_CREDENTIAL_CODES, error_code, is_expired
from ...core.runtime import Runtime
from ..doctor import (
    DbUrl,
    Facts,
    RoleFacts,
    SecretFacts,
    parse_database_url,
    pulled_with_role,
)
from ..policy import Decision, NamedDocument, Outcome
from ..requirements import needs, role_name
from .calls import policy_document, read_or_code, read_refusable
from .network import pages


def read_secret(rt: Runtime, json_key: str = "") -> SecretFacts:
    ref = rt.settings.secret
    if not ref:
        return SecretFacts("")
    sm = rt.aws.client("secretsmanager")
    described, code = read_or_code(lambda: sm.describe_secret(SecretId=ref))
    if described is None:
        if code == "ResourceNotFoundException":
            return SecretFacts(ref)
        return SecretFacts(ref, error=code)
    facts = SecretFacts(
        ref,
        exists=True,
        arn=str(described.get("ARN", "")),
        kms_key_arn=customer_key_arn(rt, str(described.get("KmsKeyId") or "")),
        deleted=bool(described.get("DeletedDate")),
    )
    if facts.deleted:
        return facts
    value, code = read_or_code(lambda: sm.get_secret_value(SecretId=ref))
    if value is None:
        return replace(facts, error=code)
    text = value.get("SecretString")
    if text is None:
        return replace(facts, readable=True, parse_error="the secret holds binary, not a string")
    rt.redactor.add(str(text))
    url, problem = _parse_secret(str(text), json_key)
    if url is not None:
        return replace(facts, readable=True, url=url)
    return replace(facts, readable=True, parse_error=problem)


def _parse_secret(text: str, json_key: str) -> tuple[DbUrl | None, str]:
    """Parse without ever putting the value into an error message."""
    if json_key or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None, "the variable names a JSON key but the secret is not JSON"
        if not json_key:
            keys = ", ".join(sorted(data)) if isinstance(data, dict) else "?"
            return None, (
                f"it holds JSON (keys: {keys}), not a URL; store the URL itself or reference "
                "a key holding it as DATABASE_URL=secret-id:KEY"
            )
        if not isinstance(data, dict) or json_key not in data:
            return None, f"the secret's JSON has no key {json_key!r}"
        text = str(data[json_key])
    try:
        return parse_database_url(text), ""
    except ValueError as err:
        return None, str(err)


def customer_key_arn(rt: Runtime, key_id: str) -> str:
    """The key's ARN when it is customer-managed (those need kms:Decrypt in the role)."""
    if not key_id or key_id in ("alias/aws/secretsmanager",):
        return ""
    kms = rt.aws.client("kms")
    described, _code = read_or_code(lambda: kms.describe_key(KeyId=key_id))
    if described is None:  # cannot tell: assume the stricter case when it is an ARN
        return key_id if key_id.startswith("arn:") else ""
    meta = described.get("KeyMetadata") or {}
    return str(meta.get("Arn", "")) if meta.get("KeyManager") == "CUSTOMER" else ""


def read_role(rt: Runtime, project: Mapping[str, Any] | None) -> RoleFacts | None:
    configured = str((project or {}).get("serviceRole") or rt.settings.service_role or "")
    if not configured and not rt.settings.project:
        return None
    name = configured.rsplit("/", 1)[-1] if configured else role_name(rt.settings)
    iam = rt.aws.client("iam")
    got, code = read_or_code(lambda: iam.get_role(RoleName=name))
    if got is None:
        return RoleFacts(name, configured, error="" if code == "NoSuchEntity" else code)
    role = got["Role"]
    docs: list[NamedDocument] = []
    unreadable: list[str] = []
    try:
        for attached in read_refusable(
            "listing role policies",
            lambda: list(
                pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
            ),
        ):
            doc = _managed_document(iam, str(attached["PolicyArn"]))
            if doc is None:
                unreadable.append(str(attached["PolicyArn"]))
            else:
                docs.append(doc)
        for policy_name in read_refusable(
            "listing inline policies",
            lambda: list(pages(iam, "list_role_policies", "PolicyNames", RoleName=name)),
        ):
            got_inline = read_refusable(
                "reading an inline policy",
                partial(iam.get_role_policy, RoleName=name, PolicyName=policy_name),
            )
            docs.append(
                NamedDocument(
                    f"inline:{policy_name}", policy_document(got_inline["PolicyDocument"])
                )
            )
    except ReadRefused as err:
        return RoleFacts(name, str(role["Arn"]), exists=True, error=str(err))
    boundary_arn = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    boundary = _managed_document(iam, str(boundary_arn)) if boundary_arn else None
    return RoleFacts(
        name,
        str(role["Arn"]),
        exists=True,
        trust=policy_document(role.get("AssumeRolePolicyDocument")),
        documents=tuple(docs),
        boundary=boundary,
        unreadable=tuple(unreadable),
    )


def _managed_document(iam: Any, arn: str) -> NamedDocument | None:
    policy, _ = read_or_code(lambda: iam.get_policy(PolicyArn=arn))
    if policy is None:
        return None
    version_id = policy["Policy"]["DefaultVersionId"]
    version, _ = read_or_code(lambda: iam.get_policy_version(PolicyArn=arn, VersionId=version_id))
    if version is None:
        return None
    return NamedDocument(arn, policy_document(version["PolicyVersion"]["Document"]))


_SIM = {
    "allowed": Decision.ALLOWED,
    "explicitDeny": Decision.DENIED,
    "implicitDeny": Decision.IMPLICIT_DENY,
}


def simulate(
    rt: Runtime, role: RoleFacts, facts: Facts
) -> Mapping[tuple[str, str], Outcome] | None:
    """Ask IAM's policy simulator; None when it does not answer (moto, or not allowed)."""
    iam = rt.aws.client("iam")
    wanted = needs(
        rt.settings,
        subnets=facts.network.subnet_ids,
        groups=facts.network.group_ids,
        secret_arn=facts.secret.arn,
        kms_key_arn=facts.secret.kms_key_arn,
        build_image=pulled_with_role(facts.project),
    )
    # one call per (resource, context): IAM evaluates every listed action against it
    groups: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], list[str]] = {}
    for need in wanted:
        key = (need.resource, tuple(sorted(need.context.items())))
        groups.setdefault(key, []).append(need.action)
    results: dict[tuple[str, str], Outcome] = {}
    for (resource, context), actions in groups.items():
        entries = [
            {"ContextKeyName": k, "ContextKeyValues": list(v), "ContextKeyType": "stringList"}
            for k, v in context
        ]
        try:
            answer = iam.simulate_principal_policy(
                PolicySourceArn=role.arn,
                ActionNames=actions,
                ResourceArns=[resource],
                ContextEntries=entries,
            )
        except Exception as exc:
            if error_code(exc) in INVALID_CREDENTIAL_CODES or is_expired(exc):
                raise translate(exc, "simulating the role's policies") from None
            return None  # moto answers 500; a caller may lack iam:SimulatePrincipalPolicy
        by_name = {a.lower(): a for a in actions}
        for item in answer.get("EvaluationResults") or []:
            action = by_name.get(str(item.get("EvalActionName", "")).lower())
            if action is not None:
                results[(action, resource)] = _outcome(item)
    return results


def _outcome(item: Mapping[str, Any]) -> Outcome:
    decision = _SIM.get(str(item.get("EvalDecision")), Decision.IMPLICIT_DENY)
    missing = tuple(str(m) for m in item.get("MissingContextValues") or [])
    if decision is Decision.IMPLICIT_DENY and missing:
        decision = Decision.CONDITIONAL
    sources = tuple(str(m.get("SourcePolicyId", "")) for m in item.get("MatchedStatements") or [])
    return Outcome(decision, sources, missing)
