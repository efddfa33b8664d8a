"""Source-chain actions: wire round trips of every kind and shape refusals
(nodeapp._core.actions)."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from builders import sign, signer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodeapp._core.actions import (
    ACTION_CLASSES,
    SIGNATURE_BYTES,
    Action,
    ActionKind,
    AgentValidationPkg,
    CloseChain,
    Create,
    CreateLink,
    Delete,
    DeleteLink,
    Dna,
    InitZomesComplete,
    OpenChain,
    SignedAction,
    Update,
    Visibility,
    action_from_list,
    decode_action,
    decode_signed_action,
    sign_action,
    signed_action_from_parts,
)
from nodeapp._core.canonical import encode_flat
from nodeapp._core.hashing import HashKind, blake2b_256
from nodeapp._core.limits import ACTION_BYTES_MAX, LINK_TAG_BYTES_MAX, MEMBRANE_PROOF_BYTES_MAX
from nodeapp.errors import MalformedData
from nodeapp.keystore import AgentKey, generate_agent_key

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KEY: AgentKey = generate_agent_key()
AUTHOR = KEY.public_key
_SIGNER = signer(KEY)
ACTION_CLASSES_BY_NAME = {cls.__name__: cls for cls in ACTION_CLASSES.values()}

h32 = st.binary(min_size=32, max_size=32)
tagged = st.builds(lambda k, h: bytes((k,)) + h, st.sampled_from(list(HashKind)), h32)
migration_targets = st.builds(lambda k, h: bytes((k,)) + h,
                              st.sampled_from([HashKind.DNA, HashKind.AGENT]), h32)
u32 = st.integers(0, 2**32 - 1)
seqs = u32
prevs = st.none() | h32
timestamps = st.integers(0, 2**63 - 1)
visibilities = st.sampled_from(list(Visibility))
common = {"author": h32, "seq": seqs, "prev": prevs, "timestamp_us": timestamps}

STRATEGIES: dict[str, st.SearchStrategy[Action]] = {
    "Dna": st.builds(Dna, dna_hash=h32, **common),
    "AgentValidationPkg(proof)": st.builds(
        AgentValidationPkg, membrane_proof=st.binary(max_size=MEMBRANE_PROOF_BYTES_MAX), **common),
    "AgentValidationPkg(no proof)": st.builds(
        AgentValidationPkg, membrane_proof=st.none(), **common),
    "InitZomesComplete": st.builds(InitZomesComplete, **common),
    "Create": st.builds(Create, zome_index=u32, entry_type_index=u32, visibility=visibilities,
                        entry_hash=h32, **common),
    "Update": st.builds(Update, zome_index=u32, entry_type_index=u32, visibility=visibilities,
                        entry_hash=h32, original_action=h32, original_entry=h32, **common),
    "Delete": st.builds(Delete, deletes_action=h32, deletes_entry=h32, **common),
    "CreateLink": st.builds(CreateLink, base=tagged, target=tagged, zome_index=u32,
                            link_type_index=u32, tag=st.binary(max_size=LINK_TAG_BYTES_MAX),
                            **common),
    "DeleteLink": st.builds(DeleteLink, base=tagged, link_add_address=h32, **common),
    "CloseChain(target)": st.builds(CloseChain, new_target=migration_targets, **common),
    "CloseChain(no target)": st.builds(CloseChain, new_target=st.none(), **common),
    "OpenChain": st.builds(OpenChain, prev_target=migration_targets, close_hash=h32, **common),
}


def test_strategies_cover_every_action_kind() -> None:
    covered = {ACTION_CLASSES_BY_NAME[name.split("(")[0]].KIND for name in STRATEGIES}
    assert covered == set(ActionKind) == set(ACTION_CLASSES)


@pytest.mark.parametrize("name", list(STRATEGIES))
@PROPERTY
@given(data=st.data())
def test_signed_round_trip_of_every_kind(name: str, data: st.DataObject) -> None:
    action = data.draw(STRATEGIES[name], label=name)
    signed = sign_action(action, _SIGNER)
    wire = signed.to_bytes()
    back = decode_signed_action(wire)
    assert back.action == action
    assert type(back.action) is type(action)
    assert back.hash == signed.hash == blake2b_256(signed.action_bytes)
    assert back.action_bytes == signed.action_bytes == action.to_bytes()
    assert back.signature == signed.signature and len(back.signature) == SIGNATURE_BYTES
    assert back.to_bytes() == wire
    assert decode_action(signed.action_bytes) == action
    assert len(signed.action_bytes) <= ACTION_BYTES_MAX


def test_positional_form_is_kind_author_seq_prev_timestamp_then_own_fields() -> None:
    action = Delete(AUTHOR, 7, b"p" * 32, 99, b"a" * 32, b"e" * 32)
    assert action.to_list() == [ActionKind.DELETE, AUTHOR, 7, b"p" * 32, 99, b"a" * 32, b"e" * 32]
    assert cbor2.loads(action.to_bytes()) == [5, AUTHOR, 7, b"p" * 32, 99, b"a" * 32, b"e" * 32]


def test_entry_hash_or_none() -> None:
    create = Create(AUTHOR, 3, b"p" * 32, 1, 0, 0, Visibility.PUBLIC, b"e" * 32)
    update = Update(AUTHOR, 3, b"p" * 32, 1, 0, 0, Visibility.PUBLIC, b"f" * 32, b"a" * 32,
                    b"e" * 32)
    assert create.entry_hash_or_none == b"e" * 32
    assert update.entry_hash_or_none == b"f" * 32
    assert Delete(AUTHOR, 3, b"p" * 32, 1, b"a" * 32, b"e" * 32).entry_hash_or_none is None
    assert InitZomesComplete(AUTHOR, 2, b"p" * 32, 1).entry_hash_or_none is None


def test_hash_is_of_the_bytes_as_received_not_a_re_encoding() -> None:
    action = InitZomesComplete(AUTHOR, 2, b"p" * 32, 1000)
    canonical = action.to_bytes()
    # same array, but seq 2 spelled with a 4-byte integer head instead of one byte
    items = cbor2.loads(canonical)
    spelled = bytearray(b"\x85")
    for index, item in enumerate(items):
        spelled += b"\x1a" + (2).to_bytes(4, "big") if index == 2 else cbor2.dumps(item)
    received = bytes(spelled)
    assert received != canonical
    back = signed_action_from_parts(received, _SIGNER(received))
    assert back.action == action
    assert back.action_bytes == received
    assert back.hash == blake2b_256(received) != blake2b_256(canonical)


# --- shape refusals -----------------------------------------------------------------------

P = b"p" * 32
GOOD_CREATE = [3, AUTHOR, 3, P, 1, 0, 0, 0, b"e" * 32]


def with_field(items: list[Any], index: int, value: Any) -> list[Any]:
    out = list(items)
    out[index] = value
    return out


BAD_LISTS: dict[str, Any] = {
    "not a list": {"kind": 3},
    "too short": [3, AUTHOR, 3, P],
    "unknown kind": with_field(GOOD_CREATE, 0, len(ActionKind)),
    "negative kind": with_field(GOOD_CREATE, 0, -1),
    "kind as text": with_field(GOOD_CREATE, 0, "3"),
    "kind as bool": with_field(GOOD_CREATE, 0, True),
    "extra field": GOOD_CREATE + [0],
    "missing field": GOOD_CREATE[:-1],
    "short author": with_field(GOOD_CREATE, 1, AUTHOR[:31]),
    "long author": with_field(GOOD_CREATE, 1, AUTHOR + b"x"),
    "author as text": with_field(GOOD_CREATE, 1, "a" * 32),
    "negative seq": with_field(GOOD_CREATE, 2, -1),
    "seq over u32": with_field(GOOD_CREATE, 2, 2**32),
    "seq as bool": with_field(GOOD_CREATE, 2, True),
    "short prev": with_field(GOOD_CREATE, 3, P[:31]),
    "prev as int": with_field(GOOD_CREATE, 3, 0),
    "negative timestamp": with_field(GOOD_CREATE, 4, -1),
    "timestamp over i64": with_field(GOOD_CREATE, 4, 2**63),
    "zome index over u32": with_field(GOOD_CREATE, 5, 2**32),
    "negative entry type": with_field(GOOD_CREATE, 6, -1),
    "visibility 2": with_field(GOOD_CREATE, 7, 2),
    "visibility as bool": with_field(GOOD_CREATE, 7, False),
    "short entry hash": with_field(GOOD_CREATE, 8, b"e" * 31),
    "Dna without hash": [0, AUTHOR, 0, None, 1],
    "Dna hash too long": [0, AUTHOR, 0, None, 1, b"d" * 33],
    "InitZomesComplete with a field": [2, AUTHOR, 2, P, 1, None],
    "oversize membrane proof": [1, AUTHOR, 1, P, 1, b"m" * (MEMBRANE_PROOF_BYTES_MAX + 1)],
    "membrane proof as text": [1, AUTHOR, 1, P, 1, "invite"],
    "link tag as text": [6, AUTHOR, 3, P, 1, b"\x00" + P, b"\x01" + P, 0, 0, "tag"],
    "untagged link base": [6, AUTHOR, 3, P, 1, P, b"\x01" + P, 0, 0, b""],
    "unknown hash kind tag": [6, AUTHOR, 3, P, 1, bytes([len(HashKind)]) + P, b"\x01" + P, 0,
                              0, b""],
    "DeleteLink short address": [7, AUTHOR, 3, P, 1, b"\x00" + P, P[:16]],
    "CloseChain to an entry": [8, AUTHOR, 3, P, 1, bytes((HashKind.ENTRY,)) + P],
    "CloseChain untagged target": [8, AUTHOR, 3, P, 1, P],
    "CloseChain without its field": [8, AUTHOR, 3, P, 1],
    "OpenChain without a target": [9, AUTHOR, 3, P, 1, None, P],
    "OpenChain from an action": [9, AUTHOR, 3, P, 1, bytes((HashKind.ACTION,)) + P, P],
    "OpenChain short close hash": [9, AUTHOR, 3, P, 1, bytes((HashKind.DNA,)) + P, P[:31]],
}


def test_good_create_list_is_accepted() -> None:
    assert isinstance(action_from_list(GOOD_CREATE), Create)
    assert isinstance(decode_action(encode_flat(GOOD_CREATE)), Create)


@pytest.mark.parametrize("items", list(BAD_LISTS.values()), ids=list(BAD_LISTS))
def test_field_shape_errors_are_malformed_data(items: Any) -> None:
    with pytest.raises(MalformedData):
        action_from_list(items)
    with pytest.raises(MalformedData):
        decode_action(cbor2.dumps(items))


def test_a_tag_over_its_limit_decodes_and_is_left_to_system_validation() -> None:
    # an author who signs such a tag broke a named rule (link_tag_size) and can be warranted;
    # refusing it while decoding would leave nothing to convict on
    over = [6, AUTHOR, 3, P, 1, b"\x00" + P, b"\x01" + P, 0, 0, b"t" * (LINK_TAG_BYTES_MAX + 1)]
    assert len(decode_action(encode_flat(over)).tag) == LINK_TAG_BYTES_MAX + 1  # type: ignore[attr-defined]
    huge = [6, AUTHOR, 3, P, 1, b"\x00" + P, b"\x01" + P, 0, 0, b"t" * ACTION_BYTES_MAX]
    with pytest.raises(MalformedData):
        decode_action(encode_flat(huge))  # the whole action over ACTION_BYTES_MAX


def test_limits_are_inclusive() -> None:
    tag = [6, AUTHOR, 3, P, 1, b"\x00" + P, b"\x01" + P, 0, 0, b"t" * LINK_TAG_BYTES_MAX]
    assert len(action_from_list(tag).tag) == LINK_TAG_BYTES_MAX  # type: ignore[attr-defined]
    proof = [1, AUTHOR, 1, P, 1, b"m" * MEMBRANE_PROOF_BYTES_MAX]
    assert action_from_list(proof).membrane_proof == b"m" * MEMBRANE_PROOF_BYTES_MAX  # type: ignore[attr-defined]


def test_oversize_action_bytes_are_refused_before_decoding() -> None:
    data = cbor2.dumps(GOOD_CREATE + [b"x" * ACTION_BYTES_MAX])
    with pytest.raises(MalformedData, match="exceeds"):
        decode_action(data)


def signed_wire() -> SignedAction:
    return sign(InitZomesComplete(AUTHOR, 2, P, 1), KEY)


@pytest.mark.parametrize("outer", [
    [b"x"],
    [b"x", b"s" * 64, b"extra"],
    {"a": 1},
    b"just bytes",
], ids=["one item", "three items", "map", "bytes"])
def test_signed_action_outer_shape_errors(outer: Any) -> None:
    with pytest.raises(MalformedData):
        decode_signed_action(cbor2.dumps(outer))


def test_signed_action_part_errors() -> None:
    good = signed_wire()
    cases = [
        [good.action_bytes, good.signature[:63]],
        [good.action_bytes, good.signature + b"\x00"],
        [good.action_bytes, "s" * 64],
        [cbor2.loads(good.action_bytes), good.signature],  # the array itself, not its bytes
        [good.action_bytes.decode("latin-1"), good.signature],
        [b"\xff", good.signature],
    ]
    for case in cases:
        with pytest.raises(MalformedData):
            decode_signed_action(cbor2.dumps(case))
    with pytest.raises(MalformedData):
        decode_signed_action(good.to_bytes() + b"\x00")
    assert decode_signed_action(good.to_bytes()) == good
