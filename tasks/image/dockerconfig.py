"""A throw-away Docker config for the suite's own registry logins.

``image.push``, ``image.build --push`` and ``release`` log docker in to push. ``docker login``
stores the credential in ``$DOCKER_CONFIG/config.json`` (or the credential helper named there),
where it would outlive the run: an ECR token for 12 hours, a basic-auth password for ever. So
these logins go to a private copy of the user's Docker config, made in a fresh 0700 directory
and removed when the action ends (also on error and Ctrl-C). Only ``invoke ecr.login``, which
the user runs to get a login, writes to their own config.

The copy keeps what the docker CLI and buildx need to behave as they do for the user:

- ``config.json`` without our registries' credentials and without ``credsStore`` (a credential
  store would receive our login and keep it). Registries the user logged in to through that
  store keep working: each becomes a ``credHelpers`` entry for the same store, so a private
  base image still pulls;
- ``currentContext`` and the context store (``contexts/``), the buildx builders (``buildx/``)
  and ``cli-plugins/`` are linked, so the same engine and the same builder are used.

A run killed outright (SIGKILL) cannot clean up: the next run removes what it left
(``sweep_stale``; the directory name carries the pid). ``sanitized`` is pure; ``throwaway``
does the file work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

LINKED = ("contexts", "buildx", "cli-plugins")


def sanitized(config: Mapping[str, Any], registries: Sequence[str]) -> dict[str, Any]:
    """The user's config.json minus our registries' credentials and the credential store."""
    ours = {_key(r) for r in registries}
    out = dict(config)
    auths = {k: v for k, v in dict(config.get("auths") or {}).items() if _key(k) not in ours}
    helpers = {
        k: v for k, v in dict(config.get("credHelpers") or {}).items() if _key(k) not in ours
    }
    store = out.pop("credsStore", None)
    if store:
        for server, entry in auths.items():
            if not (isinstance(entry, Mapping) and entry.get("auth")):
                helpers.setdefault(server, store)
    out["auths"] = auths
    if helpers:
        out["credHelpers"] = helpers
    else:
        out.pop("credHelpers", None)
    return out


def _key(server: str) -> str:
    """``https://host:5000/v1/`` and ``host:5000`` name the same registry."""
    host = server.split("://", 1)[-1]
    return host.split("/", 1)[0].lower()


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


PREFIX = "release-docker-config-"


def sweep_stale(directory: Path) -> list[Path]:
    """Remove private configs left by runs that were killed outright (SIGKILL, OOM, power):
    the directory name carries the pid of the run that made it."""
    removed = []
    for path in directory.glob(f"{PREFIX}*-*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def throwaway(user_dir: Path, registries: Sequence[str]) -> Iterator[Path]:
    """A private DOCKER_CONFIG directory for the duration of the block, then removed."""
    sweep_stale(Path(tempfile.gettempdir()))
    private = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))  # mode 0700
    try:
        config = sanitized(_read(user_dir / "config.json"), registries)
        target = private / "config.json"
        target.touch(mode=0o600)
        target.write_text(json.dumps(config, indent=1), encoding="utf-8")
        for name in LINKED:
            if (user_dir / name).is_dir():
                (private / name).symlink_to(user_dir / name, target_is_directory=True)
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)
