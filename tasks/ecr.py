"""ECR: authorization token -> ``docker login`` (password on stdin), image facts via the API.

The token is registered with the redactor the moment it is read, travels to docker only on
stdin, and is never part of argv, echo or output.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tasks.aws import translate
from tasks.errors import AwsError, RegistryError, SuiteError
from tasks.platforms import Platform
from tasks.registry import (
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_MANIFEST,
    Credentials,
    platforms_of_index,
)
from tasks.runtime import Runtime


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


def get_token(rt: Runtime) -> EcrToken:
    """The ECR authorization token for the configured account (cached per run)."""
    cached = rt.extras.get("ecr_token")
    if isinstance(cached, EcrToken):
        return cached
    client = rt.aws.client("ecr")
    kwargs: dict[str, Any] = {}
    if rt.settings.account:
        kwargs["registryIds"] = [rt.settings.account]
    try:
        data = client.get_authorization_token(**kwargs)["authorizationData"][0]
    except SuiteError:
        raise
    except Exception as exc:
        raise translate(exc, "ECR GetAuthorizationToken") from None
    user, password = decode_token(data["authorizationToken"])
    rt.redactor.add(password)
    rt.redactor.add(data["authorizationToken"])
    expires = data.get("expiresAt")
    token = EcrToken(user, password, data.get("proxyEndpoint", ""), expires)
    if isinstance(expires, datetime) and expires.astimezone(UTC) < datetime.now(UTC):
        rt.console.warn(
            f"ECR returned a token that expired at {expires.isoformat()}; if docker rejects it, "
            "check this machine's clock"
        )
    rt.extras["ecr_token"] = token
    return token


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
        from tasks.errors import DockerUnavailable

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
    rt.console.ok(f"docker logged in to {s.registry} as {creds.username}")
    return {"registry": s.registry, "logged_in": True, "username": creds.username}


def registry_credentials(rt: Runtime) -> Credentials | None:
    """Credentials for the Registry HTTP API and docker login, per ``registry_auth``."""
    s = rt.settings
    if s.registry_auth == "ecr":
        return get_token(rt).credentials
    if s.registry_auth == "basic":
        password = rt.environ.get(s.registry_password_env, "")
        if not password:
            return None
        rt.redactor.add(password)
        return Credentials(s.registry_username or "AWS", password)
    return None


def image_platforms(rt: Runtime, repository: str, tag: str) -> tuple[str, list[Platform] | None]:
    """(digest, platforms) of repository:tag read through the ECR API.

    Platforms is None for a single-platform manifest: its config blob is not readable through
    the ECR API (use the Registry HTTP API verifier for that).
    """
    client = rt.aws.client("ecr")
    try:
        images = client.batch_get_image(
            repositoryName=repository,
            imageIds=[{"imageTag": tag}],
            acceptedMediaTypes=[*sorted(INDEX_TYPES), OCI_MANIFEST, DOCKER_MANIFEST],
        )
    except Exception as exc:
        raise translate(exc, f"ECR BatchGetImage {repository}:{tag}") from None
    if not images.get("images"):
        raise RegistryError(
            f"{repository}:{tag} does not exist in ECR", "push it first: invoke image.push"
        )
    image = images["images"][0]
    doc = json.loads(image["imageManifest"])
    digest = image.get("imageId", {}).get("imageDigest", "")
    media = image.get("imageManifestMediaType") or doc.get("mediaType", "")
    if media in INDEX_TYPES or "manifests" in doc:
        return digest, platforms_of_index(doc)
    return digest, None
