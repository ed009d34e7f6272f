"""Issue 13: "mypy --strict is clean with no Any in the collaborators". mypy cannot say that
by itself (an explicit ``Any`` is legal under --strict, and the untyped docker SDK turns a
``docker.DockerClient`` annotation into ``Any`` silently), so the annotations of the
collaborator classes are read here, and the Docker Protocol is held against the real SDK."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# module -> the collaborator classes it defines (fields and method signatures are checked)
COLLABORATORS = {
    "tasks/core/runtime.py": ["Runtime"],
    "tasks/image/session.py": ["ImageSession"],
    "tasks/image/dockerapi.py": ["DockerApi", "LocalImages", "LocalImage"],
    "tasks/codebuild/services.py": ["Services"],
    "tasks/codebuild/client.py": ["AwsCaller"],
    "tasks/release/state.py": ["ReleaseState"],
}
# Names that are Any to mypy: typing.Any, and the docker SDK's classes (no stubs, so
# ``ignore_missing_imports`` makes every name imported from it Any)
UNTYPED = {"Any"}
UNTYPED_MODULES = ("docker", "boto3", "botocore")


def _untyped_names(tree: ast.Module) -> set[str]:
    names = set(UNTYPED)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in UNTYPED_MODULES
        ):
            names.update(alias.asname or alias.name for alias in node.names)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in UNTYPED_MODULES:
                    names.add(alias.asname or alias.name.split(".")[0])
    return names


def _mentions(annotation: ast.expr | None, untyped: set[str]) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        annotation = ast.parse(annotation.value, mode="eval").body
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id in untyped:
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Any":
            return True
    return False


def any_annotations(source: str, classes: list[str]) -> list[str]:
    """``Class.member: annotation`` for each field or signature of ``classes`` that is Any."""
    tree = ast.parse(source)
    untyped = _untyped_names(tree)
    found: list[str] = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in classes):
        for node in cls.body:
            if isinstance(node, ast.AnnAssign) and _mentions(node.annotation, untyped):
                found.append(
                    f"{cls.name}.{ast.unparse(node.target)}: {ast.unparse(node.annotation)}"
                )
            if isinstance(node, ast.FunctionDef):
                args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                args += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
                for arg in args:
                    if arg.annotation is not None and _mentions(arg.annotation, untyped):
                        shown = ast.unparse(arg.annotation)
                        found.append(f"{cls.name}.{node.name}({arg.arg}: {shown})")
                if node.returns is not None and _mentions(node.returns, untyped):
                    found.append(f"{cls.name}.{node.name} -> {ast.unparse(node.returns)}")
    return found


@pytest.mark.parametrize("path", sorted(COLLABORATORS))
def test_collaborators_have_no_any_in_fields_or_signatures(path: str) -> None:
    source = (ROOT / path).read_text()
    for name in COLLABORATORS[path]:
        assert f"class {name}" in source, f"{path} no longer defines {name}: update this list"
    assert any_annotations(source, COLLABORATORS[path]) == []


def test_the_check_catches_any_and_the_untyped_sdk() -> None:
    source = (
        "from typing import Any\n"
        "from dataclasses import dataclass\n"
        "import typing\n"
        "if TYPE_CHECKING:\n"
        "    from docker import DockerClient\n"
        "@dataclass\n"
        "class S:\n"
        "    a: dict[str, Any] = None\n"
        "    b: 'DockerClient | None' = None\n"
        "    c: typing.Any = None\n"
        "    d: dict[str, object] | None = None\n"
        "    def f(self, w: Any = None, *rest: int) -> list[Any]: ...\n"
    )
    assert any_annotations(source, ["S"]) == [
        "S.a: dict[str, Any]",
        "S.b: 'DockerClient | None'",
        "S.c: typing.Any",
        "S.f(w: Any)",
        "S.f -> list[Any]",
    ]


def test_the_docker_protocol_matches_the_real_sdk() -> None:
    """``DockerApi`` names only what the SDK's client has: a renamed SDK member fails here,
    since mypy sees the SDK as Any and cannot."""
    import docker
    from docker.models.images import Image, ImageCollection

    from tasks.image import dockerapi

    for protocol, real in (
        (dockerapi.DockerApi, docker.DockerClient),
        (dockerapi.LocalImages, ImageCollection),
        (dockerapi.LocalImage, Image),
    ):
        members = [m for m in vars(protocol) if not m.startswith("_")]
        assert members, protocol
        for member in members:
            ours = vars(protocol)[member]
            if real is Image:  # the SDK's models set ``attrs`` on the instance
                assert getattr(Image(attrs={"Os": "linux"}), member) == {"Os": "linux"}
                continue
            assert hasattr(real, member), f"{real.__name__} has no {member}"
            if isinstance(ours, property):
                assert isinstance(inspect.getattr_static(real, member), property), member
            else:
                params = list(inspect.signature(ours).parameters)[1:]
                theirs = inspect.signature(getattr(real, member)).parameters
                assert all(p in theirs for p in params), (member, params, list(theirs))
