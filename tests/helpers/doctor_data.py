"""Settings and ARNs shared by the doctor/setup unit tests."""

from __future__ import annotations

from tasks.core.config import load_settings

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"
SETTINGS = load_settings(
    {
        "environments": {
            "t": {
                "account": "123456789012",
                "region": "us-east-1",
                "project": "mig",
                "secret": "app/db",
                "repository": "backend",
            }
        }
    },
    env="t",
    environ={},
)
