"""The throw-away Docker config: what it keeps of the user's config, and that it goes away."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from tasks.image.dockerconfig import sanitized, throwaway

OURS = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def test_our_registry_credentials_and_the_store_are_left_out() -> None:
    user = {
        "auths": {
            f"https://{OURS}": {"auth": "c2VjcmV0"},
            "ghcr.io": {},  # logged in through the credential store
            "https://index.docker.io/v1/": {},
            "quay.io": {"auth": "aW5saW5l"},
        },
        "credsStore": "desktop",
        "credHelpers": {OURS: "ecr-login", "gcr.io": "gcloud"},
        "currentContext": "dind",
        "proxies": {"default": {"httpsProxy": "http://proxy:3128"}},
    }
    out = sanitized(user, [OURS])
    assert "credsStore" not in out
    assert out["auths"] == {
        "ghcr.io": {},
        "https://index.docker.io/v1/": {},
        "quay.io": {"auth": "aW5saW5l"},
    }
    # the store's logins still resolve, through the same helper, one registry at a time
    assert out["credHelpers"] == {
        "gcr.io": "gcloud",
        "ghcr.io": "desktop",
        "https://index.docker.io/v1/": "desktop",
    }
    assert out["currentContext"] == "dind" and out["proxies"] == user["proxies"]


def test_an_empty_config_stays_empty() -> None:
    assert sanitized({}, [OURS]) == {"auths": {}}


def test_throwaway_links_contexts_and_builders_and_is_removed_even_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    user = tmp_path / "user"
    (user / "contexts" / "meta").mkdir(parents=True)
    (user / "buildx").mkdir()
    (user / "config.json").write_text(json.dumps({"auths": {OURS: {"auth": "eA=="}}}))
    seen: list[Path] = []
    with pytest.raises(KeyboardInterrupt), throwaway(user, [OURS]) as private:
        seen.append(private)
        assert private.stat().st_mode & 0o777 == 0o700
        assert (private / "config.json").stat().st_mode & 0o777 == 0o600
        assert json.loads((private / "config.json").read_text()) == {"auths": {}}
        assert (private / "contexts").resolve() == (user / "contexts").resolve()
        assert (private / "buildx").is_symlink() and not (private / "cli-plugins").exists()
        raise KeyboardInterrupt
    assert not seen[0].exists()
    assert (user / "contexts" / "meta").is_dir()  # the user's own store is untouched


def test_a_config_left_by_a_killed_run_is_removed_by_the_next(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tasks.image.dockerconfig import PREFIX, sweep_stale

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    stale = tmp_path / f"{PREFIX}{dead.stdout.strip()}-abc"
    live = tmp_path / f"{PREFIX}{os.getpid()}-def"
    for directory in (stale, live):
        directory.mkdir()
        (directory / "config.json").write_text('{"auths": {"r": {"auth": "eA=="}}}')
    assert sweep_stale(tmp_path) == [stale]
    assert not stale.exists() and live.exists()
