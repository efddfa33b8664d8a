"""Closing a chain and opening one that continues it (CloseChain / OpenChain), through zome
calls on real stores, and as a peer judges them."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import FakeClock, build_conductor, build_dna, create_after, export_chain, note_bytes

from nodeapp._core.actions import CloseChain, OpenChain
from nodeapp._core.hashing import ActionHash, AgentPubKey, DnaHash, EntryHash, HashKind
from nodeapp.conductor import Conductor
from nodeapp.errors import InvalidHash, SysValidationError, ZomeCallError
from nodeapp.keystore import generate_agent_key


@pytest.fixture
def alice(tmp_path: Path) -> Conductor:
    key = generate_agent_key()
    return build_conductor(tmp_path, key=key, dna=build_dna(stewards=[key]), clock=FakeClock(),
                           db_name="alice.db")


def head_action(node: Conductor) -> object:
    head = node.store.chain_head(node.agent)
    assert head is not None
    found = node.store.get_action(head.hash)
    assert found is not None
    return found[0].action


def test_a_closed_chain_takes_no_more_writes_and_keeps_what_it_had(alice: Conductor) -> None:
    alice.call_json("example", "create_note", {"title": "before"})
    new_dna = str(DnaHash(b"n" * 32))
    closed = alice.call_json("example", "close_chain", {"new_target": new_dna})
    action = head_action(alice)
    assert isinstance(action, CloseChain)
    assert action.new_target == bytes((HashKind.DNA,)) + b"n" * 32
    assert str(ActionHash(alice.store.chain_head(alice.agent).hash)) == closed  # type: ignore[union-attr]
    counts = alice.store.counts()
    for payload in ({"title": "after"}, {"title": "after", "index_by_author": False}):
        with pytest.raises(SysValidationError) as caught:
            alice.call("example", "create_note", payload)
        assert caught.value.rule == "closed_chain"
    with pytest.raises(SysValidationError, match="closed_chain"):
        alice.call("example", "close_chain", {})
    assert alice.store.counts() == counts
    assert isinstance(head_action(alice), CloseChain)


def test_a_chain_may_close_without_a_target_or_towards_a_new_key(tmp_path: Path) -> None:
    for name, target in (("none", None), ("key", str(AgentPubKey(b"k" * 32)))):
        key = generate_agent_key()
        node = build_conductor(tmp_path, key=key, dna=build_dna(stewards=[key]),
                               db_name=f"{name}.db")
        node.call("example", "close_chain", {"new_target": target})
        action = head_action(node)
        assert isinstance(action, CloseChain)
        assert action.new_target == (None if target is None
                                     else bytes((HashKind.AGENT,)) + b"k" * 32)


def test_close_chain_refuses_a_target_that_is_not_a_dna_or_an_agent(alice: Conductor) -> None:
    length = alice.store.chain_head(alice.agent)
    with pytest.raises(ZomeCallError, match="DNA hash or an agent key"):
        alice.call("example", "close_chain", {"new_target": str(EntryHash(b"e" * 32))})
    with pytest.raises((ZomeCallError, InvalidHash)):
        alice.call("example", "close_chain", {"new_target": "dna_not-a-hash"})
    assert alice.store.chain_head(alice.agent) == length


def test_open_chain_only_as_the_first_write_after_genesis(tmp_path: Path,
                                                          alice: Conductor) -> None:
    old_dna = str(DnaHash(b"o" * 32))
    close_hash = str(ActionHash(b"c" * 32))
    opened = alice.call_json("example", "open_chain",
                             {"prev_target": old_dna, "close_hash": close_hash})
    action = head_action(alice)
    assert isinstance(action, OpenChain) and action.seq == 3
    assert action.close_hash == b"c" * 32 and action.prev_target[0] == HashKind.DNA
    assert opened == str(ActionHash(alice.store.chain_head(alice.agent).hash))  # type: ignore[union-attr]
    alice.call("example", "create_note", {"title": "carried on"})
    with pytest.raises(SysValidationError) as caught:
        alice.call("example", "open_chain", {"prev_target": old_dna, "close_hash": close_hash})
    assert caught.value.rule == "open_chain"


def test_a_peer_rejects_what_an_author_signs_after_closing(tmp_path: Path,
                                                           alice: Conductor) -> None:
    alice.call("example", "create_note", {"title": "before"})
    alice.call("example", "close_chain", {})
    records = export_chain(alice)
    closed = alice.store.get_action(alice.store.chain_head(alice.agent).hash)  # type: ignore[union-attr]
    assert closed is not None
    entry = note_bytes("after the end")
    late = create_after(alice.key, closed[0], entry)
    bob = build_conductor(tmp_path, dna=alice.dna, clock=FakeClock(), db_name="bob.db")
    report = bob.ingest([*records, (late.action_bytes, late.signature, entry)])
    assert report.stored == len(records)
    assert report.rejected == [(late.hash, "closed_chain: the chain was closed by the previous "
                                           "action")]
    assert bob.store.get_action(late.hash) is None


def test_a_write_after_closing_is_proof_for_a_warrant(tmp_path: Path, alice: Conductor) -> None:
    alice.call("example", "close_chain", {})
    closed = alice.store.get_action(alice.store.chain_head(alice.agent).hash)  # type: ignore[union-attr]
    assert closed is not None
    entry = note_bytes("after the end")
    late = create_after(alice.key, closed[0], entry)
    bob = build_conductor(tmp_path, dna=alice.dna, clock=FakeClock(), db_name="bob.db")
    proof = [(late.action_bytes, late.signature, entry),
             (closed[0].action_bytes, closed[0].signature, None)]
    assert bob.proves_misbehaviour(0, alice.agent, proof)
    # the CloseChain alone proves nothing: closing is allowed
    assert not bob.proves_misbehaviour(0, alice.agent, proof[1:])
