"""The CodeBuild stage against moto over HTTP, with scripted builds and a virtual clock.

moto's CodeBuild is unrealistic, so ``ScriptedCodeBuild`` serves the builds (phases, statuses,
contexts, log lines written into moto's CloudWatch Logs as the virtual clock passes them).
What the suite *sends* is captured with botocore event hooks on its own clients.
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.codebuild.model import BuildUnsuccessful, WaitTimedOut, idempotency_token
from tasks.codebuild.services import Services
from tasks.core.config import load_settings, load_yaml_file
from tasks.core.console import Console
from tasks.core.errors import BuildConflict, ExitCode, RegistryError
from tasks.core.runtime import Runtime
from tasks.release import builds, collaborators, db_actions, flow
from tasks.release.state import ReleaseState
from tests.helpers.scripted_codebuild import (
    FlakyProxy,
    Script,
    ScriptedCodeBuild,
    VirtualClock,
    codebuild_lines,
    virtual_runtime,
)

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "daadaar-migrations"
DIGEST = "sha256:" + "ab" * 32
PINNED = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend@{DIGEST}"


@pytest.fixture
def fake(scripted_codebuild: Callable[..., ScriptedCodeBuild]) -> ScriptedCodeBuild:
    return scripted_codebuild(PROJECT, f"{PROJECT}-staging")


class Harness:
    def __init__(self, clock: VirtualClock, *, json_mode: bool = False, **flags: Any) -> None:
        raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
        self.settings = load_settings(raw, env="prod", flags=flags, environ=dict(os.environ))
        self.out, self.err = io.StringIO(), io.StringIO()
        console = Console(out=self.out, err=self.err, json_mode=json_mode, color=False)
        environ = {**os.environ, "RELEASE_INVOCATION_ID": "test-run-1"}
        # the retry configuration users get
        self.rt: Runtime = virtual_runtime(self.settings, console, clock, environ)
        self.rt.part(ReleaseState).pinned = PINNED
        self.calls: list[str] = []
        for service in ("codebuild", "logs"):
            self.client(service).meta.events.register(f"before-call.{service}.*", self._count)

    def client(self, service: str) -> Any:
        """The very client the suite's CodeBuild calls go through."""
        return collaborators.suite_clients(self.rt)(service)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def body(self) -> list[str]:
        return [x for x in self.out.getvalue().splitlines() if x.startswith("line ")]


def _script(n_lines: int, *, final: str = "SUCCEEDED", late: int = 3, **kw: Any) -> Script:
    script = Script(final=final, **kw)
    body = [f"line {i:06d}" for i in range(n_lines)]
    script.lines = codebuild_lines(script, body, late=[f"line late-{i}" for i in range(late)])
    return script


def expected(n_lines: int, late: int = 3) -> list[str]:
    return [f"line {i:06d}" for i in range(n_lines)] + [f"line late-{i}" for i in range(late)]


def test_success_prints_every_line_once_in_order_at_volume(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(25_000, exported={"MIGRATIONS_APPLIED": "4"})]
    h = Harness(clock)
    result = db_actions.run_action(h.rt, "migrate", yes=True)
    assert h.body() == expected(25_000)  # incl. lines that arrived after the final status
    assert result["status"] == "SUCCEEDED" and result["exit_code"] == 0
    assert [p["name"] for p in result["phases"]][:3] == ["SUBMITTED", "QUEUED", "PROVISIONING"]
    assert all(p["duration"] is not None for p in result["phases"])
    assert result["logs"]["group"] == f"/aws/codebuild/{PROJECT}"
    assert result["logs"]["stream"] == fake.only().uuid
    assert result["exported_variables"] == {"MIGRATIONS_APPLIED": "4"}
    assert h.calls.count("StartBuild") == 1
    text = h.out.getvalue()
    assert "PROVISIONING" in text and "console" in text  # progress and the links
    # the id and both links were printed before the first log line
    assert text.index(f"started build {result['id']}") < text.index("line 000000")


def test_cloudwatch_empty_pages_mid_stream_lose_nothing(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(12_000)]
    fake.empty_page_rate = 0.3  # empty answers with a new token while more events follow
    h = Harness(clock)
    db_actions.run_action(h.rt, "migrate", yes=True)
    assert h.body() == expected(12_000)


@pytest.mark.parametrize(
    ("final", "code", "reason"),
    [
        ("FAILED", ExitCode.BUILD_FAILED, "COMMAND_EXECUTION_ERROR"),
        ("FAULT", ExitCode.BUILD_FAULT, "CLIENT_ERROR"),
        ("TIMED_OUT", ExitCode.BUILD_TIMED_OUT, "BUILD_TIMED_OUT"),
        ("STOPPED", ExitCode.BUILD_STOPPED, ""),
    ],
)
def test_each_final_status_maps_to_its_exit_code(
    fake: ScriptedCodeBuild, clock: VirtualClock, final: str, code: ExitCode, reason: str
) -> None:
    script = _script(50, final=final, late=1)
    if reason:
        script.context = (reason, f"{final.lower()} reason from CodeBuild")
    fake.scripts = [script]
    h = Harness(clock)
    with pytest.raises(BuildUnsuccessful) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    err = info.value
    assert err.code == code
    assert err.details["status"] == final and err.details["id"] == fake.only().id
    if reason:
        assert f"in phase BUILD: {reason}: {final.lower()} reason" in err.message
    assert h.body() == expected(50, late=1)


def test_start_request_carries_overrides_pinned_image_and_token(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(5)]
    h = Harness(clock)
    sent: list[dict[str, Any]] = []
    h.client("codebuild").meta.events.register(  # the request as it goes on the wire
        "before-call.codebuild.StartBuild",
        lambda params, **_: sent.append(json.loads(params["body"])),
    )
    db_actions.run_action(h.rt, "seed", script="organizations", yes=True)
    assert len(sent) == 1
    params = sent[0]
    assert params["projectName"] == PROJECT
    assert params["environmentVariablesOverride"] == [
        {"name": "RUN_MIGRATIONS", "value": "false", "type": "PLAINTEXT"},
        {"name": "RUN_SEED", "value": "true", "type": "PLAINTEXT"},
        {"name": "IMAGE_URI", "value": PINNED, "type": "PLAINTEXT"},
        {"name": "SEED_SCRIPT", "value": "organizations", "type": "PLAINTEXT"},
    ]
    # CodeBuild must never re-run a half-applied migration on its own (autoRetryLimit)
    assert params["autoRetryLimitOverride"] == 0
    sent = {k: v for k, v in params.items() if k != "idempotencyToken"}
    assert params["idempotencyToken"] == idempotency_token(
        PROJECT, "seed", DIGEST, "test-run-1", params=sent
    )


def test_seed_script_outside_the_allow_list_is_refused(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    h = Harness(clock)
    with pytest.raises(Exception) as info:
        db_actions.run_action(h.rt, "seed", script="drop_everything; rm -rf /", yes=True)
    assert getattr(info.value, "code", None) == ExitCode.USAGE
    assert fake.requests == []


def _throttle_hook(pattern: set[int]) -> Any:
    from botocore.awsrequest import AWSResponse

    seen = {"n": 0}

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b'{"__type":"ThrottlingException","message":"Rate exceeded"}'

    def hook(request: Any, **_: Any) -> Any:
        seen["n"] += 1
        if seen["n"] in pattern:
            return AWSResponse(request.url, 400, {"x-amzn-errortype": "ThrottlingException"}, Raw())
        return None

    return hook


def test_throttling_bursts_are_absorbed(fake: ScriptedCodeBuild, clock: VirtualClock) -> None:
    random.seed(7)
    fake.scripts = [_script(3_000)]
    h = Harness(clock)
    bursts = set(range(2, 6)) | set(range(9, 12))
    h.client("codebuild").meta.events.register(
        "before-send.codebuild.BatchGetBuilds", _throttle_hook(bursts)
    )
    h.client("logs").meta.events.register("before-send.logs.GetLogEvents", _throttle_hook(bursts))
    h.client("codebuild").meta.events.register(
        "before-send.codebuild.StartBuild", _throttle_hook({1, 2})
    )
    result = db_actions.run_action(h.rt, "migrate", yes=True)
    assert result["status"] == "SUCCEEDED"
    assert h.body() == expected(3_000)
    assert len(fake.builds) == 1
    assert "ThrottlingException" in h.err.getvalue()  # the user was told about the retries
    caller = collaborators.caller_for(h.rt)
    assert caller.calls > len(h.calls) - 1  # every throttled attempt was retried by the suite
    assert caller.pressure < 0.5  # and the pace recovered after the bursts


def test_expired_credentials_are_refreshed_mid_wait(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    from botocore.awsrequest import AWSResponse

    fake.scripts = [_script(200)]
    h = Harness(clock)
    refreshed: list[int] = []
    real_refresh = h.rt.aws.refresh

    def refresh() -> None:
        refreshed.append(1)
        real_refresh()

    h.rt.aws.refresh = refresh  # type: ignore[method-assign]

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b'{"__type":"ExpiredTokenException","message":"The security token expired"}'

    seen = {"n": 0}

    def expire(request: Any, **_: Any) -> Any:  # the STS session ends after a few polls
        seen["n"] += 1
        return AWSResponse(request.url, 400, {}, Raw()) if seen["n"] == 4 else None

    h.client("codebuild").meta.events.register("before-send.codebuild.BatchGetBuilds", expire)
    result = db_actions.run_action(h.rt, "migrate", yes=True)
    assert result["status"] == "SUCCEEDED" and refreshed == [1]
    assert h.body() == expected(200)


def test_server_vanishing_mid_wait_and_a_lost_start_response(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    random.seed(11)
    fake.scripts = [_script(2_000)]
    start = clock.t
    proxy = FlakyProxy(aws_env, down=lambda: 40 <= clock.t - start < 44)
    proxy.drop_start_responses = 1  # moto starts the build, the answer never arrives
    try:
        h = Harness(clock, endpoint_url=proxy.url)
        result = db_actions.run_action(h.rt, "migrate", yes=True)
    finally:
        proxy.close()
    assert result["status"] == "SUCCEEDED"
    assert h.body() == expected(2_000)
    assert proxy.cut >= 2  # the lost answer and at least one call during the outage
    tokens = [r["idempotencyToken"] for r in fake.requests]
    assert len(tokens) == 2 and tokens[0] == tokens[1]  # StartBuild retried with one token
    assert len(fake.builds) == 1  # ... so only one build exists


def test_a_long_outage_does_not_abandon_the_build(
    fake: ScriptedCodeBuild, clock: VirtualClock, aws_env: str
) -> None:
    random.seed(3)
    fake.scripts = [_script(500)]
    start = clock.t
    proxy = FlakyProxy(aws_env, down=lambda: 50 <= clock.t - start < 400)
    try:
        h = Harness(clock, endpoint_url=proxy.url)
        result = db_actions.run_action(h.rt, "migrate", yes=True)
    finally:
        proxy.close()
    assert result["status"] == "SUCCEEDED"
    assert h.body() == expected(500)
    assert "still waiting" in h.err.getvalue()


def test_concurrency_guard_refuses_and_force_overrides(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(5)]
    first = Harness(clock)
    first.rt.part(ReleaseState).invocation_id = "other-run"
    running = db_actions.run_action(first.rt, "migrate", yes=True, detach=True)
    h = Harness(clock)
    with pytest.raises(BuildConflict) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    assert info.value.code == ExitCode.BUILD_CONFLICT
    assert running["id"] in info.value.message
    assert f"invoke build.wait {running['id']}" in info.value.remedy
    assert len(fake.builds) == 1
    # the race: both passed the look-up; CodeBuild's concurrentBuildLimit refuses the second
    fake.refuse_concurrent = True
    with pytest.raises(BuildConflict) as raced:
        db_actions.run_action(h.rt, "migrate", yes=True, force=True)
    assert raced.value.message == info.value.message
    assert raced.value.remedy == info.value.remedy
    fake.refuse_concurrent = False
    forced = db_actions.run_action(h.rt, "migrate", yes=True, force=True)
    assert forced["status"] == "SUCCEEDED" and len(fake.builds) == 2


def test_ctrl_c_stops_the_build_and_exits_with_the_stopped_code(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(1_000)]
    start = clock.t
    fired: list[float] = []

    def ctrl_c(now: float) -> None:
        if not fired and now - start > 60:  # in the middle of BUILD
            fired.append(now)
            raise KeyboardInterrupt

    clock.hooks.append(ctrl_c)
    h = Harness(clock)
    with pytest.raises(BuildUnsuccessful) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    build = fake.only()
    assert fake.stops == [build.id]
    assert info.value.code == ExitCode.BUILD_STOPPED
    assert info.value.details["status"] == "STOPPED"
    body = h.body()
    assert body == expected(1_000)[: len(body)] and 0 < len(body) < 1_000  # drained, no dupes
    assert "stopping build" in h.err.getvalue()


def test_timeout_leaves_the_build_running(fake: ScriptedCodeBuild, clock: VirtualClock) -> None:
    fake.scripts = [_script(10)]
    h = Harness(clock)
    with pytest.raises(WaitTimedOut) as info:
        db_actions.run_action(h.rt, "migrate", yes=True, timeout=0.5)
    assert info.value.code == ExitCode.WAIT_TIMEOUT
    assert fake.stops == []
    assert f"invoke build.wait {fake.only().id}" in info.value.remedy


def test_secrets_in_log_lines_are_redacted(fake: ScriptedCodeBuild, clock: VirtualClock) -> None:
    script = Script()
    script.lines = codebuild_lines(
        script,
        [
            "line connecting to postgres://app:hunter2secret@db.internal:5432/app",
            "line PGPASSWORD=hunter2secret bun run migrate",
        ],
    )
    fake.scripts = [script]
    h = Harness(clock, json_mode=True)
    db_actions.run_action(h.rt, "migrate", yes=True)
    everything = h.out.getvalue() + h.err.getvalue()
    assert "hunter2secret" not in everything
    assert "postgres://app:***@db.internal:5432/app" in everything


def test_detach_then_wait(fake: ScriptedCodeBuild, clock: VirtualClock) -> None:
    fake.scripts = [_script(300)]
    h = Harness(clock)
    started = db_actions.run_action(h.rt, "migrate", yes=True, detach=True)
    assert started["detached"] and started["status"] == "IN_PROGRESS"
    assert started["resume"] == f"invoke build.wait {started['id']} --env prod"
    assert h.body() == []
    later = Harness(clock)
    result = builds.wait_build(later.rt, started["id"])
    assert result["status"] == "SUCCEEDED"
    assert later.body() == expected(300)


def test_build_list_logs_and_stop(fake: ScriptedCodeBuild, clock: VirtualClock) -> None:
    fake.scripts = [_script(20), _script(20)]
    h = Harness(clock)
    first = db_actions.run_action(h.rt, "migrate", yes=True)
    h.rt.part(ReleaseState).invocation_id = "second"
    second = db_actions.run_action(h.rt, "seed", yes=True, detach=True)
    listed = builds.list_recent(Harness(clock).rt, limit=5)["builds"]
    assert [b["id"] for b in listed] == [second["id"], first["id"]]
    assert [b["action"] for b in listed] == ["seed", "migrate"]
    assert listed[1]["status"] == "SUCCEEDED" and listed[1]["duration"] > 0
    logs = Harness(clock)
    shown = builds.show_logs(logs.rt, first["id"])
    assert logs.body() == expected(20) and shown["log_lines"] == len(fake.scripts[0].lines)
    stopper = Harness(clock)
    stopped = builds.stop_build(stopper.rt, second["id"])
    assert stopped["status"] == "STOPPED" and fake.stops == [second["id"]]


def _ecr_image(tag: str) -> str:
    import hashlib
    import json

    import boto3

    ecr = boto3.client("ecr", region_name="us-east-1")
    ecr.create_repository(repositoryName="daadaar-backend")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "digest": "sha256:" + "c" * 64,
                "size": 1,
                "mediaType": "application/vnd.docker.container.image.v1+json",
            },
            "layers": [],
        }
    )
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    ecr.put_image(
        repositoryName="daadaar-backend", imageManifest=manifest, imageTag=tag, imageDigest=digest
    )
    return digest


def test_image_uri_is_resolved_from_ecr_for_the_configured_tag(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    digest = _ecr_image("latest")
    fake.scripts = [_script(5)]
    h = Harness(clock)
    h.rt.part(ReleaseState).pinned = None
    result = db_actions.run_action(h.rt, "migrate", yes=True)
    image = {v["name"]: v["value"] for v in fake.requests[0]["environmentVariablesOverride"]}
    assert image["IMAGE_URI"] == f"{h.settings.image_name}@{digest}" == result["image"]


def test_missing_tag_in_ecr_is_one_clear_error(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    _ecr_image("some-other-tag")
    h = Harness(clock)
    h.rt.part(ReleaseState).pinned = None
    with pytest.raises(RegistryError) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    assert "invoke image.push" in info.value.remedy
    assert fake.requests == []


def test_release_runs_the_pushed_digest(
    fake: ScriptedCodeBuild, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.image.engine

    pushed = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/daadaar-backend@sha256:{'cd' * 32}"
    order: list[str] = []

    def check(rt: Any) -> dict[str, Any]:
        order.append("check")
        return {"platform": "linux/amd64"}

    def push(rt: Any) -> dict[str, Any]:
        order.append("push")
        clock.sleep(12.0)  # building takes a while
        return {"pinned": pushed, "digest": "sha256:" + "cd" * 32}

    monkeypatch.setattr(tasks.image.engine, "check_platform", check)
    monkeypatch.setattr(tasks.image.engine, "push_image", push)
    fake.scripts = [_script(30), _script(10)]
    h = Harness(clock)
    h.rt.part(ReleaseState).pinned = None
    h.rt.part(Services).ask = lambda question: None  # no terminal: --yes is what lets it through
    result = flow.release(h.rt, seed=True, yes=True)
    assert order == ["check", "push"]
    assert [s["name"] for s in result["steps"]] == [
        "guard",
        "image.check",
        "image.push",
        "db.migrate",
        "db.seed",
    ]
    assert result["steps"][2]["duration"] == pytest.approx(12.0)
    images = [
        {v["name"]: v["value"] for v in r["environmentVariablesOverride"]}["IMAGE_URI"]
        for r in fake.requests
    ]
    assert images == [pushed, pushed] and result["pinned"] == pushed
    assert result["results"]["db.seed"]["seed_script"] == "organizations"
    with pytest.raises(Exception) as info:  # the production guard, before anything runs
        flow.release(Harness(clock).rt, yes=False)
    assert getattr(info.value, "code", None) == ExitCode.CONFIRM


# -- AWS's rules, as the scripted CodeBuild now plays them -----------------------------------


def _boto(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name="us-east-1")


def test_the_fake_refuses_one_token_with_other_parameters_like_aws(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    from botocore.exceptions import ClientError

    cb = _boto("codebuild")
    env = [{"name": "SEED_SCRIPT", "value": "a", "type": "PLAINTEXT"}]
    first = cb.start_build(
        projectName=PROJECT, idempotencyToken="t1", environmentVariablesOverride=env
    )
    again = cb.start_build(
        projectName=PROJECT, idempotencyToken="t1", environmentVariablesOverride=env
    )
    assert again["build"]["id"] == first["build"]["id"]  # same token, same parameters
    other = [{"name": "SEED_SCRIPT", "value": "b", "type": "PLAINTEXT"}]
    with pytest.raises(ClientError) as info:
        cb.start_build(
            projectName=PROJECT, idempotencyToken="t1", environmentVariablesOverride=other
        )
    assert info.value.response["Error"]["Code"] == "InvalidInputException"
    clock.sleep(301)  # "valid for 5 minutes"
    later = cb.start_build(
        projectName=PROJECT, idempotencyToken="t1", environmentVariablesOverride=other
    )
    assert later["build"]["id"] != first["build"]["id"]


def test_two_seeds_with_different_scripts_under_one_invocation_id_are_two_builds(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    import dataclasses

    fake.scripts = [_script(5)]
    h = Harness(clock)  # RELEASE_INVOCATION_ID=test-run-1 for both runs
    seeds = {"organizations": ("bun", "seed-o.ts"), "demo": ("bun", "seed-d.ts")}
    h.rt.settings = dataclasses.replace(h.settings, seed_commands=seeds)
    first = db_actions.run_action(h.rt, "seed", script="organizations", yes=True)
    second = db_actions.run_action(h.rt, "seed", script="demo", yes=True)
    assert first["id"] != second["id"] and len(fake.builds) == 2
    scripts = [
        {v["name"]: v["value"] for v in r["environmentVariablesOverride"]}["SEED_SCRIPT"]
        for r in fake.requests
    ]
    assert scripts == ["organizations", "demo"]
    tokens = {r["idempotencyToken"] for r in fake.requests}
    assert len(tokens) == 2


def test_account_quota_is_not_a_concurrency_conflict(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    from tasks.core.errors import QuotaExceeded

    fake.account_queue_limit = 0  # a new account: "Cannot have more than 0 builds in queue"
    h = Harness(clock)
    with pytest.raises(QuotaExceeded) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    err = info.value
    assert err.code == ExitCode.AWS_QUOTA != ExitCode.BUILD_CONFLICT
    assert "Cannot have more than 0 builds in queue for the account" in err.message
    assert "Service Quotas" in err.remedy
    assert fake.builds == {}


def test_a_real_conflict_met_at_start_keeps_exit_8(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(5)]
    first = Harness(clock)
    first.rt.part(ReleaseState).invocation_id = "other-run"
    running = db_actions.run_action(first.rt, "migrate", yes=True, detach=True)
    fake.refuse_concurrent = True
    h = Harness(clock)
    with pytest.raises(BuildConflict) as info:
        db_actions.run_action(h.rt, "migrate", yes=True, force=True)
    assert info.value.code == ExitCode.BUILD_CONFLICT and running["id"] in info.value.message


def _ctrl_c_after(clock: VirtualClock, seconds: float) -> None:
    start = clock.t
    fired: list[float] = []

    def ctrl_c(now: float) -> None:
        if not fired and now - start > seconds:
            fired.append(now)
            raise KeyboardInterrupt

    clock.hooks.append(ctrl_c)


@pytest.mark.parametrize("how", ["build.wait", "build.logs --follow"])
def test_ctrl_c_on_a_follower_detaches_and_never_stops_the_build(
    fake: ScriptedCodeBuild, clock: VirtualClock, how: str
) -> None:
    from tasks.core.errors import SuiteError

    fake.scripts = [_script(300)]
    started = db_actions.run_action(Harness(clock).rt, "migrate", yes=True, detach=True)
    _ctrl_c_after(clock, 60)  # a teammate tailing the production migration presses Ctrl-C
    h = Harness(clock)
    with pytest.raises(SuiteError) as info:
        if how == "build.wait":
            builds.wait_build(h.rt, started["id"])
        else:
            builds.show_logs(h.rt, started["id"], follow=True)
    err = info.value
    assert fake.stops == []  # nobody stopped it
    assert err.code == ExitCode.INTERRUPTED
    assert started["id"] in err.message and "still running" in err.message
    assert f"invoke build.stop {started['id']} --env prod" in err.remedy
    clock.sleep(200)
    assert builds.wait_build(Harness(clock).rt, started["id"])["status"] == "SUCCEEDED"


def test_ctrl_c_with_stop_build_denied_names_the_build_that_keeps_running(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    from tasks.core.errors import SuiteError

    fake.scripts = [_script(300)]
    fake.deny_stop = True
    _ctrl_c_after(clock, 60)
    h = Harness(clock)
    with pytest.raises(SuiteError) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    build = fake.only()
    err = info.value
    assert fake.stops == [build.id]
    assert err.code == ExitCode.AWS_AUTH  # AccessDeniedException
    line = err.line()
    assert build.id in line and "still running" in line and "AccessDeniedException" in line
    assert f"console.aws.amazon.com/codesuite/codebuild/123456789012/projects/{PROJECT}" in line
    assert f"invoke build.stop {build.id} --env prod" in line


def test_build_stop_denied_names_the_build_that_keeps_running(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    from tasks.core.errors import SuiteError

    fake.scripts = [_script(300)]
    started = db_actions.run_action(Harness(clock).rt, "migrate", yes=True, detach=True)
    fake.deny_stop = True
    with pytest.raises(SuiteError) as info:
        builds.stop_build(Harness(clock).rt, started["id"])
    assert info.value.code == ExitCode.AWS_AUTH
    assert started["id"] in info.value.message and "still running" in info.value.message
    assert f"invoke build.stop {started['id']}" in info.value.remedy


def test_the_fake_stop_build_answers_stopped_at_once_and_a_finished_build_as_it_ended(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(5)]
    cb = _boto("codebuild")
    running = cb.start_build(projectName=PROJECT)["build"]["id"]
    clock.sleep(40)
    answer = cb.stop_build(id=running)["build"]
    assert answer["buildStatus"] == "STOPPED" and answer["currentPhase"] == "COMPLETED"
    assert [p.get("phaseStatus") for p in answer["phases"]][-2] == "STOPPED"
    done = cb.start_build(projectName=PROJECT)["build"]["id"]
    clock.sleep(200)
    assert cb.stop_build(id=done)["build"]["buildStatus"] == "SUCCEEDED"


def test_build_stop_trusts_the_stop_answer_instead_of_polling(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(50)]
    started = db_actions.run_action(Harness(clock).rt, "migrate", yes=True, detach=True)
    clock.sleep(40)
    h = Harness(clock)
    slept = len(clock.sleeps)
    result = builds.stop_build(h.rt, started["id"])
    assert result["status"] == "STOPPED"
    assert h.calls == ["BatchGetBuilds", "StopBuild"]  # no polling after the answer
    assert len(clock.sleeps) == slept


def test_a_vpc_failure_in_queued_ends_at_once_without_a_log(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    script = _script(50)
    script.vpc_failure = ("QUEUED", "Unexpected EC2 error: UnauthorizedOperation")
    fake.scripts = [script]
    h = Harness(clock)
    h.rt.part(Services).diagnose = False
    with pytest.raises(BuildUnsuccessful) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    err = info.value
    assert err.code == ExitCode.BUILD_FAILED
    assert "in phase QUEUED: VPC_CLIENT_ERROR: Unexpected EC2 error: UnauthorizedOperation" in (
        err.message
    )
    assert "VPC" in err.remedy and "invoke doctor" in err.remedy  # there is no log to read
    assert "build.logs" not in err.remedy
    assert h.body() == []
    ended = fake.only().started + script.end
    assert clock.t - ended < 10  # no long wait for log lines that never come


# -- the log: late closing lines, startTime, CloudWatch disabled ------------------------------


def test_closing_lines_landing_3s_after_the_end_are_all_printed_once(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    script = _script(400)
    script.late_tail, script.late_delay = 20, 3.0  # after the final status and buildComplete
    fake.scripts = [script]
    h = Harness(clock)
    result = db_actions.run_action(h.rt, "migrate", yes=True)
    assert result["status"] == "SUCCEEDED"
    assert h.body() == expected(400)
    printed = [x for x in h.out.getvalue().splitlines() if "Phase complete" in x]
    assert printed[-1].endswith("Phase complete: FINALIZING State: SUCCEEDED")
    assert len(printed) == len(set(printed))


def test_get_log_events_is_bounded_by_the_build_start_time(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    fake.scripts = [_script(50)]
    db_actions.run_action(Harness(clock).rt, "migrate", yes=True)
    started_ms = int(fake.only().started * 1000)
    sent = [r["startTime"] for r in fake.log_requests]
    assert sent and all(t is not None and started_ms - 120_000 <= t <= started_ms for t in sent)


def test_cloudwatch_disabled_says_so_at_once_with_the_s3_location(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    script = _script(50)
    script.cloudwatch, script.s3_logs = "DISABLED", "my-bucket/build-log"
    fake.scripts = [script]
    h = Harness(clock)
    said_at: list[int] = []  # how many pauses the wait had made when it said so
    warn = h.rt.console.warn

    def spy(text: str) -> None:
        if "DISABLED" in text:
            said_at.append(len(clock.sleeps))
        warn(text)

    h.rt.console.warn = spy  # type: ignore[method-assign]
    result = db_actions.run_action(h.rt, "migrate", yes=True)
    assert result["status"] == "SUCCEEDED"
    err = h.err.getvalue()
    assert "CloudWatch Logs are DISABLED" in err and "s3://my-bucket/build-log" in err
    assert said_at == [0]  # at once, before the wait's first pause, and once
    assert fake.log_requests == []  # no reads of a stream that will never exist
    shown = Harness(clock)
    data = builds.show_logs(shown.rt, result["id"])
    assert "s3://my-bucket/build-log" in shown.err.getvalue()
    assert data["logs"]["s3"] == "my-bucket/build-log" and data["log_lines"] == 0


def _always(code: str, message: str, n_from: int = 1) -> Any:
    from botocore.awsrequest import AWSResponse

    seen = {"n": 0}

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield json.dumps({"__type": code, "message": message}).encode()

    def hook(request: Any, **_: Any) -> Any:
        seen["n"] += 1
        if seen["n"] >= n_from:
            return AWSResponse(request.url, 400, {"x-amzn-errortype": code}, Raw())
        return None

    hook.seen = seen  # type: ignore[attr-defined]
    return hook


def test_env_credentials_expiring_mid_wait_say_what_was_tried(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    from tasks.core.errors import AwsAuthError

    fake.scripts = [_script(200)]
    h = Harness(clock)  # credentials from AWS_ACCESS_KEY_ID/AWS_SESSION_TOKEN (aws_env)

    def register() -> None:
        h.client("codebuild").meta.events.register(
            "before-send.codebuild.BatchGetBuilds",
            _always(
                "ExpiredTokenException", "The security token included in the request is expired"
            ),
        )

    register()
    real_refresh = h.rt.aws.refresh

    def refresh() -> None:  # re-reading the chain finds the same expired variables
        real_refresh()
        register()

    h.rt.aws.refresh = refresh  # type: ignore[method-assign]
    with pytest.raises(AwsAuthError) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    line = info.value.line()
    build = fake.only()
    assert info.value.code == ExitCode.AWS_AUTH
    assert "re-read the credentials once from environment variables" in line
    assert "cannot be refreshed" in line and "OIDC role session" in line
    assert f"build {build.id} is still running" in line
    assert f"invoke build.wait {build.id} --env prod" in line


def test_one_retry_layer_for_a_throttled_call(fake: ScriptedCodeBuild, clock: VirtualClock) -> None:
    from tasks.core.errors import AwsError
    from tasks.core.retrying import POLICIES

    h = Harness(clock)
    throttle = _always("ThrottlingException", "Rate exceeded")
    h.client("codebuild").meta.events.register("before-send.codebuild.BatchGetBuilds", throttle)
    with pytest.raises(AwsError):
        collaborators.backend_for(h.rt).get(f"{PROJECT}:some-build")
    # botocore sends each call once; the named policy decides the retries (not 8 x 3 = 24)
    assert throttle.seen["n"] == POLICIES["aws_call"].attempts  # type: ignore[attr-defined]


def test_a_cloudwatch_logs_quota_fails_at_once_without_retries(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    from tasks.codebuild.model import LogLocation
    from tasks.core.errors import QuotaExceeded

    h = Harness(clock)
    quota = _always("LimitExceededException", "Resource limit exceeded.")
    h.client("logs").meta.events.register("before-send.logs.GetLogEvents", quota)
    with pytest.raises(QuotaExceeded) as info:
        collaborators.backend_for(h.rt).read_logs(LogLocation("/aws/codebuild/x", "s"), None)
    assert info.value.code == ExitCode.AWS_QUOTA
    assert quota.seen["n"] == 1  # type: ignore[attr-defined]


def test_credentials_refused_mid_wait_name_the_build_that_runs_on(
    fake: ScriptedCodeBuild, clock: VirtualClock
) -> None:
    from tasks.core.errors import AwsAuthError

    fake.scripts = [_script(200)]
    h = Harness(clock)
    denied = _always(
        "AccessDeniedException",
        "User is not authorized to perform: codebuild:BatchGetBuilds",
        n_from=4,
    )
    h.client("codebuild").meta.events.register("before-send.codebuild.BatchGetBuilds", denied)
    with pytest.raises(AwsAuthError) as info:
        db_actions.run_action(h.rt, "migrate", yes=True)
    build = fake.only()
    line = info.value.line()
    assert "CodeBuild BatchGetBuilds" in line and "AccessDeniedException" in line
    assert f"build {build.id} is still running" in line
    assert f"invoke build.wait {build.id} --env prod" in line
    assert fake.stops == []  # refused credentials are no reason to stop anything
