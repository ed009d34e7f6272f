"""Settings: one frozen object per run, from flags > RELEASE_* env vars > invoke.yaml > defaults.

``invoke.yaml`` holds ``release.environments.<name>`` (plus ``release.defaults`` shared by all
and ``release.env``, the default environment). This module is pure: the invoke layer hands it
the raw config as plain dicts, the flags and the process environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tasks.errors import UsageError
from tasks.platforms import Platform, parse_platform
from tasks.references import ecr_registry

ENV_PREFIX = "RELEASE_"
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_SEED = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # Docker's tag grammar
TAG_POLICIES = ("git-sha", "moving")
REGISTRY_AUTH = ("ecr", "basic", "none")
RUNNERS = ("codebuild", "local")


@dataclass(frozen=True)
class Settings:
    """Everything a task needs to know about the chosen environment."""

    env: str
    region: str = "us-east-1"
    account: str = ""
    profile: str | None = None
    endpoint_url: str | None = None
    repository: str = ""
    registry: str = ""  # host[:port]; default: the account's ECR registry
    registry_auth: str = "ecr"  # ecr | basic | none
    registry_username: str = ""
    registry_password_env: str = "RELEASE_REGISTRY_PASSWORD"  # the env var NAME, never a value
    registry_insecure: bool = False  # plain HTTP (loopback registries)
    tag: str = "latest"  # the moving tag pushed beside the commit tag
    tag_policy: str = "git-sha"
    dockerfile: str = "Dockerfile"
    context: str = "."
    platform: Platform = field(default_factory=lambda: parse_platform("linux/amd64"))
    project: str = ""
    secret: str = ""
    confirm: bool = False
    seed_scripts: tuple[str, ...] = ("organizations",)
    runner: str = "codebuild"  # codebuild | local
    timeout: float = 60.0  # minutes the wait may take before giving up (the build keeps running)
    service_role: str = ""
    log_group: str = ""
    database_instance: str = ""
    database_cluster: str = ""
    database_port: int = 5432
    vpc_id: str = ""
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    buildspec: str = "buildspec/migrations.yml"
    source: str = ""  # local runner: CODEBUILD_SRC_DIR (default: this repository)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def image_name(self) -> str:
        """registry/repository, the image URI without a tag."""
        return f"{self.registry}/{self.repository}"

    @property
    def is_ecr(self) -> bool:
        return self.registry_auth == "ecr"


_TUPLES = {"seed_scripts", "subnets", "security_groups"}
_BOOLS = {"confirm", "registry_insecure"}
_FIELD_NAMES = {f.name for f in fields(Settings)} - {"env", "extra"}


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{key} must be true or false, not {value!r}", f"set {key}: true or false")


def _as_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in (value or ()))


def _coerce(key: str, value: Any) -> Any:
    if key in _TUPLES:
        return _as_tuple(value)
    if key in _BOOLS:
        return _as_bool(key, value)
    if key == "platform":
        return value if isinstance(value, Platform) else parse_platform(str(value))
    if key in ("timeout", "database_port"):
        try:
            number = float(value) if key == "timeout" else int(value)
        except (TypeError, ValueError):
            raise UsageError(f"{key} must be a number, not {value!r}", f"fix {key}") from None
        if number <= 0:
            raise UsageError(f"{key} must be positive, not {value!r}", f"fix {key}")
        return number
    if key == "account":
        return str(value)
    return None if value is None else str(value) if not isinstance(value, str) else value


def environment_names(raw: Mapping[str, Any]) -> list[str]:
    return sorted((raw.get("environments") or {}).keys())


def choose_env(raw: Mapping[str, Any], flag: str | None, environ: Mapping[str, str]) -> str:
    name = flag or environ.get(f"{ENV_PREFIX}ENV") or raw.get("env") or "prod"
    known = environment_names(raw)
    if name not in known:
        listed = ", ".join(known) or "none configured"
        raise UsageError(
            f"unknown environment {name!r} (known: {listed})",
            "pass --env with one of those names, or add it under release.environments "
            "in invoke.yaml",
        )
    return str(name)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _FIELD_NAMES:
        value = environ.get(ENV_PREFIX + key.upper())
        if value is not None and value != "":
            out[key] = value
    return out


def load_settings(
    raw: Mapping[str, Any],
    *,
    env: str | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults < invoke.yaml defaults < environment < RELEASE_* vars < flags; validate."""
    environ = environ or {}
    name = choose_env(raw, env, environ)
    section = (raw.get("environments") or {}).get(name) or {}
    if not isinstance(section, Mapping):
        raise UsageError(f"release.environments.{name} must be a mapping", "fix invoke.yaml")
    merged: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for layer in (raw.get("defaults") or {}, section, _env_overrides(environ), flags or {}):
        for key, value in layer.items():
            if value is None:
                continue
            if key in _FIELD_NAMES:
                merged[key] = _coerce(key, value)
            else:
                extra[key] = value
    if "region" not in merged:
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        if region:
            merged["region"] = region
    settings = Settings(env=name, extra=extra, **merged)
    if not settings.registry and settings.account:
        settings = replace(settings, registry=ecr_registry(settings.account, settings.region))
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    """Reject settings that would only fail later, with the key to fix."""
    problems: list[tuple[str, str]] = []
    if s.account and not _ACCOUNT.match(s.account):
        problems.append((f"account {s.account!r} is not a 12-digit AWS account id", "account"))
    if s.region and not _REGION.match(s.region):
        problems.append((f"region {s.region!r} is not an AWS region name", "region"))
    if not _TAG.match(s.tag):
        problems.append((f"tag {s.tag!r} is not a Docker tag ([A-Za-z0-9_.-], at most 128)", "tag"))
    if s.tag_policy not in TAG_POLICIES:
        problems.append((f"tag_policy must be one of {', '.join(TAG_POLICIES)}", "tag_policy"))
    if s.registry_auth not in REGISTRY_AUTH:
        problems.append(
            (f"registry_auth must be one of {', '.join(REGISTRY_AUTH)}", "registry_auth")
        )
    if s.runner not in RUNNERS:
        problems.append((f"runner must be one of {', '.join(RUNNERS)}", "runner"))
    for script in s.seed_scripts:
        if not _SEED.match(script):
            problems.append((f"seed script name {script!r} is not a plain name", "seed_scripts"))
    if problems:
        message, key = problems[0]
        raise UsageError(
            f"environment {s.env!r}: {message}",
            f"fix release.environments.{s.env}.{key} in invoke.yaml (or RELEASE_{key.upper()})",
        )


def load_yaml_file(path: Path) -> Any:
    """Parse a YAML file; a syntax error becomes one line naming the file and line."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist", "create it or pass the right path") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(
            f"{path}:{where} is not valid YAML ({problem})",
            "fix the YAML at that line (indent with spaces, quote values containing ': ')",
        ) from None
