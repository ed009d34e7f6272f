"""Where a diagnosis reads from: a build (through the issue-3 ``BuildBackend``), a saved log
file or stdin, and a saved ``batch-get-builds`` JSON.

Adapter module: the build and its CloudWatch log come from the ``BuildBackend`` the caller
hands in (the CodeBuild backend, or the local runner's; the wiring above chooses), so diagnose
reads builds exactly as ``build.wait`` does and never imports the release stage; log pages are
read by ``tasks.codebuild.logs`` (the one paging loop). Nothing here creates a boto3 client.
"""

from __future__ import annotations

import gzip
import json
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..codebuild.logs import all_lines
from ..codebuild.model import FINAL_STATUSES, SUCCEEDED, Build, BuildBackend
from ..core.errors import UsageError
from ..core.runtime import Runtime

RECENT = 25  # builds looked at for "the most recent failed build"


def latest_failed(rt: Runtime, backend: BuildBackend) -> Build:
    """The most recent final, unsuccessful build of the configured project."""
    project = rt.settings.project
    if not project:
        raise UsageError(
            f"environment {rt.settings.env!r} names no CodeBuild project",
            "pass --build-id, --log FILE, or set `project` in invoke.yaml",
        )
    for build in backend.recent(project, RECENT):
        if build.status in FINAL_STATUSES and build.status != SUCCEEDED:
            return build
    raise UsageError(
        f"no failed build among the last {RECENT} builds of {project}",
        "pass --build-id (`invoke build.list` shows them) or --log FILE",
    )


def read_build(rt: Runtime, backend: BuildBackend, build_id: str | None) -> Build:
    if not build_id:
        return latest_failed(rt, backend)
    if ":" not in build_id and rt.settings.project:  # accept the bare uuid too
        build_id = f"{rt.settings.project}:{build_id}"
    return backend.get(build_id)


def log_lines(backend: BuildBackend, build: Build) -> Iterator[str]:
    """Every line of the build's log, read forward page by page (lazily)."""
    return all_lines(backend, build.logs)


GZIP_MAGIC = b"\x1f\x8b"


class _Gunzip:
    """A gzip stream whose damage (a truncated download, corrupt bytes) is bad input: one line,
    exit 2, instead of gzip's EOFError or zlib.error escaping from deep inside the scan."""

    def __init__(self, raw: IO[bytes], label: str) -> None:
        self._stream = gzip.GzipFile(fileobj=raw, mode="rb")
        self._raw = raw
        self._label = label

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except (EOFError, OSError, zlib.error) as exc:
            why = "it ends before gzip's end marker" if isinstance(exc, EOFError) else str(exc)
            raise UsageError(
                f"the log {self._label} is a damaged gzip file ({why})",
                "download or export the log again, or pass it uncompressed",
            ) from None

    def close(self) -> None:
        self._stream.close()
        self._raw.close()


def open_log(path: str) -> IO[bytes]:
    """A saved log file, or stdin for ``-``; gzip (CloudWatch exports) is read transparently."""
    if path == "-":
        if sys.stdin.isatty():  # nothing piped in: reading would wait silently for typing
            raise UsageError(
                "--log - reads the log from stdin, but stdin is this terminal",
                "pipe the log in (`docker push IMAGE 2>&1 | invoke diagnose --log -`) or pass "
                "--log FILE",
            )
        stdin: IO[bytes] = sys.stdin.buffer
        peek = getattr(stdin, "peek", None)  # buffered streams look ahead without consuming
        if peek is not None and peek(2)[:2] == GZIP_MAGIC:
            return _Gunzip(stdin, "on stdin")  # type: ignore[return-value]
        return stdin
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 (the caller reads and closes it)
        if handle.read(2) == GZIP_MAGIC:
            handle.seek(0)
            return _Gunzip(handle, path)  # type: ignore[return-value]
        handle.seek(0)
        return handle
    except IsADirectoryError:
        raise UsageError(f"--log {path} is a directory", "pass the log file itself") from None
    except OSError as exc:
        raise UsageError(
            f"cannot read log file {path}: {exc.strerror}",
            "pass an existing file (or - for stdin)",
        ) from None


def read_build_json(path: str) -> dict[str, Any]:
    """A saved ``aws codebuild batch-get-builds`` response."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read {path}: {exc.strerror}", "pass the saved batch-get-builds JSON"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not JSON text (a binary byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            "save it with `aws codebuild batch-get-builds --ids ID > build.json`",
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path} is not JSON ({exc.msg} at line {exc.lineno})",
            "save it with `aws codebuild batch-get-builds --ids ID > build.json`",
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} does not hold a JSON object", "save batch-get-builds output")
    _require_a_build(path, data)
    return data


def _key(data: dict[str, Any], name: str) -> Any:
    """camelCase (boto3, aws cli) or PascalCase, as ``facts.build_from_json`` reads them."""
    return data.get(name, data.get(name[:1].upper() + name[1:]))


def _require_a_build(path: str, data: dict[str, Any]) -> None:
    """An empty answer (``batch-get-builds`` of a wrong id) is bad input, not 'no match'."""
    builds = _key(data, "builds")
    if isinstance(builds, list) and builds and isinstance(builds[0], dict):
        return
    if builds is None and (_key(data, "id") or _key(data, "buildStatus")):
        return  # one build object
    missing = _key(data, "buildsNotFound") or []
    why = f": CodeBuild did not find {', '.join(map(str, missing))}" if missing else ""
    raise UsageError(
        f"{path} holds no build{why}",
        "check the id (`invoke build.list`), then save it again with "
        "`aws codebuild batch-get-builds --ids ID > build.json`",
    )


__all__ = ["latest_failed", "log_lines", "open_log", "read_build", "read_build_json"]
