"""Tasks that read AWS, run as a user runs them where AWS is not usable: no credentials, a
bogus profile, an expired session, an HTML page where AWS should answer. Each failure is one
line with its documented exit code (and exactly one JSON object under --json); no traceback."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.core.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
EXPIRED_JSON = b'{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}'
EXPIRED_XML = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code>"
    b"<Message>The security token included in the request is expired</Message></Error>"
    b"<RequestId>1</RequestId></ErrorResponse>"
)
PAGE = b"<!doctype html>\n<html><title>502 Bad Gateway</title>\n<h1>Bad Gateway</h1>\n</html>\n"


def _server(answer: str) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            if answer == "html":
                status, body, kind = 502, PAGE, "text/html"
            elif "json" in (self.headers.get("content-type") or ""):
                status, body, kind = 400, EXPIRED_JSON, "application/x-amz-json-1.1"
            else:
                status, body, kind = 400, EXPIRED_XML, "text/xml"
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def expired_endpoint() -> Iterator[str]:
    yield from _server("expired")


@pytest.fixture(scope="module")
def html_endpoint() -> Iterator[str]:
    yield from _server("html")


def invoke(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELEASE_"))}
    base.update(
        NO_COLOR="1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        **env,
    )
    return subprocess.run(
        ["invoke", *args, "--env", "staging", "--json"],
        cwd=ROOT,
        env=base,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _one_failure(proc: subprocess.CompletedProcess[str], code: ExitCode, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and text in errors[0], proc.stderr
    assert errors[0] == proc.stderr.splitlines()[-1]  # nothing after the one line
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stdout
    data = json.loads(lines[0])
    assert data["ok"] is False and data["error"]["code"] == code


@pytest.mark.parametrize("task", [("db.migrate",), ("doctor",)])
def test_no_credentials(task: tuple[str, ...]) -> None:
    proc = invoke(*task)
    _one_failure(proc, ExitCode.AWS_AUTH, "no usable AWS credentials")
    # the line names the environment it used and how to choose another (issue 10, item 4)
    line = proc.stderr.splitlines()[-1]
    assert "(environment 'staging')" in line, line
    assert "--env NAME or RELEASE_ENV=NAME (others in invoke.yaml: local, prod)" in line, line


def test_a_profile_that_does_not_exist() -> None:
    proc = invoke("setup", "--profile", "nobody-has-this")
    _one_failure(proc, ExitCode.AWS_AUTH, "AWS profile 'nobody-has-this' is not configured")


@pytest.mark.parametrize("task", [("build.list",), ("diagnose",), ("setup",)])
def test_expired_session(task: tuple[str, ...], expired_endpoint: str) -> None:
    proc = invoke(*task, AWS_ENDPOINT_URL=expired_endpoint, **KEYS)
    _one_failure(proc, ExitCode.AWS_AUTH, "the AWS credentials have expired")


def test_an_html_page_instead_of_aws(html_endpoint: str) -> None:
    proc = invoke("build.list", AWS_ENDPOINT_URL=html_endpoint, **KEYS)
    _one_failure(proc, ExitCode.AWS, "HTTP 502 with a non-AWS answer (502 Bad Gateway)")


def test_sigterm_outside_the_wait_is_one_line_and_130() -> None:
    """A cancelled CI job (SIGTERM) while AWS has not answered yet: no death by signal (143)."""
    import signal
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections are queued, never answered
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELEASE_"))}
        env.update(
            NO_COLOR="1",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{silent.getsockname()[1]}",
            **KEYS,
        )
        proc = subprocess.Popen(
            ["invoke", "build.list", "--env", "staging"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)  # well inside the first request (read timeout 60 s)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        silent.close()
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert err.strip().splitlines() == [
        "error: interrupted. Fix: rerun when ready (`invoke build.list` shows any build this "
        "run had started)"
    ]
