"""The runtime every action receives: settings, console, the AWS factory, the argv runner,
the clocks, and the per-run parts that the stages own.

Core knows no stage, so the parts are kept by their type: each stage defines its own typed
dataclass (``image.session.ImageSession``, ``codebuild.services.Services``,
``release.state.ReleaseState``) and reads it with ``rt.part(ImageSession)``, which mypy types
as an ``ImageSession``. No string keys. The real collaborators are built by ``tasks.wiring``
(above every stage); tests build their own and ``rt.put`` them. Nothing here talks to AWS or
Docker at construction time: clients are made on first use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from .aws import AwsFactory
from .commands import CommandRunner
from .config import Settings
from .console import Console
from .redact import Redactor

P = TypeVar("P")


@dataclass
class Runtime:
    settings: Settings
    console: Console
    aws: AwsFactory
    commands: CommandRunner
    redactor: Redactor
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    parts: dict[type, object] = field(default_factory=dict)

    def part(self, kind: type[P]) -> P:
        """This run's ``kind`` (a stage's dataclass whose fields all have defaults), made
        empty on first use."""
        found = self.parts.get(kind)
        if not isinstance(found, kind):
            found = kind()
            self.parts[kind] = found
        return found

    def put(self, value: P) -> P:
        """Install ``value`` as this run's part of its type (the wiring's, or a test's)."""
        self.parts[type(value)] = value
        return value


def make_runtime(
    settings: Settings,
    console: Console,
    *,
    environ: Mapping[str, str] | None = None,
) -> Runtime:
    """The runtime of core collaborators only; ``tasks.wiring.wire`` adds the stages' ones."""
    redactor = console.redactor
    env = dict(os.environ if environ is None else environ)
    return Runtime(
        settings=settings,
        console=console,
        aws=AwsFactory(settings),
        commands=CommandRunner(redactor, env),
        redactor=redactor,
        environ=env,
    )
