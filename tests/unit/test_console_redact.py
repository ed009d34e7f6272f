from __future__ import annotations

import io
import json

import pytest

from tasks.core.console import Console, wants_color
from tasks.core.errors import RegistryError
from tasks.core.redact import Redactor, redact_url


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_color_only_on_terminal_and_never_with_no_color() -> None:
    assert wants_color(Tty(), {}) is True
    assert wants_color(io.StringIO(), {}) is False
    assert wants_color(Tty(), {"NO_COLOR": ""}) is False
    assert wants_color(Tty(), {"TERM": "dumb"}) is False


def test_colored_output_has_escapes_plain_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = Tty()
    Console(out=tty, err=tty).ok("done")
    assert "\x1b[" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty2 = Tty()
    Console(out=tty2, err=tty2).ok("done")
    assert "\x1b[" not in tty2.getvalue()


def test_json_mode_one_object_and_humans_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out=out, err=err, json_mode=True)
    console.info("hello")
    console.emit({"a": 1})
    assert out.getvalue().count("\n") == 1 and json.loads(out.getvalue()) == {"a": 1}
    assert "hello" in err.getvalue()
    with pytest.raises(RuntimeError):
        console.emit({"b": 2})


def test_error_in_json_mode_carries_details() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out=out, err=err, json_mode=True)
    console.error(RegistryError("registry down", "start it", details={"image": "x"}))
    data = json.loads(out.getvalue())
    assert data["ok"] is False and data["image"] == "x" and data["error"]["code"] == 5
    assert err.getvalue().strip() == "error: registry down. Fix: start it"


def test_redaction_of_urls_tokens_and_known_values() -> None:
    r = Redactor(["tok-123456"])
    text = (
        "postgres://admin:pa55w0rd@db.internal:5432/app token=abc.def "
        "Authorization: Basic QVdTOnNlY3JldA== tok-123456 password='x y'"
    )
    out = r.redact(text)
    for secret in ("pa55w0rd", "abc.def", "QVdTOnNlY3JldA==", "tok-123456"):
        assert secret not in out
    assert "postgres://admin:***@db.internal:5432/app" in out
    assert redact_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"


def test_known_pair_also_redacted_in_base64() -> None:
    r = Redactor(["AWS:secret-token"])
    assert "QVdTOnNlY3JldC10b2tlbg==" not in r.redact("auth QVdTOnNlY3JldC10b2tlbg==")


def test_console_redacts_everything() -> None:
    out = io.StringIO()
    console = Console(out=out, err=out, redactor=Redactor(["hunter2hunter2"]))
    console.info("pw hunter2hunter2")
    console.log("DATABASE_URL=postgres://u:pw@h/db")
    console.warn("hunter2hunter2")
    assert "hunter2hunter2" not in out.getvalue() and ":pw@" not in out.getvalue()
