"""The package's imports read statically (AST), for the architecture tests.

Every ``import`` / ``from ... import`` anywhere in a module counts: at the top, inside a
function (a lazy import), under ``if TYPE_CHECKING:`` (a type-only import), and
``importlib.import_module("tasks...")`` with a literal name. Relative imports are resolved
against the module's package, so ``from ..release import flow`` inside ``tasks/diagnose/x.py``
reads as ``tasks.release.flow``. Nothing is imported: a fake tree in a temporary folder is
read the same way as the real one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. tasks.release.flow
    target: str  # the absolute module imported, e.g. tasks.diagnose.service or boto3
    line: int
    lazy: bool  # inside a function or class body, not run when the module loads
    type_only: bool  # under ``if TYPE_CHECKING:``: never run, read by mypy

    def where(self, root: Path) -> str:
        kind = "type-only " if self.type_only else "lazy " if self.lazy else ""
        return f"{self.source}:{self.line}: {kind}import of {self.target}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path, top: str = "tasks") -> dict[str, Path]:
    """Every module of the package ``top`` under ``root`` (``tasks/resources`` holds the
    programs a build runs, copied into its container: not code of the package)."""
    return {
        module_name(root, path): path
        for path in sorted((root / top).rglob("*.py"))
        if "resources" not in path.relative_to(root / top).parts
    }


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, lazy: bool, type_only: bool) -> Iterator[tuple[ast.AST, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, lazy, type_only
        if isinstance(child, ast.If) and _type_checking(child.test):
            for inner in child.body:
                yield inner, lazy, True
                yield from _walk(inner, lazy, True)
            for inner in child.orelse:
                yield inner, lazy, type_only
                yield from _walk(inner, lazy, type_only)
            continue
        deeper = lazy or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
        )
        yield from _walk(child, deeper, type_only)


def imports_of(source: str, path: Path, known: Iterable[str] = ()) -> list[Import]:
    """The imports of one module. ``known``: the package's module names, so that
    ``from . import x`` reads as the module ``pkg.x`` when there is one."""
    is_package = path.name == "__init__.py"
    package = source if is_package else source.rpartition(".")[0]
    names = set(known)
    found: list[Import] = []
    for node, lazy, type_only in _walk(ast.parse(path.read_text(encoding="utf-8")), False, False):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in names]
            targets = subs if subs and len(subs) == len(node.names) else [module, *subs]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = [node.args[0].value]
        line = getattr(node, "lineno", 0)
        found += [Import(source, t, line, lazy, type_only) for t in targets if t]
    return found


def package_imports(root: Path, top: str = "tasks") -> dict[str, list[Import]]:
    found = modules(root, top)
    return {name: imports_of(name, path, found) for name, path in found.items()}


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _reach(graph: Mapping[str, list[Import]], start: Iterable[str], *, lazy: bool) -> set[str]:
    """Modules of the package reached from ``start`` through runtime imports (with ``lazy``,
    also those inside functions), followed transitively; never through type-only ones."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        todo += [i.target for i in graph[name] if not i.type_only and (lazy or not i.lazy)]
    return seen


def reach_of(graph: Mapping[str, list[Import]], start: str) -> tuple[set[str], set[str]]:
    """What running ``start`` may execute, as (used, loaded):

    - used: ``start`` and every module it imports, at the top or inside a function, followed
      transitively (its code may call any of them, so their lazy imports count);
    - loaded: the parent packages of those, whose ``__init__`` runs on import, and what their
      top-level imports load in turn (their functions are not called by ``start``)."""
    used = _reach(graph, [start], lazy=True)
    parents = {p for name in used for p in _parents(name)} | set(_parents(start))
    loaded = _reach(graph, parents - used, lazy=False)
    while True:  # a loaded module's own parents load too
        more = {p for name in loaded for p in _parents(name)} - used - loaded
        if not more:
            return used, loaded - used
        loaded |= _reach(graph, more, lazy=False)


def external(graph: Mapping[str, list[Import]], start: str, top: str = "tasks") -> dict[str, str]:
    """The top-level names from outside the package that running ``start`` may import, each
    with one module that imports it (lazy imports of used modules included)."""
    used, loaded = reach_of(graph, start)
    found: dict[str, str] = {}
    for name in sorted(used | loaded):
        for imp in graph[name]:
            outside = imp.target.split(".")[0]
            if imp.type_only or outside == top or (imp.lazy and name not in used):
                continue
            found.setdefault(outside, imp.where(Path()))
    return found


def stage(module: str) -> str:
    """``tasks.release.flow`` -> ``release``; ``tasks.wiring`` -> ``wiring``; ``tasks`` -> ``''``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layering_violations(
    graph: Mapping[str, list[Import]], rules: Mapping[str, tuple[str, ...]], root: Path
) -> list[str]:
    """Every import of one stage by another that its rule does not allow (lazy and type-only
    imports count the same: they are dependencies all the same). A stage with no rule is one."""
    bad: list[str] = []
    for name, found in graph.items():
        here = stage(name)
        if not here:
            continue
        if here not in rules:
            bad.append(f"{name}: stage {here!r} has no rule")
            continue
        for imp in found:
            there = stage(imp.target) if imp.target.split(".")[0] == name.split(".")[0] else ""
            if there and there != here and there not in rules[here]:
                bad.append(imp.where(root))
    return bad


# -- writing to the terminal ----------------------------------------------------------------
_STREAMS = {"sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__"}
_STREAM_NAMES = {"stdout", "stderr", "__stdout__", "__stderr__"}  # from sys import stderr


def _is_stream(node: ast.expr) -> bool:
    text = ast.unparse(node)
    if text.endswith(".buffer"):  # sys.stdout.buffer.write(b"...")
        text = text[: -len(".buffer")]
    return text in _STREAMS or (isinstance(node, ast.Name) and node.id in _STREAM_NAMES)


def _writes(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name) and func.id == "print":
        return True
    if (
        isinstance(func, ast.Attribute)
        and func.attr in ("write", "writelines")
        and _is_stream(func.value)
    ):
        return True
    if ast.unparse(func) in ("os.write", "write") and call.args:
        fd = call.args[0]
        return (isinstance(fd, ast.Constant) and fd.value in (1, 2)) or ast.unparse(fd).endswith(
            ("stdout.fileno()", "stderr.fileno()")
        )
    return False


def terminal_writes(tree: ast.AST) -> list[tuple[int, str]]:
    """Every call that writes to the process's stdout/stderr without the console: ``print``
    (to any file), ``sys.stdout/stderr(.buffer).write/writelines`` and ``os.write(1|2, ...)``."""
    return [
        (node.lineno, ast.unparse(node))
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _writes(node)
    ]


# -- the package docstrings' "Imports:" line -------------------------------------------------
def declared_imports(docstring: str, stages: Iterable[str]) -> set[str] | None:
    """The stages an ``Imports:`` line allows: the names before its first ``;``, outside
    parentheses (``Imports: core, codebuild (the build model); never image`` -> core,
    codebuild). None when the docstring has no such line."""
    import re

    for paragraph in docstring.split("\n\n"):
        text = " ".join(paragraph.split())
        if text.startswith("Imports:"):
            allowed = re.sub(r"\([^)]*\)", "", text[len("Imports:") :]).split(";")[0]
            words = set(re.findall(r"[a-z]+", allowed))
            return {s for s in stages if s in words}
    return None


# -- cycles ------------------------------------------------------------------------------------
def import_cycles(graph: Mapping[str, list[Import]]) -> list[list[str]]:
    """Groups of the package's modules that import each other, directly or through others,
    counting lazy imports (a cycle a lazy import hides is still a cycle) but not type-only
    ones (mypy resolves those without running anything). Tarjan's algorithm, iteratively."""
    edges = {
        name: sorted({i.target for i in found if not i.type_only and i.target in graph} - {name})
        for name, found in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(edges[node]):
                work.append((node, child + 1))
                nxt = edges[node][child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            for nxt in edges[node]:
                if nxt in on_stack:
                    low[node] = min(low[node], low[nxt])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles
