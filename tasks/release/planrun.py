"""Adapter behind ``invoke db.plan``: takes the migration files out of a directory or the pinned
image, runs squawk on the SQL ones, and returns the plan as data.

Side effects (subprocess: squawk, docker cp) are here; the decisions are in lint.py, status.py
and plan.py. squawk comes from the pinned ``squawk-cli`` package (requirements.txt).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..codebuild.model import Build
from ..core.errors import CommandFailed, DockerUnavailable, SuiteError, UsageError
from .history import History, PreviousImage, compare, image_uri, last_migration
from .lint import (
    LintReport,
    NotLinted,
    SquawkOutputError,
    gate,
    matches_glob,
    parse_squawk_json,
    split_files,
    squawk_argv,
)
from .plan import Plan, PlanSettings, pending_files
from .status import Status, estimate, reconcile

Runner = Callable[..., subprocess.CompletedProcess[str]]


def squawk_binary() -> str:
    """squawk beside this Python (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.exists():
        return str(beside)
    found = shutil.which("squawk")
    if not found:
        raise CommandFailed(
            "squawk is not installed",
            "pip install -r requirements.txt (it pins squawk-cli)",
        )
    return found


def migration_files(root: Path, globs: Sequence[str]) -> list[str]:
    """Paths under ``root`` (relative, '/'-separated) matching the globs, in name order."""
    found = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "node_modules" not in p.parts
    ]
    return sorted(f for f in found if matches_glob(f, globs))


def lint_files(
    root: Path,
    files: Sequence[str],
    settings: PlanSettings,
    *,
    run: Runner = subprocess.run,
) -> LintReport:
    sql, skipped = split_files(files)
    if not sql:
        return LintReport((), tuple(skipped), ())
    call = squawk_argv(
        [str(root / f) for f in sql],
        pg_version=settings.postgres_version,
        timeouts_set=settings.timeouts_set,
        binary=squawk_binary(),
    )
    proc = run(list(call.argv), capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode not in (0, 1):
        raise CommandFailed(
            f"squawk failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}",
            "check the SQL files parse, or run squawk on them by hand",
        )
    try:
        findings = parse_squawk_json(proc.stdout, strip_prefix=str(root))
    except SquawkOutputError as exc:
        raise CommandFailed(
            str(exc), "pip install -r requirements.txt (squawk-cli pinned)"
        ) from exc
    return LintReport(tuple(findings), tuple(skipped), call.covered_rules)


def extract_from_image(
    image: str, workdir: str, dest: Path, *, run: Runner = subprocess.run
) -> Path:
    """Copy the image's workdir out of a created (never started) container; returns the copy."""
    if shutil.which("docker") is None:
        raise DockerUnavailable("the docker CLI is not installed", "install docker or pass --dir")
    created = run(["docker", "create", image, "true"], capture_output=True, text=True, check=False)
    if created.returncode != 0:
        raise CommandFailed(
            f"docker create {image} failed: {created.stderr.strip()[-300:]}",
            "pull the image first (or check the reference), then run db.plan again",
        )
    cid = created.stdout.strip()
    try:
        if not workdir:
            inspect = run(
                ["docker", "image", "inspect", "-f", "{{.Config.WorkingDir}}", image],
                capture_output=True,
                text=True,
                check=False,
            )
            workdir = inspect.stdout.strip() or "/"
        copied = run(
            ["docker", "cp", f"{cid}:{workdir.rstrip('/')}/.", str(dest)],
            capture_output=True,
            text=True,
            check=False,
        )
        if copied.returncode != 0:
            raise CommandFailed(
                f"docker cp from {image} failed: {copied.stderr.strip()[-300:]}",
                "set command_workdir to the directory holding the migrations",
            )
    finally:
        run(["docker", "rm", "-f", cid], capture_output=True, text=True, check=False)
    return dest


def file_digests(root: Path, files: Sequence[str]) -> dict[str, str]:
    """sha256 of each file (path relative to ``root``), in the order given."""
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files}


def image_migrations(
    image: str, workdir: str, globs: Sequence[str], *, run: Runner = subprocess.run
) -> dict[str, str]:
    """The migration files of ``image`` (path -> sha256), read as the pinned image's are."""
    with tempfile.TemporaryDirectory(prefix="db-plan-previous-") as tmp:
        root = extract_from_image(image, workdir, Path(tmp), run=run)
        return file_digests(root, migration_files(root, globs))


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no reason given"


def read_history(
    builds: Callable[[], Sequence[Build]], read: Callable[[str], Mapping[str, str]]
) -> History:
    """The last SUCCEEDED migration build (``builds``: the backend's recent builds, newest
    first) and its image's migrations (``read``); what failed is said, never raised."""
    try:
        found = list(builds())
    except SuiteError as err:
        return History(error=_one_line(err.message))
    last = last_migration(found)
    if last is None:
        return History(None, len(found))
    uri = image_uri(last)
    try:
        files = read(uri)
    except (CommandFailed, DockerUnavailable) as err:  # gone from the registry, no docker...
        return History(PreviousImage(last.id, uri, None, _one_line(err.message)), len(found))
    return History(PreviousImage(last.id, uri, files), len(found))


def make_plan(
    env: str,
    settings: PlanSettings,
    *,
    directory: Path | None = None,
    image: str = "",
    workdir: str = "",
    status: Status | None = None,
    previous_files: Sequence[str] | None = None,
    builds: Callable[[], Sequence[Build]] | None = None,
    allow_destructive: bool = False,
    run: Runner = subprocess.run,
) -> Plan:
    """The plan for the files in ``directory`` (or the image's workdir): the exact ``status``
    when given, else the image-history estimate against the image of the last SUCCEEDED
    migration build among ``builds`` (or the bare ``previous_files``); the lint covers the
    pending files only."""
    with tempfile.TemporaryDirectory(prefix="db-plan-") as tmp:
        if directory is None:
            if not image:
                raise UsageError("db.plan needs an image or a directory", "pass --image or --dir")
            directory = extract_from_image(image, workdir, Path(tmp), run=run)
        files = migration_files(directory, settings.migrations_glob)
        current = reconcile(status, files) if status else None
        if current is None and builds is not None:
            history = read_history(
                builds,
                lambda uri: image_migrations(uri, workdir, settings.migrations_glob, run=run),
            )
            current = compare(file_digests(directory, files), history)
        current = current or estimate(files, previous_files)
        plan = Plan(env, image, current, LintReport(), gate((), {}), tuple(files))
        pending = plan.pending_files
        report = lint_files(directory, pending, settings, run=run)
        sums = tuple((f, hashlib.sha256((directory / f).read_bytes()).hexdigest()) for f in pending)
    unmatched = tuple(
        NotLinted(name, "no file in the image matches migrations_glob for it")
        for name in current.pending
        if not pending_files(files, (name,))
    )
    if unmatched:
        report = LintReport(report.findings, report.not_linted + unmatched, report.covered_rules)
    verdict = gate(report.findings, settings.accept_rules, allow_destructive=allow_destructive)
    return Plan(env, image, current, report, verdict, tuple(files), sums)
