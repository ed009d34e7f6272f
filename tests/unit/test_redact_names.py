"""Secrets under their usual variable names and flags are masked in everything printed (a build
log that runs `env` or `docker run -e POSTGRES_PASSWORD=...`); ordinary names are left alone."""

from __future__ import annotations

import pytest

from tasks.redact import Redactor


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
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text
