"""Real test images for the Docker Engine: FROM scratch with a static busybox per architecture.

amd64 uses Debian's busybox-static from this machine; arm64 comes from Debian's
busybox-static:arm64 package (downloaded with apt-get once, cached), which gives a real
"exec format error" when run here. Images are pushed to the test registry on demand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("RELEASE_TEST_STATE", "/tmp/release-suite-tests")) / "busybox"


def run(
    argv: list[str], *, input: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=input, capture_output=True, text=True, cwd=cwd, check=False, timeout=300
    )


def busybox_binary(arch: str) -> Path:
    """Path to a static busybox for amd64 or arm64."""
    if arch == "amd64":
        found = shutil.which("busybox") or "/bin/busybox"
        return Path(found)
    target = CACHE / arch / "bin" / "busybox"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    debs = list(CACHE.glob(f"busybox-static_*_{arch}.deb"))
    if not debs:
        run(["dpkg", "--add-architecture", arch])
        got = run(["apt-get", "download", f"busybox-static:{arch}"], cwd=CACHE)
        if got.returncode != 0:
            run(["apt-get", "update", "-q"])
            got = run(["apt-get", "download", f"busybox-static:{arch}"], cwd=CACHE)
        assert got.returncode == 0, got.stderr
        debs = list(CACHE.glob(f"busybox-static_*_{arch}.deb"))
    extracted = run(["dpkg-deb", "-x", str(debs[0]), str(CACHE / arch)])
    assert extracted.returncode == 0, extracted.stderr
    return target


def make_context(directory: Path, arch: str, extra: str = "") -> Path:
    """A build context whose Dockerfile is FROM scratch + busybox for ``arch``."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox_binary(arch), directory / "busybox")
    (directory / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'ENTRYPOINT ["/bin/busybox"]\nCMD ["echo", "hello from busybox"]\n' + extra
    )
    return directory


def build(directory: Path, arch: str, tag: str) -> str:
    """docker build --platform linux/<arch> (classic builder); returns the tag."""
    make_context(directory, arch)
    result = run(["docker", "build", "--platform", f"linux/{arch}", "-t", tag, str(directory)])
    assert result.returncode == 0, result.stdout + result.stderr
    return tag


def push(tag: str) -> str:
    result = run(["docker", "push", tag])
    assert result.returncode == 0, result.stdout + result.stderr
    return tag


def login(registry: str, user: str, password: str) -> None:
    result = run(
        ["docker", "login", "--username", user, "--password-stdin", registry], input=password
    )
    assert result.returncode == 0, result.stderr


def manifest_list(list_tag: str, members: list[str]) -> str:
    """docker manifest create/push --insecure: a real manifest list of pushed members."""
    created = run(["docker", "manifest", "create", "--insecure", "--amend", list_tag, *members])
    assert created.returncode == 0, created.stderr
    pushed = run(["docker", "manifest", "push", "--insecure", "--purge", list_tag])
    assert pushed.returncode == 0, pushed.stderr
    return list_tag
