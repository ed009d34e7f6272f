"""Registry HTTP API v2 client: manifest or index -> platforms and digest.

Works against any v2 registry: ECR (basic auth ``AWS:<token>``), a local registry (basic auth
or anonymous), and token-auth registries (``WWW-Authenticate: Bearer``). For an index the
platforms come from its entries (attestation entries skipped); for a single manifest from its
config blob. Standard library only (urllib), so a verify starts fast.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import PlatformMismatch, RegistryError
from ..core.platforms import Platform, describe, first_match, from_fields
from ..core.references import ImageRef

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join(MANIFEST_TYPES)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ManifestInfo:
    """What the registry holds for one reference."""

    ref: ImageRef
    digest: str
    media_type: str
    is_index: bool
    platforms: tuple[Platform, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "image": str(self.ref),
            "digest": self.digest,
            "media_type": self.media_type,
            "index": self.is_index,
            "platforms": [str(p) for p in self.platforms],
            "pinned": f"{self.ref.name}@{self.digest}",
        }


# -- pure parsing ---------------------------------------------------------------------------
def platforms_of_index(doc: dict[str, Any]) -> list[Platform]:
    """Platforms listed in an index / manifest list (attestation manifests skipped)."""
    found: list[Platform] = []
    for entry in doc.get("manifests") or []:
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        plat = entry.get("platform") or {}
        if plat.get("os") == "unknown" and plat.get("architecture") == "unknown":
            continue
        found.append(
            from_fields(plat.get("os", ""), plat.get("architecture", ""), plat.get("variant"))
        )
    return found


def platforms_of_manifest(manifest: Mapping[str, Any]) -> tuple[Platform, ...] | None:
    """Platforms an index / manifest list holds (attestations skipped); a schema-1 manifest's
    own architecture; None for a single manifest (its platform lives in the config blob)."""
    if isinstance(manifest.get("manifests"), list):
        return tuple(platforms_of_index(dict(manifest)))
    if manifest.get("schemaVersion") == 1 and manifest.get("architecture"):
        return (from_fields("linux", str(manifest["architecture"])),)
    return None


def platform_of_config(config: Mapping[str, Any]) -> Platform | None:
    """The platform an image config blob records (``os``/``architecture``/``variant``);
    None when it records no architecture."""
    if not config.get("architecture"):
        return None
    return from_fields(
        str(config.get("os") or "linux"), str(config["architecture"]), config.get("variant")
    )


def media_type_of(body: dict[str, Any], header: str) -> str:
    header = (header or "").split(";")[0].strip()
    if header and header not in ("application/json", "text/plain"):
        return header
    if body.get("mediaType"):
        return str(body["mediaType"])
    return OCI_INDEX if "manifests" in body else OCI_MANIFEST


def rebuild_command(ref: ImageRef, target: Platform, dockerfile: str, context: str) -> str:
    tag = ref.tag or "latest"
    return (
        f"docker buildx build --platform {target} -f {dockerfile} -t {ref.name}:{tag} --push {context}"
        f" (or: invoke image.push)"
    )


def check_target(
    info: ManifestInfo, target: Platform, *, dockerfile: str = "Dockerfile", context: str = "."
) -> Platform:
    """The matching platform, or PlatformMismatch naming the cause and the rebuild command."""
    match = first_match(target, info.platforms)
    if match is not None:
        return match
    kind = "manifest list" if info.is_index else "single-platform image"
    raise PlatformMismatch(
        f"{info.ref} is a {kind} for {describe(info.platforms)}, not {target}: CodeBuild would fail "
        f"with 'exec format error' or 'no matching manifest for {target}'",
        f"rebuild for {target}: {rebuild_command(info.ref, target, dockerfile, context)}",
        details={"verify": info.as_dict(), "target": str(target)},
    )


# -- HTTP client ----------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    name = (
        host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    )
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _NoAuthOnRedirect(urllib.request.HTTPRedirectHandler):
    """Blob downloads redirect to storage (S3 for ECR): never carry our credentials there."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


class RegistryClient:
    """Minimal Registry HTTP API v2 reader (manifests and blobs)."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        insecure: bool | None = None,
        timeout: float = 15.0,
        auth_hint: str = "",
        opener: Callable[..., Any] | None = None,
    ) -> None:
        self.host = host
        self.credentials = credentials
        self.scheme = "http" if (is_loopback(host) if insecure is None else insecure) else "https"
        self.timeout = timeout
        self.auth_hint = auth_hint or "check the registry credentials"
        self._opener = opener or urllib.request.build_opener(_NoAuthOnRedirect()).open
        self._authorization: str | None = None
        if credentials is not None:  # send basic auth up front: saves a 401 round trip
            pair = f"{credentials.username}:{credentials.password}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode()

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{path}"

    def _send(self, url: str, accept: str, authorization: str | None) -> _Response:
        request = urllib.request.Request(
            url, headers={"Accept": accept, "User-Agent": "release-suite"}
        )
        if authorization:
            request.add_header("Authorization", authorization)
        try:
            with self._opener(request, timeout=self.timeout) as resp:
                return _Response(
                    resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
                )
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp else b""
            return _Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, body)
        except urllib.error.URLError as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(
                f"registry {self.host} is unreachable ({reason})",
                "check that the registry runs and the host and port are right"
                + (" (local: invoke local.up)" if is_loopback(self.host) else ""),
            ) from None
        except (TimeoutError, ConnectionError) as exc:
            err = RegistryError(
                f"registry {self.host} did not answer ({type(exc).__name__})",
                "check the network path to the registry and retry",
            )
            err.retryable = True
            raise err from None

    def _token(self, challenge: str) -> str:
        """Bearer token flow (Docker Hub style) using the basic credentials if any."""
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryError(
                f"registry {self.host} sent an unusable auth challenge", self.auth_hint
            )
        url = realm + "?" + urllib.parse.urlencode(params)
        response = self._send(
            url, "application/json", self._authorization if self.credentials else None
        )
        if response.status != 200:
            raise RegistryError(
                f"registry {self.host} refused a token (HTTP {response.status})", self.auth_hint
            )
        data = json.loads(response.body or b"{}")
        return "Bearer " + str(data.get("token") or data.get("access_token") or "")

    def get(self, path: str, accept: str) -> _Response:
        url = self.url(path)
        response = self._send(url, accept, self._authorization)
        if response.status == 401:
            challenge = response.headers.get("www-authenticate", "")
            if challenge.lower().startswith("bearer"):
                self._authorization = self._token(challenge)
                response = self._send(url, accept, self._authorization)
            if response.status == 401:
                who = (
                    "without credentials"
                    if self.credentials is None
                    else "with the given credentials"
                )
                raise RegistryError(
                    f"registry {self.host} refused access {who} (HTTP 401)", self.auth_hint
                )
        return response

    def manifest(self, ref: ImageRef) -> tuple[dict[str, Any], str, str]:
        """(document, media type, digest) for a tag or digest."""
        response = self.get(f"{ref.repository}/manifests/{ref.reference}", ACCEPT)
        self._raise_for(response, ref, "manifest")
        doc = json.loads(response.body)
        digest = response.headers.get("docker-content-digest") or (
            "sha256:" + hashlib.sha256(response.body).hexdigest()
        )
        return doc, media_type_of(doc, response.headers.get("content-type", "")), digest

    def blob(self, ref: ImageRef, digest: str) -> bytes:
        response = self.get(f"{ref.repository}/blobs/{digest}", "*/*")
        self._raise_for(response, ref, f"blob {digest[:19]}")
        return response.body

    def _raise_for(self, response: _Response, ref: ImageRef, what: str) -> None:
        if response.status == 200:
            return
        codes = _error_codes(response.body)
        if response.status == 404 or "MANIFEST_UNKNOWN" in codes or "NAME_UNKNOWN" in codes:
            missing = "repository" if "NAME_UNKNOWN" in codes else what
            raise RegistryError(
                f"{ref} not found in {self.host} (no such {missing})",
                "push the image first (invoke image.push) or check the tag and repository",
            )
        if response.status == 403 or "DENIED" in codes:
            raise RegistryError(f"registry {self.host} denied access to {ref}", self.auth_hint)
        if response.status == 429 or response.status >= 500:
            err = RegistryError(
                f"registry {self.host} answered HTTP {response.status} for {ref}",
                "the registry is overloaded or failing; retry in a minute",
            )
            err.retryable = True
            raise err
        raise RegistryError(
            f"registry {self.host} answered HTTP {response.status} for {ref} ({', '.join(codes)})",
            self.auth_hint,
        )


def _error_codes(body: bytes) -> list[str]:
    try:
        return [str(e.get("code", "")) for e in json.loads(body or b"{}").get("errors", [])]
    except (ValueError, AttributeError):
        return []


def inspect(client: RegistryClient, ref: ImageRef) -> ManifestInfo:
    """Ask the registry what ``ref`` holds: its digest and platforms."""
    doc, media_type, digest = client.manifest(ref)
    if media_type in INDEX_TYPES or "manifests" in doc:
        return ManifestInfo(ref, digest, media_type, True, tuple(platforms_of_index(doc)))
    config_digest = (doc.get("config") or {}).get("digest")
    if not config_digest:
        raise RegistryError(
            f"{ref} has a manifest without a config blob ({media_type})",
            "push it with a current Docker or buildx (schema 2 / OCI)",
        )
    config = json.loads(client.blob(ref, config_digest))
    platform = platform_of_config(config) or from_fields("", "")  # "unknown/unknown"
    return ManifestInfo(ref, digest, media_type, False, (platform,))
