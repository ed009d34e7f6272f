"""``local.up`` / ``local.down`` on real services: idempotent, private passwords, clean stop."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tasks.core.config import load_settings, load_yaml_file
from tasks.core.errors import LocalEnvError
from tasks.local import daemons
from tasks.local import environment as localenv
from tests.conftest import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]


def settings_for(registry_port: int, pg_port: int, environ: dict[str, str]):  # type: ignore[no-untyped-def]
    raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
    flags = {"registry": f"127.0.0.1:{registry_port}", "database_port": str(pg_port)}
    return load_settings(raw, env="local", flags=flags, environ=environ)


def test_up_is_idempotent_keeps_passwords_private_and_down_stops(
    tmp_path: Path, docker_host: str
) -> None:
    root = tmp_path / "release-local"
    environ = {**os.environ, "RELEASE_LOCAL_DIR": str(root)}
    settings = settings_for(daemons.free_port(), daemons.free_port(), environ)
    said: list[str] = []
    try:
        facts = localenv.up(settings, environ, said.append)
        assert facts["registry_started"] is True and facts["postgres_started"] is True
        again = localenv.up(settings, environ, said.append)
        assert again["registry_started"] is False and again["postgres_started"] is False
        assert any("already running" in line and "registry" in line for line in said)
        assert any("PostgreSQL" in line and "already running" in line for line in said)
        creds_path = root / "credentials.json"
        assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
        creds = json.loads(creds_path.read_text())
        secrets_seen = [creds["registry"]["password"], creds["database_password"]]
        printed = "\n".join(said) + json.dumps(facts) + json.dumps(again)
        assert all(secret not in printed for secret in secrets_seen)
        url = creds["secrets"]["local/database-url"]
        assert url.endswith(f"@127.0.0.1:{facts['postgres'].split(':')[1]}/daadaar")
        host = facts["registry"]
        assert localenv.registry_accepts(host, "AWS", creds["registry"]["password"]) is True
        assert localenv.registry_accepts(host, "AWS", "wrong") is False
        attached = localenv.attach_credentials(settings, dict(environ))
        assert attached[settings.registry_password_env] == creds["registry"]["password"]
    finally:
        result = localenv.down(settings, environ, said.append)
    assert set(result["stopped"]) >= {"registry", "postgres"}
    assert not daemons.port_open("127.0.0.1", int(settings.registry.split(":")[1]))
    purged = localenv.down(settings, environ, said.append, purge=True)
    assert purged["stopped"] == [] and purged["purged"] is True
    assert "nothing of the local environment was running" in said
    assert not root.exists()


def test_a_foreign_service_on_the_registry_port_is_named(tmp_path: Path) -> None:
    import socket

    environ = {**os.environ, "RELEASE_LOCAL_DIR": str(tmp_path)}
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        settings = settings_for(port, daemons.free_port(), environ)
        with pytest.raises(LocalEnvError) as caught:
            localenv.ensure_registry(tmp_path, settings, "pw", lambda _: None)
    assert f"something else listens on 127.0.0.1:{port}" in caught.value.message
    assert "local.down" in caught.value.remedy


def test_non_loopback_registry_is_refused(tmp_path: Path) -> None:
    environ = {**os.environ, "RELEASE_LOCAL_DIR": str(tmp_path)}
    raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
    settings = load_settings(
        raw, env="local", flags={"registry": "registry.example.com"}, environ=environ
    )
    with pytest.raises(LocalEnvError, match="loopback registry"):
        localenv.ensure_registry(tmp_path, settings, "pw", lambda _: None)


def test_attach_credentials_only_for_local_basic(tmp_path: Path) -> None:
    environ = {"RELEASE_LOCAL_DIR": str(tmp_path)}
    localenv.save_credentials({"registry": {"username": "AWS", "password": "pw-1234"}}, environ)
    raw = load_yaml_file(ROOT / "invoke.yaml")["release"]
    local = load_settings(raw, env="local", environ=environ)
    assert (
        localenv.attach_credentials(local, dict(environ))["RELEASE_REGISTRY_PASSWORD"] == "pw-1234"
    )
    exported = {**environ, "RELEASE_REGISTRY_PASSWORD": "mine"}
    assert localenv.attach_credentials(local, exported)["RELEASE_REGISTRY_PASSWORD"] == "mine"
    prod = load_settings(raw, env="prod", environ=environ)
    assert "RELEASE_REGISTRY_PASSWORD" not in localenv.attach_credentials(prod, dict(environ))


def test_a_tcp_docker_host_that_does_not_answer_is_named_not_started(tmp_path: Path) -> None:
    """A mistyped DOCKER_HOST=tcp://... must not make local.up start a root dockerd listening
    on TCP without authentication: it names the address and what to do."""
    port = daemons.free_port()
    environ = {**os.environ, "RELEASE_LOCAL_DIR": str(tmp_path)}
    environ["DOCKER_HOST"] = f"tcp://127.0.0.1:{port}"
    settings = settings_for(daemons.free_port(), daemons.free_port(), environ)
    with pytest.raises(LocalEnvError) as info:
        localenv.up(settings, environ, lambda _: None)
    assert info.value.line() == (
        f"no Docker Engine answers at DOCKER_HOST=tcp://127.0.0.1:{port}. Fix: start that "
        "engine, or unset DOCKER_HOST so that invoke local.up starts one on "
        "unix:///var/run/docker.sock"
    )
    assert not (tmp_path / "dockerd").exists()
    assert not daemons.port_open("127.0.0.1", port)


def test_purge_removes_a_mount_dockerd_left_behind(tmp_path: Path) -> None:
    """dockerd leaves <exec-root>/netns/default mounted after it stops; local.down --purge
    used to say "removed" while the directory stayed. Now it unmounts, removes, and never
    claims a removal that did not happen."""
    import subprocess

    root = tmp_path / "release-local"
    netns = root / "dockerd" / "exec" / "netns"
    netns.mkdir(parents=True)
    (netns / "default").touch()
    mounted = subprocess.run(
        ["mount", "--bind", "/proc/self/ns/net", str(netns / "default")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, mounted.stderr
    try:
        assert localenv.mounts_under(Path("/proc/mounts").read_text(), root) == [
            str(netns / "default")
        ]
        environ = {**os.environ, "RELEASE_LOCAL_DIR": str(root)}
        said: list[str] = []
        result = localenv.down(
            settings_for(daemons.free_port(), daemons.free_port(), environ),
            environ,
            said.append,
            purge=True,
        )
        assert result["purged"] and not root.exists()
        assert f"removed {root}" in said
    finally:
        subprocess.run(["umount", "-l", str(netns / "default")], capture_output=True, check=False)
    assert str(root) not in Path("/proc/mounts").read_text()


def test_purge_refuses_while_a_build_runs(tmp_path: Path) -> None:
    """A purge would delete the running build's database and log under it: refused, nothing
    stopped or deleted; once the build ended, the purge goes ahead."""
    import time

    from tasks.codebuild.model import EnvVar, StartRequest
    from tasks.core.errors import ExitCode
    from tasks.local.backend import LocalBackend

    root = tmp_path / "release-local"
    root.mkdir()
    (root / "credentials.json").write_text(json.dumps({"secrets": {"s": "postgres://a@x/y"}}))
    spec = tmp_path / "buildspec.yml"
    spec.write_text("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n")
    environ = {**os.environ, "RELEASE_LOCAL_DIR": str(root)}
    b = LocalBackend(buildspec_path=spec, secret="s", environ=environ)
    build = b.start(StartRequest("proj", "migrate", (EnvVar("A", "1"),), "img", "tok"))
    settings = settings_for(daemons.free_port(), daemons.free_port(), environ)
    said: list[str] = []
    with pytest.raises(LocalEnvError) as info:
        localenv.down(settings, environ, said.append, purge=True)
    assert info.value.code == ExitCode.LOCAL_ENV
    line = info.value.line()
    assert line.startswith(f"build {build.id} is still running (")
    assert line.endswith(
        "); purging now would delete its database and log under it. Fix: wait for it "
        f"(`invoke build.wait {build.id} --env local`) or stop it "
        f"(`invoke build.stop {build.id} --env local`), then purge"
    )
    assert said == [] and (root / "builds" / build.uuid / "build.log").exists()
    b.stop(build.id)
    deadline = time.monotonic() + 20
    while not b.get(build.id).final and time.monotonic() < deadline:
        time.sleep(0.05)
    assert localenv.down(settings, environ, said.append, purge=True)["purged"] is True
    assert not root.exists()
