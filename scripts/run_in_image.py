#!/usr/bin/env python3
"""Run the configured migrate or seed command inside the pinned image (python3 stdlib only).

Runs in the build (CodeBuild, or the local runner), called by the buildspec as
``run_in_image.py migrate``, ``run_in_image.py seed`` or ``run_in_image.py plan``. The commands
come from the project's PLAINTEXT variables that ``invoke setup`` writes from invoke.yaml,
JSON-encoded:

  MIGRATE_COMMAND     '["bun", "src/db/migrate.ts"]'                 (an argv list)
  SEED_COMMANDS       '{"organizations": ["bun", "src/db/seed-organizations.ts"]}'
  SEED_SCRIPT         the seed name this build runs (StartBuild override; must be a key above)
  COMMAND_WORKDIR     working directory in the image ('' = the image's WORKDIR)
  COMMAND_ENTRYPOINT  argv (argv[0] replaces the image's ENTRYPOINT) | image (it runs the argv)
  IMAGE_URI           the pinned image

and, per start (PLAINTEXT overrides the suite sends; never a secret, docs/plan.md):

  STATUS_COMMAND       '["bun", "src/db/status.ts"]': read the exact status before migrating
                       (``migrate``) or instead of it (``plan``, the RUN_PLAN=true build)
  APPROVED_MIGRATIONS  '{"migrations/0003_x.sql": "<sha256 hex>"}': the pending files the suite
                       linted and let through its gate; ``migrate`` refuses any pending
                       migration outside it, or whose file in the image has another sha256

The argv goes to ``docker run`` as separate arguments through ``os.execvp``: no shell ever
parses config text, so quotes, spaces, ``$(...)`` and ``;`` reach the program unchanged.
DATABASE_URL is passed by name only (``-e DATABASE_URL``). The exact status is printed as the
record: the status command's own lines (``  status | ...``), then ONE normalised protocol line
(``MIGRATION-STATUS/1 {...}``, at the start of a line) that the suite reads from the build's log.
``plan`` never runs the migrate command. Exit codes: the container's own, or (each with one
``error: ... Fix: ...`` line) 2 for a bad or missing configuration, 26 when the status command's
output is not a readable status, 27 when a pending migration was not approved by the suite's
gate (APPROVED_MIGRATIONS); nothing was migrated in those cases.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import types
from typing import Any

USAGE = 2
STATUS_UNREADABLE = 26  # the status command's output is not a readable status (issue 14)
NOT_APPROVED = 27  # a pending migration the suite's gate did not check and let through
STATUS_PREFIX = "MIGRATION-STATUS/1"
SEED_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # fullmatch: no trailing newline
SETUP_FIX = "run `invoke setup --apply` so the project's variables match invoke.yaml"


class ConfigError(Exception):
    pass


def argv_from(text: str, what: str) -> list[str]:
    """A JSON argv list of strings; anything else is a ConfigError naming ``what``."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f"{what} is not a JSON list: {text!r}") from None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{what} must be a non-empty JSON list of strings, not {text!r}")
    if not value[0]:
        raise ConfigError(f"{what} starts with an empty program name")
    return value


def command(action: str, environ: dict[str, str]) -> list[str]:
    """The argv for ``migrate`` or ``seed`` (the seed name checked against the allow-list)."""
    if action == "migrate":
        text = environ.get("MIGRATE_COMMAND", "")
        if not text:
            raise ConfigError("MIGRATE_COMMAND is not set on the project")
        return argv_from(text, "MIGRATE_COMMAND")
    name = environ.get("SEED_SCRIPT", "")
    try:
        seeds = json.loads(environ.get("SEED_COMMANDS") or "null")
    except ValueError:
        raise ConfigError("SEED_COMMANDS is not a JSON object") from None
    if not isinstance(seeds, dict):
        raise ConfigError("SEED_COMMANDS is not set on the project (a JSON object)")
    allowed = ", ".join(sorted(seeds)) or "empty"
    if name not in seeds or not SEED_NAME.fullmatch(name):
        raise ConfigError(f"seed script {name!r} is not in the allow-list ({allowed})")
    return argv_from(json.dumps(seeds[name]), f"SEED_COMMANDS[{name!r}]")


def image_workdir(image: str) -> str:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Config.WorkingDir}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


BUILD_LABEL = "release-suite.build-id"  # the local runner kills a stopped build's containers


PASSED_BY_NAME = ("PGOPTIONS",)  # lock_timeout/statement_timeout for the sessions (issue 14)


def docker_argv(
    argv: list[str],
    image: str,
    workdir: str,
    entrypoint: str,
    build_id: str = "",
    pass_env: tuple[str, ...] = (),
) -> list[str]:
    """``docker run`` for the argv: one argument per element, nothing for a shell to parse."""
    out = ["docker", "run", "--rm", "--init", "--network", "host", "-e", "DATABASE_URL"]
    for name in pass_env:  # by name: the value stays in the environment, out of argv
        out += ["-e", name]
    if build_id:  # a docker CLI killed mid-run leaves its container running: this finds it
        out += ["--label", f"{BUILD_LABEL}={build_id}"]
    if workdir:
        out += ["--workdir", workdir]
    if entrypoint == "image":
        return [*out, image, *argv]
    return [*out, "--entrypoint", argv[0], image, *argv[1:]]


# tasks/release/status.py, the protocol's one parser: its source is put here when the buildspec
# is rendered (tasks/local/buildspec.py, runner_program), and it runs as a module of its own
STATUS_PY = ""


def status_module() -> Any:
    """tasks/release/status.py, loaded from STATUS_PY (once)."""
    name = "migration_status"
    if name not in sys.modules:
        if not STATUS_PY:
            raise ValueError("this run_in_image.py carries no status parser (render the buildspec)")
        module = types.ModuleType(name)
        sys.modules[name] = module  # dataclasses look their module up while the class is made
        exec(compile(STATUS_PY, "status.py", "exec"), module.__dict__)
    return sys.modules[name]


def _is_prisma(status: Any, output: str) -> bool:
    """The output is prisma's status (readable or not): its own reason beats its exit 1."""
    try:
        return status.parse_prisma_status(output.splitlines()) is not None
    except status.StatusError:
        return True


def read_status(output: str, exit_status: int = 0) -> dict[str, Any]:
    """The status as the protocol's body (tool, applied, pending, missing, changed), read by the
    suite's own parser; ValueError (one line) when it cannot be read. A non-zero exit status
    refuses it, except prisma's: `prisma migrate status` exits 1 whenever something is pending."""
    status = status_module()
    try:
        found = status.read_status(output)
    except status.StatusError as err:
        if exit_status and not _is_prisma(status, output):
            raise ValueError(f"it exited {exit_status}") from None
        raise ValueError(str(err)) from None
    if exit_status and found.tool != "prisma":
        raise ValueError(f"it exited {exit_status}")
    body: dict[str, Any] = json.loads(found.line()[len(STATUS_PREFIX) :])
    return body


def exact_status(
    environ: dict[str, str],
    image: str,
    workdir: str,
    entrypoint: str,
    build_id: str,
    passed: tuple[str, ...],
) -> tuple[int, dict[str, object]]:
    """(0, status) with the exact status, read in the pinned image and printed as the record;
    a status that cannot be read is (26, {}): the build stops before any migration."""
    fix = (
        "make status_command print one MIGRATION-STATUS/1 line (docs/plan.md: Migration status "
        "protocol), or use knex migrate:list or prisma migrate status"
    )
    try:
        argv = argv_from(environ["STATUS_COMMAND"], "STATUS_COMMAND")
    except ConfigError as err:
        print(f"error: {err}. Fix: {fix}", flush=True)
        return STATUS_UNREADABLE, {}
    print(f"migration status: running {shlex.join(argv)}", flush=True)
    full = docker_argv(argv, image, workdir, entrypoint, build_id, passed)
    try:
        proc = subprocess.run(full, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"error: the status command did not run ({exc}); nothing was migrated. Fix: {fix}")
        return STATUS_UNREADABLE, {}
    for line in (proc.stdout + proc.stderr).splitlines():
        print(f"  status | {line}", flush=True)
    try:
        status = read_status(proc.stdout + proc.stderr, proc.returncode)
    except ValueError as err:
        print(
            f"error: the migration status command's output is unreadable: {err}; nothing was "
            f"migrated. Fix: {fix}",
            flush=True,
        )
        return STATUS_UNREADABLE, {}
    applied = status["applied"]
    pending = status["pending"]
    assert isinstance(applied, list) and isinstance(pending, list)
    names = ", ".join(pending) if pending else "nothing"
    print(f"migration status: {len(applied)} applied, {len(pending)} pending: {names}", flush=True)
    # the record the suite reads from the log: one line, at the start of the line
    print(STATUS_PREFIX + " " + json.dumps(status, separators=(",", ":")), flush=True)
    return 0, status


_HEX64 = re.compile(r"[0-9a-f]{64}")


def approved_from(text: str) -> dict[str, str]:
    """APPROVED_MIGRATIONS: a JSON object, file path (relative to the working directory) ->
    the sha256 of the file the suite linted; anything else is a ConfigError."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError("APPROVED_MIGRATIONS is not JSON") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and _HEX64.fullmatch(v)
        for k, v in value.items()
    ):
        raise ConfigError("APPROVED_MIGRATIONS must map file paths to sha256 hex digests")
    return value


def _key(path: str) -> str:
    """The name a tool gives the migration in ``path`` (prisma: its directory)."""
    base = path.rsplit("/", 1)[-1]
    return path.rsplit("/", 2)[-2] if base == "migration.sql" and "/" in path else base


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def files_for(name: str, approved: dict[str, str]) -> list[str]:
    """The approved paths holding the pending migration ``name`` (the rule of the suite's
    tasks/release/plan.py pending_files: the file name, its stem, or the whole path)."""
    wanted = {name, _stem(name)}
    return [p for p in approved if p in wanted or _key(p) in wanted or _stem(_key(p)) in wanted]


def image_files(image: str, workdir: str, paths: list[str]) -> dict[str, bytes]:
    """The bytes of ``paths`` (relative to ``workdir``) in the image, read from a created,
    never started container (``docker cp`` to a tar stream); absent files are left out."""
    created = subprocess.run(
        ["docker", "create", image, "true"], capture_output=True, text=True, check=False
    )
    if created.returncode != 0:
        raise OSError(f"docker create failed: {created.stderr.strip()[-200:]}")
    cid = created.stdout.strip()
    out: dict[str, bytes] = {}
    try:
        for path in paths:
            copied = subprocess.run(
                ["docker", "cp", f"{cid}:{workdir.rstrip('/')}/{path}", "-"],
                capture_output=True,
                check=False,
            )
            if copied.returncode != 0:
                continue
            with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as tar:
                member = next((m for m in tar.getmembers() if m.isfile()), None)
                handle = tar.extractfile(member) if member is not None else None
                if handle is not None:
                    out[path] = handle.read()
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)
    return out


def refuse_unapproved(
    pending: list[str], approved: dict[str, str], image: str, workdir: str
) -> int:
    """0 when every pending migration is a file the suite approved, with the same sha256 in
    the image; else one error line and 27 (nothing was migrated)."""
    if not pending:
        return 0
    fix = (
        "let the suite lint exactly these: `invoke db.plan --exact` shows them, and a release "
        "a person confirms (no --yes) plans on this exact status before migrating"
    )
    wanted = {name: files_for(name, approved) for name in pending}
    paths = sorted({p for found in wanted.values() for p in found})
    try:
        held = image_files(image, workdir, paths) if paths else {}
    except OSError as exc:
        print(
            f"error: cannot read the pending migrations' files from {image} ({exc}); nothing "
            f"was migrated. Fix: {fix}",
            flush=True,
        )
        return NOT_APPROVED
    problems: list[str] = []
    for name, found in wanted.items():
        if not found:
            problems.append(f"{name} (not in the plan the suite checked)")
        for path in found:
            if path not in held:
                problems.append(f"{path} (not in the image under {workdir})")
            elif hashlib.sha256(held[path]).hexdigest() != approved[path]:
                problems.append(f"{path} (another file than the one the suite linted)")
    if not problems:
        print(
            f"migration approval: the {len(pending)} pending migration(s) are the files the suite checked",
            flush=True,
        )
        return 0
    print(
        f"error: {len(problems)} pending migration(s) were not approved by the suite's plan: "
        f"{', '.join(problems)}; nothing was migrated. Fix: {fix}",
        flush=True,
    )
    return NOT_APPROVED


def main(args: list[str], environ: dict[str, str]) -> int:
    if len(args) != 1 or args[0] not in ("migrate", "seed", "plan"):
        print("usage: run_in_image.py migrate|seed|plan", file=sys.stderr)
        return USAGE
    action = args[0]
    image = environ.get("IMAGE_URI", "")
    entrypoint = environ.get("COMMAND_ENTRYPOINT") or "argv"
    try:
        if not image:
            raise ConfigError("IMAGE_URI is not set")
        if entrypoint not in ("argv", "image"):
            raise ConfigError(f"COMMAND_ENTRYPOINT must be argv or image, not {entrypoint!r}")
        if action == "plan" and not environ.get("STATUS_COMMAND"):
            raise ConfigError("a plan build (RUN_PLAN=true) needs STATUS_COMMAND")
        argv = command(action, environ) if action != "plan" else []
        approved = None
        if action == "migrate" and environ.get("APPROVED_MIGRATIONS"):
            if not environ.get("STATUS_COMMAND"):
                raise ConfigError("APPROVED_MIGRATIONS needs STATUS_COMMAND (the exact status)")
            approved = approved_from(environ["APPROVED_MIGRATIONS"])
    except ConfigError as err:
        fix = SETUP_FIX
        if action == "plan" or "APPROVED" in str(err):
            fix = "start it with `invoke db.plan --exact` or `invoke release` (they send it)"
        print(f"error: {err}. Fix: {fix}", flush=True)
        return USAGE
    configured = environ.get("COMMAND_WORKDIR", "")
    shown_dir = configured or image_workdir(image) or "/"
    print(f"image working directory {shown_dir}", flush=True)
    build_id = environ.get("CODEBUILD_BUILD_ID", "")
    passed = tuple(n for n in PASSED_BY_NAME if environ.get(n))
    if action == "plan":
        print(
            "plan build (RUN_PLAN=true): reading the migration status; nothing is migrated",
            flush=True,
        )
        code, _ = exact_status(environ, image, configured, entrypoint, build_id, passed)
        return code
    label = "migrations" if action == "migrate" else f"seed {environ.get('SEED_SCRIPT')}"
    how = "entrypoint " + argv[0] if entrypoint == "argv" else "the image's entrypoint"
    print(
        f"running {label} with {shlex.join(argv)} ({how}, in {shown_dir} in the image)",
        flush=True,
    )
    if action == "migrate" and environ.get("STATUS_COMMAND"):
        code, status = exact_status(environ, image, configured, entrypoint, build_id, passed)
        if code:
            return code
        if approved is not None:
            pending = status["pending"]
            assert isinstance(pending, list)
            code = refuse_unapproved(pending, approved, image, shown_dir)
            if code:
                return code
    full = docker_argv(argv, image, configured, entrypoint, build_id, passed)
    try:
        os.execvp(full[0], full)  # the container's exit status becomes this command's
    except OSError as exc:
        print(f"error: cannot run docker: {exc}. Fix: install the docker CLI", flush=True)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], dict(os.environ)))
