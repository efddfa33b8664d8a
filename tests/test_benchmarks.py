"""The benchmark scripts run and print the figures the issues ask for (their sizes cut down with
``--quick``). Figures are checked for shape and consistency, never against a time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"

CORE_FIGURES = (
    "commits_per_s", "commit_p50_ms", "commit_p99_ms", "raw_sign_per_s", "validate_per_s",
    "raw_verify_per_s", "validate_ratio", "audit_rows_per_s_numba", "audit_rows_per_s_python",
    "commit_p50_ms_at_1m", "commit_at_1m_ratio",
)
NET_FIGURES = (
    "sync_lag_p50_s", "sync_lag_p99_s", "receipts_complete_p50_s", "receipts_complete_p99_s",
    "bulk_sync_ops_per_s", "sim_sync_lag_p99_s", "sync_bytes_per_diff_op", "sync_table_ms",
)


def run_benchmark(script: str, timeout_s: float) -> dict[str, object]:
    """Run ``scripts/<script> --json --quick``; its standard output must be one JSON object."""
    done = subprocess.run([sys.executable, str(SCRIPTS / script), "--json", "--quick"],
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout[-2000:]
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    assert result["python"].startswith(("CPython", "PyPy"))
    assert result["build"].startswith(("source", "compiled"))
    return result


def test_bench_core_prints_every_figure() -> None:
    result = run_benchmark("bench_core.py", timeout_s=300)
    for name in CORE_FIGURES:
        assert isinstance(result[name], int | float) and result[name] > 0, name
    assert result["commit_p50_ms"] <= result["commit_p99_ms"]
    assert result["validate_ratio"] == pytest.approx(
        result["validate_per_s"] / result["raw_verify_per_s"], abs=0.002)
    assert result["chain_actions_at_1m"] > 10_000  # the "big chain" really was stored
    assert result["quick"] is True
    speed = result["machine_speed_vs_reference"]
    assert set(speed) == {"sign", "verify"} and all(v > 0 for v in speed.values())


def test_bench_net_prints_every_figure() -> None:
    result = run_benchmark("bench_net.py", timeout_s=600)
    for name in NET_FIGURES:
        assert isinstance(result[name], int | float) and result[name] >= 0, name
    # every op reached every authority with all its receipts, in the real and simulated runs
    assert result["ops_not_converged"] == 0
    assert result["ops_without_all_receipts"] == 0
    assert result["bulk_complete"] is True
    assert result["sim_ok"] is True
    assert result["sync_converged"] is True
