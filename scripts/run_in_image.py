#!/usr/bin/env python3
"""Run the configured migrate or seed command inside the pinned image (python3 stdlib only).

Runs in the build (CodeBuild, or the local runner), called by the buildspec as
``run_in_image.py migrate`` or ``run_in_image.py seed``. The commands come from the project's
PLAINTEXT variables that ``invoke setup`` writes from invoke.yaml, JSON-encoded:

  MIGRATE_COMMAND     '["bun", "src/db/migrate.ts"]'                 (an argv list)
  SEED_COMMANDS       '{"organizations": ["bun", "src/db/seed-organizations.ts"]}'
  SEED_SCRIPT         the seed name this build runs (StartBuild override; must be a key above)
  COMMAND_WORKDIR     working directory in the image ('' = the image's WORKDIR)
  COMMAND_ENTRYPOINT  argv (argv[0] replaces the image's ENTRYPOINT) | image (it runs the argv)
  IMAGE_URI           the pinned image

The argv goes to ``docker run`` as separate arguments through ``os.execvp``: no shell ever
parses config text, so quotes, spaces, ``$(...)`` and ``;`` reach the program unchanged.
DATABASE_URL is passed by name only (``-e DATABASE_URL``). Exit codes: the container's own, or
2 for a bad or missing configuration (one ``error: ... Fix: ...`` line).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

USAGE = 2
STATUS_UNREADABLE = 26  # the status command's output is not a readable status (issue 14)
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


def read_status(output: str) -> tuple[list[str], list[str]]:
    """(applied, pending) from exactly one MIGRATION-STATUS/1 line, or from knex migrate:list;
    ValueError (one line) otherwise. The suite's full parser is tasks/release/status.py."""
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines()]
    protocol = [ln for ln in lines if ln.startswith(STATUS_PREFIX)]
    if len(protocol) > 1:
        raise ValueError(f"it printed {len(protocol)} {STATUS_PREFIX} lines")
    if protocol:
        try:
            body = json.loads(protocol[0][len(STATUS_PREFIX) :])
        except json.JSONDecodeError as exc:
            raise ValueError(f"its {STATUS_PREFIX} JSON is invalid ({exc.msg})") from exc
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("pending"), list)
            or not (isinstance(body.get("applied"), list))
        ):
            raise ValueError(f"its {STATUS_PREFIX} JSON needs the lists applied and pending")
        applied = [
            str(a.get("name", "")) if isinstance(a, dict) else str(a) for a in body["applied"]
        ]
        return applied, [str(p) for p in body["pending"]]
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
        return sections["Completed"], sections["Pending"]
    if not output.strip():
        raise ValueError("it printed nothing")
    raise ValueError(f"it printed no {STATUS_PREFIX} line and no knex migrate:list output")


def exact_status(
    environ: dict[str, str],
    image: str,
    workdir: str,
    entrypoint: str,
    build_id: str,
    passed: tuple[str, ...],
) -> int:
    """The exact status, read in the pinned image before migrating, printed as the record; a
    status that cannot be read stops the build before any migration (exit 26)."""
    fix = "make status_command print one MIGRATION-STATUS/1 line (docs/plan.md: Migration status protocol)"
    try:
        argv = argv_from(environ["STATUS_COMMAND"], "STATUS_COMMAND")
    except ConfigError as err:
        print(f"error: {err}. Fix: {fix}", flush=True)
        return STATUS_UNREADABLE
    print(f"migration status: running {shlex.join(argv)} before migrating", flush=True)
    full = docker_argv(argv, image, workdir, entrypoint, build_id, passed)
    try:
        proc = subprocess.run(full, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"error: the status command did not run ({exc}); nothing was migrated. Fix: {fix}")
        return STATUS_UNREADABLE
    for line in (proc.stdout + proc.stderr).splitlines():
        print(f"  status | {line}", flush=True)
    try:
        if proc.returncode != 0:
            raise ValueError(f"it exited {proc.returncode}")
        applied, pending = read_status(proc.stdout + proc.stderr)
    except ValueError as err:
        print(
            f"error: the migration status command's output is unreadable: {err}; nothing was "
            f"migrated. Fix: {fix}",
            flush=True,
        )
        return STATUS_UNREADABLE
    names = ", ".join(pending) if pending else "nothing"
    print(f"migration status: {len(applied)} applied, {len(pending)} pending: {names}", flush=True)
    return 0


def main(args: list[str], environ: dict[str, str]) -> int:
    if len(args) != 1 or args[0] not in ("migrate", "seed"):
        print("usage: run_in_image.py migrate|seed", file=sys.stderr)
        return USAGE
    action = args[0]
    image = environ.get("IMAGE_URI", "")
    entrypoint = environ.get("COMMAND_ENTRYPOINT") or "argv"
    try:
        if not image:
            raise ConfigError("IMAGE_URI is not set")
        if entrypoint not in ("argv", "image"):
            raise ConfigError(f"COMMAND_ENTRYPOINT must be argv or image, not {entrypoint!r}")
        argv = command(action, environ)
    except ConfigError as err:
        print(f"error: {err}. Fix: {SETUP_FIX}", flush=True)
        return USAGE
    configured = environ.get("COMMAND_WORKDIR", "")
    shown_dir = configured or image_workdir(image) or "/"
    print(f"image working directory {shown_dir}", flush=True)
    label = "migrations" if action == "migrate" else f"seed {environ.get('SEED_SCRIPT')}"
    how = "entrypoint " + argv[0] if entrypoint == "argv" else "the image's entrypoint"
    print(
        f"running {label} with {shlex.join(argv)} ({how}, in {shown_dir} in the image)",
        flush=True,
    )
    build_id = environ.get("CODEBUILD_BUILD_ID", "")
    passed = tuple(n for n in PASSED_BY_NAME if environ.get(n))
    if action == "migrate" and environ.get("STATUS_COMMAND"):
        refused = exact_status(environ, image, configured, entrypoint, build_id, passed)
        if refused:
            return refused
    full = docker_argv(argv, image, configured, entrypoint, build_id, passed)
    try:
        os.execvp(full[0], full)  # the container's exit status becomes this command's
    except OSError as exc:
        print(f"error: cannot run docker: {exc}. Fix: install the docker CLI", flush=True)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], dict(os.environ)))
