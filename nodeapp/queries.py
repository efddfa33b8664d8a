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
  from a seq on, at most ``ACTIVITY_PER_FRAME_MAX`` per answer (the reader asks again from
  where the answer ended).
* CALL runs a function its zome opened to peers (``@COORDINATOR.remote``) with the asker as
  caller; such a call cannot write. The output goes back as canonical CBOR.
"""

from __future__ import annotations

import logging
from typing import Any

from nodeapp._core.actions import SignedAction
from nodeapp._core.canonical import decode_shallow, encode
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
from nodeapp.store import Status

log = logging.getLogger("nodeapp.net")

ACTIVITY_PER_FRAME_MAX = 1_000
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
        end = start_seq + ACTIVITY_PER_FRAME_MAX - 1
        return [(s.action_bytes, s.signature, None)
                for s, status in self.conductor.store.chain(agent, start_seq=start_seq,
                                                            end_seq=end)
                if status == Status.VALID]

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
                     peer.hex()[:12], exc)
            return Called(False, str(exc).encode()[:ERROR_BYTES_MAX])
