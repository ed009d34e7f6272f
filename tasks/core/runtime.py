"""The one place where production collaborators are built and wired together.

Tasks receive a ``Runtime``; tests build one with fakes or with real local services. Nothing
here talks to AWS or Docker at construction time: clients are made on first use.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .aws import AwsFactory
from .commands import CommandRunner
from .config import Settings
from .console import Console
from .redact import Redactor


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
    extras: dict[str, Any] = field(default_factory=dict)


def make_runtime(
    settings: Settings,
    console: Console,
    *,
    environ: Mapping[str, str] | None = None,
) -> Runtime:
    redactor = console.redactor
    env = dict(os.environ if environ is None else environ)
    if settings.runner == "local":  # the local environment's registry password (local.up)
        from ..local.environment import attach_credentials

        env = attach_credentials(settings, env)
    return Runtime(
        settings=settings,
        console=console,
        aws=AwsFactory(settings),
        commands=CommandRunner(redactor, env),
        redactor=redactor,
        environ=env,
    )
