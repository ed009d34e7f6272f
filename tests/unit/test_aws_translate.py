"""Errors that are not AWS answers still make one clear line (a proxy's HTML page, a 5xx)."""

from __future__ import annotations

import io

from botocore.exceptions import ClientError

from tasks.core.aws import translate
from tasks.core.console import Console
from tasks.core.errors import ExitCode, SuiteError

PAGE = "<!doctype html>\n<html><title>502 Bad Gateway</title>\n<h1>Bad Gateway</h1>\n</html>"


def client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "UpdateProject",
    )


def test_an_html_page_is_named_as_such_in_one_line() -> None:
    err = translate(client_error("502", PAGE, 502), "update project p")
    assert err.code == ExitCode.AWS
    assert err.message == "update project p: HTTP 502 with a non-AWS answer (502 Bad Gateway)"
    assert "AWS_ENDPOINT_URL" in err.remedy and "proxy" in err.remedy
    assert "\n" not in err.line()


def test_an_aws_error_keeps_its_code_and_message_on_one_line() -> None:
    err = translate(client_error("InvalidInputException", "bad\n  value", 400), "start")
    assert err.message == "start: InvalidInputException: bad value"
    assert "above" not in err.remedy  # nothing is printed above the one line


def test_console_error_is_always_one_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    Console(out=out, err=err, color=False).error(SuiteError("first\nsecond\n", "do\nthis"))
    assert err.getvalue() == "error: first second. Fix: do this\n"
