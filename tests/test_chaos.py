"""A short run of ``bench/chaos.py``: two replicas on one PostgreSQL, SIGKILLs under mixed load.

The script checks what matters itself (every run ended, every message there, no answer twice, no
5xx) and exits non-zero otherwise; the full two-minute run is a benchmark, this is its 20-second cut.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import POSTGRES_ADMIN_URL

CHAOS = Path(__file__).resolve().parent.parent / "bench" / "chaos.py"


@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="replicas share runs through PostgreSQL (ASSISTANTD_TEST_POSTGRES)")
def test_replicas_killed_under_load_lose_nothing() -> None:
    assert POSTGRES_ADMIN_URL
    argv = [sys.executable, str(CHAOS), "--admin-url", POSTGRES_ADMIN_URL, "--duration", "20", "--kill-every", "3"]
    argv += ["--clients", "6", "--workers", "1"]
    done = subprocess.run(argv, capture_output=True, text=True)
    report = done.stdout + done.stderr[-3000:]
    assert done.returncode == 0, report
    assert "chaos: OK" in done.stdout and "SIGKILLs" in done.stdout, report
    kills = int(done.stdout.split(" SIGKILLs")[0].rsplit(" ", 1)[1])
    assert kills >= 1, report
