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


def _names(value: object, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"its {STATUS_PREFIX} {key!r} is not a list of names")
    return list(value)


def _applied(value: object) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise ValueError(f"its {STATUS_PREFIX} 'applied' is not a list")
    out = []
    for item in value:
        if isinstance(item, str) and item:
            out.append({"name": item})
        elif isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
            entry = {"name": item["name"]}
            entry.update({k: str(item[k]) for k in ("at", "checksum") if item.get(k)})
            out.append(entry)
        else:
            raise ValueError(f"an entry of its {STATUS_PREFIX} 'applied' has no name")
    return out


# prisma migrate status (weak: Prisma cannot be installed where this was written; its wording is
# from prisma/prisma packages/migrate/src/commands/MigrateStatus.ts and its tests, samples in
# tests/samples/plan/prisma/). Prisma 4.3+ exits 1 whenever anything is pending.
_PRISMA_FOUND = re.compile(r"(?:\d+ migrations? found|No migration found) in prisma/migrations")
_PRISMA_PENDING = re.compile(r"(?:Following|The) migrations? have not yet been applied:")
_PRISMA_MISSING = re.compile(
    r"The migrations? from the database are not found locally in prisma/migrations:"
)
_PRISMA_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")


def _prisma_listed(lines: list[str], start: int) -> list[str]:
    names: list[str] = []
    for line in lines[start + 1 :]:
        if not line:
            break
        if not _PRISMA_NAME.fullmatch(line):
            raise ValueError(f"prisma migrate status listed {line[:60]!r} as a migration name")
        names.append(line)
    if not names:
        raise ValueError("prisma migrate status announced migrations but listed none")
    return names


def read_prisma(lines: list[str]) -> dict[str, object] | None:
    """``prisma migrate status`` normalised (None: not prisma's output); only the pending
    migrations are named by prisma, so ``applied`` stays empty."""
    found = [ln for ln in lines if _PRISMA_FOUND.fullmatch(ln)]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError("it printed more than one prisma migrate status")
    if any(re.fullmatch(r"Following migrations? have failed:", ln) for ln in lines):
        raise ValueError("prisma migrate status reports failed migrations (prisma migrate resolve)")
    if "The current database is not managed by Prisma Migrate." in lines:
        raise ValueError("prisma says the database is not managed by Prisma Migrate (baseline it)")
    out: dict[str, object] = {"tool": "prisma", "applied": [], "pending": []}
    for index, line in enumerate(lines):
        if _PRISMA_PENDING.fullmatch(line):
            out["pending"] = _prisma_listed(lines, index)
        elif _PRISMA_MISSING.fullmatch(line):
            out["missing"] = _prisma_listed(lines, index)
    if not out["pending"] and "Database schema is up to date!" not in lines:
        raise ValueError("prisma migrate status stopped before its verdict")
    return out


def read_status(output: str) -> dict[str, object]:
    """The status, normalised to the protocol's body (tool, applied, pending, missing, changed),
    from exactly one MIGRATION-STATUS/1 line, from knex migrate:list or from prisma migrate
    status; ValueError (one line) otherwise. The suite reads the normalised line this program prints with
    tasks/release/status.py (the protocol's one definition)."""
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines()]
    protocol = [ln for ln in lines if ln.startswith(STATUS_PREFIX)]
    if len(protocol) > 1:
        raise ValueError(f"it printed {len(protocol)} {STATUS_PREFIX} lines")
    if protocol:
        try:
            body = json.loads(protocol[0][len(STATUS_PREFIX) :])
        except json.JSONDecodeError as exc:
            raise ValueError(f"its {STATUS_PREFIX} JSON is invalid ({exc.msg})") from exc
        if not isinstance(body, dict) or "pending" not in body or "applied" not in body:
            raise ValueError(f"its {STATUS_PREFIX} JSON needs the lists applied and pending")
        out: dict[str, object] = {"tool": str(body.get("tool") or "unknown")}
        out["applied"] = _applied(body["applied"])
        out["pending"] = _names(body["pending"], "pending")
        for key in ("missing", "changed"):
            names = _names(body.get(key), key)
            if names:
                out[key] = names
        return out
    sections: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        found = re.fullmatch(r"Found (\d+) (Completed|Pending) Migration file/files\.", line)
        none = re.fullmatch(r"No (Completed|Pending) Migration files Found\.", line)
        if found:
            current = found.group(2)
            sections[current] = []
        elif none:
            sections[none.group(1)] = []
            current = ""
        elif current and line:
            sections[current].append(line)
    if set(sections) == {"Completed", "Pending"}:
        applied = [{"name": name} for name in sections["Completed"]]
        return {"tool": "knex", "applied": applied, "pending": sections["Pending"]}
    prisma = read_prisma(lines)
    if prisma is not None:
        return prisma
    if not output.strip():
        raise ValueError("it printed nothing")
    raise ValueError(
        f"it printed no {STATUS_PREFIX} line, no knex migrate:list and no prisma migrate status"
    )


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
    fix = "make status_command print one MIGRATION-STATUS/1 line (docs/plan.md: Migration status protocol)"
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
        output = proc.stdout + proc.stderr
        # prisma migrate status exits 1 when something is pending (4.3+): its output decides
        prisma = proc.returncode == 1 and any(
            _PRISMA_FOUND.fullmatch(ln.strip()) for ln in output.splitlines()
        )
        if proc.returncode != 0 and not prisma:
            raise ValueError(f"it exited {proc.returncode}")
        status = read_status(output)
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
