"""invoke's entry point: assembles the root Collection and nothing else.

invoke loads this file as the module ``tasks``; the code lives in the folder ``tasks/``.
Setting ``__path__`` makes this module act as that package, so ``tasks.cli`` and friends
import the same way under invoke, pytest (which imports ``tasks/__init__.py``) and mypy.
"""

from pathlib import Path

__path__ = [str(Path(__file__).with_name("tasks"))]

from tasks.core.interrupts import claim_sigint

claim_sigint()  # first: a Ctrl-C from here on is one line and exit 130, never a traceback

from tasks.cli import build_root  # noqa: E402  (after the claim, on purpose)

ns = build_root(Path(__file__).parent)
