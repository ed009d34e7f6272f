"""Tiny single-binary images of a chosen architecture, built on the real engine.

``busybox_image(arch, tag)`` builds ``FROM scratch`` + Debian's static busybox for ``arch``
(``amd64`` or ``arm64``) with ``--platform linux/<arch>``, so the image config says that
architecture and its binary really is one: running the arm64 image on an x86_64 engine gives
the genuine "exec format error" (and the platform-mismatch warning). The busybox binaries come
from Debian's ``busybox-static`` package (``apt-get download``; for a foreign architecture the
helper adds it to dpkg and refreshes the package lists once) and are cached under
``/tmp/release-suite-tests/busybox/<arch>/``.

Usage::

    from tests.helpers.images import busybox_image, push_manifest_list
    busybox_image("arm64", "127.0.0.1:5000/app:arm64")
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

STATE = Path(os.environ.get("RELEASE_TEST_STATE", "/tmp/release-suite-tests"))
PACKAGE = "busybox-static"
DOCKERFILE = 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\nCMD ["true"]\n'


class ImageHelperError(RuntimeError):
    pass


def _run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    return proc  # type: ignore[no-any-return]


def _native_arch() -> str:
    return _run(["dpkg", "--print-architecture"]).stdout.strip() or "amd64"


def _ensure_arch_lists(arch: str) -> None:
    """Make apt know ``PACKAGE:arch`` (adds the foreign architecture once)."""
    if _run(["apt-cache", "show", f"{PACKAGE}:{arch}"]).returncode == 0:
        return
    if arch != _native_arch():
        foreign = _run(["dpkg", "--print-foreign-architectures"]).stdout.split()
        if arch not in foreign:
            _run(["dpkg", "--add-architecture", arch])
    proc = _run(["apt-get", "update", "-q"], timeout=600)
    if proc.returncode != 0:
        raise ImageHelperError(f"apt-get update failed: {proc.stderr[-400:]}")


def busybox_binary(arch: str) -> Path:
    """Debian's static busybox for ``arch`` (cached)."""
    root = STATE / "busybox" / arch
    binary = root / "busybox"
    if binary.exists():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        _ensure_arch_lists(arch)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            proc = _run(["apt-get", "download", f"{PACKAGE}:{arch}"], cwd=tmp, timeout=600)
            debs = list(Path(tmp).glob("*.deb"))
            if proc.returncode != 0 or not debs:
                raise ImageHelperError(f"apt-get download {PACKAGE}:{arch}: {proc.stderr[-400:]}")
            unpacked = Path(tmp) / "x"
            proc = _run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)])
            if proc.returncode != 0:
                raise ImageHelperError(f"dpkg-deb -x failed: {proc.stderr[-400:]}")
            shutil.copy2(unpacked / "bin" / "busybox", Path(tmp) / "busybox")
            os.replace(Path(tmp) / "busybox", binary)
    return binary


def docker_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for docker CLI calls; the classic builder when buildx is missing."""
    env = dict(os.environ)
    if _run(["docker", "buildx", "version"], env=env).returncode != 0:
        env["DOCKER_BUILDKIT"] = "0"
    env.update(extra or {})
    return env


def busybox_image(arch: str, tag: str) -> str:
    """Build ``tag`` as a linux/<arch> busybox image on the engine in DOCKER_HOST."""
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy2(busybox_binary(arch), Path(ctx) / "busybox")
        (Path(ctx) / "Dockerfile").write_text(DOCKERFILE)
        proc = _run(
            ["docker", "build", "--platform", f"linux/{arch}", "-t", tag, ctx],
            env=docker_env(),
            timeout=300,
        )
    if proc.returncode != 0:
        raise ImageHelperError(f"docker build {tag} failed: {proc.stderr[-600:]}")
    return tag


def push_manifest_list(target: str, sources: Sequence[str], insecure: bool = True) -> None:
    """Push ``sources`` (already pushed) as one manifest list ``target`` (docker manifest)."""
    flag = ["--insecure"] if insecure else []
    create = _run(["docker", "manifest", "create", *flag, "--amend", target, *sources])
    if create.returncode != 0:
        raise ImageHelperError(f"docker manifest create failed: {create.stderr[-400:]}")
    push = _run(["docker", "manifest", "push", *flag, "--purge", target])
    if push.returncode != 0:
        raise ImageHelperError(f"docker manifest push failed: {push.stderr[-400:]}")


def make_context(directory: Path, arch: str) -> Path:
    """A build context (Dockerfile + busybox for ``arch``) to hand to the suite's own build."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox_binary(arch), directory / "busybox")
    (directory / "Dockerfile").write_text(DOCKERFILE)
    return directory


def push(tag: str) -> str:
    proc = _run(["docker", "push", tag], env=docker_env(), timeout=300)
    if proc.returncode != 0:
        raise ImageHelperError(f"docker push {tag} failed: {proc.stderr[-400:]}")
    return tag


def login(registry: str, user: str, password: str) -> None:
    """docker login with the password on stdin."""
    proc = _run(
        ["docker", "login", "--username", user, "--password-stdin", registry], input=password
    )
    if proc.returncode != 0:
        raise ImageHelperError(f"docker login {registry} failed: {proc.stderr[-400:]}")


def delete_from_registry(registry: str, user: str, password: str, pinned: str) -> None:
    """Make ``pinned`` (registry/repo@sha256:...) gone, as a deleted ECR image is: its manifest
    AND its config blob deleted through the Registry API (``DELETE /v2/<name>/manifests|blobs/
    <digest>``; Docker 20.10 keeps a pushed manifest in its content store and would pull the
    image again from the blobs alone), and the engine's references to it in this registry
    untagged (never ``docker rmi`` by id: on a shared engine that removes other sessions' tags
    of the same layers; -f so that a stopped container does not keep the reference)."""
    import json as _json
    import urllib.request
    from base64 import b64encode

    repo, digest = pinned.split("/", 1)[1].split("@")
    auth = {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}
    base = f"http://{registry}/v2/{repo}"
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    with urllib.request.urlopen(
        urllib.request.Request(f"{base}/manifests/{digest}", headers={**auth, **accept}), timeout=10
    ) as answer:
        config = _json.loads(answer.read())["config"]["digest"]
    for url in (f"{base}/blobs/{config}", f"{base}/manifests/{digest}"):
        request = urllib.request.Request(url, method="DELETE", headers=auth)
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status != 202:
                raise ImageHelperError(f"DELETE {url} answered {answer.status}")
    refs = _run(
        ["docker", "image", "inspect", "-f",
         "{{range .RepoTags}}{{.}} {{end}}{{range .RepoDigests}}{{.}} {{end}}", pinned],
    ).stdout.split()  # fmt: skip
    mine = [r for r in refs if r.startswith(registry + "/")]
    if mine:
        _run(["docker", "rmi", "-f", *mine])
