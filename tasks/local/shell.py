"""One shell session per command list: the driver script that sources each command and reports
progress by nonce markers, the environment and directory carried to the next session, and
``run-as`` (which user a phase runs as).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Shell:
    """State carried from one command list to the next: environment and working directory."""

    env: dict[str, str]
    cwd: str


def can_run_as(user: str) -> bool:
    """This process can run commands as ``user``: the user exists and we are it, or root."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return False
    return os.geteuid() in (0, entry.pw_uid)


def switch_to(user: str) -> tuple[int, int] | None:
    """``(uid, gid)`` to run a phase as ``user``; None when it is us or we cannot switch (the
    build's start names that in a warning line)."""
    import pwd

    if not can_run_as(user):
        return None
    entry = pwd.getpwnam(user)
    return None if entry.pw_uid == os.geteuid() else (entry.pw_uid, entry.pw_gid)


def write_driver(base: Path, commands: Sequence[str], nonce: str, *, isolated: bool) -> Path:
    """A script that sources each command in turn and reports progress by nonce markers
    (``<nonce> RUN <index>``, ``<nonce> END <rc>``); at its exit it leaves the session's
    environment and directory in ``<base>.env`` / ``<base>.cwd`` for ``carry``. ``isolated``
    (``version: 0.1``): each command in a subshell, so nothing carries over."""
    lines = [
        "__cb_end() { __cb_rc=$?; env -0 > " + shlex.quote(f"{base}.env") + " 2>/dev/null;",
        "  pwd > " + shlex.quote(f"{base}.cwd") + " 2>/dev/null;",
        f'  printf \'{nonce} END %s\\n\' "$__cb_rc"; exit "$__cb_rc"; }}',
        "trap __cb_end EXIT",
    ]
    for index, command in enumerate(commands):
        script = Path(f"{base}.{index}.sh")
        script.write_text(command + "\n")
        run = f"( . {shlex.quote(str(script))} )" if isolated else f". {shlex.quote(str(script))}"
        lines += [
            f"printf '{nonce} RUN {index}\\n'",
            run,
            '__cb_rc=$?; [ "$__cb_rc" -eq 0 ] || exit "$__cb_rc"',
        ]
    driver = Path(f"{base}.driver.sh")
    driver.write_text("\n".join(lines) + "\n")
    return driver


def carry(scratch: Path, shell: Shell, tag: str) -> None:
    """The session's final environment and directory become the next session's start."""
    env_file = scratch / f"{tag}.env"
    cwd_file = scratch / f"{tag}.cwd"
    if env_file.exists():
        pairs = [item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item]
        env = {k: v for k, v in pairs if k not in ("_", "SHLVL", "OLDPWD", "PWD", "__cb_rc")}
        if env:
            shell.env = env
        env_file.unlink()
    if cwd_file.exists():
        cwd = cwd_file.read_text().strip()
        if cwd and Path(cwd).is_dir():
            shell.cwd = cwd
        cwd_file.unlink()
