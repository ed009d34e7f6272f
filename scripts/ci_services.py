"""The services .ci/run starts for the tests, and stopping exactly those again.

    python scripts/ci_services.py snapshot STATE_FILE   what already runs (before anything starts)
    python scripts/ci_services.py start-docker          an engine on DOCKER_HOST (starts one if none)
    python scripts/ci_services.py stop STATE_FILE       stop what this run started, nothing else

The tests' services live under RELEASE_TEST_STATE (default /tmp/release-suite-tests): the Docker
Engine .ci/run starts (its dockerd, the containerd it runs, and their mounts under
``dockerd/``), and the PostgreSQL the test harness starts on RELEASE_TEST_PG_PORT with its data
under ``postgres/``. Whatever answered before the run (an engine, a PostgreSQL on that port) is
left running. The registry and moto end with the pytest session that started them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.core.errors import SuiteError
from tasks.local import daemons

STATE = Path(os.environ.get("RELEASE_TEST_STATE") or "/tmp/release-suite-tests")
PG_PORT = int(os.environ.get("RELEASE_TEST_PG_PORT") or "55432")
DOCKER_HOST = os.environ.get("DOCKER_HOST") or daemons.DEFAULT_DOCKER_HOST


def snapshot(path: Path) -> None:
    facts = {
        "docker_was_up": daemons.docker_answers(DOCKER_HOST),
        "postgres_was_up": daemons.port_open("127.0.0.1", PG_PORT),
    }
    path.write_text(json.dumps(facts))


def stop(path: Path) -> list[str]:
    """Stop what this run started (per the snapshot); returns what was stopped."""
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError):
        return []  # nothing was recorded, so nothing is known to be ours
    stopped = []
    if not facts.get("postgres_was_up") and daemons.stop_postgres(STATE / "postgres"):
        stopped.append(f"PostgreSQL 127.0.0.1:{PG_PORT}")
    if not facts.get("docker_was_up") and daemons.stop_dockerd(STATE / "dockerd"):
        stopped.append(f"Docker Engine {DOCKER_HOST}")
    return stopped


def main(argv: list[str]) -> int:
    if argv[:1] == ["snapshot"] and len(argv) == 2:
        snapshot(Path(argv[1]))
    elif argv == ["start-docker"]:
        print("docker:", daemons.ensure_dockerd(STATE / "dockerd", DOCKER_HOST), file=sys.stderr)
    elif argv[:1] == ["stop"] and len(argv) == 2:
        # silent when all went well: pytest's summary stays the last line of the CI log
        try:
            stop(Path(argv[1]))
        except SuiteError as err:
            print(f"error: ci cleanup: {err.line()}", file=sys.stderr)
            return int(err.code)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
