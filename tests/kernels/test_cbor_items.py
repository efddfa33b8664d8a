"""The item count of a frame, taken before decoding, matches what decoding builds; and a
frame denser than any message is refused while real messages pass."""

from __future__ import annotations

import os
from typing import Any

import cbor2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeapp.errors import MalformedData
from nodeapp.kernels.cbor_items import CHECKED_FROM_BYTES, _count_heads, check_item_budget

NO_LIMIT = 2**62

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**64, 2**64 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=30) | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=5),
    max_leaves=40,
)


def items_in(value: Any) -> int:
    """Data items of a decoded value: itself, and for a map its keys and values."""
    if isinstance(value, list):
        return 1 + sum(items_in(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(items_in(k) + items_in(v) for k, v in value.items())
    return 1


def count(data: bytes, limit: int = NO_LIMIT) -> int:
    return _count_heads(np.frombuffer(data, dtype=np.uint8), limit)


@settings(deadline=None)  # the first call may compile the kernel
@given(cbor_values)
def test_the_count_is_the_number_of_items_decoding_builds(value: Any) -> None:
    assert count(cbor2.dumps(value)) == items_in(value)


@settings(deadline=None)
@given(cbor_values, st.integers(0, 20))
def test_counting_stops_just_over_the_limit(value: Any, limit: int) -> None:
    assert count(cbor2.dumps(value), limit) == min(items_in(value), limit + 1)


@pytest.mark.parametrize("data", [b"\x5a\xff\xff\xff\xff", b"\x19\x01", b"\x9f\x01\xff",
                                  b"\x1c", b"\x7b\x80\x00\x00\x00\x00\x00\x00\x00"])
def test_a_cut_short_or_refused_head_is_left_to_the_decoder(data: bytes) -> None:
    assert count(data) == -1
    padding = cbor2.dumps(b"x" * CHECKED_FROM_BYTES)
    check_item_budget(padding + data)  # passed on: the decoder says what is wrong


def test_an_item_bomb_is_refused_before_decoding() -> None:
    # one 8 MiB array of empty arrays: ~600 MB and seconds to decode
    size = 8 * 1024 * 1024
    bomb = b"\x9b" + (size - 9).to_bytes(8, "big") + b"\x80" * (size - 9)
    with pytest.raises(MalformedData, match="CBOR items"):
        check_item_budget(bomb)


def test_the_densest_real_messages_pass() -> None:
    receipts = cbor2.dumps([[os.urandom(32), 1] for _ in range(100_000)])  # ~12 B an item
    want = cbor2.dumps([os.urandom(32) for _ in range(100_000)])
    for frame in (receipts, want):
        assert len(frame) >= CHECKED_FROM_BYTES
        check_item_budget(frame)
