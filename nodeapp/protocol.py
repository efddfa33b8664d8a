"""What a node does on the network, as a state machine driven from outside.

The adapter (the libp2p runtime in production, ``sims`` in simulation) calls :meth:`on_message`,
:meth:`on_tick` and :meth:`on_commit` and delivers the :class:`Outgoing` messages they return.
Time and randomness are arguments, so a simulation is reproducible from its seed. Storage and
validation go through the node's :class:`~nodeapp.conductor.Conductor`. Anti-entropy
(:mod:`nodeapp.anti_entropy`), warrants (:mod:`nodeapp.warrants`), waiting records
(:mod:`nodeapp.dependencies`), query answers (:mod:`nodeapp.queries`) and publishing
(:mod:`nodeapp.publishing`) are written as parts of this class in modules of their own.

Rules:
* Determinism: nothing iterates a set of bytes in an order that reaches the wire (hash seeds
  differ between processes), so a simulation seed replays exactly.
* Membership: a peer is served only after this node validated its genesis (the membrane proof in
  its AgentValidationPkg). Anything but HELLO from a stranger is answered with REFUSED.
* Publishing is best effort: the author sends each new record to the authorities of its ops and
  resends to those that have not sent a receipt, with backoff, until all have.
* Anti-entropy makes delivery certain: every ``sync_interval_us`` a node compares the ops it
  holds with one ring neighbour whose arc overlaps its own (IBLT of op ids over the overlap),
  then each side sends the other what it lacks. Neighbours are visited in turn, so every
  overlap is compared within a bounded number of rounds whatever was lost before.
* Validation outcomes: valid -> stored and receipted; invalid -> not stored, the author is
  warranted (the warrant carries the record as proof, which anyone can re-validate; for a
  chain rule, such as seq, timestamp or closed_chain, the record with its prev) and blocked;
  unresolved -> parked until what it waits for arrives (:mod:`nodeapp.parking`), whose
  authorities are asked for it, for 10 minutes at most (:mod:`nodeapp.dependencies`); a
  fork seen by an agent-activity authority -> a fork warrant carrying both records.
* Warrants are checked before they are believed, then forwarded once to neighbours.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from random import Random

from nodeapp._core.actions import SignedAction, signed_action_from_parts
from nodeapp._core.dht import Ring
from nodeapp._core.hashing import location_of
from nodeapp._core.integrity import Unresolved
from nodeapp._core.membrane import Invite, count_allows, invite_from_bytes
from nodeapp._core.messages import (
    IDS_PER_FRAME_MAX,
    RECORDS_PER_FRAME_MAX,
    Fetch,
    Get,
    Got,
    Hello,
    Message,
    Publish,
    Receipts,
    Record,
    Records,
    Refused,
    SyncOffer,
    SyncReply,
    Warrant,
    Welcome,
    decode_message,
    receipts_signed_bytes,
)
from nodeapp._core.ops import (
    OpPlacement,
    OpType,
    op_mask,
    op_placements,
    op_types_for,
)
from nodeapp._core.reconcile import op_id
from nodeapp.anti_entropy import AntiEntropy, Session
from nodeapp.conductor import Conductor, IngestReport
from nodeapp.dependencies import Dependencies
from nodeapp.errors import MalformedData, ValidationError
from nodeapp.gc_pause import collector_paused
from nodeapp.held_ops import HeldOps
from nodeapp.parking import ParkingLot
from nodeapp.protocol_common import Outgoing, ProtocolSettings, agent_label
from nodeapp.publishing import Publishing, PublishState
from nodeapp.queries import Queries
from nodeapp.rate_limits import TokenBuckets
from nodeapp.store import Status
from nodeapp.warrants import WARRANT_CHAIN_FORK, WARRANT_INVALID_OP, WARRANT_META, Warrants

log = logging.getLogger("nodeapp.net")

PLACEMENTS_CACHED_MAX = 16_384  # actions whose op placements are remembered
CASCADE_ROUNDS_MAX = 64  # batches of released parked records judged after one receive
# members named in one WELCOME whose genesis we ask for (the next digest names the others)
GENESIS_GETS_PER_WELCOME = 64
# addresses heard for agents not admitted yet, kept until their genesis arrives: 16 WELCOMEs'
# worth of GETs, plenty for a join wave; beyond it the oldest hearsay goes (digests repeat it),
# so a stranger's WELCOMEs cannot grow the map
HEARD_ADDRESSES_MAX = 16 * GENESIS_GETS_PER_WELCOME


@dataclass
class NodeProtocol(AntiEntropy, Warrants, Dependencies, Queries, Publishing):
    """The network behaviour of one node."""

    conductor: Conductor
    settings: ProtocolSettings = field(default_factory=ProtocolSettings)
    bootstrap: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.agent = self.conductor.agent
        self.dna_hash = self.conductor.dna.hash
        self.replication_factor = self.conductor.dna.manifest.replication_factor
        self.members: set[bytes] = {self.agent}
        self.blocked: set[bytes] = set()
        self.warrants: dict[bytes, Warrant] = {}
        self.receipts: dict[bytes, set[bytes]] = {}
        self._publishing: dict[bytes, PublishState] = {}
        # (next try, order, op key): only due publishes are looked at on a tick, not all of
        # them (a catch-up can leave tens of thousands pending); stale entries are skipped
        self._publish_queue: list[tuple[int, int, bytes]] = []
        self._publish_order = 0
        self._parking = ParkingLot(self.settings.parked_max)
        self._warrants_pending: dict[bytes, tuple[bytes, Warrant, int]] = {}
        self._next_parked_retry_us = 0
        self._placement_cache: dict[bytes, tuple[OpPlacement, ...]] = {}
        self._wanted: dict[bytes, int] = {}
        self._held = HeldOps()
        self._ring = Ring(self.members, self.replication_factor)
        self._next_sync_us = 0
        self._neighbour_turn = 0
        self._ticks = 0
        self._sessions: dict[int, Session] = {}
        self._deferred: dict[bytes, deque[Session]] = {}
        self._session_counter = 0
        # sync offers per peer, each way: those we answer, and those we make
        self._offers_answered, self._offers_made = (
            TokenBuckets(self.settings.sync_offers_per_interval, self.settings.sync_interval_us,
                         self.settings.sync_offer_burst) for _ in range(2))
        self._genesis: tuple[Record, ...] = ()
        self.my_addrs: tuple[str, ...] = ()  # set by a transport that listens
        self.addresses: dict[bytes, tuple[str, ...]] = {}  # where members were heard to listen
        # where agents we asked the genesis of were heard to listen, until they are admitted
        self._heard_addresses: dict[bytes, tuple[str, ...]] = {}
        self._invite_uses: dict[bytes, set[bytes]] = {}  # invite key -> agents seen using it
        self._load_from_store()

    # --- state from the store -----------------------------------------------------------

    def _load_from_store(self) -> None:
        """Rebuild membership and the held-op index after a (re)start."""
        for signed, status, mask in self.conductor.store.all_actions():
            if status != Status.VALID:
                continue
            if signed.action.seq == 1:  # AgentValidationPkg: a member we admitted
                self.members.add(signed.action.author)
                found = self._invite_key((signed.action_bytes, signed.signature, None))
                if found is not None:
                    self._invite_uses.setdefault(found[0], set()).add(signed.action.author)
            self._index(signed, mask)
        for _key, frame in self.conductor.store.meta_items(WARRANT_META):
            try:
                warrant = decode_message(self.dna_hash, frame)
            except MalformedData:
                continue
            if isinstance(warrant, Warrant):
                self.warrants[warrant.agent] = warrant
                self.blocked.add(warrant.agent)
        self._ring = Ring(self.members - self.blocked, self.replication_factor)
        # what we published before a restart and was not receipted by all goes out again
        for signed, receipted in self.conductor.store.authored_receipts(self.agent):
            self._queue_publish(signed, self.conductor.store.entry_of(signed, shared=True), 0,
                                receipted)

    def _placements(self, signed: SignedAction) -> tuple[OpPlacement, ...]:
        """:func:`op_placements`, memoised: a received action is filtered, judged, indexed
        and receipted, and each step needs its ops' hashes and locations."""
        cache = self._placement_cache
        found = cache.get(signed.hash)
        if found is None:
            if len(cache) >= PLACEMENTS_CACHED_MAX:
                cache.clear()
            found = cache[signed.hash] = op_placements(signed.action, signed.hash)
        return found

    def _index(self, signed: SignedAction, mask: int) -> None:
        for op_type, op_key, location in self._placements(signed):
            if mask >> op_type & 1:
                self._held.add(op_id(op_key), location, signed.hash)

    # --- what I am responsible for --------------------------------------------------------

    @property
    def ring(self) -> Ring:
        """The members this node knows (minus the blocked), as a ring."""
        return self._ring

    def _refresh_ring(self) -> None:
        self._ring = Ring(self.members - self.blocked, self.replication_factor)
        # our arc moved: compare with a neighbour at the next tick instead of waiting a round
        self._next_sync_us = 0
        self._reschedule_all_publishes()  # new authorities may be owed our ops: now

    def held_op_types(self, signed: SignedAction) -> tuple[OpType, ...]:
        """The ops of an action this node is an authority for."""
        ring, agent = self._ring, self.agent
        return tuple(t for t, _key, location in self._placements(signed)
                     if ring.is_authority(agent, location))

    def held_op_ids(self) -> set[int]:
        """Ids of every op held (for tests and invariants)."""
        return set(self._held)

    def held_op_count(self) -> int:
        """How many ops this node holds."""
        return len(self._held)

    # --- entry points ---------------------------------------------------------------------

    def start(self, genesis: Sequence[Record]) -> list[Outgoing]:
        """Introduce ourselves to the bootstrap peers (``genesis``: our first three records)."""
        self._genesis = tuple(genesis)
        return [Outgoing(peer, self._hello()) for peer in self.bootstrap if peer != self.agent]

    def _hello(self) -> Hello:
        return Hello(self._genesis, self.my_addrs)

    def _welcome(self) -> Welcome:
        members = tuple(sorted(self.members - self.blocked))
        addrs = tuple(self.my_addrs if a == self.agent else self.addresses.get(a, ())
                      for a in members)
        return Welcome(members, addrs)

    def on_commit(self, records: Sequence[SignedAction], entries: Sequence[bytes | None],
                  now_us: int) -> list[Outgoing]:
        """Our own new records: hold what we are an authority for, publish the rest."""
        out: list[Outgoing] = []
        for signed, entry in zip(records, entries, strict=True):
            self._index(signed, op_mask(self.held_op_types(signed)))
            self.conductor.store.set_held_mask(signed.hash,
                                               op_mask(self.held_op_types(signed)))
            self._queue_publish(signed, entry, now_us, {})
        out.extend(self._due_publishes(now_us))
        return out

    def on_tick(self, now_us: int, rng: Random) -> list[Outgoing]:
        """Periodic work: publish retries, parked validations, one sync round."""
        self._ticks += 1
        out = self._due_publishes(now_us)
        out.extend(self._retry_waiting(now_us))
        if now_us >= self._next_sync_us:
            self._next_sync_us = now_us + self.settings.sync_interval_us
            out.extend(self._start_sync(rng, now_us))
        if self._ticks % self.settings.members_digest_every_ticks == 0:
            # a bootstrap peer that has not admitted us (its HELLO never came) hears again
            out.extend(Outgoing(peer, self._hello()) for peer in self.bootstrap
                       if peer not in self.members and peer not in self.blocked)
            # any member, not only ring neighbours: membership spreads like gossip
            peers = sorted(self.members - self.blocked - {self.agent})
            if peers:
                peer = peers[rng.randrange(len(peers))]
                out.append(Outgoing(peer, self._welcome()))
                # warrants are rare and must reach everyone: they ride along every digest
                out.extend(Outgoing(peer, w) for w in list(self.warrants.values())[:16])
        return out

    def on_message(self, peer: bytes, message: Message, now_us: int) -> list[Outgoing]:
        """Handle one message from an authenticated peer."""
        if peer in self.blocked:
            return []
        if peer not in self.members:
            # a stranger may introduce itself and tell us who it knows; it is served nothing
            if isinstance(message, Hello):
                return self._on_hello(peer, message, now_us)
            if isinstance(message, Welcome):
                return self._on_welcome(peer, message, now_us)
            if isinstance(message, Got) and len(message.records) == 3:
                return self._on_got(peer, message, now_us)
            if isinstance(message, Refused):
                log.info("peer %s refused us: %s", agent_label(peer), message.reason)
                return []
            return [Outgoing(peer, Refused("not a member of this network: send HELLO first"))]
        handler = {
            Hello: self._on_hello, Welcome: self._on_welcome, Publish: self._on_publish,
            Receipts: self._on_receipts, SyncOffer: self._on_sync_offer,
            SyncReply: self._on_sync_reply, Fetch: self._on_fetch, Records: self._on_records,
            Warrant: self._on_warrant, Get: self._on_get, Got: self._on_got,
        }.get(type(message))
        if handler is None:
            return []
        return handler(peer, message, now_us)  # type: ignore[operator]

    # --- membership -------------------------------------------------------------------------

    def _on_hello(self, peer: bytes, message: Hello, now_us: int) -> list[Outgoing]:
        out = []
        if peer not in self.members:
            if not self._admit(peer, message.genesis):
                return [Outgoing(peer, Refused("genesis or membrane proof is not valid"))]
            out.append(Outgoing(peer, self._hello()))  # so it can admit us in turn
            # push the news to the newcomer's ring neighbours, who will hold its data
            welcome = self._welcome()
            out.extend(Outgoing(p, welcome) for p in self._ring.neighbours(peer, 3)
                       if p not in (self.agent, peer))
        if message.addrs:
            self.addresses[peer] = message.addrs
        out.append(Outgoing(peer, self._welcome()))
        return out

    def _admit(self, peer: bytes, genesis: Sequence[Record]) -> bool:
        """Validate a peer's genesis (it must be the peer's own) and make it a member."""
        if len(genesis) != 3:
            return False
        try:
            authors = {signed_action_from_parts(a, s).action.author for a, s, _ in genesis}
        except MalformedData:
            return False
        if authors != {peer}:
            return False
        invite_key = self._invite_key(genesis[1])
        if invite_key is not None:
            seen = self._invite_uses.get(invite_key[0], set())
            if not count_allows(invite_key[1], seen, peer):
                log.info("refused %s: invite_used_up (its %d uses are taken)", agent_label(peer),
                         invite_key[1].uses_max)
                return False
        report = self.conductor.ingest(list(genesis), all_or_nothing=True)
        if report.rejected or report.unresolved:
            log.info("refused %s: %s", agent_label(peer), (report.rejected or report.unresolved)[0])
            return False
        if invite_key is not None:
            self._invite_uses.setdefault(invite_key[0], set()).add(peer)
        self.members.add(peer)
        heard = self._heard_addresses.pop(peer, None)
        if heard is not None:
            self.addresses.setdefault(peer, heard)  # its own HELLO, if any, overwrites it
        self._refresh_ring()
        for action_hash in report.stored_hashes:
            found = self.conductor.store.get_action(action_hash)
            if found is not None:
                self._index(found[0], op_mask(op_types_for(found[0].action)))
        return True

    @staticmethod
    def _invite_key(avp: Record) -> tuple[bytes, Invite] | None:
        """(use-count key, invite) of the invite in an AgentValidationPkg record, if any."""
        try:
            action = signed_action_from_parts(avp[0], avp[1]).action
            proof = getattr(action, "membrane_proof", None)
            if proof is None:
                return None
            invite = invite_from_bytes(proof)
        except (MalformedData, ValidationError):
            return None  # validation will refuse it with the reason
        return invite.key, invite

    def _on_welcome(self, peer: bytes, message: Welcome, now_us: int) -> list[Outgoing]:
        candidates = [*message.members, peer]
        unknown = [a for a in dict.fromkeys(candidates)
                   if a not in self.members and a not in self.blocked]
        asked = unknown[:GENESIS_GETS_PER_WELCOME]
        self._note_addresses(message, set(asked))
        # ask the welcomer for the genesis of members we have not seen (their AVP proves them)
        return [Outgoing(peer, Get(a)) for a in asked]

    def _note_addresses(self, message: Welcome, asked: set[bytes]) -> None:
        """Remember the addresses a WELCOME lists: for members, and (bounded) for the agents
        whose genesis we just asked for. Not the rest: a stranger can list made-up members by
        the million."""
        heard = self._heard_addresses
        for agent, addrs in zip(message.members, message.addrs, strict=False):
            if not addrs or agent == self.agent:
                continue
            if agent in self.members:
                self.addresses.setdefault(agent, addrs)  # a member's own HELLO wins over hearsay
            elif agent in asked and agent not in heard:
                if len(heard) >= HEARD_ADDRESSES_MAX:
                    heard.pop(next(iter(heard)))  # the oldest hearsay
                heard[agent] = addrs

    def _on_get(self, peer: bytes, message: Get, now_us: int) -> list[Outgoing]:
        """A GET sent as a one-way message (a member's genesis, a missing dependency) is
        answered the same way as one asked on a request stream."""
        return [Outgoing(peer, Got(tuple(self._get_records(message.action_hash))))]

    def _on_got(self, peer: bytes, message: Got, now_us: int) -> list[Outgoing]:
        if len(message.records) == 3:
            try:
                author = signed_action_from_parts(*message.records[0][:2]).action.author
            except MalformedData:
                return []
            if author not in self.members and author not in self.blocked:
                self._admit(author, message.records)
            return []
        return self._accept(peer, list(message.records), now_us, receipts_to_author=False)

    def _on_publish(self, peer: bytes, message: Publish, now_us: int) -> list[Outgoing]:
        return self._accept(peer, list(message.records), now_us, receipts_to_author=True)

    # --- receiving records -----------------------------------------------------------------

    def _accept(self, peer: bytes, records: list[Record], now_us: int, *,
                receipts_to_author: bool) -> list[Outgoing]:
        """Validate and store records; receipt, warrant and park as the outcome says; then
        judge again the parked records that what was stored released (a bounded cascade)."""
        out = self._accept_batch(peer, records, now_us, receipts_to_author)
        for _round in range(CASCADE_ROUNDS_MAX):
            released = self._parking.take_released()
            if not released:
                break
            out.extend(self._accept_batch(peer, released, now_us, receipts_to_author))
        return out

    def _members_records(self, peer: bytes, records: Sequence[Record],
                         keep: Callable[[SignedAction], object]
                         ) -> dict[bytes, tuple[SignedAction, Record]]:
        """Received records decoded once, by action hash: only members' (not blocked) records
        that ``keep`` accepts, and of two copies of one action the one with its entry."""
        found: dict[bytes, tuple[SignedAction, Record]] = {}
        for record in records:
            try:
                signed = signed_action_from_parts(record[0], record[1])
            except MalformedData as exc:
                log.info("dropped a malformed record from %s: %s", agent_label(peer), exc)
                continue
            author = signed.action.author
            if author in self.blocked or author not in self.members:
                continue  # a non-member's data is not ours to hold
            if not keep(signed):
                continue
            if record[2] is not None or signed.hash not in found:
                found[signed.hash] = (signed, record)
        return found

    # paused for the whole batch (see gc_pause), decoding and receipts included, and resumed
    # only once this returns: by then most of the batch's objects are freed, and the collector
    # walks only what the batch returns
    @collector_paused()
    def _accept_batch(self, peer: bytes, records: list[Record], now_us: int,
                      receipts_to_author: bool) -> list[Outgoing]:
        # neither an authority for its ops nor waiting for it: not ours to hold
        found = self._members_records(peer, records, self._held_or_wanted)
        if not found:
            return []
        report = self.conductor.ingest_decoded(
            [(signed, record[2]) for signed, record in found.values()],
            held_ops=self._held_or_wanted)
        return self._after_ingest(report, {h: r for h, (_, r) in found.items()}, now_us,
                                  receipts_to_author, sender=peer)

    def ingest_fetched(self, records: Sequence[Record], now_us: int, *,
                       activity: bool = False) -> IngestReport:
        """Validate and keep records a zome call fetched from authorities (GOT answers):
        with all their ops but agent activity, or, for ``activity`` answers (actions without
        entries), as agent activity only. A record by a blocked agent or a stranger is
        dropped, like any other."""

        def fetched_ops(signed: SignedAction) -> tuple[OpType, ...]:
            kinds = op_types_for(signed.action)
            mine = set(self.held_op_types(signed))
            if activity:
                mine.add(OpType.REGISTER_AGENT_ACTIVITY)
            else:
                mine.update(t for t in kinds if t != OpType.REGISTER_AGENT_ACTIVITY)
            return tuple(t for t in kinds if t in mine)

        with collector_paused():  # decoding allocates as much as judging (see gc_pause)
            found = self._members_records(self.agent, records, keep=lambda _signed: True)
            report = self.conductor.ingest_decoded(
                [(signed, record[2]) for signed, record in found.values()],
                held_ops=fetched_ops)
        for action_hash in [*report.stored_hashes, *(h for h, _ in report.more_ops)]:
            signed, mask = report.held[action_hash]
            self._index(signed, mask)
        return report

    def _after_ingest(self, report: IngestReport, by_hash: dict[bytes, Record], now_us: int,
                      receipts_to_author: bool, sender: bytes | None = None) -> list[Outgoing]:
        out: list[Outgoing] = []
        store = self.conductor.store
        receipts: dict[bytes, list[tuple[bytes, int]]] = {}
        # a duplicate is receipted too: the author cannot tell our first copy arrived (genesis
        # records reach members through HELLO, and a receipt lost on the way is resent)
        fresh = [*report.stored_hashes, *(h for h, _ in report.more_ops)]  # a list: replayable
        fresh_set = set(fresh)
        arrived = []  # what is newly held, which parked records may be waiting for
        for action_hash in [*fresh, *report.duplicate_hashes]:
            self._parking.remove(action_hash)
            found = report.held.get(action_hash)
            if found is None:
                continue
            signed, mask = found
            if action_hash in fresh_set:
                self._index(signed, mask)
                entry_hash = signed.action.entry_hash_or_none
                arrived.append(action_hash)
                if entry_hash is not None:
                    arrived.append(entry_hash)
                if self._wanted:
                    self._wanted.pop(action_hash, None)
                    self._wanted.pop(entry_hash or b"", None)
            if receipts_to_author and signed.action.author != self.agent:
                mine = receipts.setdefault(signed.action.author, [])
                mine.extend((op_key, 1) for op_type, op_key, _ in self._placements(signed)
                            if mask >> op_type & 1)
        self._parking.arrived(arrived)
        for author, items in receipts.items():
            for i in range(0, len(items), IDS_PER_FRAME_MAX):
                out.append(Outgoing(author, self._receipts(tuple(items[i:i + IDS_PER_FRAME_MAX]))))
        out.extend(self._forward_activity(report, by_hash, sender))
        missing: list[bytes] = []
        for rejected_hash, reason in report.rejected:
            record = by_hash.get(rejected_hash) if rejected_hash else None
            if rejected_hash is None or record is None:
                continue
            self._parking.remove(rejected_hash)
            signed = signed_action_from_parts(record[0], record[1])
            author = signed.action.author
            # only an authentic record convicts its author: a forged signature proves nothing
            # about the agent it names, and a chain-rule failure needs the prev as proof
            proof: tuple[Record, ...] = (record,)
            verdict = self.conductor.judge_proof(WARRANT_INVALID_OP, author, proof)
            if verdict is False and (prev := self._valid_prev(signed)) is not None:
                proof = (record, prev)  # seq, timestamp, closed_chain: judged with the prev
                verdict = self.conductor.judge_proof(WARRANT_INVALID_OP, author, proof)
            if isinstance(verdict, Unresolved):  # the proof needs data we lack: wait for it
                if self._park(rejected_hash, record, verdict.deps, now_us):
                    missing.extend(verdict.deps)
            elif verdict:
                out.extend(self._issue_warrant(WARRANT_INVALID_OP, proof, reason))
            else:
                log.info("dropped a record that is invalid but convicts nobody: %s", reason)
        for action_hash, deps in report.unresolved:
            record = by_hash.get(action_hash)
            # a dependency is asked for only on behalf of a record that waits for it: once
            # the lot is full, a peer's records cannot fill the wanted list instead
            if record is not None and self._park(action_hash, record, deps, now_us):
                missing.extend(deps)
        out.extend(self._ask_for_dependencies(missing, now_us))
        for held_hash, new_hash in report.forks:
            held = store.get_action(held_hash)
            if held is not None and new_hash in by_hash:
                out.extend(self._issue_warrant(WARRANT_CHAIN_FORK,
                                               (self._record(held[0]), by_hash[new_hash]),
                                               "two actions at one seq"))
        return out

    def _valid_prev(self, signed: SignedAction) -> Record | None:
        """The record ``signed`` names as its prev, when held here as valid."""
        prev = None if signed.action.prev is None else self._valid(signed.action.prev)
        return None if prev is None else self._record(prev)

    def _forward_activity(self, report: IngestReport, by_hash: dict[bytes, Record],
                          sender: bytes | None = None) -> list[Outgoing]:
        """The two StoreRecord authorities nearest an action pass it on to its author's
        agent-activity authorities: a forking author cannot show a branch to record holders
        only and keep it from the authorities that would see the fork.

        A record its author sends again is passed on again: the first forward may have been
        lost (or cut off by a partition), and a forking author that keeps showing its branch
        would otherwise never reach the authorities that compare branches."""
        batches: dict[bytes, list[Record]] = {}
        again = [h for h in report.duplicate_hashes
                 if sender is not None and report.held[h][0].action.author == sender]
        for action_hash in [*report.stored_hashes, *again]:
            record = by_hash.get(action_hash)
            if record is None:
                continue
            author = report.held[action_hash][0].action.author
            if author == self.agent:
                continue
            nearest = self._ring.authorities(location_of(action_hash))[:2]
            if self.agent not in nearest:
                continue
            for peer in self._ring.authorities(location_of(author)):
                if peer not in (self.agent, author):
                    # with its entry: an activity authority may hold the record's ops too
                    batches.setdefault(peer, []).append(record)
        return [Outgoing(peer, Publish(tuple(records[:RECORDS_PER_FRAME_MAX])))
                for peer, records in batches.items()]

    def _receipts(self, items: tuple[tuple[bytes, int], ...]) -> Receipts:
        signature = self.conductor.sign(receipts_signed_bytes(self.agent, items))
        return Receipts(self.agent, items, signature)
