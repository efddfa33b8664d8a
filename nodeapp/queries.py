"""Answers to network reads: GET, GET_LINKS, GET_ACTIVITY and remote zome CALLs.

A mixin of :class:`~nodeapp.protocol.NodeProtocol`. A query arrives on a request stream and its
answer goes back on that stream (unlike the one-way messages of publish and sync).

Rules:
* Only members are answered; anyone else gets REFUSED, as for every other message.
* Only valid data is served, and never a private entry (its record goes out without it).
* GET of a member's agent key answers its genesis; of an action hash, the record followed by
  the Delete records held for it (so the reader knows it was deleted); of an entry hash, the
  first record held that wrote it. Nothing held: an empty GOT.
* GET_LINKS answers the live CreateLink records from a base; GET_ACTIVITY an agent's actions
  from a seq on, at most ``ACTIVITY_PER_FRAME_MAX`` actions and ``ACTIVITY_BYTES_MAX`` bytes
  per answer, cut only between seqs. The reader asks again after the last seq it got until a
  page was not cut (:func:`next_activity_start`).
* CALL runs a function its zome opened to peers (``@COORDINATOR.remote``) with the asker as
  caller; such a call cannot write. The output goes back as canonical CBOR.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from nodeapp._core.actions import SignedAction, decode_action
from nodeapp._core.canonical import decode_shallow, encode
from nodeapp._core.limits import ACTION_BYTES_MAX
from nodeapp._core.messages import (
    RECORDS_PER_FRAME_MAX,
    Call,
    Called,
    Get,
    GetActivity,
    GetLinks,
    Got,
    Message,
    Record,
    Refused,
)
from nodeapp.errors import MalformedData, NodeError
from nodeapp.protocol_common import FRAME_RECORD_BYTES_MAX, agent_label, record_bytes
from nodeapp.store import Status

log = logging.getLogger("nodeapp.net")

ACTIVITY_PER_FRAME_MAX = 1_000
# Bytes of actions in one GET_ACTIVITY answer, as in any frame of records. Honest actions are at
# most ~1.3 KiB (a link with a 1 KiB tag; only the AgentValidationPkg can hold 8 KiB), so a page
# of them is cut by count; 1,000 of the largest size allowed (16 KiB) would not fit a frame.
ACTIVITY_BYTES_MAX = FRAME_RECORD_BYTES_MAX
# A page goes past ACTIVITY_BYTES_MAX only to keep a fork's actions at one seq together
ACTIVITY_PAGE_BYTES_MAX = 2 * ACTIVITY_BYTES_MAX
_SIGNED_ACTION_BYTES_MAX = ACTION_BYTES_MAX + 64  # with its signature


def next_activity_start(page: Sequence[Record], start_seq: int) -> int | None:
    """The seq to ask a GET_ACTIVITY from after the answer ``page`` to one from ``start_seq``,
    or None when the chain has been read: the page was cut neither by count nor by bytes (one
    more action of any size would have fitted), or it is empty, or it does not go forward."""
    if len(page) < ACTIVITY_PER_FRAME_MAX and (
            sum(record_bytes(r) for r in page) + _SIGNED_ACTION_BYTES_MAX <= ACTIVITY_BYTES_MAX):
        return None
    try:
        last = decode_action(page[-1][0]).seq
    except MalformedData:
        return None  # ingest refuses the page; nothing after it is worth asking for
    # after the last seq sent, not after as many actions as were sent: a holder may lack an
    # action, or hold one that is not valid, and a fork puts two actions at one seq
    return last + 1 if last >= start_seq else None
CALL_PAYLOAD_BYTES_MAX = 1024 * 1024
ERROR_BYTES_MAX = 4096


class Queries:
    """Answering the reads other members make of this node."""

    # provided by NodeProtocol
    agent: bytes
    conductor: Any
    members: set[bytes]
    blocked: set[bytes]
    _record: Any  # AntiEntropy._record: a held action as a record to send

    def answer(self, peer: bytes, message: Message) -> Message:
        """The answer to one query from an authenticated peer."""
        if peer in self.blocked:
            return Refused("you are blocked by a warrant")
        if peer not in self.members:
            return Refused("not a member of this network: send HELLO first")
        if isinstance(message, Get):
            return Got(tuple(self._get_records(message.action_hash)))
        if isinstance(message, GetLinks):
            return Got(tuple(self._link_records(message)))
        if isinstance(message, GetActivity):
            return Got(tuple(self._activity_records(message.agent, message.start_seq)))
        if isinstance(message, Call):
            return self._call(peer, message)
        return Refused(f"{type(message).__name__} is not a query")

    def _valid(self, action_hash: bytes) -> SignedAction | None:
        found = self.conductor.store.get_action(action_hash)
        return found[0] if found is not None and found[1] == Status.VALID else None

    def _get_records(self, target: bytes) -> list[Record]:
        store = self.conductor.store
        if target in self.members:
            genesis = [self._record(s) for s, status in store.chain(target, end_seq=2)
                       if status == Status.VALID]
            return genesis if len(genesis) == 3 else []
        signed = self._valid(target)
        if signed is not None:
            deletes = [self._valid(h) for h in store.deletes_of(target)]
            return [self._record(signed), *(self._record(d) for d in deletes if d is not None)]
        first = store.first_action_for_entry(target)
        return [self._record(first)] if first is not None and self._valid(first.hash) else []

    def _link_records(self, query: GetLinks) -> list[Record]:
        links = self.conductor.store.get_links(query.base, query.zome_index, query.link_type,
                                               query.tag_prefix)
        records = []
        for link in links[:RECORDS_PER_FRAME_MAX]:
            signed = self._valid(link.create_action)
            if signed is not None:
                records.append(self._record(signed))
        return records

    def _activity_records(self, agent: bytes, start_seq: int) -> list[Record]:
        """The valid actions of ``agent`` from ``start_seq`` on, one page: cut by count or by
        bytes, and only between two seqs, since the reader goes on after the last seq it got
        (a fork's second action at that seq would be lost). Only a pathological fork (more
        actions at one seq than fit a frame) is cut inside its seq."""
        records: list[Record] = []
        size = 0
        last_seq = -1
        for s, status in self.conductor.store.chain(agent, start_seq=start_seq):
            if status != Status.VALID:
                continue
            record = (s.action_bytes, s.signature, None)
            n = record_bytes(record)
            if (len(records) >= ACTIVITY_PER_FRAME_MAX or size + n > ACTIVITY_BYTES_MAX) and (
                    s.action.seq != last_seq or len(records) >= RECORDS_PER_FRAME_MAX
                    or size + n > ACTIVITY_PAGE_BYTES_MAX):
                break
            records.append(record)
            size += n
            last_seq = s.action.seq
        return records

    def _call(self, peer: bytes, call: Call) -> Called:
        try:
            payload = decode_shallow(call.payload, size_max=CALL_PAYLOAD_BYTES_MAX)
        except MalformedData as exc:
            return Called(False, f"the call's input is not canonical CBOR: {exc}".encode())
        try:
            output = self.conductor.call_json(call.zome, call.fn, payload, caller=peer)
            return Called(True, encode(output))
        except NodeError as exc:  # MalformedData included: an output that cannot travel
            log.info("remote call %s.%s from %s refused: %s", call.zome, call.fn,
                     agent_label(peer), exc)
            return Called(False, str(exc).encode()[:ERROR_BYTES_MAX])
