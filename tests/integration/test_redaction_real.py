"""Secrets in the forms real programs print them (issue 10, item 13): the decoded form of a
URL password in a local build's log, the base64 ``auth`` of a real `docker login`, a SigV4
Authorization header signed by botocore, and local.up's database URL with a password that
needs percent-encoding, used by the real psql."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from tasks.codebuild.model import EnvVar, StartRequest
from tasks.core.redact import Redactor
from tasks.local import daemons
from tasks.local.backend import LocalBackend
from tests.conftest import MOTO_TOKEN_PASSWORD

RAW_PASSWORD = "p@ss/w0rd:Xy%z"  # needs percent-encoding in a URL
URL = f"postgres://app:{quote(RAW_PASSWORD, safe='')}@127.0.0.1:5432/app"
BUILDSPEC = """version: 0.2
env:
  secrets-manager:
    DATABASE_URL: "test/database-url"
phases:
  build:
    commands:
      - echo "url=$DATABASE_URL"
      - python3 -c 'import os, urllib.parse as u; print("connecting with", u.unquote(u.urlsplit(os.environ["DATABASE_URL"]).password))'
"""


def test_a_local_build_never_logs_the_decoded_url_password(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"secrets": {"test/database-url": URL}}))
    spec = tmp_path / "buildspec.yml"
    spec.write_text(BUILDSPEC)
    backend = LocalBackend(
        buildspec_path=spec,
        secret="test/database-url",
        root=tmp_path / "builds",
        environ={**os.environ, "RELEASE_LOCAL_DIR": str(tmp_path)},
    )
    build = backend.start(
        StartRequest(
            project="proj",
            action="migrate",
            env_overrides=(EnvVar("RUN_MIGRATIONS", "true"),),
            image="img@sha256:00",
            idempotency_token="t1",
        )
    )
    deadline = time.monotonic() + 60
    while not build.final and time.monotonic() < deadline:
        time.sleep(0.1)
        build = backend.get(build.id)
    assert build.final
    text = "".join(p.read_text() for p in (tmp_path / "builds").rglob("build.log"))
    assert "connecting with ***" in text
    assert RAW_PASSWORD not in text and quote(RAW_PASSWORD, safe="") not in text


@pytest.mark.docker
def test_the_auth_of_a_real_docker_login_is_masked(
    registry: daemons.Registry, tmp_path: Path, docker_host: str
) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    login = subprocess.run(
        [
            "docker",
            "--config",
            str(config),
            "login",
            "-u",
            "AWS",
            "--password-stdin",
            registry.host,
        ],
        input=MOTO_TOKEN_PASSWORD,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    written = (config / "config.json").read_text()
    auth = json.loads(written)["auths"][registry.host]["auth"]
    shown = Redactor().redact(written)  # a Redactor that never learnt the password
    assert auth not in shown and '"auth": "***"' in shown
    assert Redactor().redact(f"Authorization: Basic {auth}") == "Authorization: Basic ***"
    assert Redactor().redact(f"sending {auth} to the registry") == "sending *** to the registry"


def test_a_sigv4_header_signed_by_botocore_is_masked() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key_id = "AKIA" + secrets.token_hex(8).upper()
    request = AWSRequest(method="POST", url="https://codebuild.us-east-1.amazonaws.com/", data="{}")
    SigV4Auth(
        Credentials(key_id, "s3cr3t-" + secrets.token_hex(8)), "codebuild", "us-east-1"
    ).add_auth(request)
    header = request.headers["Authorization"]
    signature = header.rsplit("Signature=", 1)[1]
    line = f"error: request failed: Authorization: {header} (region 'us-east-1')"
    shown = Redactor().redact(line)
    assert key_id not in shown and signature not in shown
    assert "Credential=***/" in shown and "Signature=***" in shown
    assert (
        Redactor().redact(f"the access key {key_id} is not valid")
        == "the access key *** is not valid"
    )


@pytest.mark.postgres
def test_local_up_database_url_percent_encodes_the_password(postgres: daemons.Postgres) -> None:
    database = f"enc_{secrets.token_hex(4)}"
    url = daemons.ensure_database(postgres, database, database, RAW_PASSWORD)
    try:
        assert urlsplit(url).hostname == "127.0.0.1" and urlsplit(url).port == postgres.port
        parts = urlsplit(url)
        assert unquote(parts.password or "") == RAW_PASSWORD
        psql = shutil.which("psql") or daemons._pg_bin("psql")
        done = subprocess.run(  # the credentials as the URL carries them, through the environment
            [psql, "-At", "-c", "SELECT current_user"],
            env={
                **os.environ,
                "PGHOST": parts.hostname or "",
                "PGPORT": str(parts.port),
                "PGUSER": unquote(parts.username or ""),
                "PGPASSWORD": unquote(parts.password or ""),
                "PGDATABASE": parts.path.lstrip("/"),
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, Redactor([RAW_PASSWORD]).redact(done.stderr)
        assert done.stdout.strip() == database
    finally:
        daemons.psql(postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        daemons.psql(postgres, f'DROP ROLE IF EXISTS "{database}"')
