"""Network reads and remote calls of a running node: the asking side and the answering side.

A mixin of :class:`~nodeapp.runtime.RunningNode`. Queries (GET, GET_LINKS, GET_ACTIVITY,
CALL) travel on the request protocol ``/nodeapp/<first 16 hex chars>/query/1.0.0``
(:func:`query_protocol_id_for`): one message frame asked, one answered on the same stream, each
bounded in time (``QUERY_S_MAX``). A zome call (:meth:`NetworkReads.zome_call`) reads the
network through the node's store: what it could not read locally is fetched from the
authorities, validated, stored, and the call runs again, at most ``CALL_ROUNDS_MAX`` times
(see :mod:`nodeapp.network_view`). What a query is answered with is decided by
:mod:`nodeapp.queries`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import trio

from nodeapp._core.canonical import decode_shallow, encode
from nodeapp._core.hashing import blake2b_256, location_of
from nodeapp._core.messages import (
    FRAME_BYTES_MAX,
    QUERIES,
    Call,
    Called,
    Get,
    GetActivity,
    GetLinks,
    Got,
    Message,
    Record,
    Refused,
    decode_message,
    encode_message,
)
from nodeapp.conductor import Conductor
from nodeapp.errors import MalformedData, NodeError, RemoteCallFailed, StorageError
from nodeapp.identity import peer_id_of
from nodeapp.kernels.cbor_items import check_item_budget
from nodeapp.net import Host
from nodeapp.network_view import NetworkReadsNeeded, NetworkView
from nodeapp.protocol import NodeProtocol
from nodeapp.protocol_common import agent_label, record_bytes
from nodeapp.queries import ACTIVITY_PAGE_BYTES_MAX, next_activity_start

log = logging.getLogger("nodeapp.runtime")

QUERY_S_MAX = 5.0  # one query to one peer, dial included
QUERY_HOLDERS_MAX = 3  # authorities asked in turn until one has the answer
QUERIES_AT_ONCE = 16
CALL_ROUNDS_MAX = 6  # runs of one zome call, each after fetching what the last one missed
ACTIVITY_PAGES_MAX = 100
# An agent's activity read from one holder: 100,000 typical actions (~300 bytes) fit.
ACTIVITY_READ_BYTES_MAX = 32 * 1024 * 1024


def query_protocol_id_for(dna_hash: bytes) -> str:
    """The request/answer stream protocol of a network's queries."""
    return f"/nodeapp/{dna_hash.hex()[:16]}/query/1.0.0"


async def read_activity(ask: Callable[[Message], Awaitable[Message | None]], agent: bytes
                        ) -> list[Record]:
    """``agent``'s activity as one holder answers it (``ask`` sends it one query), a page at a
    time (:func:`~nodeapp.queries.next_activity_start`). At most ``ACTIVITY_PAGES_MAX`` pages
    and ``ACTIVITY_READ_BYTES_MAX`` bytes are kept, and a page bigger than any honest holder
    sends ends the read: a holder cannot make a reader keep more than that."""
    records: list[Record] = []
    size = 0
    start: int | None = 0
    for _page in range(ACTIVITY_PAGES_MAX):
        if start is None:
            break
        answer = await ask(GetActivity(agent, start))
        if not isinstance(answer, Got):
            break
        page_bytes = sum(record_bytes(r) for r in answer.records)
        if page_bytes > ACTIVITY_PAGE_BYTES_MAX or size + page_bytes > ACTIVITY_READ_BYTES_MAX:
            log.info("an activity page of %d bytes goes past what a read keeps: the read ends "
                     "at seq %d", page_bytes, start)
            break
        records.extend(answer.records)
        size += page_bytes
        start = next_activity_start(answer.records, start)
    return records


def decode_peer_message(dna_hash: bytes, frame: bytes) -> Message:
    """A message from a peer, once its frame is known not to be an item bomb (see
    :mod:`nodeapp.kernels.cbor_items`); MalformedData if it is, or does not decode."""
    check_item_budget(frame)
    return decode_message(dna_hash, frame)


class NetworkReads:
    """Zome calls that read the network, remote calls, and answering others' queries."""

    # provided by RunningNode
    agent: bytes
    conductor: Conductor
    host: Host
    protocol: NodeProtocol
    query_protocol_id: str
    stats: Counter[str]
    _clock_us: Callable[[], int]

    def publish_new_records(self) -> int:
        raise NotImplementedError

    def store_guard(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _note_changes(self) -> None:
        raise NotImplementedError

    async def _dial(self, agent: bytes, peer_id: str) -> bool:
        raise NotImplementedError

    async def zome_call(self, zome: str, fn: str, payload: Any = None) -> Any:
        """Run a zome function, fetching from the authorities what it reads and this node
        does not hold, and publish what it wrote; output as plain JSON data."""
        view = NetworkView(is_authority=self._is_authority)
        for round_ in range(CALL_ROUNDS_MAX):
            view.final = round_ == CALL_ROUNDS_MAX - 1
            try:
                output = self.conductor.call_json(zome, fn, payload, view=view)
            except NetworkReadsNeeded:
                await self._fetch(view)
                continue
            self.publish_new_records()
            return output
        raise AssertionError("unreachable: the last round does not raise NetworkReadsNeeded")

    async def call_remote(self, agent: bytes, zome: str, fn: str, payload: Any = None) -> Any:
        """Run a function another member opened to peers, on that member's node; its
        output as plain JSON data. RemoteCallFailed says why it did not work."""
        if agent == self.agent:
            return self.conductor.call_json(zome, fn, payload)
        answer = await self._ask(agent, Call(zome, fn, encode(payload)))
        callee = agent_label(agent)
        if not isinstance(answer, Called):
            reason = answer.reason if isinstance(answer, Refused) else "no answer"
            raise RemoteCallFailed(f"{callee} did not run {zome}.{fn}: {reason}")
        if not answer.ok:
            raise RemoteCallFailed(f"{callee} refused {zome}.{fn}: "
                                   f"{answer.value.decode(errors='replace')}")
        try:
            check_item_budget(answer.value)
            return decode_shallow(answer.value, size_max=FRAME_BYTES_MAX)
        except MalformedData as exc:
            raise RemoteCallFailed(f"{callee} answered {zome}.{fn} with bad data: {exc}"
                                   ) from None

    def _is_authority(self, location: int) -> bool:
        return self.protocol.ring.is_authority(self.agent, location)

    async def handle_query(self, peer_id: str, frame: bytes) -> bytes | None:
        """The query handler: one query in, its answer out (None refuses the stream)."""
        agent = self.host.remote_public_key(peer_id)
        dna_hash = self.conductor.dna.hash
        try:
            message = decode_peer_message(dna_hash, frame)
        except MalformedData as exc:
            self.stats["frames_refused"] += 1
            log.warning("refused a query from %s: %s", agent_label(agent, peer_id), exc)
            return None
        if not isinstance(message, QUERIES):
            self.stats["frames_refused"] += 1
            log.warning("refused a %s sent as a query by %s", type(message).__name__,
                        agent_label(agent, peer_id))
            return None
        self.stats["queries_in"] += 1
        try:
            with self.store_guard():
                answer = self.protocol.answer(agent, message)
        except StorageError as exc:  # the asker moves on to another holder
            answer = Refused(f"this node cannot read its store: {exc}"[:900])
        try:
            return encode_message(dna_hash, answer)
        except MalformedData as exc:
            return encode_message(dna_hash, Refused(f"the answer cannot be sent: {exc}"[:900]))

    async def _ask(self, agent: bytes, message: Message) -> Message | None:
        """One query to one peer; None if it could not be asked or answered in time."""
        peer_id = peer_id_of(agent)
        dna_hash = self.conductor.dna.hash
        with trio.move_on_after(QUERY_S_MAX):
            try:
                if peer_id not in self.host.connected_peers() and not await self._dial(
                        agent, peer_id):
                    return None
                frame = await self.host.request(peer_id, self.query_protocol_id,
                                                encode_message(dna_hash, message),
                                                response_bytes_max=FRAME_BYTES_MAX)
                self.stats["queries_out"] += 1
                return decode_peer_message(dna_hash, frame)
            except NodeError as exc:
                log.debug("%s to %s failed: %s", type(message).__name__,
                          agent_label(agent, peer_id), exc)
        return None

    async def _fetch(self, view: NetworkView) -> None:
        """Fetch what a zome call wanted from the authorities; validate and store it. What
        cannot be validated yet waits in the view, and its dependencies are wanted next."""
        targets, link_keys, agents = view.take_wants()
        found: list[Record] = list(view.pending)
        activity: list[Record] = []
        limiter = trio.CapacityLimiter(QUERIES_AT_ONCE)
        async with trio.open_nursery() as nursery:
            for target in targets:
                nursery.start_soon(self._ask_holders, Get(target), location_of(target), found,
                                   limiter)
            for base, zome_index, link_type, prefix in link_keys:
                nursery.start_soon(self._ask_holders,
                                   GetLinks(base, zome_index, link_type, prefix),
                                   location_of(base[1:]), found, limiter)
            for agent in agents:
                nursery.start_soon(self._ask_activity, agent, activity, limiter)
        now = self._clock_us()
        view.pending = []
        for records, is_activity in ((activity, True), (found, False)):
            if not records:
                continue
            report = self.protocol.ingest_fetched(records, now, activity=is_activity)
            by_hash = {blake2b_256(r[0]): r for r in records}
            for action_hash, deps in report.unresolved:
                for dep in deps:
                    view.want_record(dep)
                if not is_activity and action_hash in by_hash:
                    view.pending.append(by_hash[action_hash])
        self._note_changes()

    async def _ask_holders(self, query: Message, location: int, out: list[Record],
                           limiter: trio.CapacityLimiter) -> None:
        """Ask the authorities of ``location`` in turn until one answers with records."""
        holders = [a for a in self.protocol.ring.authorities(location) if a != self.agent]
        async with limiter:
            for holder in holders[:QUERY_HOLDERS_MAX]:
                answer = await self._ask(holder, query)
                if isinstance(answer, Got) and answer.records:
                    out.extend(answer.records)
                    return

    async def _ask_activity(self, agent: bytes, out: list[Record],
                            limiter: trio.CapacityLimiter) -> None:
        """An agent's chain from its activity authorities, a page at a time."""
        holders = [a for a in self.protocol.ring.authorities(location_of(agent))
                   if a != self.agent]
        async with limiter:
            for holder in holders[:QUERY_HOLDERS_MAX]:
                pages = await read_activity(partial(self._ask, holder), agent)
                if pages:
                    out.extend(pages)
                    return
