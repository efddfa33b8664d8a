"""An agent's activity is read a page at a time, and every page of it comes back.

The answering side (:meth:`Queries._activity_records`) cuts a page by count and by bytes, only
between two seqs; the reader (:func:`read_activity`) goes on after the last seq it got until a
page was not cut, and keeps no more than its bounds from a holder that never stops. These tests
run the reader against a holder's real answers, each query and answer through a real frame, and
compare what came back with what the holder has.
"""

from __future__ import annotations

import logging
from pathlib import Path
from random import Random

import pytest

from nodeapp._core.actions import CreateLink, SignedAction, sign_action
from nodeapp._core.hashing import HashKind, blake2b_256
from nodeapp._core.messages import (
    FRAME_BYTES_MAX,
    GetActivity,
    Got,
    Message,
    decode_message,
    encode_message,
)
from nodeapp._core.ops import op_mask_for
from nodeapp.conductor import make_signer
from nodeapp.keystore import AgentKey
from nodeapp.network_reads import ACTIVITY_PAGES_MAX, ACTIVITY_READ_BYTES_MAX, read_activity
from nodeapp.protocol import NodeProtocol
from nodeapp.queries import ACTIVITY_BYTES_MAX, ACTIVITY_PAGE_BYTES_MAX, ACTIVITY_PER_FRAME_MAX
from nodeapp.store import StagedRecord, Status
from nodeapp.testing import BuiltRecord, iter_chain
from sims.bench import _two_nodes
from tests.net.test_resource_bounds import through_frames

logging.getLogger("nodeapp").setLevel(logging.ERROR)

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


async def read_from(holder: NodeProtocol, reader: NodeProtocol, agent: bytes) -> list[bytes]:
    """Action hashes of ``agent``'s activity as the reader's :func:`read_activity` gets it
    from ``holder``, each query and answer through a real frame."""
    async def ask(query: Message) -> Message | None:
        answer = holder.answer(reader.agent, through_frames(holder, query))
        frame = encode_message(holder.dna_hash, answer)
        assert len(frame) <= FRAME_BYTES_MAX
        return decode_message(reader.dna_hash, frame)

    return [blake2b_256(r[0]) for r in await read_activity(ask, agent)]


def chain_of(author: AgentKey, holder_dna: bytes, notes: int) -> list[BuiltRecord]:
    return list(iter_chain(author, holder_dna, notes, body_bytes=20))


async def test_a_long_chain_comes_back_whole(nodes: Nodes) -> None:
    author = AgentKey(Random(1).randbytes(32))
    holder, reader = nodes
    chain = chain_of(author, holder.dna_hash, 2 * ACTIVITY_PER_FRAME_MAX + 500)
    hold(holder, [r.staged() for r in chain], author)
    assert await read_from(holder, reader, author.public_key) == [r.signed.hash for r in chain]


async def test_a_gap_and_an_invalid_action_do_not_end_the_read(nodes: Nodes) -> None:
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
    assert await read_from(holder, reader, author.public_key) == expected


def fork_at(record: BuiltRecord, author: AgentKey) -> SignedAction:
    """A second action at ``record``'s seq, on the same prev (what a forking author signs)."""
    action = record.signed.action
    other = CreateLink(action.author, action.seq, action.prev, action.timestamp_us + 1,
                       BASE, TARGET, 0, 0, b"fork")
    return sign_action(other, make_signer(author))


async def test_both_actions_of_a_fork_at_a_page_boundary_come_back(nodes: Nodes) -> None:
    author = AgentKey(Random(3).randbytes(32))
    holder, reader = nodes
    chain = chain_of(author, holder.dna_hash, ACTIVITY_PER_FRAME_MAX + 100)
    # the 1,000th and 1,001st actions of the first page share a seq
    forked = chain[ACTIVITY_PER_FRAME_MAX - 1]
    second = fork_at(forked, author)
    hold(holder, [*(r.staged() for r in chain),
                                          StagedRecord(second, None)], author)
    got = await read_from(holder, reader, author.public_key)
    assert sorted(got) == sorted([*(r.signed.hash for r in chain), second.hash])
    assert len(got) == len(set(got))


async def test_pages_of_large_actions_are_cut_by_bytes(nodes: Nodes) -> None:
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
    assert await read_from(holder, reader, author.public_key) == [r.signed.hash for r in records]


def huge_page(agent: AgentKey, first_seq: int, count: int, tag_bytes: int) -> Got:
    """A page of ``count`` CreateLinks with big tags, as a dishonest holder may send it."""
    sign = make_signer(agent)
    records = []
    for seq in range(first_seq, first_seq + count):
        signed = sign_action(CreateLink(agent.public_key, seq, bytes(32), 1, BASE, TARGET, 0, 0,
                                        bytes(tag_bytes)), sign)
        records.append((signed.action_bytes, signed.signature, None))
    return Got(tuple(records))


async def test_a_holder_that_never_stops_is_read_within_bounds() -> None:
    author = AgentKey(Random(5).randbytes(32))
    page = huge_page(author, 3, ACTIVITY_PER_FRAME_MAX, 100)  # a full page, again and again
    asked: list[int] = []

    async def endless(query: Message) -> Message | None:
        assert isinstance(query, GetActivity)
        asked.append(query.start_seq)
        return page

    got = await read_activity(endless, author.public_key)
    assert len(asked) <= ACTIVITY_PAGES_MAX
    assert sum(len(r[0]) + len(r[1]) for r in got) <= ACTIVITY_READ_BYTES_MAX


async def test_a_page_bigger_than_any_honest_one_ends_the_read() -> None:
    author = AgentKey(Random(6).randbytes(32))
    full = huge_page(author, 3, ACTIVITY_PER_FRAME_MAX, 100)  # cut by count: read on
    oversized = huge_page(author, 3 + ACTIVITY_PER_FRAME_MAX, 400, 15_000)  # ~6 MB
    assert sum(len(r[0]) + len(r[1]) for r in oversized.records) > ACTIVITY_PAGE_BYTES_MAX
    answers = [full, oversized]

    async def holder(query: Message) -> Message | None:
        return answers.pop(0) if answers else Got(())

    got = await read_activity(holder, author.public_key)
    assert answers == []  # both pages were asked for
    assert got == list(full.records)  # and the oversized one was not kept
