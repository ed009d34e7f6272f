"""The CLI under a closed pipe, as in ``invoke build.logs ID | head -3``: no bogus error."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples" / "diagnose"


def test_output_into_a_closed_pipe_is_not_an_unexpected_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RELEASE_"))}
    env.update(NO_COLOR="1", AWS_EC2_METADATA_DISABLED="true")
    proc = subprocess.Popen(
        [
            "invoke",
            "diagnose",
            "--no-checks",
            "--log",
            str(SAMPLES / "docker_exec_format_error--with-warning.log"),
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line (head -0)
    err = proc.stderr.read()
    code = proc.wait(timeout=60)
    assert code == 0, err  # the diagnosis named a cause: its own exit code, not 1
    assert "BrokenPipe" not in err and "Traceback" not in err and "unexpected" not in err
