"""Image-stage benchmarks, each a ratio against a reference measured in the same run.

1. Start-up: `invoke --list` and `invoke image.verify --help` here vs invoke with an empty
   tasks.py (target: at most 1.35x, issue 13). The two are timed alternately (one run of each
   in turn), so load on a shared machine falls on both alike; the ratio of medians and the
   median of the paired ratios are printed. Bytecode caches are allowed and warmed first
   (PYTHONDONTWRITEBYTECODE is dropped): a user's install has them, and without them every
   run would time compiling this package while invoke's own modules come from .pyc files.
2. Verify: `invoke image.verify` vs `skopeo inspect --raw` and `docker manifest inspect
   --insecure` on the same tag of a local htpasswd registry (aim: no slower than skopeo).

Run as root with Docker available: python3 bench/bench_image.py [--runs N] [--startup-only].
Prints a Markdown table; figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.local import daemons  # noqa: E402
from tests.helpers import images  # noqa: E402

PASSWORD = "bench-password-123"


def timed(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed: {proc.stderr[-400:]}")
    return samples


def alternating(
    ours: list[str], ours_cwd: Path, ref: list[str], ref_cwd: Path, env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """``runs`` samples of each, taken in turn (ref, ours, ref, ours...) after one warm-up."""
    timed(ref, env, ref_cwd, 1), timed(ours, env, ours_cwd, 1)
    pairs = [
        (timed(ref, env, ref_cwd, 1)[0], timed(ours, env, ours_cwd, 1)[0]) for _ in range(runs)
    ]
    return [r for r, _ in pairs], [o for _, o in pairs]


def paired(ours: list[float], ref: list[float]) -> str:
    return f"{statistics.median(o / r for o, r in zip(ours, ref, strict=True)):.2f}x"


def row(name: str, samples: list[float], ref: float) -> str:
    med = statistics.median(samples)
    return f"| {name} | {med * 1000:.0f} ms | {min(samples) * 1000:.0f} ms | {med / ref:.2f}x |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--startup-only", action="store_true", help="skip the registry part")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    work = Path(tempfile.mkdtemp(prefix="bench-image-"))
    empty = work / "empty"
    empty.mkdir()
    (empty / "tasks.py").write_text("from invoke import task\n\n\n@task\ndef noop(c):\n    pass\n")

    print(f"## Start-up (median of {args.runs} alternating runs)\n")
    print("| command | median | min | vs empty tasks.py | paired runs |\n|---|---|---|---|---|")
    listing = ["invoke", "--list"]
    ref, ours = alternating(listing, ROOT, listing, empty, env, args.runs)
    ref_med = statistics.median(ref)
    print(row("`invoke --list` (empty tasks.py, reference)", ref, ref_med) + " 1.00x |")
    print(row("`invoke --list` (this project)", ours, ref_med) + f" {paired(ours, ref)} |")
    help_ref, ours = alternating(
        ["invoke", "image.verify", "--help"],
        ROOT,
        ["invoke", "noop", "--help"],
        empty,
        env,
        args.runs,
    )
    print(
        row(
            "`invoke image.verify --help` (vs `invoke noop --help`, empty)",
            ours,
            statistics.median(help_ref),
        )
        + f" {paired(ours, help_ref)} |"
    )
    if args.startup_only:
        return

    host = daemons.ensure_dockerd(Path("/tmp/release-suite-tests/dockerd"))
    env["DOCKER_HOST"] = host
    config = work / "docker-config"
    config.mkdir()
    env["DOCKER_CONFIG"] = str(config)
    os.environ.update({"DOCKER_HOST": host, "DOCKER_CONFIG": str(config)})
    reg = daemons.start_registry(work / "registry", daemons.free_port(), {"AWS": PASSWORD})
    try:
        images.login(reg.host, "AWS", PASSWORD)
        tag = images.push(images.busybox_image("amd64", f"{reg.host}/bench:amd64"))
        verify_env = {
            **env,
            "RELEASE_ENV": "local",
            "RELEASE_REGISTRY": reg.host,
            "RELEASE_REGISTRY_AUTH": "basic",
            "RELEASE_REGISTRY_PASSWORD": PASSWORD,
        }
        print(f"\n## Verify one tag on a local registry (median of {args.runs} runs)\n")
        print("| command | median | min | vs skopeo |\n|---|---|---|---|")
        rows = []
        if shutil.which("skopeo"):
            skopeo = timed(
                [
                    "skopeo",
                    "inspect",
                    "--raw",
                    "--tls-verify=false",
                    "--authfile",
                    str(config / "config.json"),
                    f"docker://{tag}",
                ],
                env,
                ROOT,
                args.runs,
            )
        else:
            raise SystemExit("skopeo is not installed: apt-get install skopeo")
        sk = statistics.median(skopeo)
        rows.append(row("`skopeo inspect --raw` (reference)", skopeo, sk))
        rows.append(
            row(
                "`docker manifest inspect --insecure`",
                timed(["docker", "manifest", "inspect", "--insecure", tag], env, ROOT, args.runs),
                sk,
            )
        )
        rows.append(
            row(
                "`invoke image.verify` (manifest + config blob, platform check)",
                timed(["invoke", "image.verify", "--image", tag], verify_env, ROOT, args.runs),
                sk,
            )
        )
        from tasks.core.references import parse_image
        from tasks.image.registry import Credentials, RegistryClient, inspect

        ref = parse_image(tag)
        in_process = []
        for _ in range(args.runs):
            start = time.perf_counter()
            inspect(RegistryClient(reg.host, credentials=Credentials("AWS", PASSWORD)), ref)
            in_process.append(time.perf_counter() - start)
        rows.append(
            row("verifier in-process (HTTP work only, no interpreter start)", in_process, sk)
        )
        print("\n".join(rows))
    finally:
        os.kill(reg.pid, 15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
