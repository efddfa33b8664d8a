"""The sync tables (IBLTs) as compiled loops: building a node's table of a region, and
decoding the difference of two tables.

The references are in :mod:`nodeapp._core.reconcile`, in numpy and plain Python:

* Building: ``ids_in_region`` then ``build_iblt`` (numpy masks, then ``np.add.at`` and
  ``np.bitwise_xor.at`` three times each, ~60 ns an element). Every table cost ~0.57 s of the
  node's only thread when it held 1,000,000 ops and ~57 ms at 100,000, whatever the table's
  size: once for each offer it made and each offer it answered, every sync interval.
  :func:`region_iblt` selects and inserts in one pass over the held ops' arrays.
* Peeling: ``peel``. The largest table a peer may offer (``CELLS_MAX`` cells) took ~1.4 s in
  Python when every cell was crafted to look pure, and ~0.8 s for an honest table with 60,000
  differences; :func:`peel` does either in milliseconds.

Both kernels live in this one file on purpose: numba's cache checks only the file of the
function it caches, so a helper shared from another file could change without the kernels
that inline it being compiled again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from nodeapp._core.reconcile import CELLS_MIN, SALTS, Iblt, cells_for

_SALT0, _SALT1, _SALT2, _SALT3 = (np.uint64(s) for s in SALTS)


@numba.njit(cache=True, inline="always")
def _mix64(x: np.uint64) -> np.uint64:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _cell_of(salted: np.uint64, table: int, part: np.uint64) -> np.int64:
    """The cell of table part ``table`` (0-2) that a seed-salted id lands in."""
    salt = _SALT0 if table == 0 else (_SALT1 if table == 1 else _SALT2)
    return np.int64(_mix64(salted ^ salt) % part) + table * np.int64(part)


@numba.njit(cache=True)
def _peel(count: np.ndarray, keys: np.ndarray, checks: np.ndarray, seed: np.uint64,
          found: np.ndarray, signs: np.ndarray) -> int:
    """Peel in place; the keys found go to ``found`` with their sign in ``signs``. Returns how
    many were found, or -1 when the table does not decode (too small, or inconsistent)."""
    cells = count.shape[0]
    part = np.uint64(cells // 3)
    # each step pops one cell and pushes at most three, over at most 4 * cells steps: the
    # stack never holds more than the initial pure cells plus 2 per step
    stack = np.empty(cells + 2 * 4 * cells, dtype=np.int64)
    top = 0
    for i in range(cells):
        if count[i] == 1 or count[i] == -1:
            stack[top] = i
            top += 1
    steps = 0
    n_found = 0
    while top > 0:
        steps += 1
        if steps > 4 * cells:
            return -1
        top -= 1
        i = stack[top]
        sign = count[i]
        if sign != 1 and sign != -1:
            continue
        key = keys[i]
        check = _mix64(key ^ _SALT3)
        if checks[i] != check:
            continue
        found[n_found] = key
        signs[n_found] = sign
        n_found += 1
        salted = key ^ seed
        for table in range(3):
            j = _cell_of(salted, table, part)
            count[j] -= sign
            keys[j] ^= key
            checks[j] ^= check
            if count[j] == 1 or count[j] == -1:
                stack[top] = j
                top += 1
    for i in range(cells):
        if count[i] != 0 or keys[i] != 0 or checks[i] != 0:
            return -1
    return n_found


def peel(diff: Iblt) -> tuple[set[int], set[int]] | None:
    """Decode ``mine - theirs`` into (only mine, only theirs); None if the table was too
    small. Same result as :func:`nodeapp._core.reconcile.peel`."""
    count = diff.count.astype(np.int64)
    keys = diff.keys.astype(np.uint64)  # copies: peeling works in place
    checks = diff.checks.astype(np.uint64)
    cells = len(count)
    found = np.empty(4 * cells, dtype=np.uint64)
    signs = np.empty(4 * cells, dtype=np.int8)
    n = _peel(count, keys, checks, np.uint64(diff.seed & (2**64 - 1)), found, signs)
    if n < 0:
        return None
    keys_found, signs_found = found[:n].tolist(), signs[:n].tolist()
    mine = {k for k, s in zip(keys_found, signs_found, strict=True) if s == 1}
    theirs = {k for k, s in zip(keys_found, signs_found, strict=True) if s == -1}
    return mine, theirs


_RING = np.int64(0xFFFFFFFF)  # locations wrap at 2**32


@numba.njit(cache=True)
def _build(ids: np.ndarray, locations: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
           prefix_value: np.uint64, prefix_bits: np.int64, seed: np.uint64,
           count: np.ndarray, keys: np.ndarray, checks: np.ndarray) -> None:
    """Insert each id whose location is in a region piece and whose top ``prefix_bits`` bits
    are ``prefix_value`` into the zeroed table."""
    part = np.uint64(count.shape[0] // 3)
    shift = np.uint64(64 - prefix_bits) if prefix_bits > 0 else np.uint64(0)
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
        check = _mix64(key ^ _SALT3)
        salted = key ^ seed
        for table in range(3):
            j = _cell_of(salted, table, part)
            count[j] += 1
            keys[j] ^= key
            checks[j] ^= check


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
    """Compile both kernels (or load them from numba's cache) now, not on the first sync."""
    table = region_iblt(np.zeros(1, dtype=np.uint64), np.zeros(1, dtype=np.uint32),
                        ((0, 1),), (0, 1), CELLS_MIN, 0)
    peel(table)
