"""The local environment on the real engine, registry and PostgreSQL from tests/conftest.py.

``local_env`` gives a private ``.release-local`` (credentials pointing at the harness's registry
and a fresh database per test) and a ``release`` callable that runs the real pipeline
(``tasks.release.flow.release``) in-process on ``--env local``, capturing everything it prints.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tasks.core.config import load_settings, load_yaml_file
from tasks.core.console import Console
from tasks.core.errors import SuiteError
from tasks.core.redact import Redactor
from tasks.local import daemons
from tasks.wiring import runtime_for
from tests.conftest import MOTO_TOKEN_PASSWORD, ROOT
from tests.helpers.bun import ensure_bun

BASE_IMAGE = "release-suite/bun-base:1.4.5"


@pytest.fixture(scope="session")
def bun_base(docker_host: str) -> str:
    """The locally made base image, built once per session (idempotent script)."""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "make_bun_base.sh"), str(ensure_bun())],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == BASE_IMAGE
    return BASE_IMAGE


@dataclass
class Outcome:
    result: dict[str, Any] | None
    error: SuiteError | None
    out: str

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class LocalEnv:
    root: Path
    registry: daemons.Registry
    pg: daemons.Postgres
    database: str
    password: str
    url: str
    outputs: list[str] = field(default_factory=list)

    def sql(self, query: str) -> str:
        return daemons.psql(self.pg, query, database=self.database).strip()

    def release(self, **kwargs: Any) -> Outcome:
        return self.run(lambda rt: _release(rt, **kwargs), kwargs.pop("flags", None))

    def run(
        self, action: Callable[[Any], dict[str, Any]], flags: dict[str, str] | None = None
    ) -> Outcome:
        raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
        environ = {**os.environ, "RELEASE_LOCAL_DIR": str(self.root)}
        environ.pop("RELEASE_REGISTRY_PASSWORD", None)
        settings = load_settings(
            raw,
            env="local",
            flags={"registry": self.registry.host, **(flags or {})},
            environ=environ,
        )
        buffer = io.StringIO()
        console = Console(out=buffer, err=buffer, color=False, redactor=Redactor())
        rt = runtime_for(settings, console, environ=environ)
        try:
            result, error = action(rt), None
        except SuiteError as err:
            result, error = None, err
            console.error(err)
        self.outputs.append(buffer.getvalue())
        return Outcome(result, error, buffer.getvalue())


def _release(rt: Any, **kwargs: Any) -> dict[str, Any]:
    from tasks.release.flow import release

    return release(rt, yes=True, **kwargs)


@pytest.fixture
def local_env(
    tmp_path: Path,
    docker_host: str,
    docker_config: Path,
    registry: daemons.Registry,
    postgres: daemons.Postgres,
    bun_base: str,
) -> Iterator[LocalEnv]:
    database = f"e2e_{secrets.token_hex(4)}"
    password = f"pw-{secrets.token_urlsafe(12)}"
    url = daemons.ensure_database(postgres, database, database, password)
    root = tmp_path / "release-local"
    root.mkdir()
    (root / "credentials.json").write_text(
        json.dumps(
            {
                "registry": {"username": "AWS", "password": MOTO_TOKEN_PASSWORD},
                "secrets": {"local/database-url": url},
            }
        )
    )
    env = LocalEnv(root, registry, postgres, database, password, url)
    yield env
    # no secret ever reaches what the suite prints or the build logs it keeps
    logs = "".join(p.read_text() for p in root.glob("builds/*/build.log"))
    for text in (*env.outputs, logs):
        assert password not in text
        assert MOTO_TOKEN_PASSWORD not in text
    daemons.psql(postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def backend_image(registry: daemons.Registry, docker_config: Path, bun_base: str) -> str:
    """The sample backend built once and pushed to the harness's registry."""
    image = f"{registry.host}/daadaar-backend:e2e"
    login = subprocess.run(
        ["docker", "login", "--username", "AWS", "--password-stdin", registry.host],
        input=MOTO_TOKEN_PASSWORD,
        capture_output=True,
        text=True,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    for argv in (
        [
            "docker",
            "build",
            "--platform",
            "linux/amd64",
            "-t",
            image,
            str(ROOT / "examples" / "backend"),
        ],
        ["docker", "push", image],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return image
