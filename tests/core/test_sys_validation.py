"""System validation: tampering is always caught, and each rule names itself
(nodeapp._core.sys_validation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from builders import (
    AUTHOR_TO_NOTES,
    NOTE_TYPE,
    PRIVATE_NOTE_TYPE,
    START_US,
    STEP_US,
    Chain,
    build_chain,
    build_dna,
    create_after,
    note_bytes,
    private_note_bytes,
    sign,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodeapp._core.actions import (
    ACTION_CLASSES,
    AgentValidationPkg,
    CloseChain,
    CreateLink,
    Delete,
    DeleteLink,
    Dna,
    InitZomesComplete,
    OpenChain,
    SignedAction,
    Update,
    Visibility,
    decode_signed_action,
    signed_action_from_parts,
)
from nodeapp._core.hashing import HashKind, blake2b_256
from nodeapp._core.limits import CLOCK_DRIFT_MAX_US, ENTRY_BYTES_MAX, LINK_TAG_BYTES_MAX
from nodeapp._core.sys_validation import RULES, DnaTypes, sys_validate
from nodeapp.errors import MalformedData, SysValidationError
from nodeapp.keystore import generate_agent_key

KEY = generate_agent_key()
OTHER = generate_agent_key()
DNA = build_dna(stewards=[KEY])
TYPES: DnaTypes = DNA.types
CHAIN: Chain = build_chain(KEY, 2, DNA.hash)
INIT = CHAIN[2]
NOTE = CHAIN[3]
NOW = START_US + 60 * 1_000_000


def validate(signed: SignedAction, prev: SignedAction | None, entry: bytes | None = None, *,
             received: bool = True, now_us: int | None = NOW) -> None:
    sys_validate(signed, prev=prev, entry=entry, dna=TYPES, received=received, now_us=now_us)


def link_after(prev: SignedAction, **overrides: object) -> SignedAction:
    fields: dict[str, object] = {
        "author": KEY.public_key, "seq": prev.action.seq + 1, "prev": prev.hash,
        "timestamp_us": prev.action.timestamp_us + STEP_US,
        "base": bytes((HashKind.AGENT,)) + KEY.public_key,
        "target": bytes((HashKind.ACTION,)) + NOTE.hash, "zome_index": 0,
        "link_type_index": AUTHOR_TO_NOTES, "tag": b"",
    }
    fields.update(overrides)
    return sign(CreateLink(**fields), KEY)  # type: ignore[arg-type]


def test_the_valid_chain_passes_every_rule() -> None:
    prev = None
    for signed in CHAIN:
        validate(signed, prev, CHAIN.entry_of(signed))
        prev = signed


def test_own_actions_may_skip_the_signature_check() -> None:
    forged = create_after(KEY, NOTE, note_bytes("x"), signing_key=OTHER)
    sys_validate(forged, prev=NOTE, entry=note_bytes("x"), dna=TYPES, received=False,
                 verify=False)


UPDATED_ENTRY = note_bytes("v2")


def link_update_delete_unlink() -> list[SignedAction]:
    """After NOTE: a CreateLink, an Update of NOTE, a Delete of that update, a DeleteLink."""
    link = link_after(NOTE, tag=b"some tag")
    update = sign(Update(KEY.public_key, link.action.seq + 1, link.hash,
                         link.action.timestamp_us, 0, NOTE_TYPE, Visibility.PUBLIC,
                         blake2b_256(UPDATED_ENTRY), NOTE.hash, NOTE.action.entry_hash), KEY)
    delete = sign(Delete(KEY.public_key, update.action.seq + 1, update.hash,
                         update.action.timestamp_us, update.hash, blake2b_256(UPDATED_ENTRY)),
                  KEY)
    unlink = sign(DeleteLink(KEY.public_key, delete.action.seq + 1, delete.hash,
                             delete.action.timestamp_us, link.action.base, link.hash), KEY)
    return [link, update, delete, unlink]


def test_valid_link_update_delete_and_delete_link_pass() -> None:
    link, update, delete, unlink = link_update_delete_unlink()
    validate(link, NOTE)
    validate(update, link, UPDATED_ENTRY)
    validate(delete, update)
    validate(unlink, delete)


def test_a_private_entry_is_fine_locally_and_travels_without_its_entry() -> None:
    entry = private_note_bytes()
    private = create_after(KEY, NOTE, entry, entry_type_index=PRIVATE_NOTE_TYPE,
                           visibility=Visibility.PRIVATE)
    validate(private, NOTE, entry, received=False)
    validate(private, NOTE, None, received=True)


def test_an_action_may_travel_without_its_entry() -> None:
    validate(NOTE, INIT, None)


def test_equal_timestamps_are_fine_and_no_clock_means_no_clock_check() -> None:
    same = create_after(KEY, NOTE, note_bytes("same"), ts=NOTE.action.timestamp_us)
    validate(same, NOTE, note_bytes("same"))
    future = create_after(KEY, NOTE, note_bytes("f"), ts=NOW + CLOCK_DRIFT_MAX_US + 1)
    validate(future, NOTE, note_bytes("f"), now_us=None)
    at_limit = create_after(KEY, NOTE, note_bytes("f"), ts=NOW + CLOCK_DRIFT_MAX_US)
    validate(at_limit, NOTE, note_bytes("f"))


# --- one case per rule: correctly signed actions that break exactly that rule ----------------


@dataclass(frozen=True)
class Case:
    signed: SignedAction
    prev: SignedAction | None
    entry: bytes | None = None
    received: bool = True


def _signature() -> Case:
    return Case(create_after(KEY, NOTE, note_bytes("x"), signing_key=OTHER), NOTE,
                note_bytes("x"))


def _genesis() -> Case:
    # a Create where InitZomesComplete belongs
    pkg = CHAIN[1]
    return Case(create_after(KEY, pkg, note_bytes("early")), pkg, note_bytes("early"))


def close_after(prev: SignedAction, new_target: bytes | None = None) -> SignedAction:
    return sign(CloseChain(KEY.public_key, prev.action.seq + 1, prev.hash,
                           prev.action.timestamp_us + STEP_US, new_target), KEY)


def open_after(prev: SignedAction) -> SignedAction:
    return sign(OpenChain(KEY.public_key, prev.action.seq + 1, prev.hash,
                          prev.action.timestamp_us + STEP_US,
                          bytes((HashKind.DNA,)) + b"d" * 32, b"c" * 32), KEY)


def _open_chain() -> Case:
    # an OpenChain after the first note: too late to say where the chain came from
    return Case(open_after(NOTE), NOTE)


def _closed_chain() -> Case:
    closed = close_after(NOTE)
    return Case(create_after(KEY, closed, note_bytes("after the end")), closed,
                note_bytes("after the end"))


def _dna_hash() -> Case:
    other = build_dna("another network", stewards=[KEY])
    return Case(sign(Dna(KEY.public_key, 0, None, START_US, other.hash), KEY), None)


def _author() -> Case:
    # OTHER's action claims KEY's Create as its prev, at the right seq
    return Case(create_after(OTHER, NOTE, note_bytes("theirs")), NOTE, note_bytes("theirs"))


def _seq() -> Case:
    return Case(create_after(KEY, NOTE, note_bytes("x"), seq=NOTE.action.seq + 2), NOTE,
                note_bytes("x"))


def _prev_action() -> Case:
    bogus = sign(InitZomesComplete(KEY.public_key, 2, b"z" * 32, START_US), KEY)
    return Case(create_after(KEY, bogus, note_bytes("x")), NOTE, note_bytes("x"))


def _timestamp() -> Case:
    return Case(create_after(KEY, NOTE, note_bytes("x"), ts=NOTE.action.timestamp_us - 1), NOTE,
                note_bytes("x"))


def _clock() -> Case:
    return Case(create_after(KEY, NOTE, note_bytes("x"), ts=NOW + CLOCK_DRIFT_MAX_US + 1), NOTE,
                note_bytes("x"))


def _entry_type() -> Case:
    return Case(create_after(KEY, NOTE, note_bytes("x"), entry_type_index=7), NOTE,
                note_bytes("x"))


def _link_type() -> Case:
    return Case(link_after(NOTE, link_type_index=3), NOTE)


def _entry_hash() -> Case:
    return Case(create_after(KEY, NOTE, note_bytes("declared")), NOTE, note_bytes("sent"))


def _entry_size() -> Case:
    entry = b"\x00" * (ENTRY_BYTES_MAX + 1)
    return Case(create_after(KEY, NOTE, entry), NOTE, entry)


def _private_entry() -> Case:
    entry = private_note_bytes()
    return Case(create_after(KEY, NOTE, entry, entry_type_index=PRIVATE_NOTE_TYPE,
                             visibility=Visibility.PRIVATE), NOTE, entry)


def _link_tag_size() -> Case:
    return Case(link_after(NOTE, tag=b"t" * (LINK_TAG_BYTES_MAX + 1)), NOTE)


RULE_CASES: dict[str, Callable[[], Case]] = {
    "signature": _signature,
    "genesis": _genesis,
    "open_chain": _open_chain,
    "dna_hash": _dna_hash,
    "author": _author,
    "seq": _seq,
    "prev_action": _prev_action,
    "timestamp": _timestamp,
    "closed_chain": _closed_chain,
    "clock": _clock,
    "entry_type": _entry_type,
    "link_type": _link_type,
    "entry_hash": _entry_hash,
    "entry_size": _entry_size,
    "private_entry": _private_entry,
    "link_tag_size": _link_tag_size,
}


def test_every_rule_has_a_case() -> None:
    assert tuple(RULE_CASES) == RULES


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_names_itself(rule: str) -> None:
    case = RULE_CASES[rule]()
    with pytest.raises(SysValidationError) as caught:
        validate(case.signed, case.prev, case.entry, received=case.received)
    assert caught.value.rule == rule
    assert str(caught.value).startswith(f"{rule}: ")


# more shapes of the same rules


@pytest.mark.parametrize("target", [None, bytes((HashKind.DNA,)) + b"d" * 32,
                                    bytes((HashKind.AGENT,)) + OTHER.public_key])
def test_close_chain_passes_with_or_without_a_target(target: bytes | None) -> None:
    validate(close_after(NOTE, target), NOTE)


def test_open_chain_right_after_genesis_passes() -> None:
    validate(open_after(INIT), INIT)


@pytest.mark.parametrize("follower", ["close", "open", "link"])
def test_nothing_follows_a_close_chain(follower: str) -> None:
    closed = close_after(NOTE)
    after = {"close": lambda: close_after(closed), "open": lambda: open_after(closed),
             "link": lambda: link_after(closed)}[follower]()
    with pytest.raises(SysValidationError) as caught:
        validate(after, closed)
    assert caught.value.rule in {"closed_chain", "open_chain"}
    if follower != "open":
        assert caught.value.rule == "closed_chain"


def _genesis_variants() -> list[SignedAction]:
    author = KEY.public_key
    return [
        sign(Dna(author, 3, NOTE.hash, NOTE.action.timestamp_us, DNA.hash), KEY),
        sign(AgentValidationPkg(author, 4, NOTE.hash, NOTE.action.timestamp_us, None), KEY),
        sign(InitZomesComplete(author, 4, NOTE.hash, NOTE.action.timestamp_us), KEY),
    ]


@pytest.mark.parametrize("index", range(3), ids=["Dna", "AgentValidationPkg",
                                                "InitZomesComplete"])
def test_genesis_kinds_outside_genesis(index: int) -> None:
    signed = _genesis_variants()[index]
    with pytest.raises(SysValidationError) as caught:
        validate(signed, NOTE)
    assert caught.value.rule == "genesis"


def test_seq_zero_must_be_dna() -> None:
    signed = sign(InitZomesComplete(KEY.public_key, 0, None, START_US), KEY)
    with pytest.raises(SysValidationError) as caught:
        validate(signed, None)
    assert caught.value.rule == "genesis"


@pytest.mark.parametrize("case", ["dna with prev", "no prev", "prev not given"])
def test_prev_action_shapes(case: str) -> None:
    author = KEY.public_key
    if case == "dna with prev":
        signed, prev = sign(Dna(author, 0, b"p" * 32, START_US, DNA.hash), KEY), None
    elif case == "no prev":
        signed, prev = sign(InitZomesComplete(author, 2, None, START_US), KEY), CHAIN[1]
    else:
        signed, prev = NOTE, None
    with pytest.raises(SysValidationError) as caught:
        validate(signed, prev)
    assert caught.value.rule == "prev_action"


def test_entry_type_with_the_wrong_visibility() -> None:
    # a Note (declared public) written as private, and a PrivateNote written as public
    for entry, index, visibility in [
        (note_bytes("x"), NOTE_TYPE, Visibility.PRIVATE),
        (private_note_bytes(), PRIVATE_NOTE_TYPE, Visibility.PUBLIC),
    ]:
        signed = create_after(KEY, NOTE, entry, entry_type_index=index, visibility=visibility)
        with pytest.raises(SysValidationError) as caught:
            validate(signed, NOTE, entry)
        assert caught.value.rule == "entry_type"
    unknown_zome = create_after(KEY, NOTE, note_bytes("x"), zome_index=200)
    with pytest.raises(SysValidationError) as caught:
        validate(unknown_zome, NOTE, note_bytes("x"))
    assert caught.value.rule == "entry_type"


def test_link_type_in_an_unknown_zome() -> None:
    with pytest.raises(SysValidationError) as caught:
        validate(link_after(NOTE, zome_index=200), NOTE)
    assert caught.value.rule == "link_type"


def test_an_action_without_an_entry_must_not_carry_one() -> None:
    with pytest.raises(SysValidationError) as caught:
        validate(link_after(NOTE), NOTE, note_bytes("stowaway"))
    assert caught.value.rule == "entry_hash"


def test_an_entry_of_exactly_the_size_limit_passes() -> None:
    entry = b"\x01" * ENTRY_BYTES_MAX
    validate(create_after(KEY, NOTE, entry), NOTE, entry)  # exactly 1 MiB passes sys validation


# --- tampering: any single changed byte of the wire form is caught ------------------------------


def tampered_cases() -> list[tuple[SignedAction, SignedAction | None]]:
    """One signed action of every kind, with its prev."""
    link, update, delete, unlink = link_update_delete_unlink()
    closed = close_after(unlink, bytes((HashKind.DNA,)) + b"d" * 32)
    cases = [(CHAIN[0], None), (CHAIN[1], CHAIN[0]), (INIT, CHAIN[1]), (NOTE, INIT),
             (link, NOTE), (update, link), (delete, update), (unlink, delete), (closed, unlink),
             (open_after(INIT), INIT)]
    assert {type(signed.action) for signed, _ in cases} == set(ACTION_CLASSES.values())
    return cases


TAMPER_TARGETS = tampered_cases()
ACCEPTABLE_TAMPER_RULES = {"signature"}  # the signature is checked first; nothing else can fire


def assert_tamper_caught(signed: SignedAction, prev: SignedAction | None, position: int,
                         mask: int) -> str:
    wire = bytearray(signed.to_bytes())
    wire[position] ^= mask
    try:
        received = decode_signed_action(bytes(wire))
    except MalformedData:
        return "malformed"
    with pytest.raises(SysValidationError) as caught:
        validate(received, prev, None)
    assert caught.value.rule in ACCEPTABLE_TAMPER_RULES
    return caught.value.rule


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_byte_flip_is_caught(data: st.DataObject) -> None:
    signed, prev = data.draw(st.sampled_from(TAMPER_TARGETS), label="action")
    size = len(signed.to_bytes())
    position = data.draw(st.integers(0, size - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="xor mask")
    assert_tamper_caught(signed, prev, position, mask)


def test_every_single_bit_flip_is_caught_exhaustively() -> None:
    outcomes: dict[str, int] = {}
    for signed, prev in TAMPER_TARGETS:
        for position in range(len(signed.to_bytes())):
            for bit in range(8):
                outcome = assert_tamper_caught(signed, prev, position, 1 << bit)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # both ways of being caught happen: header damage is malformed, content damage is unsigned
    assert set(outcomes) == {"malformed", "signature"}


def test_padded_action_bytes_never_pass_as_the_signed_action() -> None:
    # decoding may or may not refuse trailing bytes; either way the padding is not signed
    for padding in (b"\x00", b"\xff", NOTE.action_bytes):
        try:
            received = signed_action_from_parts(NOTE.action_bytes + padding, NOTE.signature)
        except MalformedData:
            continue
        assert received.hash != NOTE.hash
        assert received.hash == blake2b_256(NOTE.action_bytes + padding)
        with pytest.raises(SysValidationError) as caught:
            validate(received, INIT, CHAIN.entry_of(NOTE))
        assert caught.value.rule == "signature"


def test_a_changed_entry_byte_is_caught() -> None:
    entry = bytearray(CHAIN.entry_of(NOTE) or b"")
    for position in range(len(entry)):
        changed = bytearray(entry)
        changed[position] ^= 0x01
        with pytest.raises(SysValidationError) as caught:
            validate(NOTE, INIT, bytes(changed))
        assert caught.value.rule == "entry_hash"
