"""The index of the DHT ops a node holds, for sync.

Each op is known by its 64-bit id (:func:`nodeapp._core.reconcile.op_id`) and has a location
on the ring and the hash of the action it belongs to. Sync reads the ids and locations of all
held ops at every offer it makes or answers, so they are kept in arrays that grow as ops
arrive. Building those arrays from a dict at each change took ~0.1 s per million ops, and
changes come with every record received. Ops are never dropped from the index while the node
runs; a restart rebuilds it from the store.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_INITIAL_CAPACITY = 1024


class HeldOps:
    """Op id -> action hash, with the ids and their locations as arrays."""

    def __init__(self) -> None:
        self._by_id: dict[int, bytes] = {}  # a location is only needed in the arrays
        self._ids = np.empty(_INITIAL_CAPACITY, dtype=np.uint64)
        self._locations = np.empty(_INITIAL_CAPACITY, dtype=np.uint32)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, op: int) -> bool:
        return op in self._by_id

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_id)

    def action_of(self, op: int) -> bytes | None:
        """The hash of the action an op belongs to, if the op is held."""
        return self._by_id.get(op)

    def add(self, op: int, location: int, action_hash: bytes) -> None:
        """Hold an op (holding it again changes nothing)."""
        if op in self._by_id:
            return
        n = len(self._by_id)
        if n == len(self._ids):  # doubling: each op is copied O(1) times on average
            self._ids = np.concatenate([self._ids, np.empty_like(self._ids)])
            self._locations = np.concatenate([self._locations, np.empty_like(self._locations)])
        self._ids[n] = op
        self._locations[n] = location
        self._by_id[op] = action_hash

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids as uint64, locations as uint32) of every held op, in the order they came.
        Views: valid until the next :meth:`add`."""
        n = len(self._by_id)
        return self._ids[:n], self._locations[:n]
