"""Building the IBLT of the ops held in a region (sync offers) as one compiled pass.

The reference is :func:`nodeapp._core.reconcile.ids_in_region` followed by
:func:`nodeapp._core.reconcile.build_iblt`: numpy masks, then ``np.add.at`` and
``np.bitwise_xor.at`` three times each. Those run at ~60 ns an element, so every table cost
~0.57 s of the node's only thread when it held 1,000,000 ops and ~57 ms at 100,000, whatever
the table's size: once for each offer it made and once for each offer it answered, every
sync interval. This kernel selects and inserts in one pass over the held ops' arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from nodeapp._core.reconcile import CELLS_MIN, Iblt, cells_for
from nodeapp.kernels.iblt_peel import SALT3, cell_of, mix64

_RING = np.int64(0xFFFFFFFF)  # locations wrap at 2**32


@numba.njit(cache=True)
def _build(ids: np.ndarray, locations: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
           prefix_value: np.uint64, prefix_bits: np.int64, seed: np.uint64,
           count: np.ndarray, keys: np.ndarray, checks: np.ndarray) -> int:
    """Insert each id whose location is in a region piece and whose top ``prefix_bits`` bits
    are ``prefix_value`` into the zeroed table; returns how many were inserted."""
    part = np.uint64(count.shape[0] // 3)
    shift = np.uint64(64 - prefix_bits) if prefix_bits > 0 else np.uint64(0)
    inserted = 0
    for n in range(ids.shape[0]):
        location = np.int64(locations[n])
        inside = False
        for k in range(starts.shape[0]):
            if (location - starts[k]) & _RING < lengths[k]:
                inside = True
                break
        if not inside:
            continue
        key = ids[n]
        if prefix_bits > 0 and (key >> shift) != prefix_value:
            continue
        check = mix64(key ^ SALT3)
        salted = key ^ seed
        for table in range(3):
            j = cell_of(salted, table, part)
            count[j] += 1
            keys[j] ^= key
            checks[j] ^= check
        inserted += 1
    return inserted


def region_iblt(ids: np.ndarray, locations: np.ndarray, region: Sequence[tuple[int, int]],
                id_prefix: tuple[int, int], cells: int, seed: int) -> Iblt:
    """The table of the ``ids`` (uint64; no duplicates) whose ``locations`` (uint32) are in
    ``region`` and that start with ``id_prefix``: the same table as
    ``build_iblt(ids_in_region(ids, locations, region, id_prefix), cells, seed)``."""
    cells = cells_for(cells)
    count = np.zeros(cells, dtype=np.int32)
    keys = np.zeros(cells, dtype=np.uint64)
    checks = np.zeros(cells, dtype=np.uint64)
    starts = np.array([start for start, _ in region], dtype=np.int64)
    lengths = np.array([length for _, length in region], dtype=np.int64)
    value, bits = id_prefix
    _build(np.asarray(ids, dtype=np.uint64), np.asarray(locations, dtype=np.uint32), starts,
           lengths, np.uint64(value), np.int64(bits), np.uint64(seed & (2**64 - 1)), count,
           keys, checks)
    return Iblt(seed, count, keys, checks)


def warm_up() -> None:
    """Compile the kernel (or load it from numba's cache) now, not on the first sync."""
    region_iblt(np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.uint32), ((0, 1),), (0, 1),
                CELLS_MIN, 0)
