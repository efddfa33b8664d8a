"""Anti-entropy: how two nodes whose arcs overlap find and exchange what one of them lacks.

A mixin of :class:`~nodeapp.protocol.NodeProtocol` (it uses the node's held-op index, ring,
store and sessions). Rules: every ``sync_interval_us`` the node offers an IBLT of the op ids it
holds in the overlap of its arc and the next neighbour's; the neighbour subtracts its own table
and answers with the ids it lacks and the records the offerer lacks. A table too small to
decode is offered again ``GROWTH`` times bigger; past the largest size the region is halved, and
a region that is a single location is split on op-id prefix bits, so every difference is
eventually reconciled. Each id is asked for once and each record sent once. One message
received loads at most ``ANSWER_BYTES_MAX`` of records to answer it: what does not fit shows up
as a difference again on the next sync round. Offers each way between two peers keep to a rate
(a burst, then ``sync_offers_per_interval``): one over it is answered BUSY, or not made yet,
and is made again on the peer's next sync turn, so a catch-up bigger than the burst goes on
where it stopped.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from random import Random
from typing import Any, NamedTuple

from nodeapp._core.actions import SignedAction
from nodeapp._core.dht import overlap
from nodeapp._core.messages import (
    IDS_PER_FRAME_MAX,
    Fetch,
    Record,
    Records,
    SyncOffer,
    SyncReply,
)
from nodeapp._core.reconcile import CELLS_MIN, iblt_from_bytes, next_size
from nodeapp.errors import MalformedData
from nodeapp.held_ops import HeldOps
from nodeapp.kernels.iblt import peel, region_iblt
from nodeapp.protocol_common import Outgoing, agent_label, chunk_records, record_bytes
from nodeapp.rate_limits import TokenBuckets
from nodeapp.store import Status

log = logging.getLogger("nodeapp.net")

SPLIT_REGION = 1  # SyncReply.retry_cells value: the biggest table failed, offer halves
BUSY = 2  # SyncReply.retry_cells value: over the offer rate, offer this again at a later round
SESSIONS_MAX = 4096  # sync sessions awaiting a reply (splits fan out)
# offers kept per peer to be made again (a peer over our rate, or we over its); the oldest go
# first. Per peer, so one neighbour whose replies ask for ever more tables cannot push out
# another's catch-up; only neighbours keep theirs, so all of them together hold at most
# neighbours_max times this.
DEFERRED_PER_PEER_MAX = 512
# deferred offers made again on a peer's sync turn: half the default burst, so they are
# answered even if some of its rate went on other work; the rest wait for the next turn
DEFERRED_PER_ROUND = 32
# Records loaded to answer one FETCH, sync offer or sync reply. Half of FRAME_BYTES_MAX (8 MiB):
# a few kilobytes of op ids cannot make us load (and queue) more than that, and it still holds
# several max-size (1 MiB) entries, so every answer makes progress.
ANSWER_BYTES_MAX = 4 * 1024 * 1024


class Session(NamedTuple):
    """An offer made and not settled yet (also one deferred, to be made again)."""

    peer: bytes
    region: tuple[tuple[int, int], ...]
    seed: int
    id_prefix: tuple[int, int]
    cells: int


class AntiEntropy:
    """Sync sessions of a node protocol."""

    # provided by NodeProtocol
    _held: HeldOps
    _offers_answered: TokenBuckets
    _offers_made: TokenBuckets
    _sessions: dict[int, Session]
    _deferred: dict[bytes, deque[Session]]
    _session_counter: int
    _neighbour_turn: int
    _ring: Any
    agent: bytes
    conductor: Any
    settings: Any

    def _accept(self, peer: bytes, records: list[Record], now_us: int, *,
                receipts_to_author: bool) -> list[Outgoing]:
        raise NotImplementedError

    def _start_sync(self, rng: Random, now_us: int) -> list[Outgoing]:
        peers = self._ring.neighbours(self.agent, self.settings.neighbours_max)
        if not peers:
            return []
        peer = peers[self._neighbour_turn % len(peers)]
        self._neighbour_turn += 1
        for gone in [p for p in self._deferred if p not in peers]:
            del self._deferred[gone]  # no longer a neighbour: its next sync starts afresh
        deferred = self._deferred.get(peer)
        if deferred:
            return self._resume(peer, deferred, now_us)
        region = tuple(overlap(self._ring.arc(self.agent), self._ring.arc(peer)))
        if not region or not self._offers_made.take(peer, now_us):
            return []
        return [self._offer(Session(peer, region, rng.getrandbits(63), (0, 0), CELLS_MIN))]

    def _resume(self, peer: bytes, deferred: deque[Session], now_us: int) -> list[Outgoing]:
        """A catch-up that was cut short by a rate: go on where it stopped, rather than start
        again from the top (which would spend the rate on the same rungs). Up to
        DEFERRED_PER_ROUND offers, oldest first; those the rate still refuses keep their place
        at the front."""
        out: list[Outgoing] = []
        refused: list[Session] = []
        for _ in range(min(DEFERRED_PER_ROUND, len(deferred))):
            session = deferred.popleft()
            if self._offers_made.take(peer, now_us):
                out.append(self._offer(session))
            else:
                refused.append(session)
        deferred.extendleft(reversed(refused))
        if not deferred:
            del self._deferred[peer]
        return out

    def _offer_within_rate(self, session: Session, now_us: int) -> list[Outgoing]:
        """Make an offer now if the peer's rate allows, else keep it for the peer's next sync
        turn. The offers we make to a peer follow the rate at which it answers ours, so a
        peer whose replies ask for ever more tables (bigger, halved) cannot make us build
        them faster than that."""
        if not self._offers_made.take(session.peer, now_us):
            self._defer(session)
            return []
        return [self._offer(session)]

    def _offer(self, session: Session) -> Outgoing:
        """Offer the table of the ops held in ``session``'s region (and id prefix), of its
        size, and keep the session until the reply settles it."""
        self._session_counter += 1
        number = self._session_counter
        table = region_iblt(*self._held.arrays(), session.region, session.id_prefix,
                            session.cells, session.seed)
        self._sessions[number] = session._replace(cells=table.cells)
        if len(self._sessions) > SESSIONS_MAX:
            self._sessions.pop(next(iter(self._sessions)))
        return Outgoing(session.peer, SyncOffer(number, session.region, session.seed,
                                                table.to_bytes(), session.id_prefix))

    def _on_sync_offer(self, peer: bytes, offer: SyncOffer, now_us: int) -> list[Outgoing]:
        # each answer scans every op held (~16 ms at 1M ops): a peer offering faster than
        # honest sync does is told to offer again later, which costs us nothing to say
        if not self._offers_answered.take(peer, now_us):
            return [Outgoing(peer, SyncReply(offer.session, BUSY, (), ()))]
        try:
            theirs = iblt_from_bytes(offer.table, offer.seed)
        except MalformedData as exc:
            log.info("bad sync offer from %s: %s", agent_label(peer), exc)
            return []
        mine = region_iblt(*self._held.arrays(), offer.region, offer.id_prefix, theirs.cells,
                           offer.seed)
        result = peel(theirs.subtract(mine))
        if result is None:
            # too many differences for this table: a bigger one, or at the limit, halves
            bigger = next_size(theirs.cells) or SPLIT_REGION
            return [Outgoing(peer, SyncReply(offer.session, bigger, (), ()))]
        only_theirs, only_mine = result
        wants = sorted(only_theirs)
        want_chunks = [tuple(wants[i:i + IDS_PER_FRAME_MAX])
                       for i in range(0, len(wants), IDS_PER_FRAME_MAX)] or [()]
        record_chunks = chunk_records(self._records_for(only_mine)) or [()]
        # each id is asked for once and each record sent once, however many frames it takes
        return [Outgoing(peer, SyncReply(offer.session, 0,
                                         want_chunks[i] if i < len(want_chunks) else (),
                                         record_chunks[i] if i < len(record_chunks) else ()))
                for i in range(max(len(want_chunks), len(record_chunks)))]

    def _on_sync_reply(self, peer: bytes, reply: SyncReply, now_us: int) -> list[Outgoing]:
        session = self._sessions.get(reply.session)
        if session is None or session.peer != peer:
            return []
        if reply.retry_cells:
            del self._sessions[reply.session]
            return self._offer_again(session, reply.retry_cells, now_us)
        out: list[Outgoing] = []
        if reply.records:
            out.extend(self._accept(peer, list(reply.records), now_us, receipts_to_author=True))
        records = self._records_for(set(reply.want))
        out.extend(Outgoing(peer, Records(chunk)) for chunk in chunk_records(records))
        return out

    def _offer_again(self, session: Session, retry_cells: int, now_us: int
                     ) -> list[Outgoing]:
        """What follows a reply that did not settle a session: a bigger table, the region
        in halves, or (the peer was busy) the same offer at a later round."""
        if retry_cells == BUSY:
            self._defer(session)
            return []
        out: list[Outgoing] = []
        for follow_up in _follow_ups(session, retry_cells):
            out.extend(self._offer_within_rate(follow_up, now_us))
        return out

    def _defer(self, session: Session) -> None:
        """Keep an offer to make again on the peer's next sync turn (at most
        DEFERRED_PER_PEER_MAX per peer: past it the peer's oldest goes, and the next sync
        from the top finds what it would have)."""
        queue = self._deferred.get(session.peer)
        if queue is None:
            queue = self._deferred[session.peer] = deque(maxlen=DEFERRED_PER_PEER_MAX)
        queue.append(session)

    def _on_fetch(self, peer: bytes, message: Fetch, now_us: int) -> list[Outgoing]:
        return [Outgoing(peer, Records(chunk)) for chunk in
                chunk_records(self._records_for(set(message.op_ids)))]

    def _on_records(self, peer: bytes, message: Records, now_us: int) -> list[Outgoing]:
        return self._accept(peer, list(message.records), now_us, receipts_to_author=True)

    def _records_for(self, ids: set[int]) -> list[Record]:
        """The valid records of the held ops among ``ids``, in action-hash order, up to
        ``ANSWER_BYTES_MAX`` (the rest is left for the next sync round)."""
        held = self._held
        hashes = sorted({h for h in map(held.action_of, ids) if h is not None})
        store = self.conductor.store
        records: list[Record] = []
        total = 0
        for index, action_hash in enumerate(hashes):
            found = store.get_action(action_hash)
            if found is None or found[1] != Status.VALID:
                continue
            record = self._record(found[0])
            total += record_bytes(record)
            if total > ANSWER_BYTES_MAX and records:
                log.debug("an answer reached %d bytes: %d actions left for the next sync round",
                          ANSWER_BYTES_MAX, len(hashes) - index)
                break
            records.append(record)
        return records

    def _record(self, signed: SignedAction) -> Record:
        return (signed.action_bytes, signed.signature,
                self.conductor.store.entry_of(signed, shared=True))



def _follow_ups(session: Session, retry_cells: int) -> list[Session]:
    """The offers that follow a reply asking for a bigger table (``retry_cells``) or, past
    the biggest, for the region split in halves (by location, or by the op ids' next bit
    when the region is a single location)."""
    value, bits = session.id_prefix
    if retry_cells != SPLIT_REGION:
        return [session._replace(cells=retry_cells)]
    if any(length > 1 for _, length in session.region):
        return [session._replace(region=(half,), cells=CELLS_MIN)
                for half in _halves(session.region)]
    if bits >= 64:
        return []
    return [session._replace(id_prefix=(value << 1 | bit, bits + 1), cells=CELLS_MIN)
            for bit in (0, 1)]


def _halves(region: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each piece of a region cut in two (a piece of length 1 stays whole)."""
    out = []
    for start, length in region:
        if length < 2:
            out.append((start, length))
            continue
        first = length // 2
        out += [(start, first), ((start + first) % (1 << 32), length - first)]
    return out
