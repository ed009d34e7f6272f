"""What names a failed build's cause and fix: the automatic diagnosis (diagnose's stream-fed
hook, wired here so diagnose never imports this stage), a test's or ``--no-diagnose``'s choice
in ``Services``, and the guard that keeps a broken hook from hiding the build's own failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..codebuild.model import Build
from ..codebuild.services import Services
from ..codebuild.wait import FailureHook, StreamedFailureHook
from ..core.runtime import Runtime
from .collaborators import backend_for

if TYPE_CHECKING:
    from ..diagnose.followups import FollowUp


def stopped_here(build: Build, tail: list[str]) -> str:
    """The remedy when this very run stopped the build (Ctrl-C, or SIGTERM from a cancelled CI
    job): no diagnosis to run (it would re-read the whole log while CI waits to kill us)."""
    return "this run stopped it (Ctrl-C or SIGTERM: StopBuild); start it again when ready"


def diagnosis_for(rt: Runtime) -> StreamedFailureHook:
    """The automatic diagnosis, wired: diagnose's stream-fed hook over this run's backend, with
    doctor's network-path checks as its follow-up. Imported when a build is followed (not at
    start-up): diagnose and provision never import this stage."""
    from ..diagnose.service import FailureDiagnosis

    return FailureDiagnosis(rt, backend_for(rt), checks_factory=diagnosis_checks)


def diagnosis_checks(rt: Runtime) -> dict[str, FollowUp]:
    """The diagnosis's follow-ups, with doctor's network-path checks plugged in and, in the
    local environment (the one database the suite can reach), the query runner that lets the
    blocking-sessions check name the sessions holding a table (issue 14)."""
    from ..diagnose.followups import default_checks
    from ..provision.facts import network_path_checks

    sql = None
    if rt.settings.runner == "local":
        from ..local.database import database_query

        sql = database_query(rt.settings, rt.environ)
    return default_checks(rt, network_path_checks, sql)


class SafeHook:
    """A failure hook that breaks never hides the build's own failure (nor stops the follow)."""

    def __init__(self, rt: Runtime, hook: FailureHook | StreamedFailureHook) -> None:
        self.rt = rt
        self.hook = hook
        self.reader: Callable[[str], None] | None = getattr(hook, "line", None)

    def line(self, text: str) -> None:
        if self.reader is None:
            return
        try:
            self.reader(text)
        except Exception as exc:  # the diagnosis is a bonus; the build's lines are the news
            self.reader = None
            self.rt.console.warn(f"diagnosis unavailable ({type(exc).__name__}: {exc})")

    def __call__(self, build: Build, tail: list[str]) -> str | None:
        try:
            return self.hook(build, tail)
        except Exception as exc:  # the diagnosis is a bonus; the build's failure is the news
            self.rt.console.warn(f"diagnosis unavailable ({type(exc).__name__}: {exc})")
            return None


def failure_hook(rt: Runtime) -> SafeHook | None:
    """What names a failed build's cause and fix: ``Services.on_failure`` when set
    (``Services.diagnose = False`` turns diagnosis off, e.g. --no-diagnose), else the diagnosis
    wired by ``diagnosis_for``."""
    services = rt.part(Services)
    if not services.diagnose:
        return None
    hook = services.on_failure if services.on_failure is not None else diagnosis_for(rt)
    return SafeHook(rt, hook)
