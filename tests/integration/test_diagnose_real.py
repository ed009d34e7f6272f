"""Real failures on the real components, diagnosed from their actual output.

Docker Engine + Registry v2 (htpasswd) + PostgreSQL are started by the conftest fixtures; Bun is
the genuine binary from npm (tests/helpers/bun.py); the arm64 image is a real arm64 busybox
(tests/helpers/images.py). Nothing here replays a canned string: each test provokes the
failure, captures what the tool printed, and asserts the diagnosis.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from tasks.core.config import load_settings
from tasks.core.console import Console
from tasks.core.redact import Redactor
from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.followups import image_platforms
from tasks.diagnose.matcher import scan_lines
from tasks.diagnose.ranking import Diagnosis, diagnose
from tasks.local import daemons
from tasks.wiring import runtime_for
from tests.conftest import MOTO_TOKEN_PASSWORD, STATE
from tests.helpers.bun import bun_env, ensure_bun
from tests.helpers.images import busybox_image, docker_env, push_manifest_list
from tests.helpers.node_tools import ensure_node_tools, knex_project

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "examples" / "backend"
PASSWORD = "Diag-pw-7f3e1c"  # the test role's password: must never show in a report


def run(argv: list[str], env: Mapping[str, str] | None = None, **kw: object) -> str:
    """stdout+stderr of a command that is expected to fail (as a log would hold them)."""
    proc = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=120,
        check=False,
        **kw,  # type: ignore[arg-type]
    )
    assert proc.returncode != 0, f"{argv} unexpectedly succeeded: {proc.stdout[-300:]}"
    return proc.stdout


def diagnosed(output: str) -> Diagnosis:
    catalogue = load_catalogue()
    return diagnose(catalogue, scan_lines(output.splitlines(), catalogue))


def top(output: str) -> str:
    findings = diagnosed(output).findings
    assert findings, f"nothing matched:\n{output}"
    return findings[0].id


# -- Docker and the registry ------------------------------------------------------------------


@pytest.mark.docker
def test_arm64_image_on_amd64_engine_is_one_architecture_finding(
    docker_host: str, docker_config: Path
) -> None:
    image = busybox_image("arm64", "diagnose-test/busybox:arm64")
    output = run(["docker", "run", "--rm", image], env=docker_env())
    assert "exec format error" in output
    result = diagnosed(output)
    assert [f.id for f in result.findings] == ["docker_exec_format_error"]
    texts = " ".join(e.text for e in result.findings[0].evidence)
    assert "does not match the detected host platform" in texts  # the warning, absorbed
    # control: the amd64 build of the same image runs, and its output diagnoses to nothing
    native = busybox_image("amd64", "diagnose-test/busybox:amd64")
    ok = subprocess.run(
        ["docker", "run", "--rm", native, "echo", "migrations applied"],
        capture_output=True,
        text=True,
        env=docker_env(),
        timeout=120,
        check=True,
    )
    assert diagnosed(ok.stdout + ok.stderr).findings == ()


@contextmanager
def logged_in(registry: daemons.Registry, config: Path) -> Iterator[dict[str, str]]:
    env = docker_env({"DOCKER_CONFIG": str(config)})
    subprocess.run(
        ["docker", "login", "-u", "AWS", "--password-stdin", registry.host],
        input=MOTO_TOKEN_PASSWORD,
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    yield env


@pytest.mark.docker
def test_arm64_only_manifest_list_and_the_registry_follow_up(
    docker_host: str,
    registry: daemons.Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arm = f"{registry.host}/diagnose-multi:arm64"
    busybox_image("arm64", arm)
    with logged_in(registry, tmp_path / "cfg") as env:
        subprocess.run(["docker", "push", arm], env=env, capture_output=True, check=True)
        monkeypatch.setenv("DOCKER_CONFIG", env["DOCKER_CONFIG"])
        push_manifest_list(f"{registry.host}/diagnose-multi:release", [arm])
        output = run(["docker", "pull", f"{registry.host}/diagnose-multi:release"], env=env)
    result = diagnosed(output)
    assert result.findings[0].id == "docker_no_matching_manifest"
    assert result.findings[0].values["platform"] == "linux/amd64"

    # the follow-up reads the tag's platforms from the real registry (the image stage's verifier)
    monkeypatch.setenv("RELEASE_REGISTRY_PASSWORD", MOTO_TOKEN_PASSWORD)
    raw = {
        "environments": {
            "t": {
                "registry": registry.host,
                "registry_auth": "basic",
                "registry_username": "AWS",
                "registry_insecure": True,
                "repository": "diagnose-multi",
                "tag": "release",
                "account": "123456789012",
            }
        }
    }
    settings = load_settings(raw, env="t", environ=dict(os.environ))
    rt = runtime_for(settings, Console(io.StringIO(), io.StringIO()))
    checks = image_platforms(rt)(result.findings[0])
    assert [c.status for c in checks] == ["fail"]
    assert "linux/arm64" in checks[0].message and "linux/amd64" in checks[0].message
    assert "--platform linux/amd64" in checks[0].fix
    # a build's own image (IMAGE_URI, pinned by release) is the one inspected when known
    ran = replace(result.findings[0], values={"build_image": arm})
    checks = image_platforms(rt)(ran)
    assert [c.status for c in checks] == ["fail"]
    assert checks[0].message.startswith(f"{arm} holds linux/arm64")


@pytest.mark.docker
def test_push_without_login_to_the_htpasswd_registry(
    docker_host: str, registry: daemons.Registry, tmp_path: Path
) -> None:
    tag = f"{registry.host}/diagnose-push:nologin"
    busybox_image("amd64", tag)
    env = docker_env({"DOCKER_CONFIG": str(tmp_path / "empty-config")})
    output = run(["docker", "push", tag], env=env)
    assert top(output) == "ecr_no_basic_auth"


@pytest.mark.docker
def test_wrong_registry_password(registry: daemons.Registry, tmp_path: Path) -> None:
    env = docker_env({"DOCKER_CONFIG": str(tmp_path / "cfg")})
    output = run(
        ["docker", "login", "-u", "AWS", "--password-stdin", registry.host],
        env=env,
        input="not-the-token",
    )
    assert top(output) == "registry_login_failed"


def test_docker_cli_without_a_daemon() -> None:
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is required (apt-get install docker.io)")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}
    output = run(["docker", "ps"], env=env)
    result = diagnosed(output)
    assert result.findings[0].id == "cb_docker_daemon_unavailable"
    assert result.findings[0].values["socket"] == "unix:///nonexistent.sock"


# -- Bun and PostgreSQL --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bun() -> Path:
    return ensure_bun()


@pytest.fixture(scope="module")
def database(postgres: daemons.Postgres) -> daemons.Postgres:
    daemons.ensure_database(postgres, "diagnose_db", "diagnose_user", PASSWORD)
    return postgres


def migrate(bun: Path, url: str, home: Path) -> str:
    """The sample backend's migration, DATABASE_URL passed by environment (never argv)."""
    env = {**bun_env(home), "DATABASE_URL": url}
    return run([str(bun), "src/db/migrate.ts"], env=env, cwd=BACKEND)


def url(port: int, password: str = PASSWORD, database: str = "diagnose_db") -> str:
    return f"postgres://diagnose_user:{password}@127.0.0.1:{port}/{database}"


@pytest.mark.postgres
def test_bun_sql_wrong_password(bun: Path, database: daemons.Postgres, tmp_path: Path) -> None:
    output = migrate(bun, url(database.port, password="wrong-pw"), tmp_path)
    result = diagnosed(output)
    assert result.findings[0].id == "pg_auth_failed"
    assert result.findings[0].values["user"] == "diagnose_user"


@pytest.mark.postgres
def test_bun_sql_missing_database(bun: Path, database: daemons.Postgres, tmp_path: Path) -> None:
    output = migrate(bun, url(database.port, database="no_such_db"), tmp_path)
    result = diagnosed(output)
    assert result.findings[0].id == "pg_database_missing"
    assert '"no_such_db"' in result.findings[0].cause


@pytest.mark.postgres
def test_bun_sql_refused_port(bun: Path, tmp_path: Path) -> None:
    output = migrate(bun, url(daemons.free_port()), tmp_path)
    assert top(output) == "pg_connection_refused"
    # Bun's own (uncaught) error form carries the code line
    script = tmp_path / "probe.ts"
    script.write_text(
        'import { SQL } from "bun";\nawait new SQL(process.env.DATABASE_URL!)`select 1`;\n'
    )
    env = {**bun_env(tmp_path), "DATABASE_URL": url(daemons.free_port())}
    raw = run([str(bun), str(script)], env=env)
    assert "ERR_POSTGRES_CONNECTION_REFUSED" in raw
    assert top(raw) == "pg_connection_refused"


PROBE = """import { SQL } from "bun";
const sql = new SQL(process.env.DATABASE_URL!, { connectionTimeout: 2 });
await sql`select 1`;
"""


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("case", "expected", "code"),
    [
        ("wrong password", "pg_auth_failed", 'errno: "28P01"'),
        ("missing database", "pg_database_missing", 'errno: "3D000"'),
        ("dropped packets", "pg_connect_timeout", "ERR_POSTGRES_CONNECTION_TIMEOUT"),
    ],
)
def test_bun_sql_client_uncaught_errors(
    bun: Path, database: daemons.Postgres, tmp_path: Path, case: str, expected: str, code: str
) -> None:
    """Bun's own error print (no try/catch): message, then errno/code lines."""
    script = tmp_path / "probe.ts"
    script.write_text(PROBE)
    with dropped_port() as (port, _how):
        target = {
            "wrong password": url(database.port, password="wrong-pw"),
            "missing database": url(database.port, database="no_such_db"),
            "dropped packets": url(port),
        }[case]
        output = run([str(bun), str(script)], env={**bun_env(tmp_path), "DATABASE_URL": target})
    assert code in output
    assert top(output) == expected


@contextmanager
def dropped_port() -> Iterator[tuple[int, str]]:
    """A loopback port whose SYNs vanish (iptables DROP), or else a socket that never answers."""
    port = daemons.free_port()
    rule = ["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port), "-j", "DROP"]
    iptables = shutil.which("iptables")
    if iptables and subprocess.run([iptables, "-A", *rule], capture_output=True).returncode == 0:
        try:
            yield port, "drop"
        finally:
            subprocess.run([iptables, "-D", *rule], capture_output=True, check=False)
        return
    with socket.socket() as silent:  # accepts in the kernel, never answers the startup message
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        yield silent.getsockname()[1], "silent"


@pytest.mark.postgres
def test_sample_backend_against_a_port_that_drops_packets(bun: Path, tmp_path: Path) -> None:
    with dropped_port() as (port, how):
        output = migrate(bun, url(port), tmp_path)
    result = diagnosed(output)
    assert result.findings[0].id == "pg_connect_timeout", (how, output)
    assert result.findings[0].followup == "network_path"


def test_bun_run_wrong_path_and_missing_package(bun: Path, tmp_path: Path) -> None:
    env = bun_env(tmp_path)
    wrong = run([str(bun), "run", "src/db/no-such-migrate.ts"], env=env, cwd=BACKEND)
    result = diagnosed(wrong)
    assert result.findings[0].id == "bun_module_not_found"
    assert result.findings[0].values["path"] == "src/db/no-such-migrate.ts"

    app = tmp_path / "app"
    (app / "node_modules").mkdir(parents=True)  # an installed tree: no auto-install
    (app / "migrate.ts").write_text('import postgres from "postgres";\nconsole.log(postgres);\n')
    missing = run([str(bun), "migrate.ts"], env=env, cwd=app)
    result = diagnosed(missing)
    assert result.findings[0].id == "bun_cannot_find_package"
    assert result.findings[0].values["pkg"] == "postgres"

    script = run([str(bun), "run", "db:nope"], env=env, cwd=BACKEND)
    assert top(script) == "bun_script_not_found"


def test_missing_database_url_in_the_sample_backend(bun: Path, tmp_path: Path) -> None:
    output = run([str(bun), "src/db/migrate.ts"], env=bun_env(tmp_path), cwd=BACKEND)
    assert top(output) == "app_database_url_missing"


@pytest.mark.postgres
def test_report_never_shows_the_database_password(
    bun: Path, database: daemons.Postgres, tmp_path: Path
) -> None:
    from tasks.diagnose.report import Report, render

    secret_url = url(database.port, password="wrong-pw")
    output = migrate(bun, secret_url, tmp_path)
    # a client that echoes its URL in the error (many do) puts the password in the evidence
    output += f'\nerror: password authentication failed for user "diagnose_user" ({secret_url})\n'
    report = Report(diagnosed(output), "test")
    text = "\n".join(line for _, line in render(report, Redactor()))
    assert "pg_auth_failed" in text and "diagnose_user:***@127.0.0.1" in text
    assert "wrong-pw" not in text and "wrong-pw" not in str(report.as_dict())


# -- migration tools (issue 11) and wrong diagnoses (issue 10, item 14) ---------------------------


@pytest.fixture(scope="module")
def node_tools() -> Path:
    return ensure_node_tools()


KNEXFILE = """module.exports = {
  client: "pg",
  connection: process.env.DATABASE_URL,
  acquireConnectionTimeout: Number(process.env.ACQUIRE || 60000),
  migrations: { directory: process.env.MIGRATIONS },
};
"""


def knex_migrate(
    tools: Path, work: Path, files: Mapping[str, str], db_url: str, ok: bool = False, **env: str
) -> str:
    """`knex migrate:latest` over ``files`` (name -> SQL), DATABASE_URL by environment; its
    output (both streams). ``ok``: the run must succeed, else it must fail."""
    argv = [*knex_project(tools, work, files, KNEXFILE), "migrate:latest"]
    environ = {**os.environ, "DATABASE_URL": db_url, "MIGRATIONS": str(work / "migrations"), **env}
    if not ok:
        return run(argv, env=environ, cwd=work)
    proc = subprocess.run(
        argv, env=environ, cwd=work, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def fresh_url(pg: daemons.Postgres, name: str) -> str:
    daemons.psql(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    daemons.ensure_database(pg, name, "diagnose_user", PASSWORD)
    return url(pg.port, database=name)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sql", "title"),
    [
        ("create tabel orders (id int)", "syntax error (42601)"),
        (
            "create table accounts (email text unique); "
            "insert into accounts values ('a@x'), ('a@x')",
            "unique constraint (23505)",
        ),
    ],
)
def test_knex_sql_failure_names_the_migration_file(
    node_tools: Path, database: daemons.Postgres, tmp_path: Path, sql: str, title: str
) -> None:
    db_url = fresh_url(database, "diag_knex_sql")
    output = knex_migrate(node_tools, tmp_path, {"20240101000000_add_orders.js": sql}, db_url)
    top_finding = diagnosed(output).findings[0]
    assert top_finding.id == "migration_sql_failed"
    assert title in top_finding.title
    assert top_finding.values["file"] == "20240101000000_add_orders.js"
    assert "20240101000000_add_orders.js" in top_finding.cause


@pytest.mark.postgres
def test_knex_corrupt_directory_and_pool_timeout(
    node_tools: Path, database: daemons.Postgres, tmp_path: Path
) -> None:
    db_url = fresh_url(database, "diag_knex_corrupt")
    files = {"20240101_a.js": "create table a (id int)", "20240102_b.js": "create table b (id int)"}
    work = tmp_path / "w"
    # a first run applies both (success: no finding), then the image lacks one applied file
    first = knex_migrate(node_tools, work, files, db_url, ok=True)
    assert diagnosed(first).findings == ()
    (work / "migrations" / "20240102_b.js").unlink()
    result = diagnosed(knex_migrate(node_tools, work, {}, db_url))
    assert result.findings[0].id == "knex_migration_dir_corrupt"
    assert "20240102_b.js" in result.findings[0].cause

    with dropped_port() as (port, how):
        output = knex_migrate(
            node_tools, tmp_path / "t", {"1_x.js": "select 1"}, url(port), ACQUIRE="3000"
        )
    assert diagnosed(output).findings[0].id == "knex_acquire_timeout", (how, output)


def _terminate_later(pg: daemons.Postgres, marker: str, delay: float) -> threading.Thread:
    """End the session running ``marker`` from another one after ``delay`` seconds (57P01)."""

    def kill() -> None:
        time.sleep(delay)
        daemons.psql(
            pg,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE query LIKE '%{marker}%' AND pid <> pg_backend_pid()",
        )

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


@pytest.mark.postgres
def test_session_killed_mid_migration_is_not_an_sql_failure(
    bun: Path, node_tools: Path, database: daemons.Postgres, tmp_path: Path
) -> None:
    """Issue 10 item 14: the server ending the migration's session is not "your SQL failed"."""
    # knex over node-postgres
    db_url = fresh_url(database, "diag_killed_knex")
    thread = _terminate_later(database, "pg_sleep(30)", 3)
    output = knex_migrate(
        node_tools, tmp_path / "k", {"20240101_slow.js": "select pg_sleep(30)"}, db_url
    )
    thread.join()
    ids = [f.id for f in diagnosed(output).findings]
    assert ids[0] == "pg_connection_lost", output
    assert "migration_sql_failed" not in ids

    # the sample backend (Bun's SQL client): its own line says "migration X failed"
    backend = tmp_path / "backend"
    shutil.copytree(BACKEND, backend, ignore=shutil.ignore_patterns("node_modules"))
    (backend / "migrations" / "0003_slow_backfill.sql").write_text("SELECT pg_sleep(31);\n")
    db_url = fresh_url(database, "diag_killed_bun")
    thread = _terminate_later(database, "pg_sleep(31)", 4)
    env = {**bun_env(tmp_path), "DATABASE_URL": db_url}
    output = run([str(bun), "src/db/migrate.ts"], env=env, cwd=backend)
    thread.join()
    assert "0003_slow_backfill.sql failed" in output
    result = diagnosed(output)
    assert result.findings[0].id == "pg_connection_lost", output
    assert "app_migration_failed" not in [f.id for f in result.findings]
    assert "did not fail" in result.findings[0].title


@pytest.mark.postgres
def test_postgresql_stopped_mid_migration(node_tools: Path, tmp_path: Path) -> None:
    """A server of its own, stopped (fast shutdown) while a knex migration runs."""
    root = Path(tempfile.mkdtemp(prefix="pg-stopped-", dir=STATE))
    root.chmod(0o755)  # the server runs as the postgres user
    pg = daemons.ensure_postgres(root, daemons.free_port())
    try:
        daemons.ensure_database(pg, "stopme", "diagnose_user", PASSWORD)

        def stop() -> None:
            time.sleep(3)
            daemons.stop_postgres(root)

        thread = threading.Thread(target=stop)
        thread.start()
        output = knex_migrate(
            node_tools,
            tmp_path / "k",
            {"20240101_backfill.js": "select pg_sleep(30)"},
            url(pg.port, database="stopme"),
        )
        thread.join()
    finally:
        daemons.stop_postgres(root)
        shutil.rmtree(root, ignore_errors=True)
    ids = [f.id for f in diagnosed(output).findings]
    assert ids[0] == "pg_connection_lost", output
    assert "migration_sql_failed" not in ids


@pytest.mark.docker
@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ("FROM {base}\nRUNN echo hi\n", "docker_dockerfile_parse_error"),
        ("FROM\nRUN echo hi\n", "docker_dockerfile_parse_error"),
        ("FROM scratch\nRUN echo hi\n", "docker_build_no_shell"),
        (
            'FROM {base}\nSHELL ["/bin/busybox", "sh", "-c"]\nRUN echo installing && exit 3\n',
            "docker_build_step_failed",
        ),
        ("FROM {base}\nCOPY package.json /app/\n", "docker_build_context_missing"),
    ],
)
def test_every_common_docker_build_failure_has_a_finding(
    docker_host: str, tmp_path: Path, dockerfile: str, expected: str
) -> None:
    """Issue 10 item 14: a failed image build says "run invoke diagnose"; that never ends in
    "no known failure" for these."""
    base = busybox_image("amd64", "diagnose-test/busybox:amd64")
    (tmp_path / "Dockerfile").write_text(dockerfile.format(base=base))
    output = run(
        ["docker", "build", "-t", "diagnose-test/broken:1", str(tmp_path)], env=docker_env()
    )
    result = diagnosed(output)
    assert result.matched, output
    assert result.findings[0].id == expected, output


@pytest.mark.docker
def test_a_full_disk_gets_its_own_finding(docker_host: str) -> None:
    base = busybox_image("amd64", "diagnose-test/busybox:amd64")
    argv = ["docker", "run", "--rm", "--tmpfs", "/data:size=1m", base]
    output = run(
        [*argv, "dd", "if=/dev/zero", "of=/data/big", "bs=1M", "count=4"], env=docker_env()
    )
    assert "No space left on device" in output
    assert top(output) == "disk_full"


def test_postgresjs_and_sequelize_connection_errors(node_tools: Path, tmp_path: Path) -> None:
    script = tmp_path / "pgjs.js"
    script.write_text(
        'const postgres = require("postgres");\n'
        "const sql = postgres(process.env.DATABASE_URL, { connect_timeout: 3 });\n"
        "(async () => { await sql`select 1`; await sql.end(); })();\n"
    )
    env = {**os.environ, "NODE_PATH": str(node_tools / "node_modules")}
    dns = run(["node", str(script)], env={**env, "DATABASE_URL": "postgres://u:p@db.invalid/d"})
    result = diagnosed(dns)
    assert result.findings[0].id == "pg_dns_not_found"
    assert result.findings[0].values["host"] == "db.invalid"

    seq = tmp_path / "seq.js"
    seq.write_text(
        'const { Sequelize } = require("sequelize");\n'
        "const s = new Sequelize(process.env.DATABASE_URL, { logging: false });\n"
        "s.authenticate().catch((e) => { console.error(e); process.exit(1); });\n"
    )
    refused = f"postgres://u:p@127.0.0.1:{daemons.free_port()}/d"
    assert top(run(["node", str(seq)], env={**env, "DATABASE_URL": refused})) == (
        "pg_connection_refused"
    )
