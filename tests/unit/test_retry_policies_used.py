"""Every named retry policy is used: a policy nothing retries with is dead code (issue 13
removed ``docker_ping``)."""

from __future__ import annotations

import re
from pathlib import Path

from tasks.core.retrying import POLICIES

TASKS = Path(__file__).resolve().parents[2] / "tasks"


def test_every_named_policy_is_used_outside_its_table() -> None:
    sources = [
        p.read_text(encoding="utf-8")
        for p in sorted(TASKS.rglob("*.py"))
        if p.name != "retrying.py"
    ]
    assert len(POLICIES) >= 3
    for name in POLICIES:
        used = re.compile(r"""(retrying|policy|Policy)\w*\(\s*["']""" + re.escape(name) + "[\"']")
        call = re.compile(r"""^\s*["']""" + re.escape(name) + r"""["'],""", re.M)
        assert any(used.search(s) or call.search(s) for s in sources), name
