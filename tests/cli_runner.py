"""Run the command line as a user does: ``python -m churnml.cli ...`` in a new process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_churnml(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """The finished process of ``churnml ARGS`` (text output captured, never raises on exit).

    The child gets this process's environment without ``MLFLOW_TRACKING_URI`` (tests that
    call ``mlflow.set_tracking_uri`` export it, and a command must not write into another
    test's store by accident), then ``env`` on top.
    """
    child = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    child.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "churnml.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=child,
    )
