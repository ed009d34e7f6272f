"""``invoke.yaml`` read safely, before anything else: the YAML reader and the shape of the
``release:`` section. Kept apart from ``config`` (Settings) because every start-up runs it
(``tasks.cli`` checks the file before invoke reads it) and needs nothing else. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError

MAX_YAML_NODES = 20_000  # invoke.yaml after alias expansion; the shipped one has ~150
MAX_YAML_DEPTH = 400  # nesting levels (the pure-Python parser's recursion gave out near 500)


def shown(value: Any) -> str:
    """A value as an error line quotes it: its repr, cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_structure(raw: Any, where: str = "release") -> None:
    """The shape of the ``release:`` section: mappings where mappings belong. One line naming
    the key, instead of an AttributeError deep inside (``environments: [prod]``)."""
    if not isinstance(raw, Mapping):
        raise UsageError(
            f"{where} in invoke.yaml must be a mapping (key: value lines), not a "
            f"{type(raw).__name__}",
            "see docs/configuration.md for its layout",
        )
    env = raw.get("env")
    if env is not None and not isinstance(env, str):
        raise UsageError(
            f"{where}.env must be an environment name, not {shown(env)}", "write env: local"
        )
    for key in ("defaults", "environments"):
        value = raw.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise UsageError(
                f"{where}.{key} in invoke.yaml must be a mapping, not a {type(value).__name__}",
                f"write {key}: followed by indented key: value lines",
            )
    for name, section in (raw.get("environments") or {}).items():
        if section is not None and not isinstance(section, Mapping):
            raise UsageError(
                f"{where}.environments.{name} in invoke.yaml must be a mapping, not a "
                f"{type(section).__name__}",
                "write the environment's settings as indented key: value lines",
            )


def load_yaml_file(path: Path) -> Any:
    """Parse a YAML file; any problem becomes one line naming the file (and line).

    Checked on the node graph before any Python value is made: duplicate keys are refused with
    both lines (YAML silently keeps the last one), and so is a document whose alias expansion
    exceeds MAX_YAML_NODES (an alias "bomb": ten levels of ten aliases is 10**10 nodes, which
    invoke's own config merge copies until the kernel kills it). Composing never expands
    aliases, so these checks take memory in proportion to the text.
    """
    import yaml

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist", "create it or pass the right path") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a YAML file", "pass a file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path}: line {line} is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
        ) from None
    # libyaml's parser when PyYAML has it (same YAML, a tenth of the time: this runs at every
    # start-up), composed once: the checks read the node graph, the values come from it
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, path)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(
            f"{path}:{where} is not valid YAML ({problem})",
            "fix the YAML at that line (indent with spaces, quote values containing ': ')",
        ) from None
    except RecursionError:
        raise UsageError(f"{path} is nested too deeply", "flatten the YAML") from None
    finally:
        loader.dispose()


def _check_nodes(root: Any, path: Path) -> None:
    """Duplicate keys, recursive aliases and the size after alias expansion, iteratively (no
    recursion limit) and once per distinct node (an alias is an edge to a shared node)."""
    import yaml

    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_YAML_NODES:
                raise UsageError(
                    f"{path}: line {node.start_mark.line + 1}: aliases expand to more than "
                    f"{MAX_YAML_NODES} values (a YAML alias bomb?)",
                    "write the values out instead of nesting aliases (*name) of aliases",
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise UsageError(
                f"{path}: line {node.start_mark.line + 1}: an alias refers to itself",
                "remove the recursive alias",
            )
        if len(on_path) >= MAX_YAML_DEPTH:
            raise UsageError(f"{path} is nested too deeply", "flatten the YAML")
        if isinstance(node, yaml.MappingNode):
            _no_duplicate_keys(node, path)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _no_duplicate_keys(node: Any, path: Path) -> None:
    import yaml

    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in seen:
            raise UsageError(
                f"{path}: line {line}: duplicate key {key_node.value!r} (first on line "
                f"{seen[key_node.value]}; YAML would silently keep only the last)",
                "remove or rename one of them",
            )
        seen[key_node.value] = line
