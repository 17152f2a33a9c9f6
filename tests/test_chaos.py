"""Short runs of ``bench/chaos.py``: two replicas on one PostgreSQL, stopped in turn under mixed load.

The script checks what matters itself (every run ended, every message there, no answer twice, no
5xx; rolling restarts: no run failed, no stream broken) and exits non-zero otherwise; the full
two-minute runs are benchmarks, these are their short cuts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import POSTGRES_ADMIN_URL

CHAOS = Path(__file__).resolve().parent.parent / "bench" / "chaos.py"
NEEDS_POSTGRES = pytest.mark.skipif(
    not POSTGRES_ADMIN_URL, reason="replicas share runs through PostgreSQL (ASSISTANTD_TEST_POSTGRES)"
)


def chaos(*options: str) -> str:
    assert POSTGRES_ADMIN_URL
    argv = [sys.executable, str(CHAOS), "--admin-url", POSTGRES_ADMIN_URL, "--clients", "6", "--workers", "1"]
    done = subprocess.run([*argv, *options], capture_output=True, text=True)
    report = done.stdout + done.stderr[-3000:]
    assert done.returncode == 0, report
    assert "chaos: OK" in done.stdout, report
    return done.stdout


def signals(report: str, name: str) -> int:
    assert f" {name}," in report, report
    return int(report.split(f" {name},")[0].rsplit(" ", 1)[1])


@NEEDS_POSTGRES
def test_replicas_killed_under_load_lose_nothing() -> None:
    report = chaos("--duration", "20", "--kill-every", "3")
    assert signals(report, "SIGKILLs") >= 1, report


@NEEDS_POSTGRES
def test_rolling_restarts_under_load_fail_nothing() -> None:
    """SIGTERM in turn: each server drains, hands its long runs over, closes its streams cleanly."""
    report = chaos("--mode", "rolling", "--duration", "30", "--every", "3")
    assert signals(report, "SIGTERMs") >= 2, report
    assert "failed 0, stuck 0, lost 0, duplicates 0, 5xx 0, broken streams 0" in report, report
