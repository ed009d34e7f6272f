"""``invoke db.* / build.* / release`` end to end: real processes, exit codes, one JSON object.

The scripted builds run on the real clock here (the tasks are separate processes), so they
are a few seconds long. moto runs in this process, so the scripted CodeBuild applies.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.codebuild.model import PHASE_ORDER
from tasks.core.errors import ExitCode
from tests.helpers.scripted_codebuild import Script, ScriptedCodeBuild, codebuild_lines

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "daadaar-migrations"
STAGING = "daadaar-migrations-staging"
PINNED = "123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend@sha256:" + "ab" * 32
SHORT = tuple((name, 0.3) for name in PHASE_ORDER[:-1])  # every phase but COMPLETED


@pytest.fixture
def live(aws_env: str) -> Iterator[ScriptedCodeBuild]:
    scripted = ScriptedCodeBuild(time.time).install()
    scripted.projects |= {PROJECT, STAGING}
    yield scripted
    scripted.uninstall()


def script(n: int = 200, final: str = "SUCCEEDED", build_seconds: float = 1.0) -> Script:
    phases = tuple((p, build_seconds if p == "BUILD" else d) for p, d in SHORT)
    s = Script(phases=phases, final=final, exported={"APPLIED": "2"})
    s.lines = codebuild_lines(s, [f"line {i:05d}" for i in range(n)], late=["line late"])
    return s


def invoke(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        ["invoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def one_json(stdout: str) -> dict[str, Any]:
    """stdout must be exactly one JSON object and nothing else."""
    lines = [x for x in stdout.splitlines() if x.strip()]
    assert len(lines) == 1, stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def body(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.startswith("line ")]


def test_production_guard_without_terminal_or_yes(live: ScriptedCodeBuild) -> None:
    done = invoke("db.migrate", "--env", "prod", "--json", "--image", PINNED)
    assert done.returncode == ExitCode.CONFIRM
    data = one_json(done.stdout)
    assert data["ok"] is False and data["error"]["kind"] == "ConfirmationRequired"
    assert "--yes" in done.stderr
    assert live.requests == []  # nothing was started


def test_migrate_with_yes_json_and_every_line_once(live: ScriptedCodeBuild) -> None:
    live.scripts = [script(500)]
    done = invoke("db.migrate", "--env", "prod", "--yes", "--json", "--image", PINNED)
    assert done.returncode == 0, done.stderr[-2000:]
    data = one_json(done.stdout)
    assert data["ok"] is True and data["status"] == "SUCCEEDED"
    assert data["id"] == live.only().id
    assert {p["name"] for p in data["phases"]} >= {"PROVISIONING", "BUILD", "FINALIZING"}
    assert all(isinstance(p["duration"], int | float) for p in data["phases"])
    assert data["logs"]["group"] == f"/aws/codebuild/{PROJECT}"
    assert data["exported_variables"] == {"APPLIED": "2"}
    assert body(done.stderr) == [f"line {i:05d}" for i in range(500)] + ["line late"]
    assert "Traceback" not in done.stderr


def test_failed_build_exit_code_and_json(live: ScriptedCodeBuild) -> None:
    live.scripts = [script(20, final="FAILED")]
    done = invoke("db.migrate", "--env", "staging", "--json", "--image", PINNED)
    assert done.returncode == ExitCode.BUILD_FAILED
    data = one_json(done.stdout)
    assert data["ok"] is False and data["status"] == "FAILED"
    assert data["error"]["code"] == ExitCode.BUILD_FAILED
    assert "COMMAND_EXECUTION_ERROR" in data["error"]["message"]
    assert len([x for x in done.stderr.splitlines() if x.startswith("error:")]) == 1


def test_detach_then_build_wait(live: ScriptedCodeBuild) -> None:
    live.scripts = [script(100, build_seconds=2.0)]
    started = invoke("db.migrate", "--env", "staging", "--detach", "--json", "--image", PINNED)
    assert started.returncode == 0, started.stderr[-2000:]
    data = one_json(started.stdout)
    assert data["detached"] is True and data["status"] == "IN_PROGRESS"
    assert data["resume"] == f"invoke build.wait {data['id']} --env staging"
    assert body(started.stderr) == []
    waited = invoke("build.wait", data["id"], "--env", "staging", "--json")
    assert waited.returncode == 0, waited.stderr[-2000:]
    assert one_json(waited.stdout)["status"] == "SUCCEEDED"
    assert body(waited.stderr) == [f"line {i:05d}" for i in range(100)] + ["line late"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_the_build(live: ScriptedCodeBuild, sig: signal.Signals) -> None:
    live.scripts = [script(50, build_seconds=60.0)]
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        ["invoke", "db.migrate", "--env", "staging", "--json", "--image", PINNED],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not live.builds and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3.0)  # inside BUILD now
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.BUILD_STOPPED, err[-2000:]
    assert live.stops == [live.only().id]
    assert one_json(out)["status"] == "STOPPED"


def test_build_list_logs_stop_through_invoke(live: ScriptedCodeBuild) -> None:
    live.scripts = [script(30), script(30, build_seconds=60.0)]
    first = one_json(invoke("db.migrate", "--env", "staging", "--json", "--image", PINNED).stdout)
    second = one_json(
        invoke("db.seed", "--env", "staging", "--json", "--detach", "--image", PINNED).stdout
    )
    listed = invoke("build.list", "--env", "staging", "--limit", "5", "--json")
    assert listed.returncode == 0
    rows = one_json(listed.stdout)["builds"]
    assert [(r["id"], r["action"]) for r in rows] == [
        (second["id"], "seed"),
        (first["id"], "migrate"),
    ]
    logs = invoke("build.logs", first["id"], "--env", "staging")
    assert logs.returncode == 0
    assert body(logs.stdout) == [f"line {i:05d}" for i in range(30)] + ["line late"]
    stopped = invoke("build.stop", second["id"], "--env", "staging", "--json")
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    assert one_json(stopped.stdout)["status"] == "STOPPED"
    missing = invoke("build.wait", f"{STAGING}:no-such-build", "--env", "staging")
    assert missing.returncode == ExitCode.USAGE and "does not exist" in missing.stderr


def test_concurrency_guard_through_invoke(live: ScriptedCodeBuild) -> None:
    live.scripts = [script(10, build_seconds=60.0)]
    first = one_json(
        invoke("db.migrate", "--env", "staging", "--json", "--detach", "--image", PINNED).stdout
    )
    refused = invoke("db.migrate", "--env", "staging", "--json", "--image", PINNED)
    assert refused.returncode == ExitCode.BUILD_CONFLICT
    data = one_json(refused.stdout)
    assert first["id"] in data["error"]["message"]
    assert f"invoke build.wait {first['id']}" in data["error"]["remedy"]
    assert len(live.builds) == 1
    # every command the remedy suggests can be pasted as is (the --env, a --force that exists)
    suggested = re.findall(r"`invoke ([^`]+)`", data["error"]["remedy"])
    assert suggested == [
        f"build.wait {first['id']} --env staging",
        f"build.stop {first['id']} --env staging",
        "db.migrate --force --env staging",
    ]
    stopped = invoke(*suggested[1].split())
    assert stopped.returncode == 0, stopped.stderr
    assert live.stops == [first["id"]]


def test_release_skip_build_through_invoke(live: ScriptedCodeBuild) -> None:
    import hashlib

    import boto3

    live.scripts = [script(40)]
    ecr = boto3.client("ecr", region_name="us-east-1")
    ecr.create_repository(repositoryName="daadaar-backend")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "layers": [],
            "config": {
                "digest": "sha256:" + "c" * 64,
                "size": 1,
                "mediaType": "application/vnd.docker.container.image.v1+json",
            },
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        }
    )
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    ecr.put_image(
        repositoryName="daadaar-backend",
        imageManifest=manifest,
        imageTag="latest",
        imageDigest=digest,
    )
    done = invoke("release", "--env", "prod", "--skip-build", "--yes", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    data = one_json(done.stdout)
    assert [s["name"] for s in data["steps"]] == ["guard", "image.resolve", "db.migrate"]
    assert all(s["status"] == "ok" and s["duration"] >= 0 for s in data["steps"])
    assert data["pinned"].endswith(digest)
    assert data["results"]["db.migrate"]["status"] == "SUCCEEDED"
    sent = {v["name"]: v["value"] for v in live.requests[0]["environmentVariablesOverride"]}
    assert sent["IMAGE_URI"] == data["pinned"]


def test_release_dry_run_changes_nothing(live: ScriptedCodeBuild) -> None:
    done = invoke("release", "--env", "prod", "--seed", "--dry-run")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "docker buildx build --platform linux/amd64" in done.stdout
    assert "CodeBuild StartBuild" in done.stdout
    assert live.requests == [] and live.builds == {}


def test_release_stops_at_the_failing_step(live: ScriptedCodeBuild) -> None:
    done = invoke("release", "--env", "prod", "--skip-build", "--yes", "--json")
    assert done.returncode == ExitCode.REGISTRY  # no image in ECR: image.resolve fails
    data = one_json(done.stdout)
    assert data["error"]["message"].startswith("release stopped at image.resolve:")
    assert [s["status"] for s in data["steps"]] == ["ok", "failed", "skipped"]
    assert live.requests == []


@pytest.mark.parametrize(("answer", "code"), [("n", ExitCode.CONFIRM), ("y", ExitCode.OK)])
def test_production_guard_asks_on_a_terminal(
    live: ScriptedCodeBuild, answer: str, code: ExitCode
) -> None:
    import pty

    live.scripts = [script(10)]
    controller, terminal = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        ["invoke", "db.migrate", "--env", "prod", "--json", "--image", PINNED],
        cwd=ROOT,
        env=env,
        stdin=terminal,
        stderr=terminal,
        stdout=subprocess.PIPE,
        text=True,
    )
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"[y/N]" not in seen and time.monotonic() < deadline:
            seen += os.read(controller, 4096)
        os.write(controller, f"{answer}\n".encode())

        def drain() -> None:  # keep the terminal read so the task never blocks writing to it
            with contextlib.suppress(OSError):
                while os.read(controller, 65536):
                    pass

        threading.Thread(target=drain, daemon=True).start()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    assert b"in environment 'prod'? [y/N]" in seen
    assert proc.returncode == code
    assert one_json(out)["ok"] is (code == ExitCode.OK)
    assert len(live.builds) == (1 if answer == "y" else 0)


def _exec_format_failure() -> Script:
    s = script(5, final="FAILED")
    s.lines = codebuild_lines(
        s,
        [
            "docker run --rm -e DATABASE_URL img bun src/db/migrate.ts",
            "exec /usr/local/bin/bun: exec format error",
        ],
    )
    return s


def test_failure_is_diagnosed_automatically_unless_no_diagnose(live: ScriptedCodeBuild) -> None:
    live.scripts = [_exec_format_failure()]
    done = invoke("db.migrate", "--env", "staging", "--image", PINNED)
    assert done.returncode == ExitCode.BUILD_FAILED
    assert "exec format error" in done.stdout + done.stderr
    diagnosed = done.stdout + done.stderr
    assert "linux/amd64" in diagnosed.split("exec format error", 1)[1]

    live.scripts = [_exec_format_failure()]
    quiet = invoke("db.migrate", "--env", "staging", "--image", PINNED, "--no-diagnose")
    assert quiet.returncode == ExitCode.BUILD_FAILED
    after_log = (quiet.stdout + quiet.stderr).split("exec format error", 1)[1]
    assert "linux/amd64" not in after_log
    errors = [x for x in quiet.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "COMMAND_EXECUTION_ERROR" in errors[0]


def test_build_logs_before_the_stream_exists_says_so(live: ScriptedCodeBuild) -> None:
    slow = tuple((name, 30.0 if name == "PROVISIONING" else d) for name, d in SHORT)
    live.scripts = [Script(phases=slow)]
    started = one_json(
        invoke("db.migrate", "--env", "staging", "--json", "--detach", "--image", PINNED).stdout
    )
    shown = invoke("build.logs", started["id"], "--env", "staging")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == ""  # nothing that a `| grep` would take for a log line
    assert f"no log lines yet for {started['id']} (IN_PROGRESS" in shown.stderr
    assert f"`invoke build.logs {started['id']} --follow --env staging`" in shown.stderr


def test_missing_project_points_at_setup_apply(
    live: ScriptedCodeBuild, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASE_PROJECT", "no-such-project")
    listed = invoke("build.list", "--env", "staging")
    assert listed.returncode == ExitCode.USAGE
    assert listed.stderr.strip().splitlines() == [
        "error: CodeBuild project 'no-such-project' does not exist in us-east-1. Fix: create it "
        "with `invoke setup --apply --env staging`, or fix `project` in invoke.yaml"
    ]


def test_migrate_without_an_image_in_ecr_says_what_works(live: ScriptedCodeBuild) -> None:
    import boto3

    boto3.client("ecr", region_name="us-east-1").create_repository(repositoryName="daadaar-backend")
    done = invoke("db.migrate", "--env", "staging")  # no --image: the tag's digest from ECR
    assert done.returncode == ExitCode.REGISTRY
    assert "--skip-build" not in done.stderr  # db.migrate has no such flag
    assert done.stderr.strip().splitlines()[-1] == (
        "error: 123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend:staging is not in "
        "ECR, so there is no image to run. Fix: build and push it first (`invoke release --env "
        "staging`, or `invoke image.push --env staging`), or pass a pinned --image "
        "registry/repo@sha256:… to db.migrate/db.seed"
    )
    assert live.requests == []  # nothing was started


def _interrupt(live: ScriptedCodeBuild, argv: list[str]) -> Any:
    """Start ``invoke argv``, press Ctrl-C (SIGINT) once it follows the build's log (inside
    BUILD), return (code, out, err)."""
    seen = len(live.log_requests)
    proc = subprocess.Popen(
        ["invoke", *argv],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(live.log_requests) <= seen and time.monotonic() < deadline:
            time.sleep(0.1)  # until this process reads the log: it is waiting now
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


def test_fault_ctrl_c_with_stop_build_denied_names_the_running_build(
    live: ScriptedCodeBuild,
) -> None:
    live.scripts = [script(50, build_seconds=60.0)]
    live.deny_stop = True  # the CI role may start builds but not stop them
    code, out, err = _interrupt(
        live, ["db.migrate", "--env", "staging", "--json", "--image", PINNED]
    )
    build = live.only()
    assert live.stops == [build.id]
    assert code == ExitCode.AWS_AUTH, err[-2000:]
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    line = errors[0]
    assert build.id in line and "still running" in line
    assert "console.aws.amazon.com/codesuite/codebuild/" in line
    assert f"invoke build.stop {build.id} --env staging" in line
    assert one_json(out)["error"]["code"] == ExitCode.AWS_AUTH


def test_ctrl_c_on_build_wait_detaches_and_leaves_the_build_running(
    live: ScriptedCodeBuild,
) -> None:
    live.scripts = [script(50, build_seconds=60.0)]
    started = one_json(
        invoke("db.migrate", "--env", "staging", "--detach", "--json", "--image", PINNED).stdout
    )
    code, _, err = _interrupt(live, ["build.wait", started["id"], "--env", "staging"])
    assert code == ExitCode.INTERRUPTED, err[-2000:]
    assert live.stops == []
    assert "still running" in err and f"invoke build.stop {started['id']} --env staging" in err
    assert live._status(live.only())[0] == "IN_PROGRESS"
