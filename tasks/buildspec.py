"""Parse and validate a CodeBuild buildspec (version 0.2) into plain data. Pure module.

What is checked is what CodeBuild would reject or silently mishandle for the buildspecs this
suite runs: invalid YAML, a top level that is not a mapping, a missing or unsupported
``version``, unknown phases, a phase without ``commands`` (or ``finally``), commands that are
not strings (the classic unquoted ``: `` that YAML reads as a mapping), non-string variable
values and an unknown ``on-failure``. Every error names the file and line.

The secret holding ``DATABASE_URL`` differs per environment while the buildspec is one file:
the file names it with the placeholder ``@DATABASE_SECRET@``, and :func:`render` replaces it
with the configured secret before the buildspec is handed to CodeBuild (``invoke setup``) or to
the local runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.errors import UsageError

PHASES = ("install", "pre_build", "build", "post_build")
PHASE_TYPES = {
    "install": "INSTALL",
    "pre_build": "PRE_BUILD",
    "build": "BUILD",
    "post_build": "POST_BUILD",
}
ON_FAILURE = ("ABORT", "CONTINUE")
SECRET_PLACEHOLDER = "@DATABASE_SECRET@"
PROBE_COMMAND = "python3 scripts/db_probe.py"
EMBEDDED_PROBE_COMMAND = 'python3 -c "$DB_PROBE_PY"'
_TOP_KEYS = {
    "version",
    "run-as",
    "env",
    "proxy",
    "phases",
    "reports",
    "artifacts",
    "cache",
    "batch",
}
_ENV_KEYS = {
    "shell",
    "variables",
    "parameter-store",
    "secrets-manager",
    "exported-variables",
    "git-credential-helper",
}
_PHASE_KEYS = {"run-as", "on-failure", "runtime-versions", "commands", "finally"}
SHELLS = ("bash", "sh")


class BuildspecError(UsageError):
    """The buildspec is not something CodeBuild would run; the message names file and line."""


@dataclass(frozen=True)
class PhaseSpec:
    name: str  # install | pre_build | build | post_build
    commands: tuple[str, ...] = ()
    finally_: tuple[str, ...] = ()
    on_failure: str = "ABORT"
    line: int = 0

    @property
    def phase_type(self) -> str:
        return PHASE_TYPES[self.name]


@dataclass(frozen=True)
class Buildspec:
    version: str
    phases: tuple[PhaseSpec, ...]
    variables: tuple[tuple[str, str], ...] = ()
    secrets_manager: tuple[tuple[str, str], ...] = ()  # (NAME, secret-id[:json-key...])
    exported_variables: tuple[str, ...] = ()
    shell: str = "bash"
    source: str = "buildspec.yml"

    def phase(self, name: str) -> PhaseSpec | None:
        for spec in self.phases:
            if spec.name == name:
                return spec
        return None


def render(text: str, secret: str) -> str:
    """The buildspec with the configured secret in place of ``@DATABASE_SECRET@``."""
    return text.replace(SECRET_PLACEHOLDER, secret)


def embed_probe(text: str, probe_source: str) -> str:
    """A self-contained buildspec: ``scripts/db_probe.py`` travels inside it.

    The CodeBuild project has no source checkout (NO_SOURCE, buildspec embedded by ``invoke
    setup``), so the probe's program rides along as the variable ``DB_PROBE_PY`` and runs as
    ``python3 -c "$DB_PROBE_PY"``. The local runner runs this same text, so what is tested
    locally is what CodeBuild gets. Comments are dropped (the YAML is re-serialised).
    """
    import yaml

    data = yaml.safe_load(text)
    for phase in (data.get("phases") or {}).values():
        for key in ("commands", "finally"):
            if isinstance(phase, dict) and isinstance(phase.get(key), list):
                phase[key] = [
                    c.replace(PROBE_COMMAND, EMBEDDED_PROBE_COMMAND) if isinstance(c, str) else c
                    for c in phase[key]
                ]
    env = data.setdefault("env", {})
    env.setdefault("variables", {})["DB_PROBE_PY"] = probe_source
    return str(yaml.dump(data, Dumper=_block_dumper(), sort_keys=False, width=1000))


def for_codebuild(text: str, secret: str, probe_source: str, source: str = "buildspec.yml") -> str:
    """What a project runs: validated (errors name the line of ``text``), rendered, embedded."""
    rendered = render(text, secret)
    parse(rendered, source)
    final = embed_probe(rendered, probe_source)
    parse(final, source + " (embedded)")
    return final


def project_buildspec(path: Path, secret: str) -> str:
    """``for_codebuild`` of a buildspec file with the suite's own ``scripts/db_probe.py``."""
    probe = Path(__file__).resolve().parents[1] / "scripts" / "db_probe.py"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BuildspecError(
            f"buildspec {path} does not exist",
            "set buildspec in invoke.yaml to the repo-relative path of the buildspec file",
        ) from None
    return for_codebuild(text, secret, probe.read_text(encoding="utf-8"), _display(path))


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _block_dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def secret_id(reference: str) -> str:
    """The secret name or ARN of a ``secret-id:json-key:version-stage:version-id`` reference."""
    if reference.startswith("arn:"):
        parts = reference.split(":")
        return ":".join(parts[:7])
    return reference.split(":", 1)[0]


def json_key(reference: str) -> str:
    """The json-key part of a secrets-manager reference ('' when absent)."""
    parts = reference.split(":")
    rest = parts[7:] if reference.startswith("arn:") else parts[1:]
    return rest[0] if rest else ""


# -- YAML with line numbers ------------------------------------------------------------------
def _compose(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BuildspecError(
            f"{source}{':' if where else ''}{where}: invalid YAML ({problem})",
            "fix the YAML at that line: indent with spaces only, quote commands that contain ': '",
        ) from None


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1


def _fail(source: str, node: Any, message: str, remedy: str) -> BuildspecError:
    return BuildspecError(f"{source}: line {_line(node)}: {message}", remedy)


def _mapping(node: Any, source: str, what: str) -> list[tuple[Any, Any]]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise _fail(
            source, node, f"{what} must be a mapping", f"write {what} as 'key: value' lines"
        )
    return list(node.value)


def _scalar(node: Any, source: str, what: str) -> str:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise _fail(
            source,
            node,
            f"{what} must be a string, found a {_kind(node)}",
            "quote the value; a ': ' inside an unquoted value makes YAML read it as a mapping",
        )
    return str(node.value)


def _kind(node: Any) -> str:
    import yaml

    return "list" if isinstance(node, yaml.SequenceNode) else "mapping"


def _commands(node: Any, source: str, where: str) -> tuple[str, ...]:
    import yaml

    if isinstance(node, yaml.ScalarNode):
        if node.value in ("", "~", "null"):
            raise _fail(
                source, node, f"{where} is empty", f"list at least one command under {where}"
            )
        return (str(node.value),)
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(source, node, f"{where} must be a list of commands", "write '- command' lines")
    out: list[str] = []
    for index, item in enumerate(node.value):
        if not isinstance(item, yaml.ScalarNode):
            raise _fail(
                source,
                item,
                f"{where}[{index}] must be a string, found subkeys instead",
                "quote the command: YAML reads an unquoted ': ' as a mapping",
            )
        out.append(str(item.value))
    if not out:
        raise _fail(source, node, f"{where} is empty", f"list at least one command under {where}")
    return tuple(out)


# -- the parser ------------------------------------------------------------------------------
def parse(text: str, source: str = "buildspec.yml") -> Buildspec:
    """Parse and validate; raises :class:`BuildspecError` naming the first problem's line."""
    root = _compose(text, source)
    if root is None:
        raise BuildspecError(
            f"{source}: line 1: the buildspec is empty", "start with 'version: 0.2'"
        )
    top = dict(
        ((_scalar(k, source, "a key"), (k, v)) for k, v in _mapping(root, source, "the buildspec"))
    )
    for key, (knode, _) in top.items():
        if key not in _TOP_KEYS:
            raise _fail(
                source,
                knode,
                f"unknown top-level key {key!r}",
                f"use one of {', '.join(sorted(_TOP_KEYS))}",
            )
    if "version" not in top:
        raise _fail(source, root, "no 'version'", "add 'version: 0.2' at the top")
    vnode = top["version"][1]
    version = _scalar(vnode, source, "version")
    if version not in ("0.2",):
        raise _fail(source, vnode, f"version {version!r} is not supported", "use 'version: 0.2'")
    env = _env(top["env"][1], source) if "env" in top else {}
    if "phases" not in top:
        raise _fail(
            source, root, "no 'phases'", "add a phases: mapping with at least a build phase"
        )
    phases = _phases(top["phases"][1], source)
    return Buildspec(
        version=version,
        phases=phases,
        variables=tuple(env.get("variables", ())),
        secrets_manager=tuple(env.get("secrets-manager", ())),
        exported_variables=tuple(env.get("exported-variables", ())),
        shell=str(env.get("shell", "bash")),
        source=source,
    )


def _env(node: Any, source: str) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for knode, vnode in _mapping(node, source, "env"):
        key = _scalar(knode, source, "an env key")
        if key not in _ENV_KEYS:
            raise _fail(
                source,
                knode,
                f"unknown env key {key!r}",
                f"use one of {', '.join(sorted(_ENV_KEYS))}",
            )
        if key == "shell":
            shell = _scalar(vnode, source, "env.shell")
            if shell not in SHELLS:
                raise _fail(
                    source, vnode, f"env.shell {shell!r} is not supported here", "use bash or sh"
                )
            out[key] = shell
        elif key in ("variables", "parameter-store", "secrets-manager"):
            pairs = []
            for name_node, value_node in _mapping(vnode, source, f"env.{key}"):
                name = _scalar(name_node, source, f"a name in env.{key}")
                if not isinstance(value_node, yaml.ScalarNode):
                    raise _fail(
                        source, value_node, f"env.{key}.{name} must be a string", "quote the value"
                    )
                pairs.append((name, str(value_node.value)))
            if key == "parameter-store" and pairs:
                raise _fail(
                    source,
                    vnode,
                    "env.parameter-store is not supported by this suite",
                    "use env.secrets-manager",
                )
            out[key] = pairs
        elif key == "exported-variables":
            out[key] = _commands(vnode, source, "env.exported-variables")
    return out


def _phases(node: Any, source: str) -> tuple[PhaseSpec, ...]:
    found: dict[str, PhaseSpec] = {}
    for knode, vnode in _mapping(node, source, "phases"):
        name = _scalar(knode, source, "a phase name")
        if name not in PHASES:
            hint = f" (did you mean {_closest(name)!r}?)" if _closest(name) else ""
            raise _fail(
                source,
                knode,
                f"unknown phase {name!r}{hint}",
                f"phases are {', '.join(PHASES)}",
            )
        if name in found:
            raise _fail(source, knode, f"phase {name!r} appears twice", "merge the two blocks")
        found[name] = _phase(name, knode, vnode, source)
    if not found:
        raise _fail(source, node, "phases is empty", "add at least a build phase with commands")
    return tuple(found[name] for name in PHASES if name in found)


def _phase(name: str, knode: Any, vnode: Any, source: str) -> PhaseSpec:
    import yaml

    if isinstance(vnode, yaml.ScalarNode) and vnode.value in ("", "~", "null"):
        raise _fail(
            source,
            knode,
            f"phase {name!r} has no commands",
            f"add 'commands:' with at least one command under {name}",
        )
    entries = {
        _scalar(k, source, f"a key of phase {name}"): (k, v)
        for k, v in _mapping(vnode, source, f"phase {name!r}")
    }
    for key, (k, _) in entries.items():
        if key not in _PHASE_KEYS:
            raise _fail(
                source,
                k,
                f"unknown key {key!r} in phase {name!r}",
                f"use {', '.join(sorted(_PHASE_KEYS))}",
            )
    if "commands" not in entries:
        raise _fail(
            source,
            knode,
            f"phase {name!r} has no commands",
            f"add 'commands:' with at least one command under {name}",
        )
    commands = _commands(entries["commands"][1], source, f"phases.{name}.commands")
    finally_ = (
        _commands(entries["finally"][1], source, f"phases.{name}.finally")
        if "finally" in entries
        else ()
    )
    on_failure = "ABORT"
    if "on-failure" in entries:
        fnode = entries["on-failure"][1]
        on_failure = _scalar(fnode, source, "on-failure")
        if on_failure not in ON_FAILURE:
            raise _fail(
                source,
                fnode,
                f"on-failure {on_failure!r} is not supported",
                f"use {' or '.join(ON_FAILURE)}",
            )
    return PhaseSpec(name, commands, finally_, on_failure, _line(knode))


def _closest(name: str) -> str:
    import difflib

    match = difflib.get_close_matches(name.lower().replace("-", "_"), PHASES, n=1, cutoff=0.6)
    return match[0] if match else ""
