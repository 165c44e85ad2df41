"""Run the real `curation` CLI in a fresh process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def curation(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run the real `curation` CLI in a fresh process (one thread, no network)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", RAY_AUTH_MODE="disabled")
    return subprocess.run(
        [sys.executable, "-m", "curation.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def run_ok(*args: str) -> None:
    proc = curation(*args)
    assert proc.returncode == 0, f"curation {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
