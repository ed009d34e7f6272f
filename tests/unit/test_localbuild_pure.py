"""Pure helpers of the local runner: agent timestamps, command folding, state round trip."""

from __future__ import annotations

import re

from tasks.codebuild.model import FAILED, Build
from tasks.local.state import build_from_state, one_line, phase_from_dict, stamp


def test_stamp_is_codebuild_agent_time_in_utc() -> None:
    assert stamp(0) == "1970/01/01 00:00:00.000000"
    assert stamp(1795516766.7811859) == "2026/11/24 10:39:26.781186"
    assert stamp(59.9999999) == "1970/01/01 00:01:00.000000"  # rounding carries into seconds
    line = f"[Container] {stamp(1795516766.5)} Running command ls"
    grammar = r"^\[Container\] (?P<ts>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (?P<msg>.*)$"
    match = re.match(grammar, line)
    assert match and match.group("msg") == "Running command ls"


def test_one_line_folds_a_multi_line_command() -> None:
    command = 'if [ "$A" = 1 ]; then\n  echo one\nfi\n'
    assert one_line(command) == 'if [ "$A" = 1 ]; then echo one fi'
    assert one_line("ls") == "ls"


def test_state_round_trip_to_the_shared_build_model() -> None:
    state = {
        "id": "proj:0f8b3f5e-1111-2222-3333-444455556666",
        "project": "proj",
        "number": 7,
        "status": FAILED,
        "current_phase": "COMPLETED",
        "phases": [
            {"name": "SUBMITTED", "status": "SUCCEEDED", "start": 1.0, "end": 1.0, "duration": 0},
            {
                "name": "BUILD",
                "status": FAILED,
                "start": 2.0,
                "end": 5.0,
                "duration": 3,
                "contexts": [["COMMAND_EXECUTION_ERROR", "Error while executing command: x."]],
            },
        ],
        "start": 1.0,
        "end": 5.0,
        "initiator": "local/root",
        "image": "r/app@sha256:ab",
        "environment": [["RUN_MIGRATIONS", "true"], ["IMAGE_URI", "r/app@sha256:ab"]],
        "exported": [["OUT", "done"]],
        "complete": True,
        "log_group": "/x/builds",
        "log_stream": "0f8b3f5e-1111-2222-3333-444455556666",
        "log_path": "/x/builds/0f8b3f5e-1111-2222-3333-444455556666/build.log",
    }
    build = build_from_state(state)
    assert isinstance(build, Build)
    assert build.final and build.complete and build.number == 7
    assert build.action == "migrate"
    assert build.uuid == state["log_stream"]
    assert build.logs.known and build.logs.deep_link.endswith("build.log")
    failed = build.failed_phase()
    assert failed is not None and failed.name == "BUILD" and failed.duration == 3
    assert failed.contexts[0].status_code == "COMMAND_EXECUTION_ERROR"
    assert build.exported_variables == (("OUT", "done"),)
    assert build.as_dict()["exit_code"] == 11
    running = phase_from_dict({"name": "BUILD", "status": None, "start": 10.0})
    assert running.status is None and running.elapsed(12.5) == 2.5


def test_mounts_under_lists_deepest_first_and_only_below_the_directory() -> None:
    from pathlib import Path

    from tasks.local.environment import mounts_under

    text = (
        "nsfs /x/.release-local/dockerd/exec/netns/default nsfs rw 0 0\n"
        "tmpfs /x/.release-local/dockerd tmpfs rw 0 0\n"
        "tmpfs /x/.release-local-other tmpfs rw 0 0\n"
        "tmpfs /x/with\\040space/a tmpfs rw 0 0\n"
    )
    assert mounts_under(text, Path("/x/.release-local/")) == [
        "/x/.release-local/dockerd/exec/netns/default",
        "/x/.release-local/dockerd",
    ]
    assert mounts_under(text, Path("/x/with space")) == ["/x/with space/a"]


def test_first_local_up_says_it_is_downloading_bun(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A fresh machine downloads ~40 MB: local.up says so first; a cached bun stays quiet."""
    import subprocess

    from tasks.local import environment as localenv

    def fake_run(argv, **kwargs):  # type: ignore[no-untyped-def]
        out = str(tmp_path / "bun" / "1.4.5" / "bun") if "fetch_bun" in argv[0] else "base:1"
        return subprocess.CompletedProcess(argv, 0, out + "\n", "")

    monkeypatch.setattr(localenv.subprocess, "run", fake_run)
    said: list[str] = []
    localenv.ensure_base_image(tmp_path, {}, said.append)
    assert said[0].startswith("fetching bun from the npm registry")
    (tmp_path / "bun" / "1.4.5").mkdir(parents=True)
    (tmp_path / "bun" / "1.4.5" / "bun").write_text("")
    said.clear()
    localenv.ensure_base_image(tmp_path, {}, said.append)
    assert not any("fetching" in line for line in said) and "ready" in said[-1]
