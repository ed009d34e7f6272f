"""The guards a build start goes through: the seed allow-list, the pinned image, one migration
at a time per project (the concurrency guard), and the production confirmation."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from ..codebuild.client import conflict, resolve_image
from ..codebuild.commands import command_for
from ..codebuild.services import Services
from ..core.errors import ConfirmationRequired, UsageError
from ..core.runtime import Runtime
from .collaborators import backend_for, caller_for
from .state import ReleaseState

_PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")  # registry/repo@sha256:<64 hex>


def seed_script(rt: Runtime, name: str | None) -> str:
    """The seed script, only from the configured allow-list (the keys of ``seed_commands``)."""
    allowed = rt.settings.seed_scripts
    chosen = name or (allowed[0] if allowed else "")
    command_for(rt.settings, "seed", chosen)  # refuses a name outside the allow-list
    return chosen


def pinned_image(rt: Runtime, image: str | None = None) -> str:
    """``registry/repo@sha256:...``: --image, the image stage's result, or the configured tag."""
    if image:
        if not _PINNED.match(image):  # "repo@sha256:" alone would start a build on no image
            raise UsageError(
                f"--image {image!r} is not pinned to a digest",
                "pass registry/repo@sha256:<digest> (see `invoke image.verify`)",
            )
        return image
    state = rt.part(ReleaseState)
    if state.pinned:
        return state.pinned
    s = rt.settings
    if s.is_ecr:
        from ..image.ecr import client_for

        ecr_client, registry_id = client_for(rt, suite_retries=True)
        found = resolve_image(
            lambda _service: ecr_client,
            caller_for(rt),
            registry_id=registry_id,
            repository=s.repository,
            tag=s.tag,
            image_name=s.image_name,
            env=s.env,
        )
    else:
        from ..image.engine import verify_image

        found = verify_image(rt, f"{s.image_name}:{s.tag}")
    rt.console.info(f"image {s.image_name}:{s.tag} is {found['pinned']}")
    state.pinned = str(found["pinned"])
    return state.pinned


def refuse_if_running(rt: Runtime, project: str) -> None:
    """The concurrency guard: one migration at a time per project (unless --force)."""
    running = backend_for(rt).running(project)
    if running:
        raise conflict(running[0], rt.settings.env)


def _ask_terminal(rt: Runtime, question: str) -> bool | None:
    """y/N on the terminal; None when there is no terminal to ask on (CI, pipes)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    rt.console.prompt(f"{question} [y/N]")
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def confirm(rt: Runtime, what: str, *, yes: bool) -> None:
    """The production guard: environments with ``confirm: true`` need a yes."""
    if not rt.settings.confirm or yes:
        return
    ask: Callable[[str], bool | None] = rt.part(Services).ask or (
        lambda question: _ask_terminal(rt, question)
    )
    answer = ask(f"{what} in environment {rt.settings.env!r}?")
    if answer is None:
        raise ConfirmationRequired(
            f"environment {rt.settings.env!r} needs confirmation ({what}) and there is no "
            "terminal to ask on",
            "pass --yes to confirm (CI runs do this deliberately)",
        )
    if not answer:
        raise ConfirmationRequired(f"not confirmed: {what}", "rerun and answer y, or pass --yes")
