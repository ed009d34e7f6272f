"""ECR: authorization token -> ``docker login`` (password on stdin), image facts via the API.

The token is registered with the redactor the moment it is read, travels to docker only on
stdin, and is never part of argv, echo or output.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..core.aws import translate
from ..core.errors import AwsError, RegistryError, SuiteError
from ..core.references import ECR_HOST
from ..core.runtime import Runtime
from .registry import (
    Credentials,
)
from .session import ImageSession


@dataclass(frozen=True)
class EcrToken:
    username: str
    password: str = field(repr=False)
    endpoint: str = ""
    expires_at: datetime | None = None

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.username, self.password)


def decode_token(token: str) -> tuple[str, str]:
    """ECR's authorizationToken is base64("AWS:<password>")."""
    try:
        user, _, password = base64.b64decode(token).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        user, password = "", ""
    if not user or not password:
        raise AwsError(
            "ECR returned an authorization token that is not base64 user:password",
            "retry; if it persists, check AWS_ENDPOINT_URL",
        )
    return user, password


def registry_target(rt: Runtime, registry: str | None = None) -> tuple[str, str]:
    """(account, region) of an ECR registry host ``<acct>.dkr.ecr[-fips].<region>.amazonaws.com
    [.cn]``; for any other host (a local registry with ECR-style auth) the configured ones."""
    host = registry if registry is not None else rt.settings.registry
    match = ECR_HOST.match(host or "")
    if match:
        return match.group("account"), match.group("region")
    return rt.settings.account, rt.settings.region


def client_for(
    rt: Runtime, registry: str | None = None, *, suite_retries: bool = False
) -> tuple[Any, str]:
    """(ECR API client, registry id) for the registry named in an image reference: its region's
    API and its account as ``registryId``, whatever account and region this environment uses.
    ``suite_retries``: the caller retries with a named policy (see ``AwsFactory.client``)."""
    account, region = registry_target(rt, registry)
    kwargs: dict[str, Any] = {"suite_retries": True} if suite_retries else {}
    if region != rt.settings.region:
        kwargs["region"] = region
    return rt.aws.client("ecr", **kwargs), account


def get_token(rt: Runtime, registry: str | None = None) -> EcrToken:
    """The ECR authorization token for ``registry`` (default: the configured one), cached per
    account and region. An ECR token is regional: a registry in another region or account needs
    its own GetAuthorizationToken, in its region, with its account as ``registryIds``."""
    account, region = registry_target(rt, registry)
    tokens = rt.part(ImageSession).ecr_tokens
    cached = tokens.get((account, region))
    if isinstance(cached, EcrToken):
        return cached
    client, _ = client_for(rt, registry)
    kwargs: dict[str, Any] = {}
    if account:
        kwargs["registryIds"] = [account]
    try:
        data = client.get_authorization_token(**kwargs)["authorizationData"][0]
    except SuiteError:
        raise
    except Exception as exc:
        raise translate(exc, f"ECR GetAuthorizationToken ({region})") from None
    user, password = decode_token(data["authorizationToken"])
    rt.redactor.add(password)
    rt.redactor.add(data["authorizationToken"])
    expires = data.get("expiresAt")
    token = EcrToken(user, password, data.get("proxyEndpoint", ""), expires)
    _check_endpoint(token.endpoint, account, region)
    if isinstance(expires, datetime) and expires.astimezone(UTC) < datetime.now(UTC):
        rt.console.warn(
            f"ECR returned a token that expired at {expires.isoformat()}; if docker rejects it, "
            "check this machine's clock"
        )
    tokens[(account, region)] = token
    return token


def _check_endpoint(endpoint: str, account: str, region: str) -> None:
    """AWS names the registry a token is for in ``proxyEndpoint``; a token for another
    account or region would only be refused later, with a bare 401 / 'no basic auth'."""
    match = ECR_HOST.match(endpoint.removeprefix("https://").split("/")[0])
    if not match or not account:
        return
    if (match.group("account"), match.group("region")) != (account, region):
        raise RegistryError(
            f"ECR returned a token for {match.group('account')} in {match.group('region')}, "
            f"not for the registry of account {account} in {region}",
            "check AWS_ENDPOINT_URL / endpoint_url (it must serve that region) and retry",
        )


def docker_login(rt: Runtime, registry: str, creds: Credentials) -> None:
    """``docker login --username U --password-stdin REGISTRY``; the password only on stdin."""
    argv = ["docker", "login", "--username", creds.username, "--password-stdin", registry]
    result = rt.commands.run(argv, input=creds.password + "\n", timeout=120)
    if result.ok:
        return
    text = rt.redactor.redact(result.output.splitlines()[-1] if result.output else "no output")
    lowered = text.lower()
    if (
        "cannot connect to the docker daemon" in lowered
        or "is the docker daemon running" in lowered
    ):
        from ..core.errors import DockerUnavailable

        raise DockerUnavailable(f"docker login: {text}", "start the Docker daemon and retry")
    local = rt.settings.runner == "local"
    if "401" in text or "unauthorized" in lowered or "denied" in lowered:
        remedy = (
            "the ECR token was refused: check the account/region of the registry and that the "
            "identity may call ecr:GetAuthorizationToken, then run invoke ecr.login again"
            if rt.settings.is_ecr
            else f"check the user and the password in ${rt.settings.registry_password_env}"
            + (
                f" (on --env {rt.settings.env}, unset it to use the one invoke local.up made)"
                if local
                else ""
            )
        )
        raise RegistryError(f"docker login to {registry} refused the credentials ({text})", remedy)
    raise RegistryError(
        f"docker login to {registry} failed ({text})",
        "start the local environment: invoke local.up"
        if local
        else "check that the registry is reachable from this machine and retry",
    )


def login(rt: Runtime) -> dict[str, Any]:
    """Log docker in to the configured registry (ECR token or configured basic auth)."""
    s = rt.settings
    if s.registry_auth == "none":
        rt.console.info(f"registry {s.registry} needs no login (registry_auth: none)")
        return {"registry": s.registry, "logged_in": False}
    creds = registry_credentials(rt)
    if creds is None:
        raise RegistryError(
            f"no password for registry {s.registry}",
            f"export {s.registry_password_env} (it is read from the environment, never from a file)",
        )
    docker_login(rt, s.registry, creds)
    private = " (for this run only)" if rt.part(ImageSession).private_docker_config else ""
    rt.console.ok(f"docker logged in to {s.registry} as {creds.username}{private}")
    return {"registry": s.registry, "logged_in": True, "username": creds.username}


def registry_credentials(rt: Runtime) -> Credentials | None:
    """Credentials for the Registry HTTP API and docker login, per ``registry_auth``."""
    s = rt.settings
    if s.registry_auth == "ecr":
        return get_token(rt, s.registry).credentials
    if s.registry_auth == "basic":
        password = rt.environ.get(s.registry_password_env, "")
        if not password:
            return None
        rt.redactor.add(password)
        return Credentials(s.registry_username or "AWS", password)
    return None
