"""The part of the Docker SDK's client the suite uses, as a Protocol (pure: imports typing only).

The docker SDK ships no type information (mypy: ``ignore_missing_imports``), so a
``docker.DockerClient`` annotation is ``Any`` and every value read through it would be too.
``image.engine`` makes the real client and returns it as ``DockerApi``; readers see these
methods and nothing else. The answers are the engine's JSON (``GET /version``, ``GET /info``,
``GET /images/{name}/json``), so their values stay ``object`` and callers convert what they
read. ``tests/unit/test_dockerapi.py`` checks the real SDK still has each member.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class LocalImage(Protocol):
    """``docker.models.images.Image``: ``attrs`` is the engine's image inspect answer."""

    @property
    def attrs(self) -> Mapping[str, object]: ...


class LocalImages(Protocol):
    """``DockerClient.images`` (``docker.models.images.ImageCollection``)."""

    def get(self, name: str) -> LocalImage: ...


class DockerApi(Protocol):
    """``docker.DockerClient``, as far as the suite (and its tests) use it."""

    @property
    def images(self) -> LocalImages: ...

    def ping(self) -> bool: ...

    def version(self) -> Mapping[str, object]: ...

    def info(self) -> Mapping[str, object]: ...

    def close(self) -> None: ...
