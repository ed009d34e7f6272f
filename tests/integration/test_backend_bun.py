"""The sample backend's migrate and seed scripts, run by the real bun against PostgreSQL.

No Docker: bun runs the TypeScript straight from ``examples/backend`` (the e2e tests run the
same scripts inside the built image through the buildspec).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks import services
from tests.conftest import ROOT
from tests.helpers.bun import bun_env, ensure_bun

pytestmark = [pytest.mark.postgres]
BACKEND = ROOT / "examples" / "backend"


@pytest.fixture
def database(postgres: services.Postgres) -> Iterator[tuple[str, str, str]]:
    name = f"bun_{secrets.token_hex(4)}"
    password = f"pw-{secrets.token_urlsafe(10)}"
    url = services.ensure_database(postgres, name, name, password)
    yield name, url, password
    services.psql(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bun(script: str, url: str | None, tmp_path: Path, cwd: Path = BACKEND) -> subprocess.Popen[str]:
    env = bun_env(tmp_path / "home")
    if url is not None:
        env["DATABASE_URL"] = url
    return subprocess.Popen(
        [str(ensure_bun()), script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run(script: str, url: str | None, tmp_path: Path, cwd: Path = BACKEND) -> tuple[int, str]:
    proc = bun(script, url, tmp_path, cwd)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def sql(pg: services.Postgres, name: str, query: str) -> str:
    return services.psql(pg, query, database=name).strip()


def test_concurrent_migrators_apply_each_file_once(
    database: tuple[str, str, str], postgres: services.Postgres, tmp_path: Path
) -> None:
    name, url, password = database
    procs = [bun("src/db/migrate.ts", url, tmp_path) for _ in range(3)]
    results = [(p.wait(timeout=60), p.communicate()[0]) for p in procs]
    assert all(code == 0 for code, _ in results), results
    applied = sum(out.count("migrate: applied ") for _, out in results)
    assert applied == 2
    assert sql(postgres, name, "SELECT count(*) FROM schema_migrations") == "2"
    assert all(password not in out for _, out in results)
    code, out = run("src/db/migrate.ts", url, tmp_path)
    assert code == 0 and "migrate: 0 applied, 2 already up to date" in out


def test_a_failing_file_is_named_and_rolled_back(
    database: tuple[str, str, str], postgres: services.Postgres, tmp_path: Path
) -> None:
    name, url, _ = database
    copy = tmp_path / "backend"
    shutil.copytree(BACKEND, copy)
    (copy / "migrations" / "0003_audit.sql").write_text(
        "CREATE TABLE audit (id int);\nINSERT INTO audit VALUES (1);\nSELEC nope;\n"
    )
    (copy / "migrations" / "0004_later.sql").write_text("CREATE TABLE later (id int);\n")
    code, out = run("src/db/migrate.ts", url, tmp_path, copy)
    assert code == 1
    assert 'migrate: migration 0003_audit.sql failed: syntax error at or near "SELEC"' in out
    assert "0003_audit.sql was rolled back" in out
    assert "migrate: applied 0002_create_members.sql" in out
    tables = "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname='public'"
    assert sql(postgres, name, tables) == "members,organizations,schema_migrations"
    assert sql(postgres, name, "SELECT count(*) FROM schema_migrations") == "2"


def test_seed_is_idempotent(
    database: tuple[str, str, str], postgres: services.Postgres, tmp_path: Path
) -> None:
    name, url, _ = database
    assert run("src/db/migrate.ts", url, tmp_path)[0] == 0
    first = run("src/db/seed-organizations.ts", url, tmp_path)
    second = run("src/db/seed-organizations.ts", url, tmp_path)
    assert first == (0, first[1]) and "3 inserted, 0 already present" in first[1]
    assert second[0] == 0 and "0 inserted, 3 already present" in second[1]
    assert sql(postgres, name, "SELECT count(*) FROM organizations") == "3"


def test_unreachable_database_and_missing_url(tmp_path: Path) -> None:
    port = services.free_port()
    code, out = run(
        "src/db/migrate.ts", f"postgres://app:Hunter2-pw@127.0.0.1:{port}/app", tmp_path
    )
    assert code == 1
    assert f"migrate: failed on 127.0.0.1:{port}/app" in out
    assert "Hunter2-pw" not in out
    code, out = run("src/db/migrate.ts", None, tmp_path)
    assert code == 2 and "DATABASE_URL is not set" in out
