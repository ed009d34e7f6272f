"""Runs a buildspec on this machine with CodeBuild's semantics, as a ``BuildBackend``.

So ``db.migrate``, ``db.seed``, ``release``, ``build.wait``/``build.logs`` and ``diagnose`` work
unchanged on ``--env local`` (``runner: local``). What is reproduced is what buildspecs use:

- phases SUBMITTED .. COMPLETED in CodeBuild's order; ``install``, ``pre_build``, ``build``,
  ``post_build`` run their commands in ONE shell session each (``cd``/``export`` carry over
  between commands, and the environment and directory carry on into the next phase);
- ``env.variables`` < start overrides (the override wins, as on CodeBuild); ``env.shell``;
  ``env.secrets-manager`` resolved from the local environment's configuration (written by
  ``invoke local.up``), masked in the log like CodeBuild masks them; ``exported-variables``;
- ``version: 0.1``: each command in a shell of its own (nothing carries over);
- ``artifacts`` (and ``secondary-artifacts``): the matching files are copied into the build's
  ``artifacts/`` folder; no match fails UPLOAD_ARTIFACTS as CodeBuild does; ``run-as`` when the
  user exists and this process may switch to it; ``CODEBUILD_*`` variables it can know;
- ``on-failure: ABORT|CONTINUE``, ``finally`` blocks, ``CODEBUILD_BUILD_SUCCEEDING``; a failed
  INSTALL/PRE_BUILD skips to FINALIZING, a failed BUILD still runs POST_BUILD;
- phase statuses with contexts (``COMMAND_EXECUTION_ERROR``, ``Secrets Manager Error``...), a
  build status (SUCCEEDED/FAILED/FAULT/TIMED_OUT/STOPPED), the build timeout, StopBuild;
- the agent's log grammar: ``[Container] 2026/11/24 10:00:00.123456 Running command ...``.

What it does not carry out (``runtime-versions``, ``reports``, ``cache``, ``batch``, ``proxy``,
``git-credential-helper``, Parameter Store, RETRY, Windows shells) is named, one line each, at
the start of the build's log (``buildspec.local_warnings``).

A build runs in a detached worker process (``python -m <package>.local.runner DIR``), so it survives
``--detach`` and the invoking process. State lives under ``.release-local/builds/<uuid>/``:
``request.json`` (what was asked), ``state.json`` (rewritten atomically at each transition),
``build.log`` (``<epoch-ms> <line>``, append-only; log tokens are byte offsets).

CodeBuild's guarantees kept here: ``concurrentBuildLimit: 1`` (a start refuses while a build of
the project runs, decided under the same lock as the start itself, so two starts at the same
instant cannot both run); a start that fails (a full disk, a worker that cannot be spawned)
leaves no build behind; a start whose process died before its worker ran, or a worker that
died, is a FAULT, never an endless IN_PROGRESS; a stop that lands before the worker could
handle it still ends STOPPED.

This module is the worker's entry (``python -m <package>.local.runner BUILD_DIR``, the module
name taken from ``__package__``, so it also runs installed as ``release_suite``) and the
package's public face. The parts live beside it: ``state`` (the build folder on disk),
``processes`` (pids, stop signals, what a dead build left running), ``backend``
(``LocalBackend``), ``worker`` (the phase engine), ``shell`` (one shell session per command
list), ``secrets_manager`` (``env.secrets-manager`` from the local store).
"""

from __future__ import annotations

import sys

from .backend import (
    LOCAL_POLL,
    LocalBackend,
    check_buildspec,
    running_builds,
    source_dir,
)
from .processes import kill_containers
from .state import PROJECT_ROOT, build_from_state, local_dir, one_line, phase_from_dict, stamp
from .worker import Worker, main

__all__ = [
    "LOCAL_POLL",
    "PROJECT_ROOT",
    "LocalBackend",
    "Worker",
    "build_from_state",
    "check_buildspec",
    "kill_containers",
    "local_dir",
    "main",
    "one_line",
    "phase_from_dict",
    "running_builds",
    "source_dir",
    "stamp",
]

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
