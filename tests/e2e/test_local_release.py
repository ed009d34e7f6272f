"""``invoke release --env local`` end to end: real engine, registry, PostgreSQL, bun and buildspec."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tasks.codebuild.commands import project_variables
from tasks.codebuild.model import FAILED, EnvVar, StartRequest
from tasks.core.config import Settings
from tasks.core.errors import ExitCode
from tasks.local.backend import LocalBackend
from tests.conftest import ROOT
from tests.e2e.conftest import LocalEnv
from tests.helpers import images

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]
BACKEND = ROOT / "examples" / "backend"


def applied(env: LocalEnv) -> list[str]:
    return env.sql("SELECT version FROM schema_migrations ORDER BY version").splitlines()


def variant(tmp_path: Path, name: str) -> Path:
    """A copy of the sample backend to break on purpose."""
    target = tmp_path / name
    shutil.copytree(BACKEND, target)
    return target


def flags_for(context: Path) -> dict[str, str]:
    return {"context": str(context), "dockerfile": str(context / "Dockerfile")}


def test_release_applies_migrations_once_and_seed_inserts_once(local_env: LocalEnv) -> None:
    first = local_env.release()
    assert first.ok, first.out
    assert applied(local_env) == ["0001_create_organizations.sql", "0002_create_members.sql"]
    assert "migrate: 2 applied, 0 already up to date" in first.out
    assert "image working directory /app" in first.out
    assert (
        "running migrations with bun src/db/migrate.ts (entrypoint bun, in /app in the image)"
        in first.out
    )
    assert "db-probe: ok: 127.0.0.1:" in first.out

    second = local_env.release(seed=True)
    assert second.ok, second.out
    assert "migrate: 0 applied, 2 already up to date" in second.out
    assert "seed organizations: 3 inserted, 0 already present" in second.out
    assert applied(local_env) == ["0001_create_organizations.sql", "0002_create_members.sql"]

    third = local_env.release(seed=True)
    assert third.ok, third.out
    assert "seed organizations: 0 inserted, 3 already present" in third.out
    assert local_env.sql("SELECT string_agg(slug, ',' ORDER BY slug) FROM organizations") == (
        "acme,daadaar,globex"
    )


def test_broken_migration_fails_names_the_file_and_leaves_the_database(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    assert local_env.release().ok
    tables = "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
    before = (local_env.sql(tables), applied(local_env))
    broken = variant(tmp_path, "broken")
    (broken / "migrations" / "0003_add_audit.sql").write_text(
        "CREATE TABLE audit (id int);\nINSERT INTO audit VALUES (1);\nSELEC oops FROM audit;\n"
    )
    outcome = local_env.release(flags=flags_for(broken))
    assert outcome.error is not None and outcome.error.code == ExitCode.BUILD_FAILED
    assert (
        'migrate: migration 0003_add_audit.sql failed: syntax error at or near "SELEC"'
        in outcome.out
    )
    assert "Phase complete: BUILD State: FAILED" in outcome.out
    assert re.search(
        r"COMMAND_EXECUTION_ERROR Message: Error while executing command: .*exit status 1",
        outcome.out,
    )
    assert (local_env.sql(tables), applied(local_env)) == before
    # the automatic diagnosis names the file, and its fix becomes the error line's Fix:
    assert "(app_migration_failed)" in outcome.out
    assert "Fix the SQL in migrations/0003_add_audit.sql" in outcome.error.remedy


def test_wrong_script_path_gives_bun_module_not_found(local_env: LocalEnv, tmp_path: Path) -> None:
    wrong = variant(tmp_path, "wrong-path")
    dockerfile = wrong / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY src ./src", "COPY src ./source"))
    outcome = local_env.release(flags=flags_for(wrong))
    assert outcome.error is not None and outcome.error.code == ExitCode.BUILD_FAILED
    assert 'error: Module not found "src/db/migrate.ts"' in outcome.out
    assert "image working directory /app" in outcome.out
    assert (
        "running migrations with bun src/db/migrate.ts (entrypoint bun, in /app in the image)"
        in outcome.out
    )


def runner(env: LocalEnv) -> LocalBackend:
    return LocalBackend(
        buildspec_path=ROOT / "buildspec" / "migrations.yml",
        secret="local/database-url",
        environ={**os.environ, "RELEASE_LOCAL_DIR": str(env.root)},
        project_variables=project_variables(Settings(env="local")),  # as invoke setup writes
    )


def run_buildspec(env: LocalEnv, image: str, *extra: EnvVar) -> tuple[str, list[tuple[int, str]]]:
    b = runner(env)
    overrides = (
        EnvVar("RUN_MIGRATIONS", "true"),
        EnvVar("RUN_SEED", "false"),
        EnvVar("IMAGE_URI", image),
    )
    build = b.start(
        StartRequest("e2e", "migrate", (*overrides, *extra), image, os.urandom(8).hex())
    )
    secrets_ = (env.password, _registry_password(env))
    deadline = time.monotonic() + 120
    while not build.final and time.monotonic() < deadline:
        assert not any(secret in cmdline for cmdline in _command_lines() for secret in secrets_)
        time.sleep(0.1)
        build = b.get(build.id)
    assert build.final, build
    events: list[tuple[int, str]] = []
    token = None
    for _ in range(100):
        page = b.read_logs(build.logs, token)
        events += [(e.timestamp, e.message) for e in page.events]
        if page.next_token == token:
            break
        token = page.next_token
    env.outputs.append("\n".join(m for _, m in events))
    failed = build.failed_phase()
    return (f"{build.status} {failed.name if failed else ''}".strip(), events)


def test_arm64_image_is_stopped_in_pre_build_with_the_rebuild_command(
    local_env: LocalEnv, backend_image: str
) -> None:
    # (backend_image: its session fixture has logged docker in to the registry)
    image = f"{local_env.registry.host}/daadaar-backend:arm64"
    images.busybox_image("arm64", image)  # a real linux/arm64 image (static arm64 busybox)
    pushed = subprocess.run(["docker", "push", image], capture_output=True, text=True, check=False)
    assert pushed.returncode == 0, pushed.stderr
    status, events = run_buildspec(local_env, image)
    text = "\n".join(m for _, m in events)
    assert status == f"{FAILED} PRE_BUILD", text
    assert f"error: image {image} is linux/arm64 but this build host is linux/amd64" in text
    assert "Rebuild and push it for linux/amd64: invoke image.push --platform linux/amd64" in text
    assert "exec format error" not in text.replace("'exec format error'", "")
    assert "Entering phase BUILD" not in text


def _command_lines() -> list[str]:
    """Every process's argv on this machine (secrets must never be in one)."""
    out = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            out.append(path.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
        except OSError:
            continue
    return out


def _registry_password(env: LocalEnv) -> str:
    return str(json.loads((env.root / "credentials.json").read_text())["registry"]["password"])


def test_dropped_database_port_gives_the_probe_timeout_verdict(
    local_env: LocalEnv, backend_image: str
) -> None:
    image = backend_image
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        path = local_env.root / "credentials.json"
        creds = json.loads(path.read_text())
        creds["secrets"]["local/database-url"] = local_env.url.replace(
            f":{local_env.pg.port}/", f":{port}/"
        )
        path.write_text(json.dumps(creds))
        rule = ["-p", "tcp", "-d", "127.0.0.1", "--dport", str(port), "-j", "DROP"]
        added = subprocess.run(
            ["iptables", "-I", "INPUT", *rule], capture_output=True, text=True, check=False
        )
        assert added.returncode == 0, added.stderr
        try:
            status, events = run_buildspec(local_env, image, EnvVar("DB_PROBE_TIMEOUT", "2"))
        finally:
            removed = subprocess.run(
                ["iptables", "-D", "INPUT", *rule], capture_output=True, text=True, check=False
            )
        assert removed.returncode == 0, removed.stderr
    text = "\n".join(m for _, m in events)
    assert status == f"{FAILED} PRE_BUILD", text
    assert (
        f"db-probe: timed out: no answer from 127.0.0.1:{port} within 2s: security group or routing"
        in text
    )
    started = next(t for t, m in events if 'Running command python3 -c "$DB_PROBE_PY"' in m)
    ended = next(
        t for t, m in events if 'Command did not exit successfully python3 -c "$DB_PROBE_PY"' in m
    )
    # the probe waited its own 2 s, not a driver's default (30 s and more); the margin above is
    # python's start-up in the container on a loaded machine (4 s was exceeded under load)
    assert 1900 <= ended - started <= 10000


def test_seed_script_outside_the_allow_list_is_refused_by_the_buildspec(
    local_env: LocalEnv, backend_image: str
) -> None:
    status, events = run_buildspec(
        local_env,
        backend_image,
        EnvVar("RUN_MIGRATIONS", "false"),
        EnvVar("RUN_SEED", "true"),
        EnvVar("SEED_SCRIPT", "../../etc/passwd"),
    )
    text = "\n".join(m for _, m in events)
    assert status == f"{FAILED} BUILD", text
    assert "error: seed script '../../etc/passwd' is not in the allow-list (organizations)" in text
    assert "docker run" not in "\n".join(m for _, m in events if not m.startswith("[Container]"))
    assert "running seed" not in text


def test_stopping_a_build_mid_migration_stops_the_migration(
    local_env: LocalEnv, backend_image: str, tmp_path: Path
) -> None:
    """Ctrl-C / build.stop while a migration runs: the container must die with the build (the
    buildspec runs it with --init, so SIGTERM reaches bun), its transaction is rolled back, and
    nothing is applied after the build reported STOPPED."""
    slow = variant(tmp_path, "slow")
    (slow / "migrations" / "0003_slow.sql").write_text(
        "CREATE TABLE slow_marker (id int);\nSELECT pg_sleep(4);\n"
    )
    image = f"{local_env.registry.host}/daadaar-backend:e2e-slow"
    for argv in (
        ["docker", "build", "--platform", "linux/amd64", "-t", image, str(slow)],
        ["docker", "push", image],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    b = runner(local_env)
    overrides = (EnvVar("RUN_MIGRATIONS", "true"), EnvVar("RUN_SEED", "false"))
    build = b.start(
        StartRequest(
            "e2e", "migrate", (*overrides, EnvVar("IMAGE_URI", image)), image, os.urandom(8).hex()
        )
    )
    log = local_env.root / "builds" / build.id.split(":", 1)[1] / "build.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and "migrations from /app/migrations" in log.read_text():
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the migration never started: {build}")
    time.sleep(0.5)  # inside pg_sleep(4)
    migrating_since = time.monotonic()
    b.stop(build.id)
    while not build.final and time.monotonic() < deadline:
        time.sleep(0.1)
        build = b.get(build.id)
    assert build.status == "STOPPED", build
    assert time.monotonic() - migrating_since < 4.0  # the stop did not wait for the migration
    time.sleep(max(0.0, migrating_since + 5.0 - time.monotonic()))  # past pg_sleep's end
    assert "0003_slow.sql" not in applied(local_env)
    assert local_env.sql("SELECT to_regclass('public.slow_marker')") == ""
    assert "migrate: applied 0003_slow.sql" not in log.read_text()
