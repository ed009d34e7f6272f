"""Evaluate IAM identity-policy documents for one (action, resource) request. Pure module.

Used when IAM's policy simulator does not answer (moto, or a caller without
``iam:SimulatePrincipalPolicy``). It follows IAM's evaluation logic for identity policies:
an explicit Deny wins, otherwise an Allow is needed; ``Action``/``NotAction`` and
``Resource``/``NotResource`` with ``*`` and ``?`` wildcards (actions case-insensitive, resources
case-sensitive). Conditions are evaluated only for the operators and keys the caller supplies
in ``context`` (the String*/Arn* families, with ``IfExists`` and ``ForAnyValue:``); any other
condition makes the answer ``conditional`` (it depends on request facts we cannot know).
Not modelled: resource policies, SCPs, session policies (a permissions boundary is applied
by the caller by intersecting two evaluations). Trust policies are evaluated by
:func:`evaluate_trust` against the values the assuming service supplies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

Document = Mapping[str, Any]


class Decision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"  # an explicit Deny matched
    IMPLICIT_DENY = "implicit_deny"  # no Allow matched
    CONDITIONAL = "conditional"  # the answer depends on a condition we cannot evaluate


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    statements: tuple[str, ...] = ()  # "source#Sid" of the statements that decided
    unknown_conditions: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED


@dataclass(frozen=True)
class NamedDocument:
    """A policy document and where it came from (``inline:name`` or a policy ARN)."""

    source: str
    document: Document


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@lru_cache(maxsize=1024)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = ("." if ch == "?" else ".*" if ch == "*" else re.escape(ch) for ch in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("^" + "".join(parts) + "$", flags)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` any run of characters, ``?`` exactly one."""
    return bool(_glob(pattern, ignore_case).match(value))


def _matches_any(patterns: Iterable[Any], value: str, ignore_case: bool) -> bool:
    return any(glob_match(str(p), value, ignore_case=ignore_case) for p in patterns)


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not _matches_any(_as_list(statement["NotAction"]), action, True)
    return _matches_any(_as_list(statement.get("Action")), action, True)


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not _matches_any(_as_list(statement["NotResource"]), resource, False)
    return _matches_any(_as_list(statement.get("Resource")), resource, False)


_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda p, v: p == v,
    "StringNotEquals": lambda p, v: p != v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringNotEqualsIgnoreCase": lambda p, v: p.lower() != v.lower(),
    "StringLike": lambda p, v: glob_match(p, v),
    "StringNotLike": lambda p, v: not glob_match(p, v),
    "ArnEquals": lambda p, v: glob_match(p, v),
    "ArnLike": lambda p, v: glob_match(p, v),
    "ArnNotEquals": lambda p, v: not glob_match(p, v),
    "ArnNotLike": lambda p, v: not glob_match(p, v),
}


def _condition_holds(
    operator: str, key: str, expected: Any, context: Mapping[str, tuple[str, ...]]
) -> bool | None:
    """True/False when we can evaluate it, None when it depends on unknown request facts."""
    base = operator
    any_value = base.startswith("ForAnyValue:")
    base = base.split(":", 1)[1] if ":" in base else base
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    test = _STRING_OPS.get(base)
    if test is None:
        return None
    lowered = {k.lower(): v for k, v in context.items()}
    if key.lower() not in lowered:
        return True if if_exists else None
    values = lowered[key.lower()]
    patterns = [str(p) for p in _as_list(expected)]
    negated = "Not" in base
    if not values:
        return if_exists or negated
    if negated:  # every value must avoid every pattern
        return all(all(test(p, v) for p in patterns) for v in values)
    check = any if any_value or len(values) == 1 else all
    return check(any(test(p, v) for p in patterns) for v in values)


def _conditions(statement: Mapping[str, Any], request: Request) -> tuple[bool, tuple[str, ...]]:
    """(definitely false?, unknown condition names)."""
    unknown: list[str] = []
    for operator, block in (statement.get("Condition") or {}).items():
        for key, expected in (block or {}).items():
            holds = _condition_holds(str(operator), str(key), expected, request.context)
            if holds is False:
                return True, ()
            if holds is None:
                unknown.append(f"{operator} {key}")
    return False, tuple(unknown)


def _statements(doc: NamedDocument) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for index, statement in enumerate(_as_list(doc.document.get("Statement"))):
        if isinstance(statement, Mapping):
            label = statement.get("Sid") or f"statement {index + 1}"
            yield f"{doc.source}#{label}", statement


def evaluate(documents: Sequence[NamedDocument], request: Request) -> Outcome:
    """IAM's decision for one request over a principal's identity policies."""
    allow: list[str] = []
    maybe_allow: list[tuple[str, tuple[str, ...]]] = []
    maybe_deny: list[tuple[str, tuple[str, ...]]] = []
    for doc in documents:
        for label, statement in _statements(doc):
            if not (
                _action_matches(statement, request.action)
                and _resource_matches(statement, request.resource)
            ):
                continue
            ruled_out, unknown = _conditions(statement, request)
            if ruled_out:
                continue
            effect = str(statement.get("Effect", ""))
            if effect == "Deny" and not unknown:
                return Outcome(Decision.DENIED, (label,))
            target = maybe_deny if effect == "Deny" else maybe_allow if unknown else None
            if target is not None:
                target.append((label, unknown))
            elif effect == "Allow":
                allow.append(label)
    if maybe_deny and (allow or maybe_allow):
        label, unknown = maybe_deny[0]
        return Outcome(Decision.CONDITIONAL, (label,), unknown)
    if allow:
        return Outcome(Decision.ALLOWED, tuple(allow))
    if maybe_allow:
        label, unknown = maybe_allow[0]
        return Outcome(Decision.CONDITIONAL, (label,), unknown)
    return Outcome(Decision.IMPLICIT_DENY)


def intersect(identity: Outcome, boundary: Outcome) -> Outcome:
    """A permissions boundary caps the identity policies: both must allow."""
    for outcome in (identity, boundary):
        if outcome.decision in (Decision.DENIED, Decision.IMPLICIT_DENY):
            return outcome
    if identity.allowed and boundary.allowed:
        return identity
    return identity if identity.decision is Decision.CONDITIONAL else boundary


@dataclass(frozen=True)
class Trust:
    """Whether a trust policy lets a service assume the role, given the request's context."""

    trusted: bool
    statements: tuple[str, ...] = ()  # the statements that decided
    mismatched: tuple[str, ...] = ()  # "StringEquals aws:SourceAccount: 999 (request: 123)"
    unknown: tuple[str, ...] = ()  # conditions on keys the context does not supply
    denied: bool = False


def _describe_condition(
    operator: str, key: str, expected: Any, context: Mapping[str, tuple[str, ...]]
) -> str:
    lowered = {k.lower(): v for k, v in context.items()}
    supplied = ", ".join(lowered.get(key.lower(), ())) or "not supplied"
    wanted = ", ".join(str(v) for v in _as_list(expected))
    return f"{operator} {key} {wanted} (CodeBuild supplies {supplied})"


def _trust_conditions(
    statement: Mapping[str, Any], context: Mapping[str, tuple[str, ...]]
) -> tuple[list[str], list[str]]:
    """(conditions that are false, conditions we cannot evaluate) of one statement."""
    false: list[str] = []
    unknown: list[str] = []
    for operator, block in (statement.get("Condition") or {}).items():
        for key, expected in (block or {}).items():
            holds = _condition_holds(str(operator), str(key), expected, context)
            if holds is False:
                false.append(_describe_condition(str(operator), str(key), expected, context))
            elif holds is None:
                unknown.append(f"{operator} {key}")
    return false, unknown


def evaluate_trust(
    trust_policy: Document,
    service: str,
    context: Mapping[str, tuple[str, ...]] | None = None,
) -> Trust:
    """Can ``service`` call sts:AssumeRole under this trust policy?

    ``context`` holds the values the service supplies with the request: for CodeBuild
    ``aws:SourceAccount`` (the project's account) and ``aws:SourceArn`` (the project's ARN),
    the keys of AWS's confused-deputy guidance. Conditions on those keys are evaluated; an
    Allow whose condition is false does not trust; conditions on keys we cannot know make the
    answer trusted-with-``unknown`` (the caller decides whether that is a warning).
    """
    ctx = dict(context or {})
    allowed: list[str] = []
    mismatched: list[str] = []
    unknown: list[str] = []
    for label, statement in _statements(NamedDocument("trust", trust_policy)):
        if not _action_matches(statement, "sts:AssumeRole"):
            continue
        principal = statement.get("Principal")
        services: list[Any] = []
        if principal == "*":
            services = ["*"]
        elif isinstance(principal, Mapping):
            services = _as_list(principal.get("Service"))
        if not _matches_any(services, service, True):
            continue
        false, maybe = _trust_conditions(statement, ctx)
        if statement.get("Effect") == "Deny":
            if not false and not maybe:
                return Trust(False, (label,), denied=True)
            continue
        if statement.get("Effect") != "Allow":
            continue
        if false:
            mismatched += false
        else:
            allowed.append(label)
            unknown += maybe
    if allowed:
        return Trust(True, tuple(allowed), unknown=tuple(unknown))
    return Trust(False, mismatched=tuple(mismatched))


def trusts_service(
    trust_policy: Document, service: str, context: Mapping[str, tuple[str, ...]] | None = None
) -> bool:
    """True when the role's trust policy lets ``service`` call sts:AssumeRole with ``context``
    (conditions on keys missing from ``context`` count as not trusting)."""
    trust = evaluate_trust(trust_policy, service, context)
    return trust.trusted and not trust.unknown
