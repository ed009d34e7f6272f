"""``invoke diagnose`` wired together: read (build, log), match, rank, follow up, print.

Entry points:

* :func:`run` - the task's action (a build id, the latest failed build, ``--log``,
  ``--build-json``); returns the ``--json`` dict, raises ``DIAGNOSE_NO_MATCH`` when nothing
  matched.
* :func:`diagnose_build` - for the wait loop: a finished build plus its log lines -> Report.
* :func:`failure_hook` - a ``tasks.codebuild.wait.StreamedFailureHook`` for the wait loop: it
  reads the follower's lines as they arrive (``line``), and on a failure prints the diagnosis
  and returns the one-line remedy without downloading the log again.

The build backend and the follow-up checks are handed in by the caller (the wiring above):
this package never imports the release stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..codebuild.model import Build, BuildBackend
from ..core.errors import ExitCode, SuiteError, UsageError
from ..core.runtime import Runtime
from . import source
from .catalogue import Catalogue, load_catalogue
from .facts import build_from_json
from .followups import FollowUp, default_checks, run_followups
from .matcher import Scan, Scanner, read_chunks, scan_chunks, scan_lines
from .ranking import diagnose
from .report import Report, render, summary_line

# the stream is scanned in batches this size as it arrives, so little is left after the failure
STREAM_BATCH = 1 << 16
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


def build_values(build: Build) -> dict[str, str]:
    """Values known from the build itself: the image it ran (IMAGE_URI, pinned by release)."""
    env = {v.name: v.value for v in build.environment}
    image = env.get("IMAGE_URI") or ""
    return {"build_image": image} if image else {}


def _report(
    rt: Runtime,
    scan: Scan,
    build: Build | None,
    label: str,
    catalogue: Catalogue,
    checks: Mapping[str, FollowUp] | None,
    extra: Mapping[str, str] | None = None,
) -> Report:
    values = {**settings_values(rt), **(extra or {})}
    diagnosis = diagnose(catalogue, scan, build, values)
    results = run_followups(diagnosis.findings, checks) if checks else {}
    return Report(diagnosis, label, results, len(catalogue))


def diagnose_build(
    rt: Runtime,
    build: Build,
    log_lines: Iterable[str],
    *,
    catalogue: Catalogue | None = None,
    checks: Mapping[str, FollowUp] | None = None,
) -> Report:
    """Diagnose a finished build (a ``tasks.codebuild.model.Build``) from its lines. No printing."""
    catalogue = catalogue or load_catalogue()
    scan = scan_lines(log_lines, catalogue)
    label = f"build {build.id}"
    return _report(rt, scan, build, label, catalogue, checks, build_values(build))


def show(rt: Runtime, report: Report) -> None:
    for kind, text in render(report, rt.redactor):
        rt.console.line(text, kind)


class FailureDiagnosis:
    """The wait loop's failure hook, fed by the follower's stream ("one stream, many readers").

    ``line`` gets every log line as the follower prints it; lines are batched into the
    matcher's chunks and scanned on the way, so when the build fails the scan only has to be
    finished: no GetLogEvents call after the final status beyond the follower's drain. When no
    line was fed (a hook called on its own, or a log the follower did not read), the whole log
    is read from ``backend`` when it has one, else the tail is used.
    """

    def __init__(
        self,
        rt: Runtime,
        backend: BuildBackend | None = None,
        *,
        checks_factory: ChecksFactory | None = default_checks,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.rt = rt
        self.backend = backend
        self.checks_factory = checks_factory
        self._catalogue = catalogue
        self._scanner: Scanner | None = None
        self._batch: list[bytes] = []
        self._size = 0
        self.fed = 0  # lines read from the stream

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = load_catalogue()
        return self._catalogue

    def line(self, text: str) -> None:
        for part in text.split("\n"):  # one event may hold several lines, as in a re-read
            data = part.rstrip("\r\n").encode("utf-8", "replace") + b"\n"
            self._batch.append(data)
            self._size += len(data)
            self.fed += 1
        if self._size >= STREAM_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._scanner is None:
            self._scanner = Scanner(self.catalogue)
        if self._batch:
            self._scanner.feed(b"".join(self._batch))
        self._batch.clear()
        self._size = 0

    def scan(self, build: Build, tail: list[str]) -> Scan:
        if self.fed:
            self._flush()
            assert self._scanner is not None
            return self._scanner.finish()
        lines: Iterable[str] = tail
        if self.backend is not None and build.logs.known:
            lines = _whole_log_or_tail(self.backend, build, tail)
        return scan_lines(lines, self.catalogue)

    def __call__(self, build: Build, tail: list[str]) -> str | None:
        rt = self.rt
        try:
            scan = self.scan(build, tail)
            checks = self.checks_factory(rt) if self.checks_factory else None
            label = f"build {build.id}"
            report = _report(rt, scan, build, label, self.catalogue, checks, build_values(build))
        except SuiteError as err:
            rt.console.warn(f"diagnose could not run: {err.line()}")
            return None
        show(rt, report)
        return summary_line(report) or None


def failure_hook(
    rt: Runtime,
    backend: BuildBackend | None = None,
    *,
    checks_factory: ChecksFactory | None = default_checks,
) -> FailureDiagnosis:
    """For the wait loop: read the stream, diagnose a failed build, print it, return its fix."""
    return FailureDiagnosis(rt, backend, checks_factory=checks_factory)


def _whole_log_or_tail(backend: BuildBackend, build: Build, tail: list[str]) -> Iterator[str]:
    """The build's whole log, streamed (never held in memory); the tail if none is readable."""
    produced = False
    for line in source.log_lines(backend, build):
        produced = True
        yield line
    if not produced:
        yield from tail


def _read_saved(
    catalogue: Catalogue, log: str | None, build_json: str | None
) -> tuple[Scan, Build | None, str]:
    """A saved log (file or stdin) and/or a saved batch-get-builds response."""
    build = build_from_json(source.read_build_json(build_json)) if build_json else None
    scan, label = Scan(), build_json or "build"
    if log:
        stream = source.open_log(log)
        try:
            scan = scan_chunks(read_chunks(stream), catalogue)
        finally:
            if log != "-":
                stream.close()
        label = "stdin" if log == "-" else log
        if not scan.lines and build is None:  # e.g. `cmd 2>&1 | invoke diagnose --log -`
            raise UsageError(  # printed nothing: there is nothing to diagnose, not "no match"
                f"the log {label} is empty: nothing to diagnose",
                "pass the failing command's output (both streams: `cmd 2>&1 | invoke diagnose "
                "--log -`) or a saved build log",
            )
    if build is not None and build.id:
        label = f"build {build.id} ({label})" if log else f"build {build.id}"
    return scan, build, label


def _read_build(
    rt: Runtime, backend: BuildBackend, catalogue: Catalogue, build_id: str | None
) -> tuple[Scan, Build, str, dict[str, str]]:
    """A build from AWS (or the local runner) and its whole log, streamed."""
    build = source.read_build(rt, backend, build_id)
    if not build.final:  # nothing has failed yet: "no match" (21) would be a false alarm
        raise UsageError(
            f"build {build.id} is still {build.status} (in {build.current_phase or '-'}): "
            "nothing has failed yet",
            f"follow it with `invoke build.wait {build.id} --env {rt.settings.env}`: if it "
            "fails, the diagnosis runs by itself",
        )
    rt.console.step(f"reading build {build.id} ({build.status})")
    scan = scan_lines(source.log_lines(backend, build), catalogue)
    return scan, build, f"build {build.id}", build_values(build)


def run(
    rt: Runtime,
    *,
    backend: BuildBackend | None = None,
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
        scan, build, label = _read_saved(catalogue, log, build_json)
    else:
        if backend is None:
            raise UsageError(
                "no build backend to read builds from",
                "pass --log FILE or --build-json FILE, or run `invoke diagnose` through its task",
            )
        scan, build, label, extra = _read_build(rt, backend, catalogue, build_id)
    checks_now = checks_factory(rt) if checks else None
    report = _report(rt, scan, build, label, catalogue, checks_now, extra)
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


__all__ = ["FailureDiagnosis", "diagnose_build", "failure_hook", "run", "settings_values", "show"]
