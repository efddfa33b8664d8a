"""The membrane: invites round-trip, each rule names itself, garbage is only ever refused
(nodeapp._core.membrane, and its call from system validation)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from builders import START_US, build_conductor, build_dna, build_genesis, signer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodeapp._core.actions import AgentValidationPkg
from nodeapp._core.canonical import encode
from nodeapp._core.membrane import (
    BOOTSTRAP_ADDR_CHARS_MAX,
    BOOTSTRAP_ADDRS_MAX,
    INVITE_CODE_PREFIX,
    INVITE_USES_MAX,
    MEMBRANE_RULES,
    Invite,
    MembraneError,
    check_membrane_proof,
    count_allows,
    invite_code,
    invite_from_bytes,
    invite_to_bytes,
    make_invite,
    may_invite,
    parse_invite_code,
)
from nodeapp._core.sys_validation import sys_validate
from nodeapp.errors import SysValidationError, ValidationError
from nodeapp.keystore import AgentKey, generate_agent_key

STEWARD = generate_agent_key()
MEMBER = generate_agent_key()
OUTSIDER = generate_agent_key()
DNA = build_dna("membrane", stewards=[STEWARD], open_membrane=False)
MANIFEST = DNA.manifest.to_bytes()
STEWARDS = (STEWARD.public_key,)
TYPES = DNA.types
EXPIRES_US = START_US + 3_600_000_000
PEER = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"


def invite(by: AgentKey = STEWARD, *, manifest: bytes = MANIFEST, expires_us: int = EXPIRES_US,
           uses_max: int = 1, bootstrap: tuple[str, ...] = (PEER,),
           invite_id: bytes = b"\x01" * 16) -> Invite:
    return make_invite(dna_manifest=manifest, inviter=by.public_key, invite_id=invite_id,
                       expires_us=expires_us, uses_max=uses_max, bootstrap=bootstrap,
                       sign=signer(by))


def check(proof: bytes | None, *, author: AgentKey = MEMBER, at_us: int = START_US,
          **kw: object) -> None:
    check_membrane_proof(proof, author=author.public_key, avp_timestamp_us=at_us,
                         dna_hash=DNA.hash, stewards=STEWARDS, **kw)  # type: ignore[arg-type]


def rule_of(fn: Callable[[], object]) -> str:
    with pytest.raises(MembraneError) as caught:
        fn()
    assert str(caught.value).startswith(f"{caught.value.rule}: ")
    return caught.value.rule


GOOD = invite()


# --- the invite and its two byte forms ------------------------------------------------------


def test_an_invite_round_trips_through_bytes_and_code() -> None:
    data = invite_to_bytes(GOOD)
    assert invite_from_bytes(data) == GOOD
    code = invite_code(GOOD)
    assert code.startswith(INVITE_CODE_PREFIX) and "=" not in code
    assert set(code[len(INVITE_CODE_PREFIX):]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert parse_invite_code(code) == GOOD
    assert GOOD.dna_hash == DNA.hash and GOOD.dna_manifest == MANIFEST


def test_a_pasted_code_may_carry_whitespace_and_line_breaks() -> None:
    code = invite_code(GOOD)
    wrapped = "\n".join(code[i:i + 60] for i in range(0, len(code), 60))
    assert parse_invite_code(f"  {wrapped}\r\n") == GOOD


@settings(max_examples=50, deadline=None)
@given(
    expires_us=st.integers(0, 2**63 - 1),
    uses_max=st.integers(1, INVITE_USES_MAX),
    invite_id=st.binary(min_size=16, max_size=16),
    bootstrap=st.lists(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                               max_size=BOOTSTRAP_ADDR_CHARS_MAX - 1).map(lambda s: "/" + s),
                       max_size=BOOTSTRAP_ADDRS_MAX),
)
def test_any_well_formed_invite_round_trips(expires_us: int, uses_max: int, invite_id: bytes,
                                           bootstrap: list[str]) -> None:
    made = invite(expires_us=expires_us, uses_max=uses_max, invite_id=invite_id,
                  bootstrap=tuple(bootstrap))
    assert invite_from_bytes(invite_to_bytes(made)) == made
    assert parse_invite_code(invite_code(made)) == made


@pytest.mark.parametrize("overrides", [
    {"uses_max": 0},
    {"uses_max": INVITE_USES_MAX + 1},
    {"expires_us": -1},
    {"invite_id": b"\x01" * 15},
    {"bootstrap": (PEER,) * (BOOTSTRAP_ADDRS_MAX + 1)},
    {"bootstrap": ("/" + "x" * BOOTSTRAP_ADDR_CHARS_MAX,)},
    {"bootstrap": ("ip4/1.2.3.4",)},
    {"bootstrap": ("/ip4/1.2.3.4 /tcp/1",)},
    {"bootstrap": ("",)},
    {"manifest": b""},
    {"manifest": b"m" * 9000},  # would not fit in a membrane proof
], ids=lambda o: next(iter(o)))
def test_make_invite_refuses_out_of_range_fields(overrides: dict[str, object]) -> None:
    assert rule_of(lambda: invite(**overrides)) == "invite_format"  # type: ignore[arg-type]


def test_only_the_canonical_bytes_decode() -> None:
    fields = ["nodeapp-invite/1", GOOD.dna_manifest, GOOD.dna_hash, GOOD.inviter,
              GOOD.invite_id, GOOD.expires_us, GOOD.uses_max, list(GOOD.bootstrap),
              GOOD.signature]
    items = [encode(f) for f in fields]
    assert b"\x89" + b"".join(items) == invite_to_bytes(GOOD)
    # the same invite with uses_max in a needlessly long integer form: one form per invite
    items[6] = b"\x18\x01"
    assert rule_of(lambda: invite_from_bytes(b"\x89" + b"".join(items))) == "invite_format"
    for wrong in (fields[:-1], ["other-tag", *fields[1:]], [*fields, b""],
                  {"invite": fields}, fields[:5] + ["1"] + fields[6:],
                  fields[:6] + [True] + fields[7:]):
        assert rule_of(lambda w=wrong: invite_from_bytes(encode(w))) == "invite_format"


@pytest.mark.parametrize("code, says", [
    ("", "must start with"),
    ("nodeapp-invite2." + invite_code(GOOD)[len(INVITE_CODE_PREFIX):], "must start with"),
    (INVITE_CODE_PREFIX, "damaged"),
    (INVITE_CODE_PREFIX + "abc*def", "damaged"),
    (INVITE_CODE_PREFIX + "a", "damaged"),
    (invite_code(GOOD)[:-7], "damaged"),
    (INVITE_CODE_PREFIX + base64.urlsafe_b64encode(b"\xff" * 30).decode().rstrip("="),
     "damaged"),
    (INVITE_CODE_PREFIX + "A" * 20_000, "too long"),
])
def test_garbage_codes_are_invite_format_with_a_clear_message(code: str, says: str) -> None:
    with pytest.raises(MembraneError) as caught:
        parse_invite_code(code)
    assert caught.value.rule == "invite_format"
    assert says in str(caught.value)


def test_a_code_with_non_canonical_base64_is_refused() -> None:
    made = next(m for m in (invite(bootstrap=("/" + "x" * n,)) for n in range(1, 4))
                if len(invite_to_bytes(m)) % 3)
    code = invite_code(made)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the last character's lowest bit is padding: flipping it decodes to the same bytes
    bumped = code[:-1] + alphabet[alphabet.index(code[-1]) ^ 1]
    body = bumped[len(INVITE_CODE_PREFIX):]
    assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)) == invite_to_bytes(made)
    assert rule_of(lambda: parse_invite_code(bumped)) == "invite_format"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.text().map(lambda t: INVITE_CODE_PREFIX + t),
                 st.binary().map(lambda b: INVITE_CODE_PREFIX
                                 + base64.urlsafe_b64encode(b).decode().rstrip("="))))
def test_arbitrary_text_is_only_ever_refused_as_invite_format(text: str) -> None:
    assert rule_of(lambda: parse_invite_code(text)) == "invite_format"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=10_000))
def test_arbitrary_bytes_are_only_ever_refused_as_invite_format(data: bytes) -> None:
    assert rule_of(lambda: invite_from_bytes(data)) == "invite_format"
    assert rule_of(lambda: check(data)) == "invite_format"


def test_non_text_and_non_bytes_are_refused_too() -> None:
    assert rule_of(lambda: parse_invite_code(b"nodeapp-invite1.AA")) == "invite_format"  # type: ignore[arg-type]
    assert rule_of(lambda: invite_from_bytes(bytearray(invite_to_bytes(GOOD)))) == (  # type: ignore[arg-type]
        "invite_format")


def test_every_single_byte_change_of_a_valid_invite_is_refused() -> None:
    data = invite_to_bytes(GOOD)
    for index in range(len(data)):
        for flip in (0x01, 0x80):
            changed = data[:index] + bytes([data[index] ^ flip]) + data[index + 1:]
            with pytest.raises(MembraneError):
                check(changed)


# --- the deterministic rules ----------------------------------------------------------------


def test_a_stewards_invite_admits_a_member() -> None:
    check(invite_to_bytes(GOOD))
    check(invite_to_bytes(invite(uses_max=INVITE_USES_MAX, bootstrap=())))


def test_a_steward_needs_no_proof() -> None:
    check(None, author=STEWARD)


def test_a_non_steward_without_proof_is_membrane_missing() -> None:
    assert rule_of(lambda: check(None)) == "membrane_missing"


def test_a_flipped_signature_byte_is_invite_signature() -> None:
    sig = bytearray(GOOD.signature)
    sig[10] ^= 0x04
    forged = replace(GOOD, signature=bytes(sig))
    assert rule_of(lambda: check(invite_to_bytes(forged))) == "invite_signature"


def test_a_changed_field_breaks_the_signature() -> None:
    for changed in (replace(GOOD, expires_us=GOOD.expires_us + 1),
                    replace(GOOD, uses_max=2), replace(GOOD, bootstrap=()),
                    replace(GOOD, invite_id=b"\x02" * 16)):
        assert rule_of(lambda c=changed: check(invite_to_bytes(c))) == "invite_signature"


def test_an_invite_re_signed_by_a_non_steward_in_a_stewards_name_is_invite_signature() -> None:
    resigned = replace(GOOD, signature=signer(OUTSIDER)(GOOD.signed_bytes()))
    assert rule_of(lambda: check(invite_to_bytes(resigned))) == "invite_signature"


def test_an_invite_from_a_non_steward_is_invite_authority() -> None:
    theirs = invite(by=OUTSIDER)
    assert rule_of(lambda: check(invite_to_bytes(theirs))) == "invite_authority"


def test_the_authorisation_hook_admits_other_inviters() -> None:
    theirs = invite_to_bytes(invite(by=OUTSIDER))
    asked: list[bytes] = []

    def only_outsider(agent: bytes) -> bool:
        asked.append(agent)
        return agent == OUTSIDER.public_key

    check(theirs, is_authorised=only_outsider)
    assert asked == [OUTSIDER.public_key]
    assert rule_of(lambda: check(theirs, is_authorised=lambda agent: False)) == (
        "invite_authority")
    assert may_invite(STEWARD.public_key, STEWARDS)
    assert not may_invite(OUTSIDER.public_key, STEWARDS)


def test_an_agent_may_not_invite_itself() -> None:
    own = invite_to_bytes(invite(by=STEWARD))
    assert rule_of(lambda: check(own, author=STEWARD)) == "invite_authority"
    # an authorised member's own invite is no way in for itself either
    mine = invite_to_bytes(invite(by=MEMBER))
    assert rule_of(lambda: check(mine, author=MEMBER, is_authorised=lambda a: True)) == (
        "invite_authority")


def test_an_invite_for_another_network_is_invite_dna() -> None:
    other = build_dna("another network", stewards=[STEWARD]).manifest.to_bytes()
    theirs = invite_to_bytes(invite(manifest=other))
    assert rule_of(lambda: check(theirs)) == "invite_dna"


def test_a_manifest_that_does_not_hash_to_the_dna_hash_is_invite_dna() -> None:
    other = build_dna("another network", stewards=[STEWARD]).manifest.to_bytes()
    swapped = replace(GOOD, dna_manifest=other)
    resigned = replace(swapped, signature=signer(STEWARD)(swapped.signed_bytes()))
    assert rule_of(lambda: check(invite_to_bytes(resigned))) == "invite_dna"


def test_expiry_is_judged_at_the_avp_timestamp_inclusive() -> None:
    proof = invite_to_bytes(GOOD)
    check(proof, at_us=EXPIRES_US)  # exactly at expiry: still valid
    with pytest.raises(MembraneError) as caught:
        check(proof, at_us=EXPIRES_US + 1)  # one microsecond after: expired
    assert caught.value.rule == "invite_expired"


def test_a_dna_naming_no_stewards_has_an_open_membrane() -> None:
    check_membrane_proof(None, author=MEMBER.public_key, avp_timestamp_us=START_US,
                         dna_hash=DNA.hash, stewards=())
    # with a hook the membrane is closed again
    with pytest.raises(MembraneError):
        check_membrane_proof(None, author=MEMBER.public_key, avp_timestamp_us=START_US,
                             dna_hash=DNA.hash, stewards=(), is_authorised=lambda a: False)


def test_the_loaded_dna_hands_its_stewards_to_system_validation() -> None:
    assert TYPES.stewards == STEWARDS
    assert build_dna("open", stewards=[STEWARD]).types.stewards == ()


def test_membrane_errors_are_validation_errors_naming_known_rules() -> None:
    assert issubclass(MembraneError, SysValidationError)
    assert issubclass(MembraneError, ValidationError)
    assert set(MEMBRANE_RULES) == {"invite_format", "invite_dna", "invite_signature",
                                   "invite_authority", "invite_expired", "invite_used_up",
                                   "membrane_missing"}


# --- counting uses (the network layer's, not validation's) ----------------------------------


def test_count_allows_up_to_uses_max_distinct_agents() -> None:
    two = invite(uses_max=2)
    a, b, c = (generate_agent_key().public_key for _ in range(3))
    assert count_allows(two, set(), a)
    assert count_allows(two, {a}, b)
    assert not count_allows(two, {a, b}, c)
    # an agent already counted is not locked out by seeing its own chain again
    assert count_allows(two, {a, b}, a)
    assert not count_allows(GOOD, {a}, b) and count_allows(GOOD, {a}, a)
    assert two.key == two.inviter + two.invite_id


# --- wired into system validation -----------------------------------------------------------


def avp_of(key: AgentKey, proof: bytes | None, ts: int = START_US) -> tuple[object, object]:
    chain = build_genesis(key, DNA.hash, ts=ts, membrane_proof=proof)
    return chain[1], chain[0]


@pytest.mark.parametrize("proof, author, ts, rule", [
    (None, MEMBER, START_US, "membrane_missing"),
    (invite_to_bytes(invite(by=OUTSIDER)), MEMBER, START_US, "invite_authority"),
    (invite_to_bytes(GOOD), MEMBER, EXPIRES_US + 1, "invite_expired"),
    (b"\xa0", MEMBER, START_US, "invite_format"),
    (invite_to_bytes(GOOD), STEWARD, START_US, "invite_authority"),
])
def test_sys_validate_runs_the_membrane_on_the_agent_validation_pkg(
        proof: bytes | None, author: AgentKey, ts: int, rule: str) -> None:
    avp, dna_action = avp_of(author, proof, ts)
    with pytest.raises(SysValidationError) as caught:
        sys_validate(avp, prev=dna_action, entry=None, dna=TYPES, received=True)  # type: ignore[arg-type]
    assert isinstance(caught.value, MembraneError) and caught.value.rule == rule


def test_sys_validate_accepts_an_invited_member_and_a_steward() -> None:
    for key, proof in ((MEMBER, invite_to_bytes(GOOD)), (STEWARD, None)):
        avp, dna_action = avp_of(key, proof)
        assert isinstance(avp.action, AgentValidationPkg)  # type: ignore[attr-defined]
        sys_validate(avp, prev=dna_action, entry=None, dna=TYPES, received=True,  # type: ignore[arg-type]
                     now_us=START_US)


def test_a_peer_refuses_an_uninvited_chain_and_reports_the_rule(tmp_path: Path) -> None:
    node = build_conductor(tmp_path, key=STEWARD, dna=DNA)
    uninvited = build_genesis(OUTSIDER, DNA.hash)
    report = node.ingest(uninvited.items())
    assert [(h, why.split(":")[0]) for h, why in report.rejected] == [
        (uninvited[1].hash, "membrane_missing")]
    assert node.store.get_action(uninvited[1].hash) is None
    assert node.store.get_action(uninvited[2].hash) is None
    invited = build_genesis(MEMBER, DNA.hash, membrane_proof=invite_to_bytes(GOOD))
    report = node.ingest(invited.items())
    assert report.stored == 3 and not report.rejected


def test_a_conductor_writes_an_invited_genesis_and_refuses_an_uninvited_one(
        tmp_path: Path) -> None:
    dna = DNA
    build_conductor(tmp_path, key=MEMBER, dna=dna, membrane_proof=invite_to_bytes(GOOD),
                    db_name="member.db")
    outsider = build_conductor(tmp_path, key=OUTSIDER, dna=dna, genesis=False,
                               db_name="outsider.db")
    with pytest.raises(MembraneError) as caught:
        outsider.genesis(None)
    assert caught.value.rule == "membrane_missing"
    assert not outsider.has_genesis
