"""Who may do what: the service role (trust and permissions) and the database secret it reads."""

from __future__ import annotations

from ..policy import (
    Decision,
    Outcome,
    Request,
    Trust,
    evaluate,
    evaluate_trust,
    intersect,
)
from ..requirements import (
    CODEBUILD_SERVICE,
    Need,
    needs,
    project_arn,
    trust_context,
)
from .models import FAIL, PASS, WARN, Check, Facts, RoleFacts, pulled_with_role, setup_fix, unique


def _role_needs(f: Facts) -> tuple[list[Need], list[str]]:
    net = f.network
    notes: list[str] = []
    if not f.secret.arn:
        notes.append("secretsmanager:GetSecretValue not verified: the secret does not exist")
    return (
        needs(
            f.settings,
            subnets=net.subnet_ids,
            groups=net.group_ids,
            secret_arn=f.secret.arn,
            kms_key_arn=f.secret.kms_key_arn,
            build_image=pulled_with_role(f.project),
        ),
        notes,
    )


def _decide(role: RoleFacts, need: Need) -> tuple[Outcome, str]:
    if role.simulated is not None and (need.action, need.resource) in role.simulated:
        return role.simulated[(need.action, need.resource)], "IAM policy simulator"
    request = Request(need.action, need.resource, need.context)
    outcome = evaluate(role.documents, request)
    if role.boundary is not None:
        outcome = intersect(outcome, evaluate((role.boundary,), request))
    return outcome, "policy documents"


def _describe_need(need: Need) -> str:
    return need.action if need.resource == "*" else f"{need.action} on {need.resource}"


def _project_arn(f: Facts) -> str:
    return str((f.project or {}).get("arn") or project_arn(f.settings))


def _trust(f: Facts, role: RoleFacts) -> Trust:
    return evaluate_trust(role.trust, CODEBUILD_SERVICE, trust_context(f.settings, _project_arn(f)))


def _check_trust(f: Facts, role: RoleFacts) -> Check | None:
    """A failing check when CodeBuild cannot assume the role for this project, else None.

    CodeBuild supplies ``aws:SourceAccount`` and ``aws:SourceArn`` (the project's ARN) when it
    assumes the role; trust-policy conditions on them are evaluated against those values."""
    trust = _trust(f, role)
    arn = trust_context(f.settings, _project_arn(f))["aws:SourceArn"][0]
    if trust.trusted:
        return None
    if trust.denied:
        return Check(
            "service_role",
            FAIL,
            f"role {role.name!r}'s trust policy denies {CODEBUILD_SERVICE} "
            f"({', '.join(trust.statements)})",
            "remove or narrow that Deny statement in the role's trust policy",
        )
    if trust.mismatched:
        return Check(
            "service_role",
            FAIL,
            f"role {role.name!r} trusts CodeBuild only under conditions this project does not "
            f"meet: {'; '.join(trust.mismatched)}",
            f"make the trust policy's aws:SourceAccount / aws:SourceArn conditions match {arn} "
            f"(or {setup_fix(f.settings)}: it adds a matching statement and keeps yours)",
            (f"CodeBuild assumes the role for {arn}",),
        )
    return Check(
        "service_role",
        FAIL,
        f"role {role.name!r} cannot be assumed by CodeBuild (trust policy)",
        f"allow sts:AssumeRole for principal service {CODEBUILD_SERVICE} in the "
        f"role's trust policy ({setup_fix(f.settings)})",
    )


def check_role(f: Facts) -> Check:
    role = f.role
    if role is None:
        return Check(
            "service_role",
            FAIL,
            "no service role is set on the project or in the config",
            f"set service_role in invoke.yaml and {setup_fix(f.settings)}",
        )
    if role.error:
        return Check(
            "service_role",
            WARN,
            f"cannot read role {role.name!r}: {role.error}",
            "allow iam:GetRole, iam:ListAttachedRolePolicies, iam:GetPolicyVersion, "
            "iam:ListRolePolicies, iam:GetRolePolicy for the identity running doctor",
        )
    if not role.exists:
        return Check(
            "service_role",
            FAIL,
            f"service role {role.name!r} does not exist",
            setup_fix(f.settings),
        )
    trust_check = _check_trust(f, role)
    if trust_check is not None:
        return trust_check
    wanted, notes = _role_needs(f)
    denied: list[str] = []
    missing: list[str] = []
    # trust conditions on keys CodeBuild's request may not carry: not provable either way
    conditional: list[str] = [
        f"sts:AssumeRole by {CODEBUILD_SERVICE} (trust condition {c})"
        for c in _trust(f, role).unknown
    ]
    method = "policy documents"
    for need in wanted:
        outcome, method = _decide(role, need)
        text = _describe_need(need)
        if outcome.decision is Decision.DENIED:
            where = outcome.statements[0] if outcome.statements else "a policy"
            denied.append(f"{text} (explicit Deny in {where})")
        elif outcome.decision is Decision.IMPLICIT_DENY:
            missing.append(text)
        elif outcome.decision is Decision.CONDITIONAL:
            conditional.append(f"{text} (condition {', '.join(outcome.unknown_conditions)})")
    evidence = tuple(
        [f"evaluated with {method}"]
        + [f"policy {d.source}" for d in role.documents]
        + [f"unreadable policy {u}" for u in role.unreadable]
        + notes
    )
    if denied or missing:
        parts = []
        if missing:
            parts.append(f"does not allow {'; '.join(unique(missing))}")
        if denied:
            parts.append(f"denies {'; '.join(unique(denied))}")
        fix = f"{setup_fix(f.settings)} to write the least-privilege policy"
        if denied:
            fix = "remove or narrow the explicit Deny statement(s) named above, then " + fix
        return Check(
            "service_role", FAIL, f"role {role.name!r} " + " and ".join(parts), fix, evidence
        )
    if conditional or role.unreadable:
        what = "; ".join(unique(conditional)) or "some policies could not be read"
        return Check(
            "service_role",
            WARN,
            f"role {role.name!r} allows the build's actions only under conditions: {what}",
            f"check that those conditions hold for CodeBuild, or rely on {setup_fix(f.settings)}'s policy",
            evidence,
        )
    return Check(
        "service_role",
        PASS,
        f"role {role.name!r} is assumable by CodeBuild and allows ECR pull, logs, VPC "
        "networking and the database secret",
        evidence=evidence,
    )


def check_secret(f: Facts) -> Check:
    sec, s = f.secret, f.settings
    if not s.secret:
        return Check(
            "database_secret",
            FAIL,
            "no database secret is configured",
            f"set secret under release.environments.{s.env} in invoke.yaml",
        )
    create = (
        f"create it (the value is yours to set): aws secretsmanager create-secret --name "
        f"{s.secret} --secret-string 'postgresql://USER:PASSWORD@HOST:5432/DB'"
    )
    if not sec.exists:
        if sec.error:
            return Check(
                "database_secret",
                FAIL,
                f"cannot describe secret {s.secret!r}: {sec.error}",
                "allow secretsmanager:DescribeSecret for the identity running doctor",
            )
        return Check("database_secret", FAIL, f"secret {s.secret!r} does not exist", create)
    if sec.deleted:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} is scheduled for deletion",
            f"aws secretsmanager restore-secret --secret-id {s.secret}",
        )
    if not sec.readable:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} cannot be read: {sec.error or 'no value'}",
            "allow secretsmanager:GetSecretValue (and kms:Decrypt on its key) for the identity "
            "running doctor, and make sure the secret has a current value",
        )
    if sec.url is None:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} is not a PostgreSQL URL: {sec.parse_error}",
            "put postgresql://USER:PASSWORD@HOST:PORT/DB in it (aws secretsmanager "
            f"put-secret-value --secret-id {s.secret} ...)",
        )
    url, db = sec.url, f.database
    evidence = (f"host {url.host}", f"port {url.port or 5432}", f"database {url.database}")
    if db.found and db.hosts and url.host.lower() not in {h.lower() for h in db.hosts}:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} points at host {url.host}, not the database "
            f"{db.identifier} ({', '.join(db.hosts)})",
            f"put the database endpoint {db.hosts[0]} in the secret's URL",
            evidence,
        )
    if db.found and db.port and url.port and url.port != db.port:
        return Check(
            "database_secret",
            FAIL,
            f"secret {s.secret!r} uses port {url.port}, but the database listens on {db.port}",
            f"use port {db.port} in the secret's URL",
            evidence,
        )
    if not url.has_password:
        return Check(
            "database_secret",
            WARN,
            f"secret {s.secret!r} has no password in its URL",
            "fine with IAM auth; otherwise add the password",
            evidence,
        )
    matched = f", matching {db.kind} {db.identifier}" if db.found else ""
    return Check(
        "database_secret",
        PASS,
        f"secret {s.secret!r} is readable and a PostgreSQL URL{matched} (value not shown)",
        evidence=evidence,
    )
