"""Canonical CBOR: deterministic encoding and defensive decoding (nodeapp._core.canonical)."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodeapp._core.actions import decode_signed_action
from nodeapp._core.canonical import decode, decode_shallow, encode, encode_flat
from nodeapp._core.limits import CBOR_DEPTH_MAX
from nodeapp.errors import MalformedData

SIZE = 1 << 20
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20)
    | st.booleans()
    | st.none()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=8) | st.integers(-1000, 1000), inner, max_size=5),
    max_leaves=12,
)


def nested_list(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


# --- encoding -----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(value=values)
def test_encode_decode_round_trip(value: object) -> None:
    data = encode(value)
    assert decode(data, size_max=SIZE) == value
    assert encode(decode(data, size_max=SIZE)) == data


@settings(max_examples=100, deadline=None)
@given(mapping=st.dictionaries(st.text(max_size=8), scalars, max_size=8), data=st.data())
def test_encode_ignores_dict_insertion_order(mapping: dict[str, object],
                                             data: st.DataObject) -> None:
    keys = data.draw(st.permutations(list(mapping)), label="order")
    shuffled = {k: mapping[k] for k in keys}
    assert encode(shuffled) == encode(mapping)
    assert encode({"outer": shuffled, "x": [shuffled]}) == encode({"x": [mapping],
                                                                   "outer": mapping})


def test_encode_is_the_rfc8949_deterministic_form() -> None:
    # shortest integer heads; keys sorted bytewise on their encoding ("b" < "aa": shorter first)
    assert encode(23) == b"\x17"
    assert encode(24) == b"\x18\x18"
    assert encode({"aa": 1, "b": 2}) == bytes.fromhex("a261620262616101")
    assert encode([]) == b"\x80"


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.integers(0, 2**63) | st.binary(max_size=70) | st.text(max_size=10)
                      | st.none(), max_size=10))
def test_encode_flat_equals_canonical_encode_for_flat_lists(items: list[object]) -> None:
    assert encode_flat(items) == encode(items)


@pytest.mark.parametrize("value", [
    1.5,
    0.0,
    float("nan"),
    [1, 2.0],
    {"a": {"b": [1.25]}},
    {1.5: "key"},
    (1, 2.5),
])
def test_encode_refuses_floats(value: object) -> None:
    with pytest.raises(MalformedData, match="float"):
        encode(value)


def test_encode_refuses_too_deep_nesting() -> None:
    encode(nested_list(CBOR_DEPTH_MAX))
    with pytest.raises(MalformedData, match="nesting"):
        encode(nested_list(CBOR_DEPTH_MAX + 2))


def test_encode_refuses_unencodable_values() -> None:
    with pytest.raises(MalformedData):
        encode(object())


# --- decoding -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    bytes.fromhex("f93e00"),  # half float 1.5
    bytes.fromhex("fa3fc00000"),  # single float 1.5
    bytes.fromhex("fb3ff8000000000000"),  # double float 1.5
    bytes.fromhex("8201f93e00"),  # [1, 1.5]
    bytes.fromhex("a16161f93e00"),  # {"a": 1.5}
    bytes.fromhex("a1f93e0001"),  # {1.5: 1}
])
def test_decode_refuses_floats(data: bytes) -> None:
    with pytest.raises(MalformedData, match="float"):
        decode(data, size_max=SIZE)


def test_decode_shallow_skips_the_float_scan_only() -> None:
    assert decode_shallow(bytes.fromhex("8201f93e00"), size_max=SIZE) == [1, 1.5]


@pytest.mark.parametrize("data", [b"\x01\x01", encode([1, 2]) + b"\x00", encode("x") + encode("y")])
def test_decode_refuses_trailing_bytes(data: bytes) -> None:
    with pytest.raises(MalformedData, match="trailing"):
        decode(data, size_max=SIZE)


@pytest.mark.parametrize("data", [
    bytes.fromhex("9f0102ff"),  # indefinite array
    bytes.fromhex("bf616101ff"),  # indefinite map
    bytes.fromhex("5f4101ff"),  # indefinite byte string
    bytes.fromhex("7f6161ff"),  # indefinite text string
])
def test_decode_refuses_indefinite_lengths(data: bytes) -> None:
    with pytest.raises(MalformedData):
        decode(data, size_max=SIZE)


@pytest.mark.parametrize("data", [
    bytes.fromhex("a2616101616102"),  # {"a": 1, "a": 2}
    bytes.fromhex("a201010102"),  # {1: 1, 1: 2}
    bytes.fromhex("81a2616101616102"),  # nested
])
def test_decode_refuses_duplicate_map_keys(data: bytes) -> None:
    with pytest.raises(MalformedData):
        decode(data, size_max=SIZE)


@pytest.mark.parametrize("data", [
    cbor2.dumps(cbor2.CBORTag(999, 1)),
    cbor2.dumps(cbor2.CBORTag(40000, [1, 2])),
    cbor2.dumps([1, cbor2.CBORTag(12345, b"x")]),
])
def test_decode_refuses_unknown_tags(data: bytes) -> None:
    with pytest.raises(MalformedData):
        decode(data, size_max=SIZE)


@pytest.mark.parametrize("data", [
    cbor2.dumps(cbor2.CBORTag(0, "2020-01-01T00:00:00Z")),  # datetime string
    cbor2.dumps(cbor2.CBORTag(1, 5)),  # epoch datetime
    bytes.fromhex("c24101"),  # positive bignum 1
    cbor2.dumps(cbor2.CBORTag(4, [-1, 5])),  # decimal fraction
    cbor2.dumps(cbor2.CBORTag(258, [1])),  # set
    bytes.fromhex("d9d9f701"),  # self-describe CBOR + 1
    bytes.fromhex("d81c8101"),  # shareable [1]
    cbor2.dumps(cbor2.CBORTag(36, "x")),  # MIME message
], ids=["datetime", "epoch", "bignum", "decimal", "set", "self-describe", "shareable", "mime"])
def test_decode_refuses_builtin_semantic_tags(data: bytes) -> None:
    with pytest.raises(MalformedData):
        decode(data, size_max=SIZE)


@pytest.mark.parametrize("data", [
    bytes.fromhex("d81c81d81d00"),  # a list that contains itself
    bytes.fromhex("d81ca1616bd81d00"),  # a map that contains itself
], ids=["list", "map"])
def test_decode_refuses_cyclic_values(data: bytes) -> None:
    with pytest.raises(MalformedData):
        decode(data, size_max=SIZE)


def test_decode_refuses_too_deep_nesting() -> None:
    decode(encode(nested_list(CBOR_DEPTH_MAX - 1)), size_max=SIZE)
    deep = b"\x81" * (CBOR_DEPTH_MAX + 5) + b"\x00"
    with pytest.raises(MalformedData):
        decode(deep, size_max=SIZE)
    with pytest.raises(MalformedData):
        decode(b"\x81" * 100_000 + b"\x00", size_max=SIZE)


def test_decode_refuses_oversize_input_before_parsing() -> None:
    data = encode(b"x" * 100)
    assert decode(data, size_max=len(data)) == b"x" * 100
    with pytest.raises(MalformedData, match="exceeds"):
        decode(data, size_max=len(data) - 1)


def test_decode_refuses_empty_input() -> None:
    with pytest.raises(MalformedData, match="empty"):
        decode(b"", size_max=SIZE)


@pytest.mark.parametrize("data", [bytearray(b"\x01"), memoryview(b"\x01"), "\x01", 1, None,
                                  [b"\x01"]])
def test_decode_refuses_non_bytes(data: object) -> None:
    with pytest.raises(MalformedData, match="expected bytes"):
        decode(data, size_max=SIZE)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [
    b"\x18",  # truncated integer head
    b"\x42\x01",  # byte string shorter than its length
    b"\x82\x01",  # array missing an item
    b"\x1c",  # reserved additional info
    b"\xff",  # break outside an indefinite item
    bytes.fromhex("62c328"),  # invalid UTF-8 in a text string
])
def test_decode_refuses_broken_cbor(data: bytes) -> None:
    with pytest.raises(MalformedData):
        decode(data, size_max=SIZE)


# --- fuzz: random bytes never raise anything but MalformedData ------------------------------

def _truncated(data: bytes, cut: int) -> bytes:
    return data[: max(1, len(data) - cut)]


cbor_like = st.one_of(
    st.binary(max_size=64),
    st.builds(_truncated, values.map(encode), st.integers(0, 3)),
    st.binary(max_size=8).map(lambda b: bytes([0x82, 0x58, 0x40]) + b),
)


@FUZZ
@given(data=cbor_like)
def test_decode_of_random_bytes_raises_only_malformed_data(data: bytes) -> None:
    try:
        decode(data, size_max=SIZE)
    except MalformedData:
        pass


@FUZZ
@given(data=cbor_like)
def test_decode_signed_action_of_random_bytes_raises_only_malformed_data(data: bytes) -> None:
    try:
        decode_signed_action(data)
    except MalformedData:
        pass


@settings(max_examples=300, deadline=None)
@given(prefix=st.binary(min_size=1, max_size=4))
def test_decode_of_tag_prefixed_bytes_raises_only_malformed_data(prefix: bytes) -> None:
    # a tag head (major type 6) followed by anything: exercises cbor2's semantic decoders
    for head in (b"\xc0", b"\xc1", b"\xc2", b"\xc4", b"\xd8\x1e", b"\xd9\x01\x02", b"\xd8\x25"):
        try:
            decode(head + prefix, size_max=SIZE)
        except MalformedData:
            pass
