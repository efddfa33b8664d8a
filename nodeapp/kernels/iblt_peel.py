"""Decoding the difference of two IBLTs (sync offers) as a compiled loop.

:func:`nodeapp._core.reconcile.peel` is the reference: the same steps, in the same order, in
plain Python. Peeling the largest table a peer may offer (``CELLS_MAX`` cells) took ~1.4 s of
the node's only thread in Python when every cell was crafted to look pure, and ~0.8 s for an
honest table with 60,000 differences; this kernel does either in milliseconds, so a member's
sync offers cannot stall the node, and big catch-ups are cheap.
"""

from __future__ import annotations

import numba
import numpy as np

from nodeapp._core.reconcile import CELLS_MIN, SALTS, Iblt

SALT0, SALT1, SALT2, SALT3 = (np.uint64(s) for s in SALTS)


@numba.njit(cache=True, inline="always")
def mix64(x: np.uint64) -> np.uint64:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def cell_of(salted: np.uint64, table: int, part: np.uint64) -> np.int64:
    """The cell of table part ``table`` (0-2) that a seed-salted id lands in."""
    salt = SALT0 if table == 0 else (SALT1 if table == 1 else SALT2)
    return np.int64(mix64(salted ^ salt) % part) + table * np.int64(part)


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
        check = mix64(key ^ SALT3)
        if checks[i] != check:
            continue
        found[n_found] = key
        signs[n_found] = sign
        n_found += 1
        salted = key ^ seed
        for table in range(3):
            j = cell_of(salted, table, part)
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


def warm_up() -> None:
    """Compile the kernel (or load it from numba's cache) now, not on the first sync."""
    empty = np.zeros(CELLS_MIN, dtype=np.int64)
    _peel(empty, empty.astype(np.uint64), empty.astype(np.uint64), np.uint64(0),
          np.empty(4 * CELLS_MIN, dtype=np.uint64), np.empty(4 * CELLS_MIN, dtype=np.int8))
