"""Secrets under their usual variable names and flags are masked in everything printed (a build
log that runs `env` or `docker run -e POSTGRES_PASSWORD=...`); ordinary names are left alone."""

from __future__ import annotations

import pytest

from tasks.core.redact import Redactor


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("DB_PASSWORD=hunter2", "DB_PASSWORD=***"),
        ("-e POSTGRES_PASSWORD=hunter2 postgres:16", "-e POSTGRES_PASSWORD=*** postgres:16"),
        ('export DATABASE_PASSWORD="hunter2"', 'export DATABASE_PASSWORD="***"'),
        ("API_TOKEN=abc123", "API_TOKEN=***"),
        ("GITHUB_TOKEN: ghp_abc", "GITHUB_TOKEN: ***"),
        ("SECRET_KEY=abc", "SECRET_KEY=***"),
        ("psql --password hunter2", "psql --password ***"),
        ("tool --db-password=hunter2", "tool --db-password=***"),
        ("PGPASSWORD=hunter2", "PGPASSWORD=***"),  # as before
        # issue 10, item 13
        ("mysql --password x", "mysql --password ***"),
        ('mysql --password "two words"', "mysql --password ***"),
        ("mysql -uroot -pHunter2 db", "mysql -uroot -p*** db"),
        ("PWD=hunter2", "PWD=***"),
        ("DBPASSWORD=hunter2", "DBPASSWORD=***"),
        ("db_pass=hunter2", "db_pass=***"),
        ("secret_value=hunter2", "secret_value=***"),
        ("host=db sslpassword=hunter2 user=app", "host=db sslpassword=*** user=app"),
        (
            "postgres://app:p@ss@w0rd@db.internal:5432/app",
            "postgres://app:***@db.internal:5432/app",
        ),
        ("psql app:p@ss@db.internal:5432", "psql app:***@db.internal:5432"),
        ("auth=QVdTOmh1bnRlcjItcGFzcw==", "auth=***"),  # base64("AWS:hunter2-pass")
        (
            '{"auths": {"r": {"auth": "QVdTOmh1bnRlcjItcGFzcw=="}}}',
            '{"auths": {"r": {"auth": "***"}}}',
        ),
        (
            "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101%2Fus-east-1&X-Amz-Signature=0a1b2c3d4e5f",
            "X-Amz-Credential=***%2F20240101%2Fus-east-1&X-Amz-Signature=***",
        ),
        ("key AKIAIOSFODNN7EXAMPLE in us-east-1", "key *** in us-east-1"),
    ],
)
def test_secret_names_are_masked(text: str, shown: str) -> None:
    assert Redactor().redact(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "idempotencyToken=<sha256(project, migrate, digest, invocation)>",
        "nextForwardToken: f/123",
        "aws secretsmanager get-secret-value --secret-id daadaar/prod/database-url",
        "docker run -p8080:80 -p 5432:5432 app",
        "cc -pthread -pedantic main.c",
        "git@github.com:org/repo.git",
        "127.0.0.1:5000/daadaar-backend:local@sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1",
        "Installing dependencies from lockfile",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text


def test_the_decoded_form_of_a_learnt_url_password_is_masked() -> None:
    redactor = Redactor()
    redactor.add("postgres://app:p%40ss%2Fw0rd@db/app")
    assert redactor.redact("login failed with p@ss/w0rd") == "login failed with ***"
    assert redactor.redact("url p%40ss%2Fw0rd") == "url ***"
