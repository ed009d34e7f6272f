"""doctor's backup read of the database goes through the one "AWS read that may be missing"
(``core.aws.read_aws``): not found is an answer, a refused read leaves it unknown, and no
usable credentials is the one-line credentials error every other doctor read gives."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tasks.core.config import Settings
from tasks.core.errors import AwsAuthError
from tasks.provision.backup import read_backup

SETTINGS = Settings(env="prod", project="proj", confirm=True, database_instance="db")


class FakeRds:
    """A fake RDS whose DescribeDBInstances fails with one error code."""

    def __init__(self, code: str) -> None:
        self.code = code

    def describe_db_instances(self, **kw: Any) -> Any:
        raise ClientError({"Error": {"Code": self.code, "Message": "m"}}, "DescribeDBInstances")


class FakeAws:
    def __init__(self, rds_code: str) -> None:
        self.rds = FakeRds(rds_code)

    def client(self, name: str, **kw: Any) -> Any:
        if name == "rds":
            return self.rds
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, name)


def _read(code: str) -> Any:
    return read_backup(SimpleNamespace(settings=SETTINGS, aws=FakeAws(code)))


def test_a_missing_database_is_an_answer() -> None:
    assert _read("DBInstanceNotFound").exists is False


def test_a_refused_describe_leaves_it_unknown() -> None:
    assert _read("AccessDenied").exists is None


def test_expired_or_invalid_credentials_are_the_credentials_error() -> None:
    with pytest.raises(AwsAuthError):
        _read("ExpiredToken")
    with pytest.raises(AwsAuthError):
        _read("InvalidClientTokenId")
