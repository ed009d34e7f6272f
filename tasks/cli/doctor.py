"""``invoke doctor``: prove the prerequisites of a migration build (reads AWS only)."""

from __future__ import annotations

from typing import Any

from invoke.context import Context
from invoke.tasks import task

from tasks.cli.common import AWS_HELP, HELP, execute


def render_checks(console: Any, checks: Any, *, verbose: bool = False) -> None:
    """One line per check; the fix under each warn/fail; evidence with --verbose."""
    kinds = {"pass": "ok", "warn": "warn", "fail": "error"}
    for check in checks:
        label = check.status.upper()
        console.line(f"{label:<5} {check.id:<22} {check.message}", kinds[check.status])
        if check.status != "pass" and check.fix:
            console.line(f"{'':<5} {'':<22} fix: {check.fix}")
        if verbose:
            for item in check.evidence:
                console.line(f"{'':<5} {'':<22} - {item}")


@task(
    help={
        **HELP,
        **AWS_HELP,
        "verbose": "show the evidence behind each check",
    }
)
def doctor(
    c: Context,
    env: str | None = None,
    json_: bool = False,
    verbose: bool = False,
    profile: str | None = None,
    region: str | None = None,
) -> None:
    """Check every prerequisite of a migration build (project, role, VPC, DB, secret, image)."""

    def action(rt):  # type: ignore[no-untyped-def]
        from tasks.doctor import failed, summary
        from tasks.doctor_facts import doctor as run_doctor
        from tasks.errors import ExitCode, SuiteError

        s = rt.settings
        rt.console.step(f"doctor: {s.env} ({s.region}), project {s.project or '-'}")
        checks = run_doctor(rt)
        render_checks(rt.console, checks, verbose=verbose)
        counts = summary(checks)
        rt.console.line(
            f"{len(checks)} checks: {counts['pass']} pass, {counts['warn']} warn, "
            f"{counts['fail']} fail"
        )
        bad = failed(checks)
        result = {"ok": not bad, "checks": [ch.as_dict() for ch in checks], "summary": counts}
        if bad:
            rt.console.emit(result)
            raise SuiteError(
                f"doctor: {len(bad)} check(s) failed ({', '.join(ch.id for ch in bad)})",
                "apply the fix shown under each failed check, then rerun `invoke doctor`",
                code=ExitCode.DOCTOR_FAILED,
            )
        return result

    execute(c, action, env=env, json_=json_, flags={"profile": profile, "region": region})
