"""Simulated networks under faults: every invariant must hold, and a seed must replay exactly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sims.run import SimConfig, run

logging.getLogger("nodeapp").setLevel(logging.ERROR)
logging.getLogger("sims").setLevel(logging.ERROR)


def assert_ok(config: SimConfig, root: Path) -> None:
    report = run(config, root)
    assert report.ok, f"{report.summary()}; rerun with seed {config.seed}: {report.violations}"
    assert report.unconverged_ops == 0


def test_healthy_network_converges_fast(tmp_path: Path) -> None:
    report = run(SimConfig(nodes=12, seed=11, commits=20, fault_ms=5_000, settle_ms=10_000),
                 tmp_path)
    assert report.ok, report.violations
    assert report.sync_lag_p99_s is not None and report.sync_lag_p99_s < 5


def test_lossy_duplicating_reordering_links(tmp_path: Path) -> None:
    assert_ok(SimConfig(nodes=20, seed=3, commits=30, fault_ms=10_000, settle_ms=30_000,
                        loss=0.1, duplicate=0.05, delay_min_ms=1, delay_max_ms=400), tmp_path)


def test_links_heal_when_the_faults_end(tmp_path: Path) -> None:
    """Nine messages in ten lost during the fault phase: the settle phase runs on healthy
    links (as a network that comes back does), and anti-entropy repairs everything."""
    assert_ok(SimConfig(nodes=5, seed=3, commits=10, fault_ms=5_000, settle_ms=30_000,
                        loss=0.9), tmp_path)


def test_partition_heals(tmp_path: Path) -> None:
    assert_ok(SimConfig(nodes=16, seed=5, commits=30, fault_ms=12_000, settle_ms=30_000,
                        partition=True), tmp_path)


def test_crashes_and_restarts_keep_their_files(tmp_path: Path) -> None:
    assert_ok(SimConfig(nodes=16, seed=7, commits=30, fault_ms=12_000, settle_ms=30_000,
                        crashes=4, loss=0.02), tmp_path)


def test_byzantine_nodes_are_warranted_and_outsiders_get_nothing(tmp_path: Path) -> None:
    assert_ok(SimConfig(nodes=16, seed=9, commits=20, fault_ms=10_000, settle_ms=30_000,
                        byzantine_fork=1, byzantine_invalid=1, intruder=True), tmp_path)


def test_a_hundred_nodes_under_every_fault(tmp_path: Path) -> None:
    assert_ok(SimConfig(nodes=100, seed=1, commits=30, fault_ms=10_000, settle_ms=30_000,
                        tick_ms=250, loss=0.02, duplicate=0.01, delay_max_ms=100,
                        partition=True, crashes=3, byzantine_fork=1, byzantine_invalid=1,
                        intruder=True), tmp_path)


def test_a_seed_replays_exactly(tmp_path: Path) -> None:
    config = SimConfig(nodes=10, seed=21, commits=15, fault_ms=5_000, settle_ms=10_000,
                       loss=0.05, duplicate=0.05, crashes=1)
    first = run(config, tmp_path / "a")
    second = run(config, tmp_path / "b")
    assert (first.events, first.frames, first.bytes, first.sync_lag_p50_s) == (
        second.events, second.frames, second.bytes, second.sync_lag_p50_s)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 300))
def test_many_seeds_under_every_fault(tmp_path: Path, seed: int) -> None:
    assert_ok(SimConfig(nodes=20, seed=seed, commits=30, fault_ms=10_000, settle_ms=40_000,
                        loss=0.05, duplicate=0.02, delay_max_ms=200, partition=True, crashes=2,
                        byzantine_fork=1, byzantine_invalid=1, intruder=True), tmp_path)


@pytest.mark.parametrize("fault_ms", [100, 1_500])
def test_a_crash_inside_a_short_fault_window_restarts_within_it(tmp_path: Path,
                                                               fault_ms: int) -> None:
    # the restart delay is at least 1 s only when the window leaves room for it
    assert_ok(SimConfig(nodes=4, seed=2, commits=3, fault_ms=fault_ms, settle_ms=5_000,
                        crashes=2), tmp_path)
