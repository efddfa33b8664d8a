"""What a warrant's proof of an invalid op must show (Conductor.judge_proof): a chain-rule
break is proven by the record together with the record it names as its prev, and by no other
pairing of the agent's records."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import (
    EXAMPLE_ZOME,
    FakeClock,
    build_conductor,
    build_dna,
    create_after,
    export_chain,
    note_bytes,
    private_note_bytes,
    sign,
)

from nodeapp._core.actions import CreateLink, Visibility
from nodeapp._core.canonical import encode
from nodeapp._core.hashing import HashKind, blake2b_256
from nodeapp._core.limits import LINK_TAG_BYTES_MAX
from nodeapp.conductor import Conductor
from nodeapp.keystore import generate_agent_key
from nodeapp.warrants import WARRANT_INVALID_OP

Record = tuple[bytes, bytes, bytes | None]


@pytest.fixture
def alice(tmp_path: Path) -> Conductor:
    key = generate_agent_key()
    node = build_conductor(tmp_path, key=key, dna=build_dna(stewards=[key]), clock=FakeClock(),
                           db_name="alice.db")
    for index in range(3):
        node.call("example", "create_note", {"title": f"note {index}",
                                             "index_by_author": False})
    return node


@pytest.fixture
def judge(tmp_path: Path, alice: Conductor) -> Conductor:
    return build_conductor(tmp_path, dna=alice.dna, clock=FakeClock(), db_name="judge.db")


def test_an_honest_record_with_another_of_its_authors_records_proves_nothing(
        alice: Conductor, judge: Conductor) -> None:
    records = export_chain(alice)  # seq 0..5, all valid
    for later, earlier in ((5, 3), (5, 0), (4, 2), (3, 5)):
        # not its prev: the prev rule "fails", but only because the proof is made up
        assert not judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent,
                                             [records[later], records[earlier]])
    assert not judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent,
                                         [records[5], records[4]])


@pytest.mark.parametrize("rule", ["timestamp", "seq"])
def test_a_chain_rule_break_is_proven_with_its_prev(alice: Conductor, judge: Conductor,
                                                    rule: str) -> None:
    chain = [signed for signed, _ in alice.store.chain(alice.agent)]
    head = chain[-1]
    entry = note_bytes("bent")
    bent = (create_after(alice.key, head, entry, ts=head.action.timestamp_us - 1)
            if rule == "timestamp" else
            create_after(alice.key, head, entry, seq=head.action.seq + 2))
    record: Record = (bent.action_bytes, bent.signature, entry)
    prev: Record = (head.action_bytes, head.signature, None)
    assert judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent, [record, prev])
    # alone, the record only shows its own position, which is fine
    assert not judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent, [record])
    # and it convicts only its author
    other = generate_agent_key().public_key
    assert not judge.proves_misbehaviour(WARRANT_INVALID_OP, other, [record, prev])


def test_an_oversize_link_tag_is_rejected_by_its_rule_and_convicts_its_author(
        alice: Conductor, judge: Conductor) -> None:
    chain = [signed for signed, _ in alice.store.chain(alice.agent)]
    head = chain[-1]
    link = sign(CreateLink(alice.agent, head.action.seq + 1, head.hash,
                           head.action.timestamp_us, bytes((HashKind.AGENT,)) + alice.agent,
                           bytes((HashKind.ACTION,)) + head.hash, 0,
                           EXAMPLE_ZOME.link_type_index("AuthorToNotes"),
                           b"t" * (LINK_TAG_BYTES_MAX + 1)), alice.key)
    record: Record = (link.action_bytes, link.signature, None)
    report = judge.ingest([*export_chain(alice), record])
    assert report.rejected == [(link.hash, f"link_tag_size: link tag is {LINK_TAG_BYTES_MAX + 1}"
                                           f" bytes; the limit is {LINK_TAG_BYTES_MAX}")]
    assert judge.store.get_action(link.hash) is None
    # the record alone convicts: the size rule needs no prev
    assert judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent, [record])


def test_an_honest_record_with_entry_bytes_its_author_never_signed_proves_nothing(
        alice: Conductor, judge: Conductor) -> None:
    """Anyone can attach junk to an honest record: it then fails the entry_hash rule, which
    says nothing about the author, who signed only the hash."""
    action_bytes, signature, entry = export_chain(alice)[-1]
    assert entry is not None
    junk: Record = (action_bytes, signature, entry + b"junk")
    assert not judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent, [junk])
    # bytes beside an action that writes no entry are junk too
    genesis = export_chain(alice)[2]
    assert not judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent,
                                         [(genesis[0], genesis[1], b"junk")])
    # the honest record as its author wrote it convicts nobody either
    assert not judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent,
                                         [(action_bytes, signature, entry)])


def test_a_private_entry_shown_in_a_proof_does_not_convict_its_author(
        alice: Conductor, judge: Conductor) -> None:
    """A short private text can be guessed: whoever shows its bytes proves only that."""
    alice.call("example", "save_private_note", {"text": "hi"})
    head = next(reversed([s for s, _ in alice.store.chain(alice.agent)]))
    assert head.action.visibility == Visibility.PRIVATE
    guessed = private_note_bytes("hi")
    assert blake2b_256(guessed) == head.action.entry_hash
    assert not judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent,
                                         [(head.action_bytes, head.signature, guessed)])


def test_an_invalid_entry_its_author_signed_still_convicts(alice: Conductor,
                                                            judge: Conductor) -> None:
    head = [signed for signed, _ in alice.store.chain(alice.agent)][-1]
    entry = encode({"title": "", "body": ""})  # the Note model needs a title
    bad = create_after(alice.key, head, entry)
    assert judge.proves_misbehaviour(WARRANT_INVALID_OP, alice.agent,
                                     [(bad.action_bytes, bad.signature, entry)])
