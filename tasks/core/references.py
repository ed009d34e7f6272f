"""Parse image references: ``registry/repo[:tag][@sha256:<hex>]``. Pure module.

The first path component is a registry when it has a dot or a colon or is ``localhost``
(the same rule as the Docker CLI). ECR registries are recognised by their host name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import UsageError

ECR_HOST = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\Z"
)
_REPO = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z"
)
# \Z and [0-9], not $ and \d: "$" accepts a trailing newline, "\d" any Unicode digit ("５０００")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}\Z")
_HOST = re.compile(
    r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::(?P<port>[0-9]{1,5}))?\Z"
)
DOCKER_HUB = "registry-1.docker.io"


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """registry/repository, no tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def is_ecr(self) -> bool:
        return bool(ECR_HOST.match(self.registry))

    @property
    def ecr_region(self) -> str:
        m = ECR_HOST.match(self.registry)
        return m.group("region") if m else ""

    @property
    def ecr_account(self) -> str:
        m = ECR_HOST.match(self.registry)
        return m.group("account") if m else ""

    def with_tag(self, tag: str) -> ImageRef:
        return replace(self, tag=tag, digest="")

    def pinned(self, digest: str) -> ImageRef:
        return replace(self, tag="", digest=digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _bad(text: str, why: str) -> UsageError:
    return UsageError(
        f"malformed image reference {text!r}: {why}",
        "write it as REGISTRY/REPOSITORY[:TAG] or REGISTRY/REPOSITORY@sha256:DIGEST, "
        "for example 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest",
    )


def parse_image(text: str, *, default_registry: str = "") -> ImageRef:
    """Parse a reference; malformed input raises UsageError (exit 2)."""
    raw = (text or "").strip()
    if not raw or any(c.isspace() for c in raw) or "://" in raw:
        raise _bad(text, "it must be a bare reference without spaces or a scheme")
    rest, _, digest = raw.partition("@")
    if digest and not _DIGEST.match(digest):
        raise _bad(text, "the digest must be sha256: followed by 64 lowercase hex digits")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = default_registry or DOCKER_HUB, rest
    host = _HOST.match(registry)
    if not host:
        raise _bad(text, f"{registry!r} is not a registry host")
    if host.group("port") and not 1 <= int(host.group("port")) <= 65535:
        raise _bad(text, f"port {host.group('port')} of {registry!r} is not from 1 to 65535")
    tag = ""
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise _bad(text, f"{tag!r} is not a valid tag")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _REPO.match(path):
        raise _bad(text, f"{path!r} is not a valid repository name (lowercase, digits, . _ - /)")
    return ImageRef(registry, path, tag, digest)


def ecr_registry(account: str, region: str) -> str:
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"{account}.dkr.ecr.{region}{suffix}"
