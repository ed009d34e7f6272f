"""Bad input through the real `invoke` entry: one line, exit 2, never "unexpected" or a
traceback (issue 10, items 11 and 12). Each case gave exit 1 or a traceback before."""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL = "release:\n  env: local\n  environments:\n    local:\n      runner: local\n"


def project(tmp_path: Path, invoke_yaml: str | bytes) -> Path:
    """A project dir using this suite's tasks.py and tasks/ with its own invoke.yaml."""
    (tmp_path / "tasks.py").symlink_to(ROOT / "tasks.py")
    (tmp_path / "tasks").symlink_to(ROOT / "tasks")
    data = invoke_yaml.encode() if isinstance(invoke_yaml, str) else invoke_yaml
    (tmp_path / "invoke.yaml").write_bytes(data)
    return tmp_path


def _limit_memory() -> None:  # an alias bomb must not take the machine with it
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASE_", "AWS_"))}
    base.update(NO_COLOR="1", RELEASE_LOCAL_DIR=str(cwd / ".release-local"), **env)
    return subprocess.run(
        ["invoke", *args],
        cwd=cwd,
        env=base,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_limit_memory,
    )


def one_line_exit_2(done: subprocess.CompletedProcess[str], needle: str) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("release: [prod, staging]\n", "release in invoke.yaml must be a mapping"),
        ("release:\n  environments: [prod]\n", "release.environments in invoke.yaml must be"),
        ("release:\n  defaults: [a]\n", "release.defaults in invoke.yaml must be a mapping"),
        ("release:\n  environments:\n    local: [x]\n", "release.environments.local in"),
        ("release:\n  env: [local]\n", "release.env must be an environment name"),
        ("tasks: [x]\nrelease: {}\n", "tasks must be a mapping"),
        ("release:\n  env: local\n  env: prod\n", "line 3: duplicate key 'env' (first on line 2"),
        (
            "release:\n  environments:\n    prod: {}\n    staging: {}\n    prod: {}\n",
            "line 5: duplicate key 'prod' (first on line 3",
        ),
    ],
)
def test_bad_invoke_yaml_shape_is_refused_at_start(
    tmp_path: Path, yaml_text: str, needle: str
) -> None:
    one_line_exit_2(run(project(tmp_path, yaml_text), "--list"), needle)


def test_non_utf8_invoke_yaml(tmp_path: Path) -> None:
    text = LOCAL.encode() + b"      project: caf\xe9\n"
    one_line_exit_2(run(project(tmp_path, text), "--list"), "line 6 is not UTF-8 text (byte 0xe9)")


def test_a_yaml_alias_bomb_is_refused_before_invoke_loads_it(tmp_path: Path) -> None:
    """Ten levels of ten aliases: 10**10 values once expanded. invoke's own config merge used to
    copy it until the kernel killed the process (24 GB); now it is refused in one line, fast,
    under a 2 GiB address-space limit."""
    levels = ["  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 11)]
    started = time.monotonic()
    done = run(project(tmp_path, LOCAL + "bomb:\n" + "\n".join(levels) + "\n"), "--list")
    one_line_exit_2(done, "aliases expand to more than")
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("      seed_scripts: 1\n", "seed_scripts must be a list of names, not 1"),
        ("      seed_scripts: {a: 1}\n", "seed_scripts must be a list of names"),
        ("      project: [a, b]\n", "project must be a single value, not a list"),
        ("      confirm: [yes]\n", "confirm must be a single value"),
        ("      timeout: .nan\n", "timeout must be a positive number of minutes, not nan"),
        ("      timeout: .inf\n", "timeout must be a positive number of minutes, not inf"),
        ("      database_port: 70000\n", "database_port must be a port number from 1 to 65535"),
        ("      database_port: true\n", "database_port must be a port number"),
        ("      registry: 127.0.0.1:99999\n", "registry port '99999' is not a number from 1"),
        ("      registry: '127.0.0.1:0'\n", "registry port '0' is not a number from 1"),
        ("      registry: '127.0.0.1:５０００'\n", "registry port '５０００' is not a number"),
    ],
)
def test_wrong_value_types_in_invoke_yaml(tmp_path: Path, setting: str, needle: str) -> None:
    done = run(project(tmp_path, LOCAL + setting), "build.list", "--env", "local")
    one_line_exit_2(done, needle)


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("RELEASE_REGION", "us-east-1\n", "region 'us-east-1\\n' is not an AWS region name"),
        ("RELEASE_ACCOUNT", "123456789012\n", "account '123456789012\\n' is not a 12-digit"),
        ("RELEASE_TAG", "v1\n", "tag 'v1\\n' is not a Docker tag"),
        ("RELEASE_ACCOUNT", "１２３４５６７８９０１２", "is not a 12-digit AWS account id"),
        ("RELEASE_DATABASE_PORT", "５４３２", "database_port must be a port number"),
        ("RELEASE_DATABASE_PORT", "0", "database_port must be a port number from 1 to 65535"),
        ("RELEASE_REGISTRY", "127.0.0.1:5000\n", "registry port '5000\\n' is not a number"),
    ],
)
def test_bad_values_from_the_environment(tmp_path: Path, key: str, value: str, needle: str) -> None:
    done = run(project(tmp_path, LOCAL), "build.list", "--env", "local", **{key: value})
    one_line_exit_2(done, needle)


@pytest.mark.parametrize("value", ["nan", "inf", "1e309", "-inf", "NaN"])
def test_timeout_flag_must_be_a_finite_positive_number(tmp_path: Path, value: str) -> None:
    done = run(project(tmp_path, LOCAL), "build.wait", "x:1", "--env", "local", "--timeout", value)
    one_line_exit_2(done, f"--timeout must be a positive number of minutes, not '{value}'")


def test_a_truncated_gzip_log_for_diagnose(tmp_path: Path) -> None:
    whole = gzip.compress(b"[Container] 2024/01/01 00:00:00 Running command npm ci\n" * 2000)
    log = tmp_path / "build.log.gz"
    log.write_bytes(whole[: len(whole) // 2])
    done = run(project(tmp_path, LOCAL), "diagnose", "--log", str(log))
    one_line_exit_2(done, "is a damaged gzip file (it ends before gzip's end marker)")


def test_a_binary_build_json_for_diagnose(tmp_path: Path) -> None:
    blob = tmp_path / "build.json"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 10)
    done = run(project(tmp_path, LOCAL), "diagnose", "--build-json", str(blob))
    one_line_exit_2(done, "is not JSON text (a binary byte 0x89 at offset 0)")


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        ("127.0.0.1:５０００/app:x", "'127.0.0.1:５０００' is not a registry host"),
        ("127.0.0.1:99999/app:x", "port 99999 of '127.0.0.1:99999' is not from 1 to 65535"),
        ("127.0.0.1:0/app:x", "port 0 of '127.0.0.1:0' is not from 1 to 65535"),
    ],
)
def test_bad_registry_ports_in_an_image_reference(tmp_path: Path, image: str, needle: str) -> None:
    done = run(project(tmp_path, LOCAL), "image.verify", "--image", image, "--env", "local")
    one_line_exit_2(done, needle)
