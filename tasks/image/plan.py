"""Pure decisions of the image stage: tags, build argv, platform assessment. No I/O.

Kept apart from ``image.py`` (which talks to Docker) so every rule here is tested with plain
data: which builder, which tags, which warnings for which host/engine/buildx facts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.errors import UsageError
from ..core.platforms import Platform, describe, first_match, from_fields, parse_platform


@dataclass(frozen=True)
class BuildxFacts:
    present: bool
    version: str = ""
    builder: str = ""
    driver: str = ""
    platforms: tuple[Platform, ...] = ()


@dataclass(frozen=True)
class EngineFacts:
    host: str
    context: str
    os: str
    arch: str
    version: str
    api_version: str

    @property
    def platform(self) -> Platform:
        return from_fields(self.os, self.arch)


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warn | fail
    topic: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "topic": self.topic, "message": self.message}


@dataclass(frozen=True)
class Assessment:
    findings: tuple[Finding, ...]
    builder: str  # buildx | classic
    data: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.level == "fail" for f in self.findings)


def parse_buildx_inspect(text: str) -> tuple[str, str, tuple[Platform, ...]]:
    """(builder name, driver, platforms) from ``docker buildx inspect`` output."""
    name = driver = ""
    platforms: list[Platform] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "name" and not name:
            name = value
        elif key == "driver" and not driver:
            driver = value
        elif key == "platforms":
            for item in value.split(","):
                item = item.strip().rstrip("*")
                if item.count("/") in (1, 2):
                    try:
                        platforms.append(parse_platform(item))
                    except UsageError:
                        continue
    return name, driver, tuple(platforms)


def assess(
    target: Platform, host_machine: str, engine: EngineFacts, buildx: BuildxFacts
) -> Assessment:
    """The platform guard's verdicts for these facts."""
    host = from_fields("linux", host_machine)
    findings = [
        Finding(
            "ok", "daemon", f"Docker Engine {engine.version} at {engine.host} ({engine.platform})"
        )
    ]
    if host.architecture == "arm64" and target.architecture == "amd64":
        findings.append(
            Finding(
                "warn",
                "host",
                f"this host is {host.architecture} (Apple Silicon or Graviton) but the target is "
                f"{target}: every image must be built with --platform {target}, never a plain "
                "`docker build`; the image stage verifies the pushed manifest before any migration",
            )
        )
    else:
        findings.append(Finding("ok", "host", f"host architecture {host_machine}"))
    if not engine.platform.matches(target) and not target.matches(engine.platform):
        findings.append(
            Finding(
                "warn",
                "engine",
                f"the engine runs {engine.platform}; building {target} needs emulation "
                "(binfmt/QEMU) for RUN steps",
            )
        )
    builder = "buildx" if buildx.present else "classic"
    if buildx.present:
        if buildx.platforms and first_match(target, buildx.platforms) is None:
            findings.append(
                Finding(
                    "fail",
                    "buildx",
                    f"buildx builder {buildx.builder or 'default'} supports {describe(buildx.platforms)}, "
                    f"not {target}",
                )
            )
        else:
            findings.append(
                Finding(
                    "ok",
                    "buildx",
                    f"buildx {buildx.version} builder {buildx.builder or 'default'} "
                    f"({buildx.driver or 'docker'}) supports {target}",
                )
            )
    else:
        findings.append(
            Finding(
                "warn",
                "buildx",
                f"buildx is not installed: the classic builder will be used with --platform {target} "
                "and the built image's platform is checked before any push",
            )
        )
    data: dict[str, object] = {
        "target": str(target),
        "host_arch": host.architecture,
        "engine": {
            "host": engine.host,
            "context": engine.context,
            "os": engine.os,
            "arch": engine.arch,
            "version": engine.version,
        },
        "buildx": {
            "present": buildx.present,
            "version": buildx.version,
            "builder": buildx.builder,
            "driver": buildx.driver,
            "platforms": [str(p) for p in buildx.platforms],
        },
        "builder": builder,
    }
    return Assessment(tuple(findings), builder, data)


_SHA = re.compile(r"^[0-9a-f]{7,40}$")


def commit_tag(short_sha: str, dirty: bool) -> str:
    if not _SHA.match(short_sha):
        return ""
    return f"{short_sha}-dirty" if dirty else short_sha


def plan_tags(policy: str, moving_tag: str, commit: str) -> list[str]:
    """Tags to push: the commit tag (git-sha policy) first, then the moving tag."""
    tags: list[str] = []
    if policy == "git-sha" and commit:
        tags.append(commit)
    if moving_tag and moving_tag not in tags:
        tags.append(moving_tag)
    return tags


def build_argv(
    *,
    builder: str,
    platform: Platform,
    dockerfile: str,
    context: str,
    image_name: str,
    tags: Sequence[str],
) -> list[str]:
    """The docker build command. buildx loads the result so it can be checked before a push."""
    tag_args: list[str] = []
    for tag in tags:
        tag_args += ["-t", f"{image_name}:{tag}"]
    if builder == "buildx":
        return [
            "docker",
            "buildx",
            "build",
            "--platform",
            str(platform),
            "--provenance=false",
            "--load",
            "-f",
            dockerfile,
            *tag_args,
            context,
        ]
    return ["docker", "build", "--platform", str(platform), "-f", dockerfile, *tag_args, context]


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_OSERROR = re.compile(r"(\w+Error)\(-?\d+, '([^']+)'\)")


def engine_error_reason(text: str, limit: int = 160) -> str:
    """The cause inside a docker SDK / urllib3 error, e.g. ``Connection refused`` rather than
    the first 160 characters of ``Error while fetching server API version: HTTPConnectionPool(
    host=..., port=1): Max retries exceeded ... (Caused by NewConnectionError("HT``."""
    if found := _ERRNO.search(text):
        return found[1].strip()
    if found := _OSERROR.search(text):
        return f"{found[2]} ({found[1]})"
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0] + " ..."
