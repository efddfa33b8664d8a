"""Set reconciliation with invertible Bloom lookup tables (IBLTs).

Two nodes that should hold the same ops compare them without listing them: each builds an IBLT
of the 64-bit ids of the ops it holds (in the region both are authorities for), one subtracts
the other's table from its own, and "peels" the difference. What it costs depends on how many
ops differ, not on how many are held: about 1.5 cells of 20 bytes per differing op when the
table is big enough. If it is too small, peeling fails and the caller retries with a table
``GROWTH`` times bigger (bounded by ``CELLS_MAX``; past it the caller splits the region).

Rules:
* Cells are split in three equal parts; each id lands in one cell of each part, chosen by a
  mixing hash of the id and a per-table seed, so the three cells are always distinct.
* A cell is pure when its count is +1 or -1 and its check field equals the mixing hash of its
  key field: then that key is surely an element of exactly one side.
* Ids are the first 8 bytes of op hashes (``op_id``); both sides use the same seed and size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nodeapp.errors import MalformedData

CELLS_MIN = 48
CELLS_MAX = 3 * 2**16
GROWTH = 4
_CELL_BYTES = 20  # int32 count, uint64 key xor, uint64 check xor
_M64 = (1 << 64) - 1
SALTS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5)


def op_id(op_hash: bytes) -> int:
    """The 64-bit id of an op in reconciliation."""
    return int.from_bytes(op_hash[:8], "big")


def _mix(x: int) -> int:
    """splitmix64 finaliser on Python ints (the scalar twin of ``_mix_array``)."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _M64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _M64
    return x ^ (x >> 31)


def _mix_array(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def cells_for(cells: int) -> int:
    """The size a table asked to have ``cells`` cells gets (a multiple of 3, within bounds)."""
    part = max(CELLS_MIN, min(cells, CELLS_MAX)) // 3
    return part * 3


@dataclass
class Iblt:
    """An IBLT of ``cells`` cells built with ``seed``."""

    seed: int
    count: np.ndarray  # int32
    keys: np.ndarray  # uint64
    checks: np.ndarray  # uint64

    @property
    def cells(self) -> int:
        return len(self.count)

    def to_bytes(self) -> bytes:
        """Wire form: counts, keys, checks, little-endian."""
        return (self.count.astype("<i4").tobytes() + self.keys.astype("<u8").tobytes()
                + self.checks.astype("<u8").tobytes())

    def subtract(self, other: Iblt) -> Iblt:
        """This table minus another of the same size and seed."""
        if other.cells != self.cells or other.seed != self.seed:
            raise MalformedData("IBLTs of different shapes cannot be compared")
        return Iblt(self.seed, self.count - other.count, self.keys ^ other.keys,
                    self.checks ^ other.checks)


def iblt_from_bytes(data: bytes, seed: int) -> Iblt:
    """Parse a table from a peer; refuses sizes this node would not build."""
    if len(data) % _CELL_BYTES or not CELLS_MIN <= len(data) // _CELL_BYTES <= CELLS_MAX or (
        len(data) // _CELL_BYTES % 3
    ):
        raise MalformedData(f"an IBLT of {len(data)} bytes is not a valid size")
    n = len(data) // _CELL_BYTES
    count = np.frombuffer(data, dtype="<i4", count=n).astype(np.int32)
    keys = np.frombuffer(data, dtype="<u8", count=n, offset=4 * n).astype(np.uint64)
    checks = np.frombuffer(data, dtype="<u8", count=n, offset=12 * n).astype(np.uint64)
    return Iblt(seed, count, keys, checks)


def _indices(ids: np.ndarray, part: int, seed: int) -> list[np.ndarray]:
    salted = ids ^ np.uint64(seed & _M64)
    return [(_mix_array(salted ^ np.uint64(SALTS[i])) % np.uint64(part)).astype(np.int64)
            + i * part for i in range(3)]


def ids_in_region(ids: np.ndarray, locations: np.ndarray,
                  region: Sequence[tuple[int, int]], id_prefix: tuple[int, int] = (0, 0)
                  ) -> np.ndarray:
    """The ids whose location lies in one of the region's (start, length) pieces (the ring
    wraps at 2**32) and whose top ``id_prefix[1]`` bits equal ``id_prefix[0]``."""
    locations = np.asarray(locations, dtype=np.uint64)
    keep = np.zeros(len(ids), dtype=bool)
    for start, length in region:
        keep |= (locations - np.uint64(start)) % np.uint64(1 << 32) < np.uint64(length)
    value, bits = id_prefix
    if bits:
        keep &= (ids >> np.uint64(64 - bits)) == np.uint64(value)
    return ids[keep]


def build_iblt(ids: np.ndarray, cells: int, seed: int) -> Iblt:
    """Table of a set of 64-bit ids (duplicates must have been removed)."""
    cells = cells_for(cells)
    part = cells // 3
    ids = np.asarray(ids, dtype=np.uint64)
    count = np.zeros(cells, dtype=np.int32)
    keys = np.zeros(cells, dtype=np.uint64)
    checks = np.zeros(cells, dtype=np.uint64)
    check_values = _mix_array(ids ^ np.uint64(SALTS[3]))
    for index in _indices(ids, part, seed):
        np.add.at(count, index, 1)
        np.bitwise_xor.at(keys, index, ids)
        np.bitwise_xor.at(checks, index, check_values)
    return Iblt(seed, count, keys, checks)


def peel(diff: Iblt) -> tuple[set[int], set[int]] | None:
    """Decode ``mine - theirs`` into (only mine, only theirs); None if the table was too small."""
    count = diff.count.astype(np.int64).tolist()
    keys = [int(k) for k in diff.keys]
    checks = [int(c) for c in diff.checks]
    part = diff.cells // 3
    mine: set[int] = set()
    theirs: set[int] = set()
    salt3 = SALTS[3]
    pending = [i for i in range(diff.cells) if count[i] in (1, -1)]
    steps = 0
    while pending:
        steps += 1
        if steps > 4 * diff.cells:  # cannot happen for a consistent table; bound it anyway
            return None
        i = pending.pop()
        sign = count[i]
        if sign not in (1, -1):
            continue
        key = keys[i]
        if checks[i] != _mix(key ^ salt3):
            continue
        (mine if sign == 1 else theirs).add(key)
        check = _mix(key ^ salt3)
        salted = key ^ (diff.seed & _M64)
        for table in range(3):
            j = _mix(salted ^ SALTS[table]) % part + table * part
            count[j] -= sign
            keys[j] ^= key
            checks[j] ^= check
            if count[j] in (1, -1):
                pending.append(j)
    if any(count) or any(keys) or any(checks):
        return None
    return mine, theirs


def next_size(cells: int) -> int | None:
    """The size to retry with after a failed peel, or None at the limit."""
    grown = cells_for(cells * GROWTH)
    return grown if grown > cells else None
