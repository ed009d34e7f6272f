"""``invoke diagnose`` wired together: read (build, log), match, rank, follow up, print.

Entry points:

* :func:`run` - the task's action (a build id, the latest failed build, ``--log``,
  ``--build-json``); returns the ``--json`` dict, raises ``DIAGNOSE_NO_MATCH`` when nothing
  matched.
* :func:`diagnose_build` - for the wait loop: a finished build plus its log lines -> Report.
* :func:`failure_hook` - a ``tasks.codebuild.wait.FailureHook`` (install it as
  ``rt.extras["on_failure"]``): prints the diagnosis and returns the one-line remedy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..core.errors import ExitCode, SuiteError, UsageError
from ..core.runtime import Runtime
from . import source
from .catalogue import Catalogue, load_catalogue
from .followups import FollowUp, default_checks, run_followups
from .matcher import Scan, read_chunks, scan_chunks, scan_lines
from .ranking import BuildFacts, diagnose, facts_from_build, facts_from_json
from .report import Report, render, summary_line

ChecksFactory = Callable[[Runtime], Mapping[str, FollowUp]]


def settings_values(rt: Runtime) -> dict[str, str]:
    """The user's own values for the fix texts' placeholders (only the known ones)."""
    s = rt.settings
    values = {
        "project": s.project,
        "repository": s.repository,
        "registry": s.registry,
        "image": f"{s.image_name}:{s.tag}" if s.repository and s.registry else "",
        "region": s.region,
        "account": s.account,
        "port": str(s.database_port),
        "env": s.env,
        "secret": s.secret,
        "log_group": s.log_group,
        "service_role": s.service_role,
    }
    return {k: v for k, v in values.items() if v}


def build_values(build: Any) -> dict[str, str]:
    """Values known from the build itself: the image it ran (IMAGE_URI, pinned by release)."""
    env = {v.name: v.value for v in getattr(build, "environment", ()) or ()}
    image = env.get("IMAGE_URI") or ""
    return {"build_image": image} if image else {}


def _report(
    rt: Runtime,
    scan: Scan,
    facts: BuildFacts | None,
    label: str,
    catalogue: Catalogue,
    checks: Mapping[str, FollowUp] | None,
    extra: Mapping[str, str] | None = None,
) -> Report:
    values = {**settings_values(rt), **(extra or {})}
    diagnosis = diagnose(catalogue, scan, facts, values)
    results = run_followups(diagnosis.findings, checks) if checks else {}
    return Report(diagnosis, label, results, len(catalogue))


def diagnose_build(
    rt: Runtime,
    build: Any,
    log_lines: Iterable[str],
    *,
    catalogue: Catalogue | None = None,
    checks: Mapping[str, FollowUp] | None = None,
) -> Report:
    """Diagnose a finished build (a ``tasks.codebuild.model.Build``) from its lines. No printing."""
    catalogue = catalogue or load_catalogue()
    scan = scan_lines(log_lines, catalogue)
    facts = facts_from_build(build)
    label = f"build {build.id}"
    return _report(rt, scan, facts, label, catalogue, checks, build_values(build))


def show(rt: Runtime, report: Report) -> None:
    for kind, text in render(report, rt.redactor):
        rt.console.line(text, kind)


def failure_hook(
    rt: Runtime, *, checks_factory: ChecksFactory | None = default_checks
) -> Callable[[Any, list[str]], str | None]:
    """For the wait loop: diagnose the failed build, print it, return the root cause's fix.

    The loop keeps only a tail of the log; when the build's full log can be read again it is
    (the first specific signal may lie before the tail), else the tail is used.
    """

    def hook(build: Any, tail: list[str]) -> str | None:
        try:
            lines: Iterable[str] = tail
            if getattr(getattr(build, "logs", None), "known", False):
                lines = _whole_log_or_tail(rt, build, tail)
            checks = checks_factory(rt) if checks_factory else None
            report = diagnose_build(rt, build, lines, checks=checks)
        except SuiteError as err:
            rt.console.warn(f"diagnose could not run: {err.line()}")
            return None
        show(rt, report)
        return summary_line(report) or None

    return hook


def _whole_log_or_tail(rt: Runtime, build: Any, tail: list[str]) -> Iterator[str]:
    """The build's whole log, streamed (never held in memory); the tail if none is readable."""
    produced = False
    for line in source.log_lines(rt, build):
        produced = True
        yield line
    if not produced:
        yield from tail


def _read_saved(
    catalogue: Catalogue, log: str | None, build_json: str | None
) -> tuple[Scan, BuildFacts | None, str]:
    """A saved log (file or stdin) and/or a saved batch-get-builds response."""
    facts = facts_from_json(source.read_build_json(build_json)) if build_json else None
    scan, label = Scan(), build_json or "build"
    if log:
        stream = source.open_log(log)
        try:
            scan = scan_chunks(read_chunks(stream), catalogue)
        finally:
            if log != "-":
                stream.close()
        label = "stdin" if log == "-" else log
        if not scan.lines and facts is None:  # e.g. `cmd 2>&1 | invoke diagnose --log -`
            raise UsageError(  # printed nothing: there is nothing to diagnose, not "no match"
                f"the log {label} is empty: nothing to diagnose",
                "pass the failing command's output (both streams: `cmd 2>&1 | invoke diagnose "
                "--log -`) or a saved build log",
            )
    if facts is not None and facts.id:
        label = f"build {facts.id} ({label})" if log else f"build {facts.id}"
    return scan, facts, label


def _read_build(
    rt: Runtime, catalogue: Catalogue, build_id: str | None
) -> tuple[Scan, BuildFacts, str, dict[str, str]]:
    """A build from AWS (or the local runner) and its whole log, streamed."""
    build = source.read_build(rt, build_id)
    if not build.final:  # nothing has failed yet: "no match" (21) would be a false alarm
        raise UsageError(
            f"build {build.id} is still {build.status} (in {build.current_phase or '-'}): "
            "nothing has failed yet",
            f"follow it with `invoke build.wait {build.id} --env {rt.settings.env}`: if it "
            "fails, the diagnosis runs by itself",
        )
    rt.console.step(f"reading build {build.id} ({build.status})")
    scan = scan_lines(source.log_lines(rt, build), catalogue)
    return scan, facts_from_build(build), f"build {build.id}", build_values(build)


def run(
    rt: Runtime,
    *,
    build_id: str | None = None,
    log: str | None = None,
    build_json: str | None = None,
    checks: bool = True,
    catalogue: Catalogue | None = None,
    checks_factory: ChecksFactory = default_checks,
) -> dict[str, Any]:
    """The ``diagnose`` task's action."""
    catalogue = catalogue or load_catalogue()
    extra: dict[str, str] = {}
    if log or build_json:
        scan, facts, label = _read_saved(catalogue, log, build_json)
    else:
        scan, facts, label, extra = _read_build(rt, catalogue, build_id)
    checks_now = checks_factory(rt) if checks else None
    report = _report(rt, scan, facts, label, catalogue, checks_now, extra)
    show(rt, report)
    result = report.as_dict(rt.redactor)
    if not report.matched and not report.diagnosis.succeeded:  # the generic wrapper alone too
        raise SuiteError(  # its --json result carries the report and the error, as all do
            "no known failure matched this build's log and status",
            "read the failing phase and last lines above; add the failure to "
            "tasks/diagnose/catalogue.yaml if it recurs",
            code=ExitCode.DIAGNOSE_NO_MATCH,
            details=result,
        )
    return result


__all__ = ["diagnose_build", "failure_hook", "run", "settings_values", "show"]
