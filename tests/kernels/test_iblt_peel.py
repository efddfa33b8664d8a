"""The compiled IBLT peel gives the reference's answer on honest and hostile tables alike."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeapp._core.reconcile import (
    CELLS_MAX,
    CELLS_MIN,
    SALTS,
    Iblt,
    _mix,
    build_iblt,
    iblt_from_bytes,
)
from nodeapp._core.reconcile import peel as peel_reference
from nodeapp.kernels.iblt import peel

ids = st.integers(0, 2**64 - 1)
sizes = st.sampled_from([CELLS_MIN, CELLS_MIN * 4, CELLS_MIN * 16])
seeds = st.integers(0, 2**64 - 1)


@settings(max_examples=200, deadline=None)
@given(st.sets(ids, max_size=400), st.sets(ids, max_size=60), st.sets(ids, max_size=60),
       sizes, seeds)
def test_two_sets_peel_alike(common: set[int], only_mine: set[int], only_theirs: set[int],
                             cells: int, seed: int) -> None:
    mine_set = common | only_mine
    theirs_set = (common - only_mine) | (only_theirs - only_mine)
    mine = np.array(sorted(mine_set), dtype=np.uint64)
    theirs = np.array(sorted(theirs_set), dtype=np.uint64)
    diff = build_iblt(mine, cells, seed).subtract(build_iblt(theirs, cells, seed))
    expected = peel_reference(diff)
    assert peel(diff) == expected
    if expected is not None:  # and a table that decodes gives the true difference
        assert expected == (mine_set - theirs_set, theirs_set - mine_set)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=CELLS_MIN * 20, max_size=CELLS_MIN * 16 * 20), seeds)
def test_any_bytes_a_peer_sends_peel_alike(data: bytes, seed: int) -> None:
    cells = len(data) // 20 // 3 * 3
    if cells < CELLS_MIN:
        return
    table = iblt_from_bytes(data[:cells * 20], seed)
    assert peel(table) == peel_reference(table)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(ids, st.sampled_from([1, -1])), min_size=1, max_size=CELLS_MIN * 4),
       seeds)
def test_cells_crafted_to_look_pure_peel_alike(cells: list[tuple[int, int]], seed: int) -> None:
    """Every cell a key with its right check and a count of one: the costliest input."""
    n = max(CELLS_MIN, len(cells) // 3 * 3)
    keys = np.array([k for k, _ in cells][:n] + [0] * (n - min(n, len(cells))), dtype=np.uint64)
    count = np.array([s for _, s in cells][:n] + [0] * (n - min(n, len(cells))), dtype=np.int32)
    checks = np.array([_mix(int(k) ^ SALTS[3]) if c else 0
                       for k, c in zip(keys, count, strict=True)], dtype=np.uint64)
    table = Iblt(seed, count, keys, checks)
    assert peel(table) == peel_reference(table)


def test_the_largest_crafted_table_peels_alike() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**63, size=CELLS_MAX, dtype=np.uint64)
    checks = np.array([_mix(int(k) ^ SALTS[3]) for k in keys], dtype=np.uint64)
    table = Iblt(11, np.ones(CELLS_MAX, dtype=np.int32), keys, checks)
    assert peel(table) == peel_reference(table)


def test_a_big_honest_difference_peels_to_the_truth() -> None:
    rng = np.random.default_rng(4)
    mine = np.unique(rng.integers(0, 2**64 - 1, size=20_000, dtype=np.uint64))
    theirs = mine[5_000:]
    diff = build_iblt(mine, CELLS_MAX, 5).subtract(build_iblt(theirs, CELLS_MAX, 5))
    assert peel(diff) == ({int(x) for x in mine[:5_000]}, set())
