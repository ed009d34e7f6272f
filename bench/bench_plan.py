"""Benchmark of ``invoke db.plan`` (issue 14): squawk over 200 migration files, and the plan's
wall time beside the migration itself, in the same run.

    python bench/bench_plan.py                 # 200 files, best of 3
    python bench/bench_plan.py --files 50 --rounds 1

- squawk alone (the pinned squawk-cli binary, ``--reporter json``) is the reference; the
  suite's lint (argv + run + parse + gate, in-process) and the whole CLI (``invoke db.plan --dir
  --json``: interpreter, invoke, settings, lint, rendering) are given as ratios to it.
- The migration: the Bun sample's migrate.ts applying the same 200 files to a fresh database on
  the test PostgreSQL (RELEASE_TEST_PG_PORT, state under RELEASE_TEST_STATE); the plan's CLI time
  is given as a ratio to it. Ratios, not absolute times: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STATEMENTS = (
    "CREATE TABLE t{n} (id bigint PRIMARY KEY, email text, note text);",
    "ALTER TABLE t{p} ADD COLUMN extra{n} text;",
    "CREATE INDEX t{p}_email_{n} ON t{p} (email);",
    "ALTER TABLE t{p} DROP COLUMN extra{q};",
    "ALTER TABLE t{p} ADD COLUMN req{n} integer NOT NULL DEFAULT 0;",
)


def write_files(root: Path, count: int) -> list[str]:
    """``count`` migrations that apply in order on an empty database (each table made first)."""
    mig = root / "migrations"
    mig.mkdir(parents=True)
    names = []
    for n in range(count):
        p = n - (n % 5)  # the table of this group of five
        q = p + 1  # the column the second file of the group added
        sql = STATEMENTS[n % 5].format(n=n, p=p, q=q)
        name = f"{n:04d}_step.sql"
        (mig / name).write_text(f"-- migration {n}\n{sql}\n")
        names.append(name)
    return names


def best(fn: Callable[[], None], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-migrate", action="store_true")
    args = parser.parse_args()

    from tasks.release.plan import plan_settings
    from tasks.release.planrun import lint_files, migration_files, squawk_binary

    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    try:
        write_files(work, args.files)
        files = migration_files(work, ("migrations/*.sql",))
        squawk = squawk_binary()
        paths = [str(work / f) for f in files]

        def squawk_alone() -> None:
            subprocess.run([squawk, "--reporter", "json", *paths], capture_output=True, check=False)

        settings = plan_settings({}, confirm=True)
        findings: list[int] = []

        def suite_lint() -> None:
            findings.append(len(lint_files(work, files, settings).findings))

        config = work / "invoke.yaml"
        config.write_text("release:\n  env: local\n")

        def cli() -> None:
            proc = subprocess.run(
                [sys.executable, "-m", "invoke", "-r", str(ROOT), "-f", str(config),
                 "db.plan", "--env", "local", "--dir", str(work), "--json"],
                capture_output=True, check=False,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr

        ref = best(squawk_alone, args.rounds)
        lint = best(suite_lint, args.rounds)
        whole = best(cli, args.rounds)
        print(f"files: {args.files}, findings: {findings[-1]}, best of {args.rounds}")
        print("| what | best | vs squawk alone |")
        print("|---|---|---|")
        print(f"| squawk alone (reference) | {ref * 1000:.0f} ms | 1.00x |")
        print(
            f"| suite lint in-process (run + parse + gate) | {lint * 1000:.0f} ms | {lint / ref:.2f}x |"
        )
        print(f"| `invoke db.plan --dir --json` | {whole * 1000:.0f} ms | {whole / ref:.2f}x |")
        if args.no_migrate:
            return 0
        migrate = migration_time(work)
        print(f"| the migration itself (Bun sample, {args.files} files, fresh db) | "
              f"{migrate * 1000:.0f} ms | plan CLI = {whole / migrate:.2f}x of it |")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def migration_time(work: Path) -> float:
    from tasks.local import daemons
    from tests.helpers.bun import bun_env, ensure_bun

    state = Path(os.environ.get("RELEASE_TEST_STATE", "/tmp/release-suite-tests"))
    pg = daemons.ensure_postgres(
        state / "postgres", int(os.environ.get("RELEASE_TEST_PG_PORT", "55432"))
    )
    app = work / "backend"
    shutil.copytree(
        ROOT / "examples" / "backend", app, ignore=shutil.ignore_patterns("node_modules")
    )
    shutil.rmtree(app / "migrations")
    shutil.copytree(work / "migrations", app / "migrations")
    daemons.psql(pg, "DROP DATABASE IF EXISTS bench_plan WITH (FORCE)")
    url = daemons.ensure_database(pg, "bench_plan", "bench_plan", "bench-pw-1")
    env = {**bun_env(work / "home"), "DATABASE_URL": url}
    start = time.perf_counter()
    proc = subprocess.run([str(ensure_bun()), "src/db/migrate.ts"], cwd=app, env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    took = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-500:] + proc.stderr[-500:]
    daemons.psql(pg, "DROP DATABASE IF EXISTS bench_plan WITH (FORCE)")
    return took


if __name__ == "__main__":
    sys.exit(main())
