"""``release-suite init``: discover a user's repository and plan the files to write (pure).

Reads only the user's files (package.json, Dockerfile, migration tool configs) and the facts an
injected ``aws`` callable returns; it never calls boto3, docker or invoke itself. Every value
it fills in carries where it came from (``Found.source``), which init prints and writes as a
comment. The plan is data: a list of ``FileWrite`` that the task shows and applies; an existing
file with other content is never overwritten without asking, identical content is "unchanged",
so a second run changes nothing.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UsageError

SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", ".release-local", "dist", "build"})
MIGRATION_CONFIGS = (
    ("drizzle", "drizzle.config.*"),
    ("prisma", "prisma/schema.prisma"),
    ("knex", "knexfile.*"),
    ("alembic", "alembic.ini"),
)
# package.json dependency -> tool (the first that matches wins, in this order)
MIGRATION_PACKAGES = (
    ("drizzle", ("drizzle-orm", "drizzle-kit")),
    ("prisma", ("prisma", "@prisma/client")),
    ("knex", ("knex",)),
)
# A package.json script's first word -> what to run inside the image (no shell, no PATH of
# node_modules/.bin there: the CLIs are called through node by their file)
CLI_FILES = {
    "knex": ["node", "node_modules/knex/bin/cli.js"],
    "drizzle-kit": ["node", "node_modules/drizzle-kit/bin.cjs"],
    "prisma": ["node", "node_modules/prisma/build/index.js"],
}
# without a migrate script: the tool's own migrate command
TOOL_COMMANDS = {
    "knex": ["node", "node_modules/knex/bin/cli.js", "migrate:latest"],
    "drizzle": ["node", "node_modules/drizzle-kit/bin.cjs", "migrate"],
    "prisma": ["node", "node_modules/prisma/build/index.js", "migrate", "deploy"],
    "alembic": ["alembic", "upgrade", "head"],
}
MIGRATE_SCRIPTS = ("migrate", "db:migrate", "migrate:latest", "migrate:deploy")


@dataclass(frozen=True)
class Found:
    """A discovered value and where it came from (one phrase, printed as is)."""

    value: Any
    source: str


@dataclass
class Discovery:
    dockerfile: Found | None = None
    context: Found | None = None
    tool: Found | None = None
    migrate_command: Found | None = None
    seed_commands: Found | None = None
    name: Found | None = None
    aws: dict[str, Found] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """``key: value (source)`` for every discovered value, in a stable order."""
        out = []
        for key in ("name", "dockerfile", "context", "tool", "migrate_command", "seed_commands"):
            found = getattr(self, key)
            if found is not None:
                out.append(f"{key}: {_show(found.value)} ({found.source})")
        out += [f"{k}: {_show(f.value)} ({f.source})" for k, f in sorted(self.aws.items())]
        return out


def _show(value: Any) -> str:
    if isinstance(value, list):
        return shlex.join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    return str(value)


def _walk(root: Path, depth: int = 2) -> list[Path]:
    """Files under ``root`` at most ``depth`` folders deep, skipping vendored/build folders."""
    out: list[Path] = []
    level = [root]
    for _ in range(depth + 1):
        nxt: list[Path] = []
        for folder in level:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir() and not entry.is_symlink():
                    if entry.name not in SKIP_DIRS:
                        nxt.append(entry)
                elif entry.is_file():
                    out.append(entry)
        level = nxt
    return out


def dockerfile_candidates(root: Path) -> list[str]:
    """Every ``Dockerfile`` (else every ``*.Dockerfile``/``Dockerfile.*``), shallowest first."""
    files = _walk(root)

    def exact(p: Path) -> bool:
        return p.name == "Dockerfile"

    def variant(p: Path) -> bool:
        return p.name.startswith("Dockerfile.") or p.name.endswith(".Dockerfile")

    for pick in (exact, variant):
        hits = sorted((p for p in files if pick(p)), key=lambda p: (len(p.parts), str(p)))
        if hits:
            return [p.relative_to(root).as_posix() for p in hits]
    return []


Choose = Callable[[str, list[str]], str]  # (what: "dockerfile"/"tool", candidates) -> one


def _first(what: str, options: list[str]) -> str:
    return options[0]


def find_dockerfile(root: Path, choose: Choose = _first) -> Found | None:
    """The backend's Dockerfile; with several, ``choose`` picks (asks, or refuses)."""
    hits = dockerfile_candidates(root)
    if not hits:
        return None
    rel = choose("dockerfile", hits) if len(hits) > 1 else hits[0]
    more = f", chosen of {len(hits)}" if len(hits) > 1 else ""
    return Found(rel, f"found {rel}{more}")


def read_package_json(folder: Path) -> dict[str, Any] | None:
    path = folder / "package.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tool_candidates(folder: Path, package: Mapping[str, Any] | None) -> list[Found]:
    """Each migration tool the folder shows (a config file, else a package.json dependency),
    once, with its first piece of evidence."""
    out: dict[str, Found] = {}
    for tool, pattern in MIGRATION_CONFIGS:
        hits = sorted(folder.glob(pattern))
        if hits and tool not in out:
            out[tool] = Found(tool, f"found {hits[0].relative_to(folder).as_posix()}")
    deps: dict[str, Any] = {}
    for key in ("dependencies", "devDependencies"):
        section = (package or {}).get(key)
        if isinstance(section, dict):
            deps.update(section)
    for tool, names in MIGRATION_PACKAGES:
        for name in names:
            if name in deps and tool not in out:
                out[tool] = Found(tool, f"package.json depends on {name}")
    return list(out.values())


def find_tool(
    folder: Path, package: Mapping[str, Any] | None, choose: Choose = _first
) -> Found | None:
    """The migration tool; with several different ones, ``choose`` picks (asks, or refuses)."""
    found = tool_candidates(folder, package)
    if len(found) > 1:
        chosen = choose("tool", [f.value for f in found])
        return next(f for f in found if f.value == chosen)
    return found[0] if found else None


def image_argv(script: str) -> list[str] | None:
    """A package.json script as the argv the build runs in the image, or None if it needs a
    shell (``&&``, pipes, variables): those stay for the user to write."""
    if re.search(r"[;&|<>$`()]", script):
        return None
    try:
        argv = shlex.split(script)
    except ValueError:
        return None
    if not argv:
        return None
    if argv[0] in CLI_FILES:
        return [*CLI_FILES[argv[0]], *argv[1:]]
    return argv


def find_commands(
    package: Mapping[str, Any] | None, tool: Found | None
) -> tuple[Found | None, Found | None]:
    scripts = (package or {}).get("scripts")
    scripts = scripts if isinstance(scripts, dict) else {}
    migrate: Found | None = None
    for name in MIGRATE_SCRIPTS:
        script = scripts.get(name)
        argv = image_argv(script) if isinstance(script, str) else None
        if argv:
            migrate = Found(argv, f"package.json scripts.{name}")
            break
    if migrate is None and tool is not None and tool.value in TOOL_COMMANDS:
        migrate = Found(TOOL_COMMANDS[tool.value], f"{tool.value}'s migrate command")
    seeds: dict[str, list[str]] = {}
    for name, script in sorted(scripts.items()):
        match = re.fullmatch(r"(?:db:)?seed:([A-Za-z0-9_-]+)", str(name))
        argv = image_argv(script) if match and isinstance(script, str) else None
        if match and argv:
            seeds[match.group(1)] = argv
    found_seeds = Found(seeds, "package.json scripts.seed:*") if seeds else None
    return migrate, found_seeds


AwsFacts = Callable[[str | None], dict[str, Found]]


def discover(
    root: Path,
    aws: AwsFacts | None = None,
    region: str | None = None,
    choose: Choose = _first,
    *,
    dockerfile: str | None = None,
    tool: str | None = None,
) -> Discovery:
    """Everything init can learn from the repository (and, with ``aws``, from the account).
    ``dockerfile``/``tool`` are the user's choice (``--dockerfile``, ``--tool``); without it,
    ``choose`` settles several candidates (init asks on a terminal, or refuses)."""
    found = Discovery()
    if dockerfile is not None:
        if not (root / dockerfile).is_file():
            raise UsageError(
                f"--dockerfile {dockerfile!r} is not a file under {root}",
                "pass the Dockerfile's path relative to the repository, e.g. "
                "--dockerfile api/Dockerfile",
            )
        found.dockerfile = Found(Path(dockerfile).as_posix(), "--dockerfile")
    else:
        found.dockerfile = find_dockerfile(root, choose)
    folder = root
    if found.dockerfile is not None:
        context = Path(found.dockerfile.value).parent.as_posix()
        found.context = Found(context, f"the folder of {found.dockerfile.value}")
        folder = root / context
    package = read_package_json(folder) or read_package_json(root)
    raw_name = (package or {}).get("name") if package else None
    if isinstance(raw_name, str) and raw_name.strip():
        found.name = Found(_slug(raw_name), "package.json name")
    else:
        found.name = Found(_slug(root.resolve().name), "the repository's folder name")
    if tool is not None:
        if tool not in TOOL_COMMANDS:
            raise UsageError(
                f"--tool {tool!r} is not a migration tool init knows",
                f"pass one of {', '.join(TOOL_COMMANDS)}, or leave --tool out",
            )
        found.tool = Found(tool, "--tool")
    else:
        found.tool = find_tool(folder, package, choose) or (
            find_tool(root, package, choose) if folder != root else None
        )
    found.migrate_command, found.seed_commands = find_commands(package, found.tool)
    if aws is not None:
        found.aws = aws(region)
    return found


def _slug(text: str) -> str:
    text = text.rsplit("/", 1)[-1]  # @scope/name -> name
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "app"


# -- what to write --------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    env: str = "local"
    registry_port: int = 5000
    database_port: int = 55439
    own_buildspec: bool = False
    workflow: bool = False  # also for env local (an AWS environment always gets one)


@dataclass(frozen=True)
class FileWrite:
    path: str  # relative to the repository
    text: str
    what: str


def _q(value: Any) -> str:
    """A YAML scalar or flow list (JSON is YAML)."""
    if isinstance(value, list):
        return "[" + ", ".join(_q(v) for v in value) + "]"
    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9_./:@-]+", text) and not text.isdigit():
        return text
    return json.dumps(text)


def _line(indent: int, key: str, found: Found | Any, fallback: str = "") -> str:
    if isinstance(found, Found):
        return f"{' ' * indent}{key}: {_q(found.value)}  # {found.source}"
    return f"{' ' * indent}{key}: {_q(found)}" + (f"  # {fallback}" if fallback else "")


def render_config(found: Discovery, opts: Options, version: str) -> str:
    """invoke.yaml with the ``local`` environment (runs at once) and, for ``--env NAME``, an
    AWS one filled from what the account showed."""
    name = found.name.value if found.name else "app"
    out = [
        f"# Written by release-suite init {version}; each value says where it came from.",
        "# Precedence: command-line flags > RELEASE_<KEY> environment variables > this file.",
        "release:",
        f"  env: {_q(opts.env)}",
        "  defaults:",
        "    platform: linux/amd64",
        "    tag_policy: git-sha",
    ]
    if found.migrate_command is not None:
        out.append(_line(4, "migrate_command", found.migrate_command))
    else:
        out.append("    # migrate_command: [node, src/db/migrate.js]  # not found: write yours")
    if found.seed_commands is not None:
        out.append(f"    seed_commands:  # {found.seed_commands.source}")
        out += [f"      {k}: {_q(v)}" for k, v in found.seed_commands.value.items()]
    if opts.own_buildspec:
        out.append("    buildspec: buildspec/migrations.yml  # your copy (init --buildspec)")
    dockerfile = found.dockerfile or Found("Dockerfile", "default: no Dockerfile found")
    context = found.context or Found(".", "default")
    out += [
        "  environments:",
        "    local:  # this machine: release-suite local.up, then release --env local",
        "      runner: local",
        "      region: us-east-1",
        '      account: "000000000000"',
        f"      registry: 127.0.0.1:{opts.registry_port}",
        "      registry_auth: basic",
        "      registry_username: AWS",
        "      registry_insecure: true",
        _line(6, "repository", Found(name, found.name.source if found.name else "default")),
        "      tag: local",
        _line(6, "dockerfile", dockerfile),
        _line(6, "context", context),
        f"      project: {name}-migrations-local",
        "      secret: local/database-url",
        f"      database_port: {opts.database_port}",
    ]
    if opts.env != "local":
        out += _aws_environment(found, opts.env, name, dockerfile, context)
    return "\n".join(out) + "\n"


def _aws_environment(
    found: Discovery, env: str, name: str, dockerfile: Found, context: Found
) -> list[str]:
    aws = found.aws
    unknown = "not discovered: fill in"

    def value(key: str, default: str) -> Found:
        return aws.get(key) or Found(default, unknown)

    return [
        f"    {env}:",
        _line(6, "region", value("region", "us-east-1")),
        _line(
            6,
            "account",
            Found(str(value("account", "123456789012").value), value("account", "").source),
        ),
        _line(6, "repository", value("repository", name)),
        f"      tag: {_q(env)}",
        _line(6, "dockerfile", dockerfile),
        _line(6, "context", context),
        _line(6, "project", value("project", f"{name}-migrations")),
        f"      secret: {name}/{env}/database-url  # the Secrets Manager name invoke setup uses",
        f"      service_role: {name}-migrations-codebuild",
        "      confirm: true  # ask before migrating (or require --yes)",
    ]


def render_workflow(env: str, action_ref: str) -> str:
    return f"""# Written by release-suite init: release on every push to main with the release-suite action.
# Needs an IAM role trusted by GitHub's OIDC provider; set its ARN as the repository variable
# AWS_RELEASE_ROLE_ARN (release-suite doctor checks what the role must allow).
name: release
on:
  push:
    branches: [main]
permissions:
  id-token: write
  contents: read
concurrency:
  group: release-${{{{ github.ref }}}}
  cancel-in-progress: false
jobs:
  release:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      - uses: actions/checkout@v4
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: ${{{{ vars.AWS_RELEASE_ROLE_ARN }}}}
          aws-region: us-east-1
          role-duration-seconds: 7200
      - uses: {action_ref}
        id: release
        with:
          env: {env}
"""


def plan(
    root: Path,
    found: Discovery,
    opts: Options,
    version: str,
    buildspec_text: str,
    action_ref: str,
) -> list[FileWrite]:
    writes = [FileWrite("invoke.yaml", render_config(found, opts, version), "configuration")]
    if opts.own_buildspec:
        writes.append(
            FileWrite("buildspec/migrations.yml", buildspec_text, "buildspec (your copy)")
        )
    if opts.env != "local" or opts.workflow:
        workflow_env = opts.env if opts.env != "local" else "prod"
        writes.append(
            FileWrite(
                ".github/workflows/release.yml",
                render_workflow(workflow_env, action_ref),
                "CI workflow",
            )
        )
    return writes


def state_of(root: Path, write: FileWrite) -> str:
    """``new``, ``unchanged`` or ``differs`` (the last is never written without asking)."""
    path = root / write.path
    if not path.exists():
        return "new"
    try:
        return "unchanged" if path.read_text(encoding="utf-8") == write.text else "differs"
    except (OSError, UnicodeDecodeError):
        return "differs"
