"""Typed printable hashes: round trips, refusals, DHT location (nodeapp._core.hashing)."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeapp._core.hashing import (
    HASH_BYTES,
    HASH_CLASSES,
    PREFIXES,
    ActionHash,
    AgentPubKey,
    DnaHash,
    EntryHash,
    Hash,
    HashKind,
    blake2b_256,
    from_tagged,
    location_of,
    parse_hash,
)
from nodeapp.errors import InvalidHash

KINDS = sorted(HASH_CLASSES)
URLSAFE_ALPHABET = string.ascii_letters + string.digits + "-_"

raw_hashes = st.binary(min_size=HASH_BYTES, max_size=HASH_BYTES)
hash_classes = st.sampled_from([HASH_CLASSES[k] for k in KINDS])


def test_every_kind_has_a_class_and_a_prefix() -> None:
    assert set(HASH_CLASSES) == set(HashKind) == set(PREFIXES)
    assert len(set(PREFIXES.values())) == len(PREFIXES)
    for kind, cls in HASH_CLASSES.items():
        assert cls.KIND == kind


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_printable_round_trip_of_each_kind(kind: HashKind) -> None:
    cls = HASH_CLASSES[kind]
    h = cls(blake2b_256(kind.name.encode()))
    text = str(h)
    assert text.startswith(PREFIXES[kind] + "_")
    assert parse_hash(text) == h
    assert type(parse_hash(text)) is cls
    assert cls.parse(text) == h
    assert repr(h) == f"{cls.__name__}({text!r})"


@settings(max_examples=300, deadline=None)
@given(cls=hash_classes, raw=raw_hashes)
def test_printable_round_trip_property(cls: type[Hash], raw: bytes) -> None:
    h = cls(raw)
    assert parse_hash(str(h)) == h
    assert cls.parse(str(h)).raw == raw
    # the body is exactly 48 url-safe characters: 36 bytes, no padding
    body = str(h).split("_", 1)[1]
    assert len(body) == 48 and set(body) <= set(URLSAFE_ALPHABET)


def test_equality_and_hash_depend_on_kind_and_raw() -> None:
    raw = bytes(range(32))
    assert ActionHash(raw) == ActionHash(raw)
    assert ActionHash(raw) != EntryHash(raw)
    assert ActionHash(raw) != raw
    assert len({ActionHash(raw), ActionHash(raw), EntryHash(raw)}) == 2


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33), bytearray(32), "x" * 32, None])
def test_constructor_refuses_wrong_raw(raw: object) -> None:
    with pytest.raises(InvalidHash):
        ActionHash(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_parse_refuses_other_kind(kind: HashKind) -> None:
    text = str(HASH_CLASSES[kind](bytes(range(32))))
    for other in KINDS:
        if other == kind:
            continue
        with pytest.raises(InvalidHash, match="expected"):
            HASH_CLASSES[other].parse(text)


@pytest.mark.parametrize("text", [
    "",
    "agent",
    "agent-AAAA",
    "nope_" + "A" * 48,
    "Agent_" + "A" * 48,
    "_" + "A" * 48,
])
def test_parse_refuses_unknown_prefix(text: str) -> None:
    with pytest.raises(InvalidHash, match="prefix"):
        parse_hash(text)


@pytest.mark.parametrize("given", [5, None, b"agent_", ["agent_"]])
def test_parse_of_a_non_string_is_invalid_hash(given: object) -> None:
    """Printable hashes come from JSON, CBOR manifests and invites: anything may be there."""
    with pytest.raises(InvalidHash, match="a printable hash is a string"):
        AgentPubKey.parse(given)
    with pytest.raises(InvalidHash, match="a printable hash is a string"):
        parse_hash(given)


def test_parse_refuses_a_wrong_prefix_with_a_valid_body() -> None:
    text = str(EntryHash(bytes(range(32))))
    swapped = "action_" + text.split("_", 1)[1]
    # the body is fine, so it parses - but as an ActionHash, which EntryHash.parse refuses
    assert isinstance(parse_hash(swapped), ActionHash)
    with pytest.raises(InvalidHash):
        EntryHash.parse(swapped)


@pytest.mark.parametrize("body", ["A", "AAAAA", "A" * 47, "é" * 48, "\u0100" * 48])
def test_parse_refuses_bad_base64(body: str) -> None:
    with pytest.raises(InvalidHash):
        parse_hash("entry_" + body)


@pytest.mark.parametrize("size", [0, 3, 31, 32, 33, 35, 37, 40, 64])
def test_parse_refuses_wrong_length(size: int) -> None:
    body = base64.urlsafe_b64encode(bytes(range(size))).decode()
    with pytest.raises(InvalidHash):
        parse_hash("entry_" + body)


@settings(max_examples=400, deadline=None)
@given(cls=hash_classes, raw=raw_hashes, data=st.data())
def test_parse_refuses_any_single_changed_character(cls: type[Hash], raw: bytes,
                                                     data: st.DataObject) -> None:
    text = str(cls(raw))
    start = text.index("_") + 1
    pos = data.draw(st.integers(start, len(text) - 1), label="position")
    new = data.draw(st.sampled_from(URLSAFE_ALPHABET).filter(lambda c: c != text[pos]),
                    label="replacement")
    mistyped = text[:pos] + new + text[pos + 1:]
    with pytest.raises(InvalidHash, match="checksum"):
        parse_hash(mistyped)


def test_every_single_character_change_is_caught_exhaustively() -> None:
    text = str(DnaHash(blake2b_256(b"exhaustive")))
    start = text.index("_") + 1
    for pos in range(start, len(text)):
        for new in URLSAFE_ALPHABET:
            if new == text[pos]:
                continue
            with pytest.raises(InvalidHash):
                parse_hash(text[:pos] + new + text[pos + 1:])


@pytest.mark.parametrize("junk", ["!", " ", "\n", "=", ".", "\x00"])
def test_parse_refuses_characters_outside_the_urlsafe_alphabet(junk: str) -> None:
    text = str(AgentPubKey(bytes(range(32))))
    start = text.index("_") + 1
    with pytest.raises(InvalidHash):
        parse_hash(text[:start + 5] + junk + text[start + 5:])


def test_parse_refuses_standard_base64_characters() -> None:
    n = 0
    while "-" not in (text := str(ActionHash(blake2b_256(n.to_bytes(4, "big"))))):
        n += 1
    prefix, body = text.split("_", 1)
    with pytest.raises(InvalidHash):
        parse_hash(prefix + "_" + body.replace("-", "+"))


def test_location_matches_the_documented_xor_fold() -> None:
    raw = bytes(range(32))
    words = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, 32, 4)]
    expected = 0
    for w in words:
        expected ^= w
    assert location_of(raw) == expected
    assert ActionHash(raw).location == expected
    assert location_of(bytes(32)) == 0
    assert location_of(b"\xff" * 32) == 0  # eight equal words cancel out


@settings(max_examples=300, deadline=None)
@given(raw=raw_hashes)
def test_location_is_deterministic_and_32_bit(raw: bytes) -> None:
    loc = location_of(raw)
    assert 0 <= loc < 2**32
    assert loc == location_of(bytes(raw))
    assert EntryHash(raw).location == ActionHash(raw).location == loc
    # the printable form carries it as its last four bytes
    body = base64.urlsafe_b64decode(str(EntryHash(raw)).split("_", 1)[1])
    assert int.from_bytes(body[32:], "big") == loc


@settings(max_examples=300, deadline=None)
@given(cls=hash_classes, raw=raw_hashes)
def test_tagged_round_trip(cls: type[Hash], raw: bytes) -> None:
    h = cls(raw)
    tagged = h.tagged()
    assert len(tagged) == HASH_BYTES + 1 and tagged[0] == cls.KIND
    back = from_tagged(tagged)
    assert back == h and type(back) is cls


@pytest.mark.parametrize("data", [
    b"",
    bytes(32),
    bytes(34),
    bytes([len(HashKind)]) + bytes(32),
    b"\xff" + bytes(32),
])
def test_from_tagged_refuses_bad_input(data: bytes) -> None:
    with pytest.raises(InvalidHash):
        from_tagged(data)
