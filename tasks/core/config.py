"""Settings: one frozen object per run, from flags > RELEASE_* env vars > invoke.yaml > defaults.

``invoke.yaml`` holds ``release.environments.<name>`` (plus ``release.defaults`` shared by all
and ``release.env``, the default environment). This module is pure: the invoke layer hands it
the raw config as plain dicts, the flags and the process environment.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .config_file import check_structure as check_structure  # invoke.yaml, read at start-up
from .config_file import load_yaml_file as load_yaml_file
from .config_file import shown
from .errors import UsageError
from .platforms import Platform, parse_platform
from .references import ecr_registry

ENV_PREFIX = "RELEASE_"
# fullmatch and [0-9], never ``$`` and ``\d``: ``$`` accepts a trailing newline (a region
# "us-east-1\n" reached botocore's endpoint and signing code) and ``\d`` accepts any Unicode
# digit ("５０００")
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]")
_SEED = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # Docker's tag grammar
_PORT = re.compile(r"[0-9]{1,5}")
# host[:port] of a registry: a DNS name, IPv4 or [IPv6], and an ASCII port
_REGISTRY = re.compile(
    r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::(?P<port>[^:]*))?"
)
_URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@:]*:[^/\s@]+@", re.IGNORECASE)
TAG_POLICIES = ("git-sha", "moving")
REGISTRY_AUTH = ("ecr", "basic", "none")
RUNNERS = ("codebuild", "local")
ENTRYPOINTS = ("argv", "image")  # argv[0] replaces the image's ENTRYPOINT | the image's runs argv
DEFAULT_MIGRATE_COMMAND = ("bun", "src/db/migrate.ts")
DEFAULT_SEED_COMMANDS: Mapping[str, tuple[str, ...]] = {
    "organizations": ("bun", "src/db/seed-organizations.ts")
}


DEFAULT_COMPUTE_TYPE = "BUILD_GENERAL1_SMALL"  # what `invoke setup` creates
BACKUP_MODES = ("snapshot", "none")
# CodeBuild's ComputeType values are upper-case words (BUILD_GENERAL1_SMALL, BUILD_LAMBDA_1GB,
# ATTRIBUTE_BASED_COMPUTE...): a lower-case "small" is a typo, caught here
_COMPUTE_TYPE = re.compile(r"[A-Z][A-Z0-9_]{2,63}")


def legacy_seed_command(name: str) -> tuple[str, ...]:
    """What the buildspec ran for a ``seed_scripts`` name before ``seed_commands`` existed."""
    return ("bun", f"src/db/seed-{name}.ts")


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
    migrate_command: tuple[str, ...] = DEFAULT_MIGRATE_COMMAND  # argv, run in the pinned image
    seed_commands: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_SEED_COMMANDS)
    )  # the seed allow-list: name -> argv
    command_workdir: str = ""  # working directory in the image ('' = the image's WORKDIR)
    command_entrypoint: str = "argv"  # argv | image (see ENTRYPOINTS)
    runner: str = "codebuild"  # codebuild | local
    timeout: float = 60.0  # minutes the wait may take before giving up (the build keeps running)
    # minutes the build may run before CodeBuild ends it TIMED_OUT, sent with every start as
    # StartBuild's timeoutInMinutesOverride; None: the project's timeoutInMinutes (the local
    # runner: 60, CodeBuild's default)
    build_timeout: int | None = None
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
    # the snapshot before a migration (docs/snapshots.md): snapshot | none, '' = snapshot
    # where confirm is true, else none; how many of the suite's own snapshots to keep; how
    # many seconds a snapshot may take to become available
    backup: str = ""
    backup_keep: int = 5
    backup_wait: float = 3600.0
    # the project's CodeBuild computeType (setup creates it; the report prices it) and USD per
    # build minute over the report's dated price table
    compute_type: str = DEFAULT_COMPUTE_TYPE
    build_prices: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    notices: tuple[str, ...] = ()  # deprecations to tell the user once (the CLI prints them)

    @property
    def seed_scripts(self) -> tuple[str, ...]:
        """The seed allow-list: the names of ``seed_commands``, in configured order."""
        return tuple(self.seed_commands)

    @property
    def image_name(self) -> str:
        """registry/repository, the image URI without a tag."""
        return f"{self.registry}/{self.repository}"

    @property
    def is_ecr(self) -> bool:
        return self.registry_auth == "ecr"


_TUPLES = {"subnets", "security_groups"}
_BOOLS = {"confirm", "registry_insecure"}
_COMMANDS = {"migrate_command", "seed_commands"}
_LEGACY_SEEDS = "seed_scripts"  # deprecated: read as seed_commands (legacy_seed_command)
_FIELD_NAMES = {f.name for f in fields(Settings)} - {"env", "extra", "notices"}


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{key} must be true or false, not {value!r}", f"set {key}: true or false")


def _as_tuple(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        return tuple(str(v) for v in value)
    raise UsageError(
        f"{key} must be a list of names, not {shown(value)}",
        f"write {key}: [name, ...] (or a comma-separated string)",
    )


def port_number(key: str, value: Any) -> int:
    """A TCP port 1-65535 written with ASCII digits (int("５０００") is 5000 in Python)."""
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise UsageError(
            f"{key} must be a port number from 1 to 65535, not {shown(value)}",
            f"fix {key} (ASCII digits, e.g. 5432)",
        )
    return int(text)


def positive_minutes(key: str, value: Any) -> float:
    """A finite positive number: nan, inf and 1e309 (inf) are refused, not waited on."""
    number = float("nan")
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise UsageError(
            f"{key} must be a positive number of minutes, not {shown(value)}",
            f"fix {key} (e.g. 30)",
        )
    return number


# StartBuild (AWS API reference): "timeoutInMinutesOverride: The number of build timeout
# minutes, from 5 to 2160 (36 hours), that overrides, for this build only, the latest setting
# already defined in the build project."
BUILD_TIMEOUT_RANGE = (5, 2160)


def build_minutes(key: str, value: Any) -> int:
    """Whole minutes within CodeBuild's build-timeout range, written with ASCII digits."""
    low, high = BUILD_TIMEOUT_RANGE
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    if not re.fullmatch(r"[0-9]{1,5}", text) or not low <= int(text) <= high:
        raise UsageError(
            f"{key} must be a whole number of minutes from {low} to {high} (CodeBuild's "
            f"range), not {shown(value)}",
            f"fix {key} (e.g. 90), or delete it to keep the project's timeoutInMinutes",
        )
    return int(text)


def whole_count(key: str, value: Any) -> int:
    """A whole number from 1 to 9999 written with ASCII digits."""
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    if not re.fullmatch(r"[0-9]{1,4}", text) or int(text) < 1:
        raise UsageError(
            f"{key} must be a whole number from 1, not {shown(value)}",
            f"fix {key} (e.g. 5)",
        )
    return int(text)


def positive_seconds(key: str, value: Any) -> float:
    """A finite positive number of seconds."""
    try:
        return positive_minutes(key, value)
    except UsageError:
        raise UsageError(
            f"{key} must be a positive number of seconds, not {shown(value)}",
            f"fix {key} (e.g. 3600)",
        ) from None


def build_prices(key: str, value: Any) -> dict[str, float]:
    """``{COMPUTE_TYPE: usd_per_minute}``: upper-case compute types, finite numbers >= 0."""
    if not isinstance(value, Mapping):
        raise UsageError(
            f"{key} must be a mapping of compute type to USD per build minute, not {shown(value)}",
            f"write {key}: {{BUILD_GENERAL1_SMALL: 0.005}} (RELEASE_{key.upper()} as JSON: "
            '{"BUILD_GENERAL1_SMALL": 0.005})',
        )
    out: dict[str, float] = {}
    for name, price in value.items():
        number = (
            float(price) if isinstance(price, int | float) and not isinstance(price, bool) else -1.0
        )
        if not _COMPUTE_TYPE.fullmatch(str(name)) or not math.isfinite(number) or number < 0:
            raise UsageError(
                f"{key}.{name} must be a CodeBuild compute type with a price >= 0 in USD per "
                f"minute, not {shown(price)}",
                f"fix {key} (e.g. BUILD_GENERAL1_SMALL: 0.005)",
            )
        out[str(name)] = number
    return out


def _coerce(key: str, value: Any) -> Any:
    if key in _TUPLES:
        return _as_tuple(key, value)
    if key == "build_prices":
        return build_prices(key, _from_env_text(key, value))
    if isinstance(value, Platform) and key == "platform":
        return value
    if not isinstance(value, str | int | float | bool):
        raise UsageError(
            f"{key} must be a single value, not a {type(value).__name__} ({shown(value)})",
            f"write {key}: VALUE on one line",
        )
    if key in _BOOLS:
        return _as_bool(key, value)
    if key == "platform":
        return parse_platform(str(value))
    if key == "timeout":
        return positive_minutes(key, value)
    if key == "build_timeout":
        return build_minutes(key, value)
    if key == "database_port":
        return port_number(key, value)
    if key == "backup_keep":
        return whole_count(key, value)
    if key == "backup_wait":
        return positive_seconds(key, value)
    if key == "backup":
        return str(value).strip().lower()
    return value if isinstance(value, str) else str(value)


def environment_names(raw: Mapping[str, Any]) -> list[str]:
    return sorted((raw.get("environments") or {}).keys())


def choose_env(raw: Mapping[str, Any], flag: str | None, environ: Mapping[str, str]) -> str:
    name = flag or environ.get(f"{ENV_PREFIX}ENV") or raw.get("env") or "local"
    known = environment_names(raw)
    if name not in known:
        listed = ", ".join(known) or "none configured"
        raise UsageError(
            f"unknown environment {name!r} (known: {listed})",
            "pass --env with one of those names, or add it under release.environments "
            "in invoke.yaml",
        )
    return str(name)


def _argv(value: Any, key: str, where: str) -> tuple[str, ...]:
    """A command as an argv list of non-empty strings; a string is refused, never split."""
    if isinstance(value, str):
        try:
            example = json.dumps(shlex.split(value)) if value.strip() else '["bun", "migrate.ts"]'
        except ValueError:
            example = '["bun", "migrate.ts"]'
        raise UsageError(
            f"{where}: {key} must be a list of strings (argv), not the string {value!r}",
            f"write it as a list, e.g. {key.split('.')[0]}: {example} (no shell parses it)",
        )
    if not isinstance(value, list | tuple):
        raise UsageError(
            f"{where}: {key} must be a list of strings (argv), not {type(value).__name__}",
            f'write it as a list, e.g. {key.split(".")[0]}: ["bun", "src/db/migrate.ts"]',
        )
    if not value:
        raise UsageError(
            f"{where}: {key} is an empty list",
            "give the program and its arguments, e.g. [bun, x.ts]",
        )
    if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        raise UsageError(
            f"{where}: {key} must hold only strings, found {value!r}",
            "quote each argument as a string",
        )
    argv = tuple(str(v) for v in value)
    for index, arg in enumerate(argv):
        if _URL_WITH_PASSWORD.search(arg):  # never echo the argument itself: it is the secret
            raise UsageError(
                f"{where}: {key}[{index}] holds a URL with a password; a command is stored in "
                "the CodeBuild project and printed in every build log",
                "drop it: the command runs with DATABASE_URL (from Secrets Manager) in its "
                "environment, so read the URL from there",
            )
    if not argv[0] or "\0" in "".join(argv):
        raise UsageError(
            f"{where}: {key} starts with an empty program name or holds a NUL byte",
            "give the program first, e.g. [bun, src/db/migrate.ts]",
        )
    return argv


def _seed_commands(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise UsageError(
            f"{where}: seed_commands must map seed names to argv lists, not {type(value).__name__}",
            "write seed_commands: {organizations: [bun, src/db/seed-organizations.ts]}",
        )
    out: dict[str, tuple[str, ...]] = {}
    for name, argv in value.items():
        if not isinstance(name, str) or not _SEED.fullmatch(name):
            raise UsageError(
                f"{where}: seed name {name!r} is not a plain name ([a-z0-9_-], at most 63)",
                "rename it under seed_commands",
            )
        out[name] = _argv(argv, f"seed_commands.{name}", where)
    return out


def _from_env_text(key: str, value: Any) -> Any:
    """RELEASE_MIGRATE_COMMAND / RELEASE_SEED_COMMANDS carry JSON (an argv list, an object)."""
    if not isinstance(value, str) or not value.lstrip().startswith(("[", "{")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise UsageError(
            f"RELEASE_{key.upper()} is not valid JSON: {value!r}",
            f"set it to a JSON {'list' if key == 'migrate_command' else 'object'}, e.g. "
            + {
                "migrate_command": '["bun","src/db/migrate.ts"]',
                "build_prices": '{"BUILD_GENERAL1_SMALL":0.005}',
            }.get(key, '{"demo":["bun","d.ts"]}'),
        ) from None


def _legacy_seeds(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    names = _as_tuple(_LEGACY_SEEDS, value)
    for name in names:
        if not _SEED.fullmatch(name):
            raise UsageError(
                f"{where}: seed script name {name!r} is not a plain name",
                "use [a-z0-9_-] names under seed_commands",
            )
    return {name: legacy_seed_command(name) for name in names}


def _legacy_notice(where: str, commands: Mapping[str, tuple[str, ...]]) -> str:
    shown = ", ".join(f"{n}: {json.dumps(list(argv))}" for n, argv in commands.items())
    return (
        f"{where}: seed_scripts is deprecated and read as seed_commands {{{shown}}}; "
        "write that under seed_commands and delete seed_scripts"
    )


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(_FIELD_NAMES | {_LEGACY_SEEDS}):
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
    check_structure(raw)
    name = choose_env(raw, env, environ)
    section = (raw.get("environments") or {}).get(name) or {}
    merged: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    notices: list[str] = []
    layers = (
        ("release.defaults", raw.get("defaults") or {}),
        (f"release.environments.{name}", section),
        ("RELEASE_* variables", _env_overrides(environ)),
        ("flags", flags or {}),
    )
    seeds_from: dict[str, str] = {}  # which key set the allow-list, and where
    for where, layer in layers:
        for key, value in layer.items():
            if value is None:
                continue
            if key == "migrate_command":
                merged[key] = _argv(_from_env_text(key, value), key, where)
            elif key == "seed_commands":
                merged[key] = _seed_commands(_from_env_text(key, value), where)
                seeds_from[key] = where
            elif key == _LEGACY_SEEDS:
                merged["seed_commands"] = _legacy_seeds(value, where)
                seeds_from[key] = where
                notices.append(_legacy_notice(where, merged["seed_commands"]))
            elif key in _FIELD_NAMES:
                merged[key] = _coerce(key, value)
            else:
                extra[key] = value
    if len(seeds_from) == 2:
        raise UsageError(
            f"both seed_commands ({seeds_from['seed_commands']}) and the deprecated seed_scripts "
            f"({seeds_from[_LEGACY_SEEDS]}) are set",
            "keep seed_commands and delete seed_scripts (its names map to "
            "[bun, src/db/seed-<name>.ts])",
        )
    if "region" not in merged:
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        if region:
            merged["region"] = region
    settings = Settings(env=name, extra=extra, notices=tuple(notices), **merged)
    if not settings.registry and settings.account:
        settings = replace(settings, registry=ecr_registry(settings.account, settings.region))
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    """Reject settings that would only fail later, with the key to fix."""
    problems: list[tuple[str, str]] = []
    if s.account and not _ACCOUNT.fullmatch(s.account):
        problems.append((f"account {s.account!r} is not a 12-digit AWS account id", "account"))
    if s.region and not _REGION.fullmatch(s.region):
        problems.append((f"region {s.region!r} is not an AWS region name", "region"))
    if not _TAG.fullmatch(s.tag):
        problems.append((f"tag {s.tag!r} is not a Docker tag ([A-Za-z0-9_.-], at most 128)", "tag"))
    if s.tag_policy not in TAG_POLICIES:
        problems.append((f"tag_policy must be one of {', '.join(TAG_POLICIES)}", "tag_policy"))
    if s.registry_auth not in REGISTRY_AUTH:
        problems.append(
            (f"registry_auth must be one of {', '.join(REGISTRY_AUTH)}", "registry_auth")
        )
    registry = _REGISTRY.fullmatch(s.registry) if s.registry else None
    if s.registry and registry is None:
        problems.append((f"registry {s.registry!r} is not host[:port]", "registry"))
    elif registry and registry.group("port") is not None:
        port = registry.group("port")
        if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
            problems.append(
                (
                    f"registry port {port!r} is not a number from 1 to 65535 (ASCII digits)",
                    "registry",
                )
            )
    if s.runner not in RUNNERS:
        problems.append((f"runner must be one of {', '.join(RUNNERS)}", "runner"))
    if s.command_entrypoint not in ENTRYPOINTS:
        problems.append(
            (f"command_entrypoint must be one of {', '.join(ENTRYPOINTS)}", "command_entrypoint")
        )
    if s.backup not in ("", *BACKUP_MODES):
        problems.append((f"backup must be snapshot or none, not {s.backup!r}", "backup"))
    if not _COMPUTE_TYPE.fullmatch(s.compute_type):
        problems.append(
            (
                f"compute_type {s.compute_type!r} is not a CodeBuild compute type "
                "(e.g. BUILD_GENERAL1_SMALL)",
                "compute_type",
            )
        )
    if s.command_workdir and not s.command_workdir.startswith("/"):
        problems.append(
            (f"command_workdir {s.command_workdir!r} is not an absolute path", "command_workdir")
        )
    if problems:
        message, key = problems[0]
        raise UsageError(
            f"environment {s.env!r}: {message}",
            f"fix release.environments.{s.env}.{key} in invoke.yaml (or RELEASE_{key.upper()})",
        )
