"""Peak memory is the command's own, not that of the large process that started it (ru_maxrss survives exec)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_a_command_started_by_a_large_process_reports_its_own_peak() -> None:
    held = bytearray(600 * 2**20)
    held[::4096] = b"\x01" * len(range(0, len(held), 4096))  # touch every page: 600 MB resident here
    code = "from curation.core.stage import peak_rss_bytes; print(peak_rss_bytes())"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 0 < int(child.stdout) < 300 * 2**20, int(child.stdout) / 2**20
    del held
