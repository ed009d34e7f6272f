"""Parse and validate a CodeBuild buildspec into plain data. Pure module.

Follows AWS's "Build specification reference for CodeBuild" (build-spec-ref) and its "Batch
build buildspec reference", key by key: ``version`` 0.1/0.2, ``run-as``, ``env`` (``shell``,
``variables``, ``parameter-store``, ``exported-variables``, ``secrets-manager``,
``git-credential-helper``), ``proxy``, ``batch``, ``phases`` (``run-as``, ``on-failure`` with the
RETRY variants, ``runtime-versions``, ``commands``, ``finally``), ``reports``, ``artifacts`` (with
``secondary-artifacts``) and ``cache``. What AWS documents is accepted; what CodeBuild would
refuse or silently mishandle is one :class:`BuildspecError` naming the file, the line and, where
there is one, the likely intended form (GitHub Actions ``steps:``, an unquoted ``: `` in a
command, a ``build-matrix`` outside ``batch:``, an invalid escape, a duplicate key).

The YAML is read as a node graph (``yaml.compose``), never converted into Python values and
written back: every value is the text the user wrote (``on`` stays ``on``, ``1.10`` stays
``1.10``, ``0123`` stays ``0123``, an empty value is ``""``), which is what CodeBuild's agent
reads into its string fields. YAML merge keys (``<<``) are resolved; aliases are followed under
a budget of :data:`MAX_NODES` visits, so an alias bomb is one error instead of gigabytes.

The buildspec is one file for every environment: placeholders are substituted as TEXT by
:func:`render` (``@DATABASE_SECRET@`` -> the environment's secret, ``@DB_PROBE_PY@`` -> the
probe program, escaped for the double-quoted string it sits in). Nothing else of the file is
changed: what ``invoke setup`` installs and what the local runner runs is the file's own text.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UsageError

PHASES = ("install", "pre_build", "build", "post_build")
PHASE_TYPES = {
    "install": "INSTALL",
    "pre_build": "PRE_BUILD",
    "build": "BUILD",
    "post_build": "POST_BUILD",
}
VERSIONS = ("0.1", "0.2")
SECRET_PLACEHOLDER = "@DATABASE_SECRET@"
PROBE_PLACEHOLDER = "@DB_PROBE_PY@"
RUNNER_PLACEHOLDER = "@RUN_IN_IMAGE_PY@"  # scripts/run_in_image.py: runs the configured commands
MAX_NODES = 100_000  # YAML nodes visited, aliases counted each time they are used
MAX_BYTES = 10_000_000
# env.shell tags of build-spec-ref: "For Linux operating systems, supported shell tags are:
# bash, /bin/sh. For Windows operating systems, supported shell tags are: powershell.exe, cmd.exe"
LINUX_SHELLS = ("bash", "/bin/sh")
WINDOWS_SHELLS = ("powershell.exe", "cmd.exe")
REPORT_FORMATS = (
    "CLOVERXML",
    "COBERTURAXML",
    "CUCUMBERJSON",
    "JACOCOXML",
    "JUNITXML",
    "NUNITXML",
    "NUNIT3XML",
    "SIMPLECOV",
    "TESTNGXML",
    "VISUALSTUDIOTRX",
)
_YES_NO = ("yes", "no", "true", "false", "on", "off")

_TOP_KEYS = (
    "version",
    "run-as",
    "env",
    "proxy",
    "batch",
    "phases",
    "reports",
    "artifacts",
    "cache",
)
_ENV_KEYS = (
    "shell",
    "variables",
    "parameter-store",
    "exported-variables",
    "secrets-manager",
    "git-credential-helper",
)
_PHASE_KEYS = ("run-as", "on-failure", "runtime-versions", "commands", "finally")
_PROXY_KEYS = ("upload-artifacts", "logs")
_ARTIFACT_KEYS = (
    "files",
    "name",
    "discard-paths",
    "base-directory",
    "exclude-paths",
    "enable-symlinks",
    "s3-prefix",
)
_REPORT_KEYS = ("files", "base-directory", "discard-paths", "file-format")
_CACHE_KEYS = ("key", "fallback-keys", "action", "paths")
_BATCH_KEYS = ("fast-fail", "build-graph", "build-list", "build-matrix", "build-fanout")
_TASK_KEYS = ("identifier", "buildspec", "debug-session", "depend-on", "env", "ignore-failure")
_TASK_ENV_KEYS = ("compute-type", "fleet", "image", "privileged-mode", "type", "variables")
_ON_FAILURE = re.compile(r"ABORT|CONTINUE|RETRY(?:-(?P<rest>.+))?", re.DOTALL)

# keys that are right somewhere else: (where found, key) -> the hint
_GITHUB = (
    "this looks like a GitHub Actions workflow; a buildspec lists shell commands under "
    "phases: build: commands:"
)
_MISPLACED = {
    **{("top", k): f"'{k}' belongs under batch:" for k in _BATCH_KEYS},
    **{("top", k): f"'{k}' belongs under phases:" for k in PHASES},
    **{("top", k): f"'{k}' belongs under env:" for k in _ENV_KEYS},
    **{("top", k): _GITHUB for k in ("steps", "jobs", "runs-on", "on", "name", "uses")},
    **{("phase", k): _GITHUB for k in ("steps", "run", "uses", "script")},
    **{("phase", k): f"'{k}' belongs under batch: at the top" for k in _BATCH_KEYS},
    **{("env", k): f"'{k}' belongs under batch: <type>: env:" for k in _TASK_ENV_KEYS[:5]},
}


class BuildspecError(UsageError):
    """The buildspec is not something CodeBuild would run; the message names file and line."""


@dataclass(frozen=True)
class PhaseSpec:
    name: str  # install | pre_build | build | post_build
    commands: tuple[str, ...] = ()
    finally_: tuple[str, ...] = ()
    on_failure: str = "ABORT"  # as written: ABORT, CONTINUE, RETRY, RETRY-3, RETRY-3-regex...
    line: int = 0
    run_as: str = ""
    runtime_versions: tuple[tuple[str, str], ...] = ()
    on_failure_line: int = 0
    run_as_line: int = 0
    runtime_line: int = 0

    @property
    def phase_type(self) -> str:
        return PHASE_TYPES[self.name]

    @property
    def on_failure_action(self) -> str:
        """ABORT, CONTINUE or RETRY (the RETRY variants' count and regex aside)."""
        return "RETRY" if self.on_failure.startswith("RETRY") else self.on_failure


@dataclass(frozen=True)
class ArtifactSpec:
    identifier: str  # "" for the primary artifact
    files: tuple[str, ...]
    line: int
    base_directory: str = ""
    discard_paths: bool = False
    exclude_paths: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Construct:
    """A key of the buildspec that matters to a runner: its dotted path and its line."""

    key: str
    line: int
    value: str = ""


@dataclass(frozen=True)
class Buildspec:
    version: str
    phases: tuple[PhaseSpec, ...]
    variables: tuple[tuple[str, str], ...] = ()
    secrets_manager: tuple[tuple[str, str], ...] = ()  # (NAME, secret-id[:json-key...])
    parameter_store: tuple[tuple[str, str], ...] = ()
    exported_variables: tuple[str, ...] = ()
    shell: str = "bash"
    run_as: str = ""
    artifacts: tuple[ArtifactSpec, ...] = ()
    constructs: tuple[Construct, ...] = ()  # every documented key found, for warnings
    source: str = "buildspec.yml"
    line_of: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def phase(self, name: str) -> PhaseSpec | None:
        for spec in self.phases:
            if spec.name == name:
                return spec
        return None

    def has(self, key: str) -> Construct | None:
        for construct in self.constructs:
            if construct.key == key:
                return construct
        return None


# -- placeholders (text in, text out) ---------------------------------------------------------
def render(
    text: str, secret: str, probe_source: str | None = None, runner_source: str | None = None
) -> str:
    """The buildspec's own text with its placeholders replaced; nothing else changes.

    ``@DB_PROBE_PY@`` (and ``@RUN_IN_IMAGE_PY@``) become the program escaped for a YAML
    double-quoted string (JSON's escapes are a subset of YAML's), so each must sit inside double
    quotes: ``DB_PROBE_PY: "@DB_PROBE_PY@"``.
    """
    out = text.replace(SECRET_PLACEHOLDER, secret)
    for placeholder, program in (
        (PROBE_PLACEHOLDER, probe_source),
        (RUNNER_PLACEHOLDER, runner_source),
    ):
        if program is not None and placeholder in out:
            out = out.replace(placeholder, json.dumps(program, ensure_ascii=True)[1:-1])
    return out


def for_codebuild(
    text: str,
    secret: str,
    probe_source: str,
    source: str = "buildspec.yml",
    runner_source: str | None = None,
) -> str:
    """What a project runs: the file's text, validated (errors name its lines), rendered."""
    parse(text, source)
    final = render(text, secret, probe_source, runner_source)
    spec = parse(final, source)
    programs = (
        ("DB_PROBE_PY", PROBE_PLACEHOLDER, probe_source),
        ("RUN_IN_IMAGE_PY", RUNNER_PLACEHOLDER, runner_source),
    )
    for name, placeholder, program in programs:
        found = dict(spec.variables).get(name)
        if program is not None and placeholder in text and found != program:
            raise BuildspecError(
                f"{source}: {placeholder} must be a whole double-quoted value",
                f'write it as {name}: "{placeholder}" under env: variables:',
            )
    return final


def read_text(path: Path, source: str = "") -> str:
    """A buildspec file's text; a missing file, a directory or binary bytes is one error."""
    shown = source or str(path)
    remedy = "set buildspec in invoke.yaml to the path of a buildspec YAML file"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BuildspecError(f"buildspec {shown} does not exist", remedy) from None
    except IsADirectoryError:
        raise BuildspecError(f"buildspec {shown} is a directory, not a file", remedy) from None
    except OSError as exc:
        raise BuildspecError(
            f"cannot read buildspec {shown} ({exc.strerror or exc})", remedy
        ) from None
    if len(data) > MAX_BYTES:
        raise BuildspecError(f"buildspec {shown} is larger than {MAX_BYTES} bytes", remedy)
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise BuildspecError(
            f"{shown}: line {line}: binary data (a NUL byte), not a YAML buildspec", remedy
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BuildspecError(
            f"{shown}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})",
            "save the buildspec as UTF-8",
        ) from None


STATUS_PARSER_LINE = 'STATUS_PY = ""'  # in scripts/run_in_image.py


def runner_program() -> str:
    """``scripts/run_in_image.py`` as the build runs it: with the suite's own migration-status
    parser (``tasks/release/status.py``) in its ``STATUS_PY``, so the build reads a status
    exactly as the suite does (one parser; a JSON string is a valid Python literal)."""
    from ..core import resources

    runner = resources.read_text("run_in_image.py")
    parser = resources.package_text("release", "status.py")
    if runner.count(STATUS_PARSER_LINE) != 1:
        raise BuildspecError(
            f"run_in_image.py must hold the line {STATUS_PARSER_LINE!r} exactly once",
            "restore scripts/run_in_image.py from the suite's release",
        )
    return runner.replace(STATUS_PARSER_LINE, "STATUS_PY = " + json.dumps(parser), 1)


def project_buildspec(path: Path, secret: str) -> str:
    """``for_codebuild`` of a buildspec file with the suite's own ``scripts/db_probe.py`` and
    ``scripts/run_in_image.py`` (``runner_program``: with the status parser)."""
    from ..core import resources  # package data: the same files, installed or not

    source = _display(path)
    text = read_text(path, source)
    return for_codebuild(
        text,
        secret,
        resources.read_text("db_probe.py"),
        source,
        runner_program(),
    )


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def secret_id(reference: str) -> str:
    """The secret name or ARN of a ``secret-id:json-key:version-stage:version-id`` reference."""
    if reference.startswith("arn:"):
        parts = reference.split(":")
        return ":".join(parts[:7])
    return reference.split(":", 1)[0]


def reference_parts(reference: str) -> tuple[str, str, str, str]:
    """``(secret-id, json-key, version-stage, version-id)`` of a secrets-manager reference."""
    parts = reference.split(":")
    rest = parts[7:] if reference.startswith("arn:") else parts[1:]
    rest = [*rest, "", "", ""][:3]
    return secret_id(reference), rest[0], rest[1], rest[2]


def json_key(reference: str) -> str:
    """The json-key part of a secrets-manager reference ('' when absent)."""
    return reference_parts(reference)[1]


# -- YAML with line numbers --------------------------------------------------------------------
def _loader() -> Any:
    """SafeLoader's composer, remembering each node's anchor (for anchor-only top-level keys)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_scalar_node(self, anchor: Any) -> Any:
            node = super().compose_scalar_node(anchor)
            node.anchor = anchor  # type: ignore[attr-defined]
            return node

        def compose_sequence_node(self, anchor: Any) -> Any:
            node = super().compose_sequence_node(anchor)
            node.anchor = anchor  # type: ignore[attr-defined]
            return node

        def compose_mapping_node(self, anchor: Any) -> Any:
            node = super().compose_mapping_node(anchor)
            node.anchor = anchor  # type: ignore[attr-defined]
            return node

    return Loader


def _yaml_remedy(problem: str) -> str:
    if "escape" in problem:
        return (
            "in a double-quoted string a backslash starts an escape: use single quotes "
            "around the command, or write \\\\ for a backslash"
        )
    if "mapping values are not allowed" in problem:
        return "quote the value: YAML reads an unquoted ': ' inside a value as a new key"
    if "\\t" in problem or "tab" in problem:
        return "indent with spaces only (YAML does not allow tabs for indentation)"
    if "alias" in problem:
        return "define the anchor (&name) before the alias (*name) that uses it"
    return "fix the YAML at that line: indent with spaces only, quote commands that contain ': '"


def _compose(text: str, source: str) -> Any:
    import yaml

    try:
        loader = _loader()(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except RecursionError:
        raise BuildspecError(
            f"{source}: the YAML is nested too deeply to be a buildspec",
            "a buildspec nests a few levels: remove the runaway nesting",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f": line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BuildspecError(
            f"{source}{where}: invalid YAML ({problem})", _yaml_remedy(str(problem))
        ) from None


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1


def _is_null(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _kind(node: Any) -> str:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return "list"
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    return "string"


def _suggest(key: str, allowed: tuple[str, ...], where: str) -> str:
    hint = _MISPLACED.get((where, key))
    if hint:
        return f" ({hint})"
    lower = key.lower()
    for candidate in (lower, lower.replace("_", "-"), lower.replace("-", "_")):
        match = difflib.get_close_matches(candidate, allowed, n=1, cutoff=0.6)
        if match:
            return f" (did you mean {match[0]!r}?)"
    return ""


class _Reader:
    """Reads the node graph of one buildspec; every error names ``source`` and a line."""

    def __init__(self, source: str, text: str = "") -> None:
        self.source = source
        self.lines = text.splitlines()
        self.constructs: list[Construct] = []

    def fail(self, node: Any, message: str, remedy: str) -> BuildspecError:
        return BuildspecError(f"{self.source}: line {_line(node)}: {message}", remedy)

    def note(self, key: str, node: Any, value: str = "") -> None:
        self.constructs.append(Construct(key, _line(node), value))

    # the whole graph: bounded alias expansion, no duplicate key anywhere ---------------------
    def check_graph(self, root: Any) -> None:
        import yaml

        stack = [root]
        visits = 0
        while stack:
            node = stack.pop()
            visits += 1
            if visits > MAX_NODES:
                raise self.fail(
                    node,
                    f"the YAML expands to more than {MAX_NODES} values through its aliases "
                    "(a YAML bomb?)",
                    "a buildspec needs no nested aliases: write the values out or use one level",
                )
            if isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                seen: dict[str, Any] = {}
                for knode, vnode in node.value:
                    if isinstance(knode, yaml.ScalarNode) and knode.tag != _MERGE:
                        if knode.value in seen:
                            raise self.fail(
                                knode,
                                f"duplicate key {knode.value!r} (first at line "
                                f"{_line(seen[knode.value])})",
                                "keep one of them: YAML would silently drop the first",
                            )
                        seen[knode.value] = knode
                    stack.append(knode)
                    stack.append(vnode)

    # shapes -----------------------------------------------------------------------------------
    def mapping(
        self,
        node: Any,
        what: str,
        allowed: tuple[str, ...] | None = None,
        where: str = "",
        skip_anchored: bool = False,
    ) -> dict[str, tuple[Any, Any]]:
        """``key -> (key node, value node)``, merge keys (``<<``) resolved; ``null`` is empty."""
        import yaml

        if _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(
                node,
                f"{what} must be a mapping, found a {_kind(node)}",
                f"write {what} as 'key: value' lines",
            )
        out: dict[str, tuple[Any, Any]] = {}
        merged: dict[str, tuple[Any, Any]] = {}
        for knode, vnode in node.value:
            if knode.tag == _MERGE:
                sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                for src in sources:
                    for key, pair in self.mapping(src, f"the merge into {what}").items():
                        merged.setdefault(key, pair)
                continue
            key = self.key(knode, what)
            out[key] = (knode, vnode)
        for key, pair in merged.items():
            out.setdefault(key, pair)
        if allowed is not None:
            for key, (knode, vnode) in list(out.items()):
                if key in allowed:
                    continue
                if skip_anchored and getattr(vnode, "anchor", None):
                    del out[key]  # a holder of anchors for later aliases; CodeBuild ignores it
                    continue
                unknown = "unknown phase" if what == "phases" else "unknown key"
                place = "" if what == "phases" else f" in {what}"
                raise self.fail(
                    knode,
                    f"{unknown} {key!r}{place}{_suggest(key, allowed, where)}",
                    f"the keys of {what} are {', '.join(allowed)}",
                )
        return out

    def key(self, node: Any, what: str) -> str:
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"a key of {what} is a {_kind(node)}", "keys are plain words")
        return str(node.value)

    def scalar(self, node: Any, what: str) -> str:
        """The text as written (``on``, ``1.10``, ``0123`` unchanged); ``null`` is ``""``."""
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(
                node,
                f"{what} must be a string, found a {_kind(node)}",
                "quote the value: YAML reads an unquoted ': ' inside a value as a mapping",
            )
        if _is_null(node) and node.style is None:
            return ""
        return str(node.value)

    def flag(self, node: Any, what: str) -> bool:
        value = self.scalar(node, what)
        if value.lower() not in _YES_NO:
            raise self.fail(node, f"{what} must be yes or no, not {value!r}", f"set {what}: yes")
        return value.lower() in ("yes", "true", "on")

    def strings(self, node: Any, what: str, *, commands: bool = False) -> tuple[str, ...]:
        """A list of strings (a single string counts as a list of one; ``null`` is empty)."""
        import yaml

        if _is_null(node) and node.style is None:
            return ()
        if isinstance(node, yaml.ScalarNode):
            return (str(node.value),)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(
                node, f"{what} must be a list, found a {_kind(node)}", "write '- item' lines"
            )
        out: list[str] = []
        for index, item in enumerate(node.value):
            if not isinstance(item, yaml.ScalarNode):
                found = "subkeys" if isinstance(item, yaml.MappingNode) else "a list"
                hint = self.quoted(item) if commands and found == "subkeys" else ""
                raise self.fail(
                    item,
                    f"{what}[{index}] must be a string, found {found} instead{hint}",
                    "quote the command: YAML reads an unquoted ': ' as a mapping"
                    if commands
                    else "write each item as a plain string",
                )
            out.append(self.scalar(item, f"{what}[{index}]"))
        return tuple(out)

    def quoted(self, node: Any) -> str:
        """`` (did you mean: - '...')`` for a one-line command that YAML read as a mapping."""
        import yaml

        index = _line(node) - 1
        line = self.lines[index].strip() if 0 <= index < len(self.lines) else ""
        pairs = node.value
        one_line = (
            len(pairs) == 1
            and all(isinstance(n, yaml.ScalarNode) for n in pairs[0])
            and pairs[0][1].end_mark.line == node.start_mark.line
        )
        if not line.startswith("- ") or not one_line:
            return ""
        command = line[2:].strip()
        return " (did you mean: - '" + command.replace("'", "''") + "')"

    def pairs(self, node: Any, what: str) -> tuple[tuple[str, str], ...]:
        return tuple(
            (name, self.scalar(vnode, f"{what}.{name}"))
            for name, (_, vnode) in self.mapping(node, what).items()
        )


_MERGE = "tag:yaml.org,2002:merge"


# -- the parser --------------------------------------------------------------------------------
def parse(text: str, source: str = "buildspec.yml") -> Buildspec:
    """Parse and validate; raises :class:`BuildspecError` naming the first problem's line."""
    if "\0" in text:
        raise BuildspecError(
            f"{source}: binary data (a NUL byte), not a YAML buildspec",
            "point buildspec at a YAML file",
        )
    root = _compose(text, source)
    if root is None or (_is_null(root) and not root.value):
        raise BuildspecError(f"{source}: line 1: the buildspec is empty", "start with version: 0.2")
    r = _Reader(source, text)
    r.check_graph(root)
    top = r.mapping(root, "the buildspec", _TOP_KEYS, "top", skip_anchored=True)
    if "version" not in top:
        raise r.fail(root, "no 'version'", "add 'version: 0.2' at the top")
    vnode = top["version"][1]
    version = r.scalar(vnode, "version")
    if version not in VERSIONS:
        raise r.fail(vnode, f"version {version!r} is not a buildspec version", "use version: 0.2")
    r.note("version", vnode, version)
    env = _env(r, top["env"][1]) if "env" in top else {}
    run_as = ""
    if "run-as" in top:
        run_as = r.scalar(top["run-as"][1], "run-as")
        r.note("run-as", top["run-as"][0], run_as)
    for key, reader in (
        ("proxy", _proxy),
        ("batch", _batch),
        ("reports", _reports),
        ("cache", _cache),
    ):
        if key in top:
            reader(r, top[key][1])
            r.note(key, top[key][0])
    artifacts = _artifacts(r, top["artifacts"][1]) if "artifacts" in top else ()
    if "phases" not in top and "batch" not in top:
        raise r.fail(
            root, "no 'phases'", "add phases: with a build phase and its commands (or a batch:)"
        )
    phases = _phases(r, top["phases"][1]) if "phases" in top else ()
    return Buildspec(
        version=version,
        phases=phases,
        variables=env.get("variables", ()),
        secrets_manager=env.get("secrets-manager", ()),
        parameter_store=env.get("parameter-store", ()),
        exported_variables=env.get("exported-variables", ()),
        shell=env.get("shell", "bash"),
        run_as=run_as,
        artifacts=artifacts,
        constructs=tuple(r.constructs),
        source=source,
    )


def _env(r: _Reader, node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, (knode, vnode) in r.mapping(node, "env", _ENV_KEYS, "env").items():
        what = f"env.{key}"
        if key == "shell":
            shell = r.scalar(vnode, what)
            if shell not in LINUX_SHELLS + WINDOWS_SHELLS:
                raise r.fail(
                    vnode,
                    f"env.shell {shell!r} is not a shell CodeBuild knows",
                    f"use one of {', '.join(LINUX_SHELLS + WINDOWS_SHELLS)}",
                )
            out[key] = shell
            r.note(what, vnode, shell)
        elif key in ("variables", "parameter-store", "secrets-manager"):
            out[key] = r.pairs(vnode, what)
            for name, value in out[key]:
                r.note(f"{what}.{name}", vnode, value)
        elif key == "exported-variables":
            out[key] = r.strings(vnode, what)
        else:  # git-credential-helper
            if r.flag(vnode, what):
                r.note(what, knode, "yes")
    return out


def _phases(r: _Reader, node: Any) -> tuple[PhaseSpec, ...]:
    found: dict[str, PhaseSpec] = {}
    for name, (knode, vnode) in r.mapping(node, "phases", PHASES, "phases").items():
        found[name] = _phase(r, name, knode, vnode)
    return tuple(found[name] for name in PHASES if name in found)


def _phase(r: _Reader, name: str, knode: Any, vnode: Any) -> PhaseSpec:
    what = f"phase {name!r}"
    entries = r.mapping(vnode, what, _PHASE_KEYS, "phase")
    commands = (
        r.strings(entries["commands"][1], f"phases.{name}.commands", commands=True)
        if "commands" in entries
        else ()
    )
    finally_ = (
        r.strings(entries["finally"][1], f"phases.{name}.finally", commands=True)
        if "finally" in entries
        else ()
    )
    on_failure, on_failure_line = "ABORT", 0
    if "on-failure" in entries:
        fnode = entries["on-failure"][1]
        on_failure, on_failure_line = r.scalar(fnode, "on-failure"), _line(fnode)
        if not _ON_FAILURE.fullmatch(on_failure):
            raise r.fail(
                fnode,
                f"on-failure {on_failure!r} is not one CodeBuild knows",
                "use ABORT, CONTINUE, RETRY, RETRY-<count>, RETRY-<regex> or RETRY-<count>-<regex>",
            )
    run_as, run_as_line = "", 0
    if "run-as" in entries:
        run_as = r.scalar(entries["run-as"][1], f"phases.{name}.run-as")
        run_as_line = _line(entries["run-as"][0])
    runtimes: tuple[tuple[str, str], ...] = ()
    runtime_line = 0
    if "runtime-versions" in entries:
        runtimes = r.pairs(entries["runtime-versions"][1], f"phases.{name}.runtime-versions")
        runtime_line = _line(entries["runtime-versions"][0])
    return PhaseSpec(
        name,
        commands,
        finally_,
        on_failure,
        _line(knode),
        run_as=run_as,
        runtime_versions=runtimes,
        on_failure_line=on_failure_line,
        run_as_line=run_as_line,
        runtime_line=runtime_line,
    )


def retry_of(on_failure: str) -> tuple[int, str]:
    """``(count, regex)`` of a RETRY variant (defaults: 3 and ``.*``, as build-spec-ref says)."""
    match = _ON_FAILURE.fullmatch(on_failure)
    rest = (match.group("rest") if match else None) or ""
    count, _, regex = rest.partition("-")
    if count.isdigit():
        return int(count), regex or ".*"
    return 3, rest or ".*"


def _proxy(r: _Reader, node: Any) -> None:
    for key, (_, vnode) in r.mapping(node, "proxy", _PROXY_KEYS, "proxy").items():
        r.flag(vnode, f"proxy.{key}")


def _reports(r: _Reader, node: Any) -> None:
    for group, (_, gnode) in r.mapping(node, "reports").items():
        what = f"reports.{group}"
        entries = r.mapping(gnode, what, _REPORT_KEYS, "report")
        if "files" not in entries:
            raise r.fail(gnode, f"{what} has no files", f"list the report files under {what}")
        r.strings(entries["files"][1], f"{what}.files")
        if "base-directory" in entries:
            r.scalar(entries["base-directory"][1], f"{what}.base-directory")
        if "discard-paths" in entries:
            r.flag(entries["discard-paths"][1], f"{what}.discard-paths")
        if "file-format" in entries:
            fnode = entries["file-format"][1]
            fmt = r.scalar(fnode, f"{what}.file-format")
            if fmt.upper() not in REPORT_FORMATS:
                raise r.fail(
                    fnode,
                    f"{what}.file-format {fmt!r} is not a report format",
                    f"use one of {', '.join(REPORT_FORMATS)}",
                )


def _artifact(r: _Reader, identifier: str, node: Any, what: str, keys: tuple[str, ...]) -> Any:
    entries = r.mapping(node, what, keys, "artifacts")
    if "files" not in entries:
        if identifier == "" and "secondary-artifacts" in entries:
            return None
        raise r.fail(node, f"{what} has no files", f"list the files to keep under {what}.files")
    files = r.strings(entries["files"][1], f"{what}.files")
    if not files:
        raise r.fail(entries["files"][1], f"{what}.files is empty", "list at least one path")
    for key in ("discard-paths", "enable-symlinks"):
        if key in entries:
            r.flag(entries[key][1], f"{what}.{key}")
    for key in ("name", "base-directory", "s3-prefix"):
        if key in entries:
            r.scalar(entries[key][1], f"{what}.{key}")
    return ArtifactSpec(
        identifier=identifier,
        files=files,
        line=_line(node),
        base_directory=r.scalar(entries["base-directory"][1], "")
        if "base-directory" in entries
        else "",
        discard_paths=r.flag(entries["discard-paths"][1], f"{what}.discard-paths")
        if "discard-paths" in entries
        else False,
        exclude_paths=r.strings(entries["exclude-paths"][1], f"{what}.exclude-paths")
        if "exclude-paths" in entries
        else (),
        name=r.scalar(entries["name"][1], "") if "name" in entries else "",
    )


def _artifacts(r: _Reader, node: Any) -> tuple[ArtifactSpec, ...]:
    if _is_null(node):
        return ()
    out: list[ArtifactSpec] = []
    primary = _artifact(r, "", node, "artifacts", (*_ARTIFACT_KEYS, "secondary-artifacts"))
    if primary is not None:
        out.append(primary)
    entries = r.mapping(node, "artifacts")
    if "secondary-artifacts" in entries:
        what = "artifacts.secondary-artifacts"
        for ident, (_, anode) in r.mapping(entries["secondary-artifacts"][1], what).items():
            out.append(_artifact(r, ident, anode, f"{what}.{ident}", _ARTIFACT_KEYS))
    for spec in out:
        r.constructs.append(Construct(f"artifacts:{spec.identifier}", spec.line))
    return tuple(out)


def _cache(r: _Reader, node: Any) -> None:
    entries = r.mapping(node, "cache", _CACHE_KEYS, "cache")
    for key in ("paths", "fallback-keys"):
        if key in entries:
            r.strings(entries[key][1], f"cache.{key}")
    if "key" in entries:
        r.scalar(entries["key"][1], "cache.key")
    if "action" in entries:
        anode = entries["action"][1]
        action = r.scalar(anode, "cache.action")
        if action not in ("restore", "save"):
            raise r.fail(anode, f"cache.action {action!r} is unknown", "use restore or save")


def _batch(r: _Reader, node: Any) -> None:
    entries = r.mapping(node, "batch", _BATCH_KEYS, "batch")
    if "fast-fail" in entries:
        r.flag(entries["fast-fail"][1], "batch.fast-fail")
    for kind in ("build-graph", "build-list"):
        if kind not in entries:
            continue
        lnode = entries[kind][1]
        if _kind(lnode) != "list":
            raise r.fail(
                lnode, f"batch.{kind} must be a list of build tasks", "write '- identifier: ...'"
            )
        keys = (
            _TASK_KEYS
            if kind == "build-graph"
            else tuple(k for k in _TASK_KEYS if k != "depend-on")
        )
        for index, task in enumerate(lnode.value):
            _task(r, task, f"batch.{kind}[{index}]", keys)
    if "build-matrix" in entries:
        what = "batch.build-matrix"
        matrix = r.mapping(entries["build-matrix"][1], what, ("static", "dynamic"), "matrix")
        if "static" in matrix:
            static = r.mapping(
                matrix["static"][1], f"{what}.static", ("ignore-failure", "env"), "matrix"
            )
            if "ignore-failure" in static:
                r.flag(static["ignore-failure"][1], f"{what}.static.ignore-failure")
            if "env" in static:
                _task_env(r, static["env"][1], f"{what}.static.env", lists=False)
        if "dynamic" in matrix:
            dynamic = r.mapping(
                matrix["dynamic"][1], f"{what}.dynamic", ("buildspec", "env"), "matrix"
            )
            if "buildspec" in dynamic:
                r.strings(dynamic["buildspec"][1], f"{what}.dynamic.buildspec")
            if "env" in dynamic:
                _task_env(r, dynamic["env"][1], f"{what}.dynamic.env", lists=True)
    if "build-fanout" in entries:
        what = "batch.build-fanout"
        fanout = r.mapping(
            entries["build-fanout"][1], what, ("parallelism", "ignore-failure"), "fanout"
        )
        if "parallelism" in fanout:
            pnode = fanout["parallelism"][1]
            if not r.scalar(pnode, f"{what}.parallelism").isdigit():
                raise r.fail(pnode, f"{what}.parallelism must be a number", "write e.g. 5")
        if "ignore-failure" in fanout:
            r.flag(fanout["ignore-failure"][1], f"{what}.ignore-failure")


def _task(r: _Reader, node: Any, what: str, keys: tuple[str, ...]) -> None:
    entries = r.mapping(node, what, keys, "task")
    if "identifier" not in entries:
        raise r.fail(node, f"{what} has no identifier", f"add identifier: to {what}")
    r.scalar(entries["identifier"][1], f"{what}.identifier")
    if "buildspec" in entries:
        r.scalar(entries["buildspec"][1], f"{what}.buildspec")
    for key in ("debug-session", "ignore-failure"):
        if key in entries:
            r.flag(entries[key][1], f"{what}.{key}")
    if "depend-on" in entries:
        r.strings(entries["depend-on"][1], f"{what}.depend-on")
    if "env" in entries:
        _task_env(r, entries["env"][1], f"{what}.env", lists=False)


def _task_env(r: _Reader, node: Any, what: str, *, lists: bool) -> None:
    entries = r.mapping(node, what, _TASK_ENV_KEYS, "task-env")
    for key, (_, vnode) in entries.items():
        if key == "variables":
            for name, (_, value) in r.mapping(vnode, f"{what}.variables").items():
                if lists:
                    r.strings(value, f"{what}.variables.{name}")
                else:
                    r.scalar(value, f"{what}.variables.{name}")
        elif key == "privileged-mode":
            r.flag(vnode, f"{what}.{key}")
        elif lists:
            r.strings(vnode, f"{what}.{key}")
        else:
            r.scalar(vnode, f"{what}.{key}")


# -- what a local run leaves out ---------------------------------------------------------------
def local_warnings(spec: Buildspec, can_run_as: Any = None) -> list[str]:
    """One line per construct of ``spec`` the local runner does not carry out, naming what
    CodeBuild would do. ``can_run_as(user)`` says whether this machine can run as ``user``
    (the runner implements ``run-as`` then)."""
    out: list[str] = []

    def warn(line: int, what: str, codebuild: str, local: str) -> None:
        out.append(f"{spec.source}: line {line}: {what}: CodeBuild {codebuild}; locally {local}")

    def run_as(user: str, line: int, what: str) -> None:
        if user and not (can_run_as and can_run_as(user)):
            warn(
                line,
                what,
                f"runs the commands as the Linux user {user!r}",
                "they run as the current user (no such user here, or not root)",
            )

    shell = spec.has("env.shell")
    if shell and spec.shell in WINDOWS_SHELLS:
        warn(
            shell.line,
            f"env.shell {spec.shell}",
            f"runs the commands with {spec.shell} on a Windows image",
            "they run with bash",
        )
    for construct in spec.constructs:
        if construct.key.startswith("env.parameter-store."):
            name = construct.key.rsplit(".", 1)[1]
            warn(  # the name is not followed by ':' (a redactor would read "NAME: value")
                construct.line,
                "env.parameter-store",
                f"sets {name} from the Parameter Store parameter {construct.value!r}",
                f"{name} is not set",
            )
    git = spec.has("env.git-credential-helper")
    if git:
        warn(
            git.line,
            "env.git-credential-helper",
            "lets git use the source provider's credentials",
            "git uses this machine's own configuration",
        )
    top = spec.has("run-as")
    if top:
        run_as(spec.run_as, top.line, "run-as")
    for phase in spec.phases:
        if phase.runtime_versions:
            versions = ", ".join(f"{k} {v}" for k, v in phase.runtime_versions)
            warn(
                phase.runtime_line,
                f"phases.{phase.name}.runtime-versions",
                f"installs and selects {versions}",
                "the tools installed on this machine are used",
            )
        run_as(phase.run_as, phase.run_as_line, f"phases.{phase.name}.run-as")
        if phase.on_failure_action == "RETRY":
            count, regex = retry_of(phase.on_failure)
            warn(
                phase.on_failure_line,
                f"phases.{phase.name}.on-failure {phase.on_failure}",
                f"retries the phase up to {count} times when the error matches {regex!r}",
                "a failure is not retried (as ABORT)",
            )
    for key, codebuild, local in (
        ("proxy", "applies its proxy settings to artifact upload and logs", "there is no proxy"),
        ("batch", "runs a batch build of several builds", "this buildspec runs as one build"),
        ("reports", "uploads the test reports to report groups", "no report is collected"),
        ("cache", "restores and saves the cached paths", "nothing is cached"),
    ):
        found = spec.has(key)
        if found:
            warn(found.line, key, codebuild, local)
    return out


def check(path: Path, source: str, can_run_as: Any = None) -> dict[str, Any]:
    """``invoke buildspec.check``: the verdict on one file, with the local runner's warnings.

    Raises :class:`BuildspecError` (its details carry ``file``/``errors``/``warnings`` for the
    JSON result) when the file is not a buildspec CodeBuild would run.
    """
    try:
        text = read_text(path, source)
        spec = parse(text, source)
        if PROBE_PLACEHOLDER in text or RUNNER_PLACEHOLDER in text:  # each where it must be
            for_codebuild(text, "secret", "print(1)\n", source, "print(2)\n")
    except BuildspecError as err:
        err.details.update(file=source, valid=False, errors=[err.message], warnings=[])
        raise
    return {
        "file": source,
        "valid": True,
        "version": spec.version,
        "phases": [p.name for p in spec.phases],
        "errors": [],
        "warnings": local_warnings(spec, can_run_as),
    }
