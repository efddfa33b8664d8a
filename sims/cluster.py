"""A cluster of simulated nodes: real conductors on real SQLite files, a simulated network.

Each node is a :class:`~nodeapp.protocol.NodeProtocol` over a
:class:`~nodeapp.conductor.Conductor` whose store is a file in the cluster's directory, so a
crash and restart reopens the same file. Members join by invites signed by the steward, exactly
as with ``nodeapp join``. Byzantine behaviours are written against the same APIs a modified
node could use: they sign what an honest coordinator would refuse to write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

from dna import PRODUCTION_ZOMES, LoadedDna, build_manifest, load_dna
from nodeapp._core.actions import Create, SignedAction, Visibility, sign_action
from nodeapp._core.hashing import AgentPubKey, blake2b_256, location_of
from nodeapp._core.membrane import invite_to_bytes, make_invite
from nodeapp._core.messages import Message, decode_message, encode_message
from nodeapp.conductor import Conductor, make_signer
from nodeapp.errors import MalformedData, NodeError
from nodeapp.keystore import AgentKey
from nodeapp.protocol import NodeProtocol, Outgoing, ProtocolSettings
from nodeapp.store import SqliteStore, StagedRecord
from nodeapp.testing import iter_chain
from sims.network import SimNetwork
from zomes.example.integrity import Note

log = logging.getLogger("sims")
START_US = 1_700_000_000_000_000


def _key(rng: Random) -> AgentKey:
    return AgentKey(rng.randbytes(32))


@dataclass
class SimNode:
    """One simulated participant."""

    key: AgentKey
    path: Path
    dna: LoadedDna
    membrane_proof: bytes | None
    settings: ProtocolSettings
    cluster: Cluster
    byzantine: str = ""  # "", "fork", "invalid", "replay", "forge"
    protocol: NodeProtocol | None = None
    sent_to_nonmembers: int = 0

    @property
    def agent(self) -> bytes:
        return self.key.public_key

    @property
    def up(self) -> bool:
        return self.protocol is not None

    def start(self) -> None:
        """Open the store (creating genesis the first time) and say hello."""
        conductor = Conductor(SqliteStore(self.path), self.dna, self.key,
                              clock_us=lambda: self.cluster.clock_us())
        if not conductor.has_genesis and self.byzantine == "intruder":
            # no invite: a modified node writes its genesis without validating it
            records = [r.staged() for r in iter_chain(self.key, self.dna.hash, 0,
                                                      start_us=self.cluster.clock_us())]
            conductor.store.commit_own(self.agent, records, None)
        elif not conductor.has_genesis:
            conductor.genesis(self.membrane_proof)
        steward = self.cluster.steward_agent
        self.protocol = NodeProtocol(conductor, self.settings, bootstrap=[steward])
        genesis = [(s.action_bytes, s.signature, None)
                   for s, _ in conductor.store.chain(self.agent, end_seq=2)]
        self.cluster.net.down.discard(self.agent)
        self.cluster.send_all(self, self.protocol.start(genesis))

    def crash(self) -> None:
        """Stop at once: in-memory state is lost, the SQLite file stays."""
        if self.protocol is not None:
            self.protocol.conductor.store.close()
        self.protocol = None
        self.cluster.net.down.add(self.agent)

    def commit_note(self, title: str) -> None:
        """An honest zome call, then publish."""
        if self.protocol is None:
            return
        conductor = self.protocol.conductor
        before = conductor.store.chain_head(self.agent)
        conductor.call("example", "create_note", {"title": title, "index_by_author": False})
        self._publish_since(before.seq if before else -1)

    def _publish_since(self, seq: int) -> None:
        assert self.protocol is not None
        store = self.protocol.conductor.store
        new = [s for s, _ in store.chain(self.agent, start_seq=seq + 1)]
        entries = [store.get_entry(s.action.entry_hash_or_none)
                   if s.action.entry_hash_or_none else None for s in new]
        self.cluster.send_all(self, self.protocol.on_commit(new, entries,
                                                            self.cluster.net.now_us))

    def misbehave(self) -> None:
        """Write what the integrity rules forbid, bypassing the coordinator and validation."""
        if self.protocol is None:
            return
        conductor = self.protocol.conductor
        head = conductor.store.chain_head(self.agent)
        assert head is not None
        prev = conductor.store.get_action(head.hash)
        assert prev is not None
        now = max(self.cluster.clock_us(), prev[0].action.timestamp_us)
        if self.byzantine == "invalid":  # an empty title breaks the Note model
            entry = _raw_note_bytes("")
            self._keep_and_publish(self._sign_create(head.seq + 1, head.hash, now, entry), entry)
        elif self.byzantine == "fork":  # keeps one branch, shows the other to half the members
            one, two = _raw_note_bytes("left"), _raw_note_bytes("right")
            self._keep_and_publish(self._sign_create(head.seq + 1, head.hash, now, one), one)
            other = self._sign_create(head.seq + 1, head.hash, now + 1, two)
            # like a real forking node it keeps showing the other branch to the holders of
            # that record only (never to its own agent-activity authorities), hoping that
            # nobody compares the two
            for attempt in range(10):
                def show(other: SignedAction = other) -> None:
                    if self.protocol is not None:
                        ring = self.protocol.ring
                        activity = set(ring.authorities(location_of(self.agent)))
                        holders = [p for p in ring.authorities(location_of(other.hash))
                                   if p != self.agent]
                        # if every holder is also an activity authority, show it anyway
                        targets = [p for p in holders if p not in activity] or holders
                        for peer in targets:
                            self.cluster.send(self, peer, _publish([(other, two)]))
                self.cluster.net.at(self.cluster.net.now_us + attempt * 2_000_000, show)

    def _sign_create(self, seq: int, prev: bytes, ts: int, entry: bytes) -> SignedAction:
        action = Create(self.agent, seq, prev, ts, 0, 0, Visibility.PUBLIC, blake2b_256(entry))
        return sign_action(action, make_signer(self.key))

    def _keep_and_publish(self, signed: SignedAction, entry: bytes) -> None:
        """Store without validating and publish like any record, as a modified node would."""
        assert self.protocol is not None
        store = self.protocol.conductor.store
        store.commit_own(self.agent, [StagedRecord(signed, entry)], store.chain_head(self.agent))
        self.protocol.conductor._head = None  # the conductor's cached head is now stale
        self.cluster.send_all(self, self.protocol.on_commit([signed], [entry],
                                                            self.cluster.net.now_us))


def _raw_note_bytes(title: str) -> bytes:
    # model_construct skips pydantic's checks: this is what a modified coordinator could write
    from nodeapp._core.canonical import encode

    return encode(Note.model_construct(title=title, body="").model_dump(mode="python"))


def _publish(records: list[tuple[SignedAction, bytes]]) -> Message:
    from nodeapp._core.messages import Publish

    return Publish(tuple((s.action_bytes, s.signature, e) for s, e in records))


@dataclass
class Cluster:
    """N nodes, one steward, a simulated network, one RNG."""

    root: Path
    seed: int
    size: int
    replication_factor: int = 5
    settings: ProtocolSettings = field(default_factory=ProtocolSettings)
    byzantine: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = Random(self.seed)
        self.net = SimNetwork(self.rng)
        steward_key = _key(self.rng)
        manifest = build_manifest("sim", f"sim-{self.seed}", [AgentPubKey(steward_key.public_key)],
                                  PRODUCTION_ZOMES, {"replication_factor": self.replication_factor})
        self.dna = load_dna(manifest)
        self.steward_agent = steward_key.public_key
        sign = make_signer(steward_key)
        self.nodes: list[SimNode] = []
        for index in range(self.size):
            key = steward_key if index == 0 else _key(self.rng)
            proof = None if index == 0 else invite_to_bytes(make_invite(
                dna_manifest=manifest.to_bytes(), inviter=self.steward_agent,
                invite_id=self.rng.randbytes(16), expires_us=START_US + 10**13, uses_max=1,
                bootstrap=(), sign=sign))
            self.nodes.append(SimNode(key, self.root / f"node-{index}.db", self.dna, proof,
                                      self.settings, self, self.byzantine.get(index, "")))
        self.by_agent = {n.agent: n for n in self.nodes}

    def clock_us(self) -> int:
        """Every node's wall clock is the virtual clock (offset to a realistic epoch)."""
        return START_US + self.net.now_us

    # --- message plumbing ----------------------------------------------------------------

    def send_all(self, node: SimNode, outgoing: list[Outgoing]) -> None:
        for item in outgoing:
            self.send(node, item.peer, item.message)

    def send(self, node: SimNode, peer: bytes, message: Message) -> None:
        frame = encode_message(self.dna.hash, message)
        self.net.send(node.agent, peer, frame, self._deliver)

    def _deliver(self, src: bytes, dst: bytes, frame: bytes) -> None:
        node = self.by_agent.get(dst)
        if node is None or node.protocol is None:
            return
        try:
            message = decode_message(self.dna.hash, frame)
        except MalformedData as exc:
            log.info("node %s dropped a malformed frame: %s", dst.hex()[:8], exc)
            return
        try:
            replies = node.protocol.on_message(src, message, self.net.now_us)
        except NodeError as exc:  # a node must survive anything a peer sends
            log.warning("node %s failed on a message: %s", dst.hex()[:8], exc)
            return
        self.send_all(node, replies)

    # --- driving ---------------------------------------------------------------------------

    def start(self, tick_us: int, *, warm: bool = False) -> None:
        """Start every node and schedule its ticks. ``warm``: begin in the steady state of a
        network that has run a while, where every member already holds every member's
        validated genesis (written straight to each store, since a join storm of N x N
        validations is not what a large simulation is meant to measure)."""
        if warm:
            self._warm_stores()
        for node in self.nodes:
            node.start()
            self._schedule_tick(node, tick_us, self.rng.randint(0, tick_us))

    def _warm_stores(self) -> None:
        genesis: list[StagedRecord] = []
        for node in self.nodes:
            conductor = Conductor(SqliteStore(node.path), self.dna, node.key,
                                  clock_us=self.clock_us)
            if not conductor.has_genesis and node.byzantine != "intruder":
                conductor.genesis(node.membrane_proof)
                genesis.extend(StagedRecord(s, None) for s, _ in
                               conductor.store.chain(node.agent, end_seq=2))
            conductor.store.close()
        for node in self.nodes:
            if node.byzantine == "intruder":
                continue
            with SqliteStore(node.path) as store:
                store.store_received([r for r in genesis if r.signed.action.author != node.agent])

    def _schedule_tick(self, node: SimNode, tick_us: int, offset_us: int) -> None:
        def tick() -> None:
            if node.protocol is not None:
                self.send_all(node, node.protocol.on_tick(self.net.now_us, self.rng))
            self._schedule_tick(node, tick_us, tick_us)

        self.net.at(self.net.now_us + offset_us, tick)

    def honest_up(self) -> list[SimNode]:
        return [n for n in self.nodes if n.up and not n.byzantine]
