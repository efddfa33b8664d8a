"""An agent's activity is read a page at a time, and every page of it comes back.

The answering side (:meth:`Queries._activity_records`) cuts a page by count and by bytes, only
between two seqs; the reader (:func:`next_activity_start`) goes on after the last seq it got
until a page was not cut. These tests page through a holder's store exactly as a reader does,
each answer through a real frame, and compare what came back with what the holder has.
"""

from __future__ import annotations

import logging
from pathlib import Path
from random import Random

import pytest

from nodeapp._core.actions import CreateLink, SignedAction, sign_action
from nodeapp._core.hashing import HashKind, blake2b_256
from nodeapp._core.messages import FRAME_BYTES_MAX, GetActivity, Got, encode_message
from nodeapp._core.ops import op_mask_for
from nodeapp.conductor import make_signer
from nodeapp.keystore import AgentKey
from nodeapp.protocol import NodeProtocol
from nodeapp.queries import ACTIVITY_BYTES_MAX, ACTIVITY_PER_FRAME_MAX, next_activity_start
from nodeapp.store import StagedRecord, Status
from nodeapp.testing import BuiltRecord, iter_chain
from sims.bench import _two_nodes

logging.getLogger("nodeapp").setLevel(logging.ERROR)

PAGES_MAX = 50  # a reader's bound on pages; every chain here needs far fewer
BASE = bytes((HashKind.ENTRY,)) + blake2b_256(b"base")
TARGET = bytes((HashKind.ENTRY,)) + blake2b_256(b"target")


Nodes = tuple[NodeProtocol, NodeProtocol]


@pytest.fixture
def nodes(tmp_path: Path) -> Nodes:
    """A holder and a member that reads from it."""
    holder, reader, _ = _two_nodes(tmp_path, seed=21)
    holder.members.add(reader.agent)
    return holder, reader


def hold(holder: NodeProtocol, records: list[StagedRecord], author: AgentKey) -> None:
    """``records`` of ``author``'s chain held as stored (not validated again)."""
    holder.conductor.store.store_received(records)
    holder.members.add(author.public_key)
    for record in records:
        holder._index(record.signed, op_mask_for(record.signed.action))


def read_activity(holder: NodeProtocol, reader: NodeProtocol, agent: bytes) -> list[bytes]:
    """Action hashes of ``agent``'s activity, paged as a reader pages it."""
    got: list[bytes] = []
    start: int | None = 0
    for _ in range(PAGES_MAX):
        if start is None:
            return got
        answer = holder.answer(reader.agent, GetActivity(agent, start))
        assert isinstance(answer, Got)
        assert len(encode_message(holder.dna_hash, answer)) <= FRAME_BYTES_MAX
        got.extend(blake2b_256(r[0]) for r in answer.records)
        start = next_activity_start(answer.records, start)
    raise AssertionError("the reader did not reach the end of the chain")


def chain_of(author: AgentKey, holder_dna: bytes, notes: int) -> list[BuiltRecord]:
    return list(iter_chain(author, holder_dna, notes, body_bytes=20))


def test_a_long_chain_comes_back_whole(nodes: Nodes) -> None:
    author = AgentKey(Random(1).randbytes(32))
    holder, reader = nodes
    chain = chain_of(author, holder.dna_hash, 2 * ACTIVITY_PER_FRAME_MAX + 500)
    hold(holder, [r.staged() for r in chain], author)
    assert read_activity(holder, reader, author.public_key) == [r.signed.hash for r in chain]


def test_a_gap_and_an_invalid_action_do_not_end_the_read(nodes: Nodes) -> None:
    author = AgentKey(Random(2).randbytes(32))
    holder, reader = nodes
    chain = chain_of(author, holder.dna_hash, 2 * ACTIVITY_PER_FRAME_MAX)
    missing, invalid = chain[600], chain[1_200]
    held = [r.staged() for r in chain if r is not missing]
    held = [s._replace(status=Status.REJECTED) if s.signed.hash == invalid.signed.hash else s
            for s in held]
    hold(holder, held, author)
    expected = [r.signed.hash for r in chain if r not in (missing, invalid)]
    # before, a page short of an action looked like the chain's end: 999 of 2,001 came back
    assert read_activity(holder, reader, author.public_key) == expected


def fork_at(record: BuiltRecord, author: AgentKey) -> SignedAction:
    """A second action at ``record``'s seq, on the same prev (what a forking author signs)."""
    action = record.signed.action
    other = CreateLink(action.author, action.seq, action.prev, action.timestamp_us + 1,
                       BASE, TARGET, 0, 0, b"fork")
    return sign_action(other, make_signer(author))


def test_both_actions_of_a_fork_at_a_page_boundary_come_back(nodes: Nodes) -> None:
    author = AgentKey(Random(3).randbytes(32))
    holder, reader = nodes
    chain = chain_of(author, holder.dna_hash, ACTIVITY_PER_FRAME_MAX + 100)
    # the 1,000th and 1,001st actions of the first page share a seq
    forked = chain[ACTIVITY_PER_FRAME_MAX - 1]
    second = fork_at(forked, author)
    hold(holder, [*(r.staged() for r in chain),
                                          StagedRecord(second, None)], author)
    got = read_activity(holder, reader, author.public_key)
    assert sorted(got) == sorted([*(r.signed.hash for r in chain), second.hash])
    assert len(got) == len(set(got))


def test_pages_of_large_actions_are_cut_by_bytes(nodes: Nodes) -> None:
    """Actions far bigger than validation lets through (15 KiB tags), stored directly: the
    byte bound alone keeps each answer within a frame, and the read is still whole."""
    author = AgentKey(Random(4).randbytes(32))
    holder, reader = nodes
    genesis = chain_of(author, holder.dna_hash, 0)
    sign = make_signer(author)
    records, prev = [r.staged() for r in genesis], genesis[-1].signed.hash
    for seq in range(3, 3 + 400):  # ~6 MB of actions: three pages at least
        signed = sign_action(CreateLink(author.public_key, seq, prev, 1_700_000_000_000_000 + seq,
                                        BASE, TARGET, 0, 0,
                                        bytes([seq % 256]) * 15_000), sign)
        records.append(StagedRecord(signed, None))
        prev = signed.hash
    assert sum(len(r.signed.action_bytes) for r in records) > 2 * ACTIVITY_BYTES_MAX
    hold(holder, records, author)
    assert read_activity(holder, reader, author.public_key) == [r.signed.hash for r in records]
