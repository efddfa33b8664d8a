"""The compiled region IBLT is the table the numpy reference builds, for any held ops and any
region or id prefix a peer may name."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeapp._core.reconcile import CELLS_MAX, CELLS_MIN, build_iblt, ids_in_region
from nodeapp.kernels.iblt import region_iblt

ids = st.integers(0, 2**64 - 1)
locations = st.integers(0, 2**32 - 1)
# what SyncOffer decoding lets through: 1-4 pieces, start < 2**32, length 1..2**32, overlaps too
pieces = st.tuples(locations, st.one_of(st.integers(1, 2**32), st.integers(1, 1000)))
regions = st.lists(pieces, min_size=0, max_size=4).map(tuple)
prefixes = st.integers(0, 64).flatmap(
    lambda bits: st.tuples(st.integers(0, (1 << bits) - 1), st.just(bits)))
sizes = st.sampled_from([CELLS_MIN, CELLS_MIN * 4, 1000, CELLS_MAX])
seeds = st.integers(0, 2**64 - 1)


def assert_same_table(held: dict[int, int], region: tuple[tuple[int, int], ...],
                      prefix: tuple[int, int], cells: int, seed: int) -> None:
    id_array = np.array(list(held), dtype=np.uint64)
    loc_array = np.array(list(held.values()), dtype=np.uint32)
    expected = build_iblt(ids_in_region(id_array, loc_array, region, prefix), cells, seed)
    got = region_iblt(id_array, loc_array, region, prefix, cells, seed)
    assert got.to_bytes() == expected.to_bytes()
    assert got.seed == expected.seed


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(ids, locations, max_size=300), regions, prefixes, sizes, seeds)
def test_any_region_and_prefix_gives_the_reference_table(
        held: dict[int, int], region: tuple[tuple[int, int], ...], prefix: tuple[int, int],
        cells: int, seed: int) -> None:
    assert_same_table(held, region, prefix, cells, seed)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(ids, locations, min_size=1, max_size=200), seeds)
def test_ids_sharing_a_prefix_and_edges_of_the_ring(held: dict[int, int], seed: int) -> None:
    """Prefixes that every id or no id matches, and pieces that wrap or end at the ring's edge
    (where an off-by-one in the wrap would show)."""
    first = next(iter(held))
    locs = list(held.values())
    for prefix in ((first >> 63, 1), (first, 64), (first >> 32, 32), (0, 0)):
        for piece in ((0, 2**32), (2**32 - 1, 2), (locs[0], 1), (locs[0], 2**32 - 1),
                      ((locs[0] + 1) % 2**32, 2**32)):
            assert_same_table(held, (piece,), prefix, CELLS_MIN, seed)


def test_nothing_held_gives_an_empty_table() -> None:
    table = region_iblt(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint32),
                        ((0, 2**32),), (0, 0), CELLS_MIN, 9)
    assert table.cells == CELLS_MIN
    assert not table.count.any() and not table.keys.any() and not table.checks.any()
