"""The held-op index keeps its arrays in step with its map as ops arrive."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeapp.held_ops import HeldOps


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1)),
                max_size=3000))
def test_arrays_hold_each_op_once_in_arrival_order(ops: list[tuple[int, int]]) -> None:
    held = HeldOps()
    first: dict[int, int] = {}
    for n, (op, location) in enumerate(ops):
        held.add(op, location, n.to_bytes(32, "big"))
        first.setdefault(op, location)
    ids, locations = held.arrays()
    assert ids.dtype == np.uint64 and locations.dtype == np.uint32
    assert ids.tolist() == list(first) and locations.tolist() == list(first.values())
    assert len(held) == len(first) and set(held) == set(first)
    for op in first:  # the action of the first arrival is kept: an op's id names one op
        assert op in held
        assert held.action_of(op) == ops.index((op, first[op])).to_bytes(32, "big")
    assert held.action_of(2**64) is None


def test_the_arrays_grow_past_their_first_capacity() -> None:
    held = HeldOps()
    for n in range(5000):
        held.add(n * 7919, n % 1000, b"h" * 32)
    ids, locations = held.arrays()
    assert ids.tolist() == [n * 7919 for n in range(5000)]
    assert locations.tolist() == [n % 1000 for n in range(5000)]
