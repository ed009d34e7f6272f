"""Overhead of ``invoke release --env local`` over the same docker and bun commands by hand.

Both sides do the same work in the same run, alternating, on the running local environment
(``invoke local.up`` first): build the sample backend for linux/amd64 with a fresh layer (a
nonce file in a copy of the context), push it, check the pushed manifest, pull it, check its
platform, probe the database, and apply the two migrations with bun inside the image on a fresh
database. The reference is one bash script running exactly those commands; the suite adds its
guards, the buildspec runner, CodeBuild-format logging and the waiting/log following.

    python3 bench/bench_local_release.py [--runs 5]

Prints a Markdown table (figures go to bench/README.md). Aim: overhead <= 5 % or <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.local import daemons  # noqa: E402
from tasks.local.environment import LOCAL_PG_PORT, postgres_root  # noqa: E402
from tasks.local.state import local_dir  # noqa: E402

BY_HAND = r"""
set -euo pipefail
printf '%s' "$REGISTRY_PASSWORD" | docker login --username AWS --password-stdin 127.0.0.1:5000 >/dev/null
docker build -q --platform linux/amd64 -t "$TAG" "$CONTEXT" >/dev/null
docker push -q "$TAG" >/dev/null
digest="$(curl -fsS -u "AWS:$REGISTRY_PASSWORD" -o /dev/null -D - \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://127.0.0.1:5000/v2/daadaar-backend/manifests/${TAG##*:}" | tr -d '\r' \
  | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')"
image="127.0.0.1:5000/daadaar-backend@$digest"
docker pull -q "$image" >/dev/null
test "$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "$image")" = linux/amd64
python3 scripts/db_probe.py --timeout 5 >/dev/null
docker image inspect --format '{{.Config.WorkingDir}}' "$image" >/dev/null
docker run --rm --init --network host -e DATABASE_URL --entrypoint bun "$image" src/db/migrate.ts
"""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
    return took, proc.stdout + proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    real = local_dir()
    creds = json.loads((real / "credentials.json").read_text())
    pg = daemons.Postgres(
        "127.0.0.1", LOCAL_PG_PORT, postgres_root(real), postgres_root(real) / "run"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-local-"))
    bench_local = work / "release-local"
    bench_local.mkdir()
    context = work / "backend"
    shutil.copytree(ROOT / "examples" / "backend", context)
    password = str(creds["registry"]["password"])
    suite: list[float] = []
    hand: list[float] = []
    build_seconds: list[float] = []
    try:
        for index in range(args.runs + 1):  # round 0 warms caches and is not counted
            dbs = []
            for side in ("suite", "hand"):
                name = f"bench_{index}_{side}_{secrets.token_hex(3)}"
                dbs.append(
                    (name, daemons.ensure_database(pg, name, name, secrets.token_urlsafe(12)))
                )
            local_creds = {**creds, "secrets": {"local/database-url": dbs[0][1]}}
            (bench_local / "credentials.json").write_text(json.dumps(local_creds))
            suite_env = {
                **os.environ,
                "RELEASE_LOCAL_DIR": str(bench_local),
                "RELEASE_CONTEXT": str(context),
                "RELEASE_DOCKERFILE": str(context / "Dockerfile"),
                "NO_COLOR": "1",
            }
            hand_env = {
                **os.environ,
                "REGISTRY_PASSWORD": password,
                "DATABASE_URL": dbs[1][1],
                "TAG": f"127.0.0.1:5000/daadaar-backend:bench-{index}",
                "CONTEXT": str(context),
                "DOCKER_CONFIG": str(work / "docker-config"),
            }
            order = ["suite", "hand"] if index % 2 else ["hand", "suite"]
            for side in order:
                # a new layer for each side: neither reuses the other's build
                (context / "src" / "nonce.txt").write_text(f"{index} {side} {time.time()}\n")
                if side == "suite":
                    took, out = run(
                        [sys.executable, "-m", "invoke", "release", "--env", "local"], suite_env
                    )
                    assert "migrate: 2 applied" in out, out[-2000:]
                    if index:
                        suite.append(took)
                        last = sorted(
                            bench_local.glob("builds/*/state.json"), key=os.path.getmtime
                        )[-1]
                        state = json.loads(last.read_text())
                        build_seconds.append(state["end"] - state["start"])
                else:
                    took, out = run(["bash", "-c", BY_HAND], hand_env)
                    assert "migrate: 2 applied" in out, out[-2000:]
                    if index:
                        hand.append(took)
            for name, _ in dbs:
                daemons.psql(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        shutil.rmtree(work, ignore_errors=True)
    s, h = statistics.median(suite), statistics.median(hand)
    print(f"runs: {args.runs} (after one warm-up round), alternating order\n")
    print("| what | median | min | max |")
    print("|---|---|---|---|")
    print(
        f"| by hand: one bash script (reference) | {h:.2f} s | {min(hand):.2f} s | {max(hand):.2f} s |"
    )
    print(f"| `invoke release --env local` | {s:.2f} s | {min(suite):.2f} s | {max(suite):.2f} s |")
    print(
        f"| of which the local build (state start..end) | {statistics.median(build_seconds):.2f} s | | |"
    )
    print(f"\nratio {s / h:.3f}x; overhead {s - h:+.2f} s ({(s / h - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
