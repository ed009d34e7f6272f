"""Parse and compare OCI platforms ("linux/amd64", "linux/arm64/v8"). Pure module."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import UsageError

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "x64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}
_DEFAULT_VARIANT = {"arm64": "v8"}
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# What Docker/OCI images are built for (GOOS/GOARCH names); a typo here would otherwise only
# show up as a build that "succeeds" for a platform no engine runs.
KNOWN_OS = frozenset({"linux", "windows", "darwin", "freebsd"})
KNOWN_ARCH = frozenset(
    {"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "mips64", "loong64"}
)


@dataclass(frozen=True, order=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def matches(self, found: Platform) -> bool:
        """True when an image built for ``found`` runs as ``self`` (variant only if asked)."""
        if (self.os, self.architecture) != (found.os, found.architecture):
            return False
        if not self.variant:
            return True
        found_variant = found.variant or _DEFAULT_VARIANT.get(found.architecture, "")
        return self.variant == found_variant


def normalize_arch(arch: str) -> str:
    arch = arch.strip().lower()
    return _ARCH_ALIASES.get(arch, arch)


def parse_platform(text: str) -> Platform:
    """``linux/amd64`` -> Platform; malformed input raises UsageError (exit 2)."""
    parts = [p.strip().lower() for p in (text or "").split("/")]
    if len(parts) not in (2, 3) or not all(_TOKEN.match(p) for p in parts):
        raise UsageError(
            f"malformed platform {text!r}",
            "write it as os/arch[/variant], for example linux/amd64",
        )
    variant = parts[2] if len(parts) == 3 else ""
    arch = normalize_arch(parts[1])
    if parts[0] not in KNOWN_OS or arch not in KNOWN_ARCH:
        raise UsageError(
            f"unknown platform {text!r} (os one of {', '.join(sorted(KNOWN_OS))}; "
            f"arch one of {', '.join(sorted(KNOWN_ARCH))})",
            "write it as os/arch[/variant], for example linux/amd64 (what CodeBuild runs)",
        )
    if arch == "arm64" and variant == "v8":
        variant = ""
    return Platform(parts[0], arch, variant)


def from_fields(os_name: str, arch: str, variant: str | None = None) -> Platform:
    """Platform from registry/engine fields (tolerates aliases and missing variant)."""
    arch = normalize_arch(arch or "unknown")
    variant = (variant or "").lower()
    if arch == "arm64" and variant == "v8":
        variant = ""
    return Platform((os_name or "unknown").lower(), arch, variant)


def first_match(wanted: Platform, found: Iterable[Platform]) -> Platform | None:
    return next((p for p in found if wanted.matches(p)), None)


def describe(platforms: Iterable[Platform]) -> str:
    names = sorted({str(p) for p in platforms})
    return ", ".join(names) if names else "none"
