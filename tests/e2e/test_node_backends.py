"""The Node samples (drizzle over node-postgres, knex over node-postgres) end to end on
``--env local``: the real engine, registry, PostgreSQL, node and npm packages, the buildspec
running the configured ``migrate_command`` / ``seed_commands`` through scripts/run_in_image.py.

Each backend: migrate, a second run that applies nothing, seed (twice: idempotent), a broken
migration (named, rolled back, diagnosed). ``RELEASE_SAVE_LIVE_SAMPLES=DIR`` also writes each
failing build's log to ``DIR/<tool>-<what>.log`` (how tests/samples/diagnose/live/ was made).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tasks.codebuild.commands import project_variables
from tasks.codebuild.model import FAILED, EnvVar, StartRequest
from tasks.core.config import Settings
from tasks.core.errors import ExitCode, LocalEnvError
from tasks.local.backend import LocalBackend
from tests.conftest import MOTO_TOKEN_PASSWORD, ROOT
from tests.e2e.conftest import LocalEnv

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
NODE_BASE = "release-suite/node-base:"
KNEX = ["node", "node_modules/knex/bin/cli.js"]
TABLES = (
    "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
    "WHERE schemaname = 'public'"
)


@dataclass(frozen=True)
class Sample:
    tool: str
    folder: str
    migrate: tuple[str, ...]
    seed: tuple[str, ...]
    first: str  # what the first migrate prints
    again: str  # what a second migrate prints
    ledger: str  # SQL: how many migrations the tool recorded

    def flags(self, context: Path) -> dict[str, object]:
        return {
            "context": str(context),
            "dockerfile": str(context / "Dockerfile"),
            "migrate_command": list(self.migrate),
            "seed_commands": {"organizations": list(self.seed)},
        }

    def settings(self) -> Settings:
        return Settings(
            env="local",
            migrate_command=self.migrate,
            seed_commands={"organizations": self.seed},
        )


DRIZZLE = Sample(
    "drizzle",
    "backend-drizzle",
    ("node", "src/db/migrate.js"),
    ("node", "src/db/seed-organizations.js"),
    "migrate: 2 applied, 0 already up to date",
    "migrate: 0 applied, 2 already up to date",
    "SELECT count(*) FROM drizzle.__drizzle_migrations",
)
KNEX_SAMPLE = Sample(
    "knex",
    "backend-knex",
    (*KNEX, "migrate:latest"),
    (*KNEX, "seed:run", "--specific=organizations.js"),
    "Batch 1 run: 2 migrations",
    "Already up to date",
    "SELECT count(*) FROM knex_migrations",
)
SAMPLES = {s.tool: s for s in (DRIZZLE, KNEX_SAMPLE)}


@pytest.fixture(scope="session")
def node_base(docker_host: str) -> str:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "make_node_base.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    image = proc.stdout.strip().splitlines()[-1]
    assert image.startswith(NODE_BASE)
    # the samples' Dockerfiles start FROM this tag, whatever node version the machine has
    tagged = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", NODE_BASE + "current", image],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tagged.returncode == 0, tagged.stderr
    assert len(set(tagged.stdout.split())) == 1, tagged.stdout
    return image


@pytest.fixture(scope="session")
def prepared() -> dict[str, Path]:
    """Each sample's runtime node_modules, from the npm registry (locked, pruned)."""
    out = {}
    for sample in SAMPLES.values():
        folder = ROOT / "examples" / sample.folder
        proc = subprocess.run(
            [str(ROOT / "scripts" / "prepare_node_example.sh"), str(folder)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        out[sample.tool] = folder
    return out


def variant(prepared: dict[str, Path], tool: str, tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"{tool}-{name}"
    shutil.copytree(prepared[tool], target, symlinks=True)
    return target


def build_log(env: LocalEnv, newest: int = 1) -> str:
    """The newest build's log as the suite keeps it (messages only, as CloudWatch shows)."""
    logs = sorted(env.root.glob("builds/*/build.log"), key=lambda p: p.stat().st_mtime)
    text = logs[-newest].read_text()
    return "\n".join(line.split(" ", 1)[1] if " " in line else line for line in text.splitlines())


def save_live(tool: str, what: str, how: str, log: str) -> None:
    folder = os.environ.get("RELEASE_SAVE_LIVE_SAMPLES")
    if folder:
        path = Path(folder) / f"{tool}-{what}.log"
        path.write_text(f"# {how}\n{log}\n")


@pytest.mark.parametrize("tool", sorted(SAMPLES))
def test_node_backend_migrates_once_seeds_once_and_a_broken_migration_is_diagnosed(
    tool: str,
    local_env: LocalEnv,
    node_base: str,
    prepared: dict[str, Path],
    tmp_path: Path,
) -> None:
    sample = SAMPLES[tool]
    flags = sample.flags(prepared[tool])
    first = local_env.release(flags=flags)
    assert first.ok, first.out
    assert sample.first in first.out
    command = " ".join(sample.migrate)
    assert f"start migrations: daadaar-migrations-local: {command}" in first.out
    assert f"running migrations with {command} (entrypoint node, in /app in the image)" in (
        first.out
    )
    assert local_env.sql(TABLES).split(",")[-2:] == ["members", "organizations"]
    assert local_env.sql(sample.ledger) == "2"

    second = local_env.release(flags=flags, seed=True)
    assert second.ok, second.out
    assert sample.again in second.out
    assert "seed organizations: 3 inserted, 0 already present" in second.out
    assert local_env.sql(sample.ledger) == "2"
    third = local_env.release(flags=flags, seed=True, skip_build=True)
    assert third.ok, third.out
    assert "seed organizations: 0 inserted, 3 already present" in third.out
    assert local_env.sql("SELECT string_agg(slug, ',' ORDER BY slug) FROM organizations") == (
        "acme,daadaar,globex"
    )

    before = (local_env.sql(TABLES), local_env.sql(sample.ledger))
    broken = variant(prepared, tool, tmp_path, "broken")
    name = break_migration(sample, broken, "CREATE TABLE audit (id int);\nSELEC oops FROM audit;")
    outcome = local_env.release(flags=sample.flags(broken))
    assert outcome.error is not None and outcome.error.code == ExitCode.BUILD_FAILED
    assert 'syntax error at or near "SELEC"' in outcome.out
    if tool == "drizzle":  # node prints the pg error's fields; knex's CLI only its message
        assert "code: '42601'" in outcome.out
    assert "Phase complete: BUILD State: FAILED" in outcome.out
    assert (local_env.sql(TABLES), local_env.sql(sample.ledger)) == before  # rolled back
    # the automatic diagnosis ran on the failed build and printed a finding
    finding = re.search(r"\[(?:high|medium|low)\]\s+\((\w+)\)", outcome.out)
    assert finding is not None, outcome.out
    save_live(
        tool,
        "syntax-error",
        f"tests/e2e/test_node_backends.py: invoke release --env local, {name} holds SELEC",
        build_log(local_env),
    )


def break_migration(sample: Sample, folder: Path, sql: str) -> str:
    """Add a third migration the way each tool expects it; returns its file name."""
    if sample.tool == "drizzle":
        journal_path = folder / "drizzle" / "meta" / "_journal.json"
        journal = json.loads(journal_path.read_text())
        last = journal["entries"][-1]
        tag = "0002_add_audit"
        # drizzle applies only entries newer than the last applied one (by "when")
        entry = {**last, "idx": last["idx"] + 1, "tag": tag, "when": last["when"] + 1000}
        journal["entries"].append(entry)
        journal_path.write_text(json.dumps(journal, indent=2))
        (folder / "drizzle" / f"{tag}.sql").write_text(sql + "\n")
        return f"drizzle/{tag}.sql"
    name = "20250101000200_add_audit.js"
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    body = "".join(f"  await knex.raw({json.dumps(s)});\n" for s in statements)
    (folder / "migrations" / name).write_text(
        f"exports.up = async (knex) => {{\n{body}}};\n\nexports.down = async () => {{}};\n"
    )
    return f"migrations/{name}"


# -- failure wordings, captured live for the diagnosis ---------------------------------------


def push(env: LocalEnv, context: Path, tag: str) -> str:
    image = f"{env.registry.host}/daadaar-backend:{tag}"
    login = subprocess.run(
        ["docker", "login", "--username", "AWS", "--password-stdin", env.registry.host],
        input=MOTO_TOKEN_PASSWORD,
        capture_output=True,
        text=True,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    for argv in (
        ["docker", "build", "--platform", "linux/amd64", "-t", image, str(context)],
        ["docker", "push", image],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return image


def run_build(env: LocalEnv, sample: Sample, image: str, action: str = "migrate") -> str:
    """One build of the real buildspec on the local runner; returns its log (messages)."""
    backend = LocalBackend(
        buildspec_path=ROOT / "buildspec" / "migrations.yml",
        secret="local/database-url",
        environ={**os.environ, "RELEASE_LOCAL_DIR": str(env.root)},
        project_variables=project_variables(sample.settings()),
    )
    overrides = (
        EnvVar("RUN_MIGRATIONS", "true" if action == "migrate" else "false"),
        EnvVar("RUN_SEED", "true" if action == "seed" else "false"),
        EnvVar("IMAGE_URI", image),
        EnvVar("SEED_SCRIPT", "organizations" if action == "seed" else ""),
    )
    build = backend.start(StartRequest("e2e", action, overrides, image, os.urandom(8).hex()))
    deadline = time.monotonic() + 180
    while not build.final and time.monotonic() < deadline:
        time.sleep(0.2)
        build = backend.get(build.id)
    assert build.final, build
    assert build.status == FAILED, build_log(env)
    log = build_log(env)
    env.outputs.append(log)
    return log


@pytest.fixture
def silent_database(local_env: LocalEnv) -> Iterator[int]:
    """A port on 127.0.0.1 that accepts TCP connections and never answers (a database behind
    a proxy that hangs): the probe passes, the driver's own timeout speaks."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        path = local_env.root / "credentials.json"
        creds = json.loads(path.read_text())
        creds["secrets"]["local/database-url"] = local_env.url.replace(
            f":{local_env.pg.port}/", f":{port}/"
        )
        path.write_text(json.dumps(creds))
        yield port


@pytest.mark.parametrize("tool", sorted(SAMPLES))
def test_a_database_that_never_answers_gives_the_drivers_timeout(
    tool: str,
    local_env: LocalEnv,
    node_base: str,
    prepared: dict[str, Path],
    silent_database: int,
) -> None:
    sample = SAMPLES[tool]
    image = push(local_env, prepared[tool], f"e2e-{tool}")
    log = run_build(local_env, sample, image)
    assert "db-probe: ok: 127.0.0.1:" in log
    wording = {
        "drizzle": "Connection terminated due to connection timeout",
        "knex": "Knex: Timeout acquiring a connection. The pool is probably full.",
    }[tool]
    assert wording in log
    save_live(
        tool,
        "connection-timeout",
        "tests/e2e/test_node_backends.py: DATABASE_URL on a 127.0.0.1 port that accepts TCP "
        "and never answers; invoke's local runner, buildspec/migrations.yml",
        log,
    )


@pytest.mark.parametrize(
    ("tool", "what", "sql", "wording"),
    [
        ("drizzle", "duplicate-table", "CREATE TABLE organizations (id int);",
         'relation "organizations" already exists'),
        ("knex", "unique-violation",
         "INSERT INTO organizations (slug, name) VALUES ('x', 'X'), ('x', 'Y');",
         "duplicate key value violates unique constraint"),
        ("drizzle", "statement-timeout",
         "SET statement_timeout = '1s';\n--> statement-breakpoint\nSELECT pg_sleep(3);",
         "canceling statement due to statement timeout"),
    ],
)  # fmt: skip
def test_failed_migrations_keep_the_postgres_message_and_sqlstate(
    tool: str,
    what: str,
    sql: str,
    wording: str,
    local_env: LocalEnv,
    node_base: str,
    prepared: dict[str, Path],
    tmp_path: Path,
) -> None:
    sample = SAMPLES[tool]
    folder = variant(prepared, tool, tmp_path, what)
    name = break_migration(sample, folder, sql)
    image = push(local_env, folder, f"e2e-{tool}-{what}")
    log = run_build(local_env, sample, image)
    assert wording in log
    code = {"duplicate-table": "42P07", "unique-violation": "23505", "statement-timeout": "57014"}[
        what
    ]
    if tool == "drizzle":  # node prints the pg error's fields; knex's CLI only its message
        assert f"code: '{code}'" in log
    else:
        assert f'migration file "{name.split("/")[-1]}" failed' in log
    save_live(
        tool,
        what,
        f"tests/e2e/test_node_backends.py: {name} = {sql!r} on a fresh database; invoke's "
        "local runner, buildspec/migrations.yml",
        log,
    )


def test_knex_names_a_corrupt_migration_directory(
    local_env: LocalEnv, node_base: str, prepared: dict[str, Path], tmp_path: Path
) -> None:
    """An image that lacks a migration the database already recorded (a file deleted or
    renamed after it ran): knex refuses before touching anything."""
    sample = SAMPLES["knex"]
    assert local_env.release(flags=sample.flags(prepared["knex"])).ok
    folder = variant(prepared, "knex", tmp_path, "corrupt")
    (folder / "migrations" / "20250101000100_create_members.js").unlink()
    image = push(local_env, folder, "e2e-knex-corrupt")
    log = run_build(local_env, sample, image)
    assert "The migration directory is corrupt, the following files are missing" in log
    assert "20250101000100_create_members.js" in log
    save_live(
        "knex",
        "corrupt-directory",
        "tests/e2e/test_node_backends.py: migrated, then an image without "
        "migrations/20250101000100_create_members.js; invoke's local runner",
        log,
    )


def test_knex_migration_blocked_by_a_held_lock_gives_the_lock_timeout(
    local_env: LocalEnv, node_base: str, prepared: dict[str, Path], tmp_path: Path
) -> None:
    """Another session (a running app, a long query) holds the table: the migration's
    lock_timeout cancels it with SQLSTATE 55P03 and knex rolls the batch back."""
    import threading

    from tasks.local import daemons

    sample = SAMPLES["knex"]
    assert local_env.release(flags=sample.flags(prepared["knex"])).ok
    folder = variant(prepared, "knex", tmp_path, "lock-timeout")
    sql = "SET lock_timeout = '1s'; ALTER TABLE organizations ADD COLUMN note text;"
    name = break_migration(sample, folder, sql)
    image = push(local_env, folder, "e2e-knex-lock-timeout")
    hold = "BEGIN; LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;"

    def holder() -> None:
        with contextlib.suppress(LocalEnvError):  # terminated below, as intended
            daemons.psql(local_env.pg, hold, database=local_env.database)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    held = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'organizations' AND l.mode = 'AccessExclusiveLock' AND l.granted"
    )
    for _ in range(100):  # at most ~10 s
        if local_env.sql(held) == "1":
            break
        time.sleep(0.1)
    assert local_env.sql(held) == "1"
    try:
        log = run_build(local_env, sample, image)
    finally:
        daemons.psql(
            local_env.pg,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()",
        )
        thread.join(timeout=10)
    assert "canceling statement due to lock timeout" in log
    assert f'migration file "{name.split("/")[-1]}" failed' in log
    assert "note" not in local_env.sql(
        "SELECT string_agg(column_name, ',') FROM information_schema.columns "
        "WHERE table_name = 'organizations'"
    )
    save_live(
        "knex",
        "lock-timeout",
        f"tests/e2e/test_node_backends.py: {name} = {sql!r} while another session holds "
        "ACCESS EXCLUSIVE on organizations; invoke's local runner",
        log,
    )
