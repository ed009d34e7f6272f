"""Publishes the release report (``tasks.release.report``) at the end of every ``release``,
``db.migrate`` and ``db.seed``, success or failure: the summary on the console, the report in
the ``--json`` result (or the error's details), and under GitHub Actions the step summary
(``GITHUB_STEP_SUMMARY``, appended) and the outputs ``build_id``, ``image``, ``status``
(``GITHUB_OUTPUT``, appended). A report that cannot be written never hides the outcome.

Issue 14's plan and lint results arrive typed in ``ReleaseState`` (``plan_summary``:
``report.PlanSummary``; ``lint``: a tuple of ``report.LintFinding``).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import SuiteError
from ..core.runtime import Runtime
from . import report as rp
from .state import ReleaseState


def _plan(rt: Runtime) -> rp.PlanSummary | None:
    return rt.part(ReleaseState).plan_summary


def _lint(rt: Runtime) -> tuple[rp.LintFinding, ...]:
    return rt.part(ReleaseState).lint


def _snapshot(rt: Runtime) -> dict[str, Any] | None:
    snap = rt.part(ReleaseState).snapshot
    return snap.as_dict() if snap is not None else None


def make_report(
    rt: Runtime,
    action: str,
    *,
    status: str,
    image: str,
    build: Mapping[str, Any] | None,
    steps: Sequence[Mapping[str, Any]],
    error: str = "",
    other_builds: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> rp.Report:
    s = rt.settings
    return rp.build_report(
        action=action,
        env=s.env,
        status=status,
        image=image,
        build=build,
        steps=steps,
        snapshot=_snapshot(rt),
        plan=_plan(rt),
        lint=_lint(rt),
        compute_type=s.compute_type,
        prices=rp.prices_from(s.build_prices),
        local=s.runner == "local",
        error=error,
        other_builds=other_builds,
    )


def action_steps(
    rt: Runtime, action: str, build: Mapping[str, Any] | None, status: str
) -> list[Any]:
    steps: list[dict[str, Any]] = []
    took = rt.part(ReleaseState).snapshot_seconds
    if took is not None:
        steps.append({"name": "snapshot", "status": "ok", "duration": took})
    ok = status == "SUCCEEDED"
    steps.append(
        {
            "name": action,
            "status": "ok" if ok else "failed",
            "duration": (build or {}).get("duration") or 0.0,
        }
    )
    return steps


def after_action(rt: Runtime, action: str, image: str, result: dict[str, Any]) -> None:
    """A build that SUCCEEDED (or was detached): the report joins the result."""
    report = _action_report(rt, action, image, result, str(result.get("status") or ""), result)
    if report is not None:
        result["report"] = report


def after_failure(rt: Runtime, action: str, image: str, err: SuiteError) -> None:
    """A build that did not succeed: the report joins the error's ``--json`` details."""
    build = getattr(err, "build", None)
    as_dict = build.as_dict() if build is not None else dict(err.details or {})
    status = str(as_dict.get("status") or "FAILED")
    shown = as_dict if build is not None else None
    report = _action_report(rt, action, image, as_dict, status, shown, error=err.line())
    if report is not None:
        err.details["report"] = report


def _action_report(
    rt: Runtime,
    action: str,
    image: str,
    as_dict: dict[str, Any],
    status: str,
    build: dict[str, Any] | None,
    *,
    error: str = "",
) -> dict[str, Any] | None:
    """Inside ``release`` the build joins the release's one report (None); alone, its own."""
    state = rt.part(ReleaseState)
    if state.in_release:
        state.report_builds.append((action, as_dict))
        return None
    r = make_report(
        rt,
        action,
        status=status,
        image=image,
        build=build,
        steps=action_steps(rt, action, as_dict, status),
        error=error,
    )
    return publish(rt, r)


def release_report(
    rt: Runtime, steps: Sequence[Mapping[str, Any]], *, status: str, error: str = ""
) -> dict[str, Any]:
    """The one report of ``invoke release``: its steps, and its migration build (else seed)."""
    ran = rt.part(ReleaseState).report_builds
    builds = dict(ran)
    main = "migrate" if "migrate" in builds else "seed"
    build = builds.get(main)
    if build and build.get("status") not in (None, "SUCCEEDED"):
        status = str(build["status"])
    r = make_report(
        rt,
        "release",
        status=status,
        image=str(rt.part(ReleaseState).pinned or ""),
        build=build,
        steps=steps,
        error=error,
        # release --seed: the seed build after the migration, timed and priced as well
        other_builds=[(action, b) for action, b in ran if action != main],
    )
    return publish(rt, r)


def publish(rt: Runtime, r: rp.Report) -> dict[str, Any]:
    for line in rp.render_text(r):
        rt.console.line(line)
    try:
        write_github(rt.environ, summary=rp.render_markdown(r), outputs=rp.github_outputs(r))
    except OSError as exc:  # the report is a bonus; the build's outcome is the news
        rt.console.warn(f"could not write the GitHub step summary/outputs ({exc})")
    return r.as_dict()


def write_github(
    environ: Mapping[str, str], *, summary: str = "", outputs: Mapping[str, str] | None = None
) -> None:
    """The one writer of GitHub's step summary and outputs: each appended, each only when the
    runner set its file (GITHUB_STEP_SUMMARY, GITHUB_OUTPUT); an OSError is the caller's."""
    if summary and environ.get("GITHUB_STEP_SUMMARY"):
        with Path(environ["GITHUB_STEP_SUMMARY"]).open("a", encoding="utf-8") as f:
            f.write(summary + "\n")
    if outputs and environ.get("GITHUB_OUTPUT"):
        delimiter = f"ghadelim_{uuid.uuid4().hex}"
        with Path(environ["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as f:
            f.write(rp.output_lines(outputs, delimiter))


def action_outcome(environ: Mapping[str, str], result_text: str, code: int) -> None:
    """The GitHub Action's last word after ``release-suite release --json`` exited ``code``:
    its verdict line and the ``exit_code`` output. The release's own report (summary, and the
    outputs build_id/image/status) was published by the run itself; a run that stopped before
    any report (bad input, no credentials...) gets its error and those outputs here."""
    try:
        loaded = json.loads(result_text)
    except ValueError:
        loaded = None
    r: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    error = r.get("error") if isinstance(r.get("error"), dict) else None
    if not r:
        error = {"message": "release-suite printed no result", "remedy": "see the log above"}
    ok = bool(r.get("ok")) and code == 0
    lines = [
        f"### release {environ.get('RELEASE_ENV_INPUT', '')}: {'ok' if ok else 'FAILED'} (exit {code})"
    ]
    outputs = {"exit_code": str(code)}
    if not isinstance(r.get("report"), dict):  # no report was published: say why here
        if error is not None:
            lines.append(f"**{error.get('message', '')}**\n\nFix: {error.get('remedy', '')}\n")
        kind = str((error or {}).get("kind") or ("SUCCEEDED" if ok else "FAILED"))
        outputs = {"build_id": "", "image": "", "status": kind, **outputs}
    write_github(environ, summary="\n".join(lines), outputs=outputs)


def main(argv: Sequence[str]) -> int:
    """``python -m release_suite.release.reporting RESULT_FILE EXIT_CODE`` (action.yml)."""
    path, code = argv
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        text = ""
    action_outcome(os.environ, text, int(code))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
