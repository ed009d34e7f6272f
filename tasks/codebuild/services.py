"""The build collaborators of one run (``rt.part(Services)``), typed: the backend that starts
and reads builds (CodeBuild or the local runner), the AWS call wrapper with its retry rules,
the poll policy of the wait, the failure hook that names a failed build's cause, and how a
yes/no question is asked.

``tasks.wiring`` fills them with the real ones (the runner's backend, made on first use);
a test ``rt.put``s its own ``Services(backend=fake)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.errors import UsageError

if TYPE_CHECKING:  # types only: keeps the start-up of every task free of these modules
    from .client import AwsCaller
    from .model import BuildBackend
    from .wait import FailureHook, PollPolicy, StreamedFailureHook


@dataclass
class Services:
    backend: BuildBackend | None = None
    make_backend: Callable[[], BuildBackend] | None = None  # the wiring's choice, called once
    caller: AwsCaller | None = None
    poll_policy: PollPolicy | None = None
    # None: the wiring's default (``invoke diagnose``); diagnose=False turns diagnosis off
    on_failure: FailureHook | StreamedFailureHook | None = None
    diagnose: bool = True
    ask: Callable[[str], bool | None] | None = None  # None: ask on the terminal, if any

    def build_backend(self, env: str) -> BuildBackend:
        """The backend, made on first use by the wiring's factory."""
        if self.backend is None:
            if self.make_backend is None:
                raise UsageError(
                    f"no build backend is wired for environment {env!r}",
                    "build the runtime with tasks.wiring.runtime_for (or put Services(backend=...))",
                )
            self.backend = self.make_backend()
        return self.backend
