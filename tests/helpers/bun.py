"""The real Bun binary for tests, fetched from the npm registry and cached.

Bun is published on npm as per-platform packages (``@oven/bun-linux-x64`` holds ``bin/bun``),
so ``npm pack`` brings the genuine binary through the one registry this machine reaches. The
tarball is unpacked once under ``/tmp/release-suite-tests/bun/<version>/`` (override with
``RELEASE_TEST_STATE``); concurrent test sessions serialise on a file lock and the binary is
moved into place atomically. ``RELEASE_TEST_BUN=/path/to/bun`` uses an existing binary instead.

Usage::

    from tests.helpers.bun import ensure_bun
    bun = ensure_bun()          # Path to an executable bun
"""

from __future__ import annotations

import fcntl
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

BUN_VERSION = os.environ.get("RELEASE_TEST_BUN_VERSION", "1.4.5")
STATE = Path(os.environ.get("RELEASE_TEST_STATE", "/tmp/release-suite-tests"))
_PACKAGES = {"x86_64": "@oven/bun-linux-x64", "aarch64": "@oven/bun-linux-aarch64"}


class BunUnavailable(RuntimeError):
    """Bun could not be fetched (no npm, no registry access)."""


def package_name(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    try:
        return _PACKAGES[machine]
    except KeyError:
        raise BunUnavailable(f"no Bun npm package known for machine {machine!r}") from None


def _works(binary: Path) -> bool:
    try:
        proc = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def _fetch(version: str, target: Path) -> None:
    npm = shutil.which("npm")
    if not npm:
        raise BunUnavailable("npm is not installed (apt-get install npm)")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        proc = subprocess.run(
            [npm, "pack", f"{package_name()}@{version}", "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            raise BunUnavailable(f"npm pack failed: {proc.stderr.strip()[-400:]}")
        with tarfile.open(tarballs[0]) as tar:
            member = tar.getmember("package/bin/bun")
            source = tar.extractfile(member)
            if source is None:
                raise BunUnavailable("the npm package holds no bin/bun")
            partial = Path(tmp) / "bun"
            with partial.open("wb") as out:
                shutil.copyfileobj(source, out)
        partial.chmod(0o755)
        os.replace(partial, target)


def ensure_bun(version: str = BUN_VERSION, cache: Path | None = None) -> Path:
    """Path to a working ``bun`` of ``version``, fetched from npm on first use."""
    override = os.environ.get("RELEASE_TEST_BUN")
    if override:
        return Path(override)
    root = (cache or STATE / "bun") / version
    root.mkdir(parents=True, exist_ok=True)
    binary = root / "bun"
    if binary.exists() and _works(binary):
        return binary
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (binary.exists() and _works(binary)):
            _fetch(version, binary)
    if not _works(binary):
        raise BunUnavailable(f"{binary} does not run")
    return binary


def bun_env(home: Path) -> dict[str, str]:
    """A minimal environment for running bun in tests (own HOME/cache, no colour, no telemetry)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ")}
    env.update(
        HOME=str(home),
        BUN_INSTALL_CACHE_DIR=str(home / ".bun-cache"),
        NO_COLOR="1",
        FORCE_COLOR="0",
        DO_NOT_TRACK="1",
        BUN_RUNTIME_TRANSPILER_CACHE_PATH="0",
    )
    return env
