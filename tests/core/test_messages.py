"""Query frames (GET_LINKS, GET_ACTIVITY, CALL, CALLED): round trips and refusals of malformed
fields (nodeapp._core.messages)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeapp._core.canonical import decode_shallow, encode_flat
from nodeapp._core.messages import (
    Call,
    Called,
    GetActivity,
    GetLinks,
    Message,
    decode_message,
    encode_message,
)
from nodeapp.errors import MalformedData

DNA = b"\x07" * 32
names = st.text(min_size=1, max_size=64)


@settings(max_examples=60, deadline=None)
@given(st.one_of(
    st.builds(GetLinks, st.binary(min_size=33, max_size=33), st.integers(0, 255),
              st.integers(0, 255), st.binary(max_size=1024)),
    st.builds(GetActivity, st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1)),
    st.builds(Call, names, names, st.binary(max_size=256)),
    st.builds(Called, st.booleans(), st.binary(max_size=256)),
))
def test_query_frames_round_trip(message: Message) -> None:
    assert decode_message(DNA, encode_message(DNA, message)) == message


def _with_fields(message: Message, fields: list[object]) -> bytes:
    frame = decode_shallow(encode_message(DNA, message), size_max=1 << 20)
    return encode_flat([*frame[:3], *fields])


@pytest.mark.parametrize(("message", "fields"), [
    (GetLinks(b"\x01" * 33, 0, 0), [b"\x01" * 32, 0, 0, b""]),  # base not tagged
    (GetLinks(b"\x01" * 33, 0, 0), [b"\x01" * 33, 256, 0, b""]),  # zome index out of range
    (GetLinks(b"\x01" * 33, 0, 0), [b"\x01" * 33, 0, 0, b"x" * 1025]),  # tag prefix too long
    (GetActivity(b"\x01" * 32), [b"\x01" * 32, -1]),
    (GetActivity(b"\x01" * 32), [b"\x01" * 32]),  # a field missing
    (Call("a", "b", b""), ["", "b", b""]),  # empty zome name
    (Call("a", "b", b""), ["a", "b" * 65, b""]),  # function name too long
    (Call("a", "b", b""), ["a", 3, b""]),
    (Called(True, b""), [1, b""]),  # not a boolean
    (Called(True, b""), [True, "text"]),
])
def test_malformed_query_frames_are_refused(message: Message, fields: list[object]) -> None:
    with pytest.raises(MalformedData):
        decode_message(DNA, _with_fields(message, fields))
