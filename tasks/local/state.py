"""A build on disk: its folder under ``.release-local/builds/<uuid>/`` and the files in it.

``request.json`` (what was asked), ``state.json`` (rewritten atomically, under the folder's
``.lock``, at each transition), ``build.log`` (``<epoch-ms> <line>``, append-only). The
conversion of ``state.json`` to the ``Build`` the suite reads, and the agent's time format.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..codebuild.model import Build, Context, EnvVar, LogLocation, Phase
from ..core.resources import project_root

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def local_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the local environment keeps its state (``RELEASE_LOCAL_DIR`` overrides)."""
    env = os.environ if environ is None else environ
    return Path(env.get("RELEASE_LOCAL_DIR") or project_root() / ".release-local").absolute()


def stamp(epoch: float) -> str:
    """CodeBuild agent time: ``2026/11/24 10:00:00.123456`` (UTC)."""
    whole = int(epoch)
    micro = round((epoch - whole) * 1_000_000)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(whole)) + f".{micro:06d}"


def one_line(command: str) -> str:
    """A command as the agent quotes it in one-line messages (newlines folded)."""
    return " ".join(part.strip() for part in command.strip().splitlines() if part.strip())


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: leave no half-written file behind
        raise
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def phase_from_dict(raw: Mapping[str, Any]) -> Phase:
    return Phase(
        name=str(raw["name"]),
        status=raw.get("status"),
        start=raw.get("start"),
        end=raw.get("end"),
        duration=raw.get("duration"),
        contexts=tuple(Context(c[0], c[1]) for c in raw.get("contexts") or ()),
    )


def build_from_state(state: Mapping[str, Any]) -> Build:
    return Build(
        id=state["id"],
        project=state["project"],
        status=state["status"],
        current_phase=state["current_phase"],
        phases=tuple(phase_from_dict(p) for p in state.get("phases", ())),
        start=state.get("start"),
        end=state.get("end"),
        initiator=state.get("initiator", ""),
        logs=LogLocation(state["log_group"], state["log_stream"], state.get("log_path", "")),
        environment=tuple(EnvVar(n, v) for n, v in state.get("environment", ())),
        exported_variables=tuple((n, v) for n, v in state.get("exported", ())),
        complete=bool(state.get("complete")),
        image=state.get("image", ""),
        number=state.get("number"),
        console_url="",
    )


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def display(path: Path) -> str:
    try:
        return str(path.relative_to(project_root()))
    except ValueError:
        return str(path)
