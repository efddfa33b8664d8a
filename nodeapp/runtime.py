"""The node runtime: :class:`~nodeapp.protocol.NodeProtocol` driven over py-libp2p.

``await nursery.start(run_node, home, passphrase, listen)`` opens the node's conductor, runs a
libp2p host with the agent's key and serves the node protocol until cancelled; it reports a
:class:`RunningNode` (listen addresses, peer id, zome calls, status) once it listens.

Rules:
* Messages travel on ``/nodeapp/<first 16 hex chars of the DNA hash>/2.0.0``
  (:func:`message_protocol_id_for`): one long-lived one-way stream per peer carrying one
  message frame (:func:`~nodeapp._core.messages.encode_message`) after another, nothing sent
  back. A frame that does not decode (malformed, another DNA) is logged in one line and
  skipped; one over ``FRAME_BYTES_MAX`` resets that stream (the transport logs it). The node
  goes on serving.
* The request/ack protocol ``/nodeapp/<first 16 hex chars>/1.0.0`` (:func:`protocol_id_for`)
  is still served and used for a peer that does not serve 2.0.0: a request is one message
  frame, the answer an empty frame (an ack) once the message was handled; a frame that does
  not decode is refused (the stream closes unanswered).
* The sender of a frame is the Noise-authenticated peer id, mapped to its agent key; nothing a
  peer claims about itself is believed.
* Outgoing messages are encoded once and go through one queue per peer, written one after
  another; :mod:`nodeapp.send_queues` bounds the queues (strangers get a small budget of their
  own), their frames and bytes. What does not fit is dropped, and a failed dial or send drops
  it too: publishing retries and anti-entropy repair whatever is lost, so the runtime never
  blocks on a peer.
* Peers are dialled lazily, at the addresses they announced (HELLO / WELCOME) or, for the
  bootstrap peers of the invite, at the invite's addresses; a peer that could not be reached
  is not dialled again for a while (doubling up to ``DIAL_BACKOFF_S_MAX``; a bounded number
  of such peers is remembered).
* Queries (GET, GET_LINKS, GET_ACTIVITY, remote CALL) and zome calls that read the network
  are in :mod:`nodeapp.network_reads`.
* The protocol is driven from one trio thread and never awaits, so handlers, ticks and zome
  calls each run to completion in turn: no locks.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from random import Random
from typing import Any

import trio

from nodeapp._core.hashing import AgentPubKey
from nodeapp._core.messages import (
    ADDRS_MAX,
    FRAME_BYTES_MAX,
    Got,
    Publish,
    Records,
    SyncReply,
    encode_message,
)
from nodeapp.conductor import Conductor, wall_clock_us
from nodeapp.errors import (
    HomeError,
    InvalidHash,
    MalformedData,
    NodeError,
    StoreCorrupted,
)
from nodeapp.home import NodeHome
from nodeapp.identity import peer_id_of, public_key_of_peer_id
from nodeapp.kernels.cbor_items import warm_up as warm_up_frame_checks
from nodeapp.kernels.iblt import warm_up as warm_up_sync
from nodeapp.net import BadAddress, Host, UnsupportedProtocol, open_host
from nodeapp.network_reads import NetworkReads, decode_peer_message, query_protocol_id_for
from nodeapp.peer_addresses import check_peer_address
from nodeapp.protocol import NodeProtocol, Outgoing, ProtocolSettings
from nodeapp.protocol_common import agent_label
from nodeapp.send_queues import DialBackoff, Frame, PeerQueue, SendQueues
from nodeapp.store import store_failure

log = logging.getLogger("nodeapp.runtime")

SENDER_IDLE_S = 60.0  # a peer's sender task ends after this long without messages
SEND_S_MAX = 30.0  # one dial plus one request, at most
DIAL_S_MAX = 5.0  # one dial attempt
ACK_BYTES_MAX = 1024
SUMMARY_S_DEFAULT = 30.0
_DATA_MESSAGES = (Publish, Records, Got, SyncReply)


def protocol_id_for(dna_hash: bytes) -> str:
    """The request/ack stream protocol of a network (one message per stream, acked)."""
    return f"/nodeapp/{dna_hash.hex()[:16]}/1.0.0"


def message_protocol_id_for(dna_hash: bytes) -> str:
    """The one-way message stream protocol a network's nodes speak to each other."""
    return f"/nodeapp/{dna_hash.hex()[:16]}/2.0.0"


def _peer_of_addr(addr: str) -> str | None:
    """The peer id an address names (its ``/p2p/<id>`` part), or None."""
    if "/p2p/" not in addr:
        return None
    return addr.rsplit("/p2p/", 1)[1].split("/", 1)[0] or None


def bootstrap_agents(addrs: Sequence[str]) -> dict[bytes, list[str]]:
    """Agent key -> addresses, for bootstrap multiaddrs that end in an agent's peer id; the
    others are logged and skipped."""
    agents: dict[bytes, list[str]] = {}
    for addr in addrs:
        peer = _peer_of_addr(addr)
        try:
            agent = public_key_of_peer_id(peer) if peer else None
        except InvalidHash:
            agent = None
        if agent is None:
            log.warning("ignoring bootstrap address %s: it does not end in an agent's peer id",
                        addr)
            continue
        agents.setdefault(agent, []).append(addr)
    return agents


class RunningNode(NetworkReads):
    """A node while :func:`run_node` runs it: its addresses, zome calls and live status.

    ``protocol`` and ``conductor`` are the node's own (read them, do not drive them);
    ``stats`` counts frames in/out/refused, send failures and drops; ``received_kinds`` counts
    received messages by kind. Every method is synchronous and runs to completion: call them
    from the trio thread that runs the node.
    """

    def __init__(self, home: NodeHome, conductor: Conductor, host: Host,
                 protocol: NodeProtocol, dial_addrs: dict[bytes, list[str]],
                 clock_us: Callable[[], int], announce: Sequence[str]) -> None:
        self.home = home
        self.conductor = conductor
        self.host = host
        self.protocol = protocol
        self.agent = conductor.agent
        self.protocol_id = protocol_id_for(conductor.dna.hash)
        self.message_protocol_id = message_protocol_id_for(conductor.dna.hash)
        self.query_protocol_id = query_protocol_id_for(conductor.dna.hash)
        self.rng = Random(os.urandom(32))
        self.stats: Counter[str] = Counter()
        self.received_kinds: Counter[str] = Counter()
        self._announce = list(announce)
        self._clock_us = clock_us
        self._dial_addrs = dial_addrs
        self._queues = SendQueues(self.stats)
        self._dial_backoff = DialBackoff()
        self._nursery: trio.Nursery | None = None
        self._closed = False
        self.failure: StoreCorrupted | None = None  # the store broke: run_node ends with it
        self._known_members = set(protocol.members)
        self._known_warrants = set(protocol.warrants)
        head = conductor.store.chain_head(self.agent)
        self._published_seq = head.seq if head else -1

    # --- what callers see ---------------------------------------------------------------

    @contextmanager
    def store_guard(self) -> Iterator[None]:
        """SQLite failing inside becomes the node's StorageError. A damaged store also stops
        the node, since nothing it reads can be trusted; a locked or full one fails only the
        step that met it (a peer's frame, a tick, a local request), which may work again."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            failure = store_failure(exc)
            if isinstance(failure, StoreCorrupted) and self.failure is None:
                self.failure = failure
                log.error("%s; stopping the node", failure)
                if self._nursery is not None:
                    self._nursery.cancel_scope.cancel()
            raise failure from exc

    @property
    def peer_id(self) -> str:
        return self.host.peer_id

    @property
    def listen_addrs(self) -> list[str]:
        """Where this node listens (each ending in ``/p2p/<peer id>``)."""
        return self.host.listen_addrs

    @property
    def announce_addrs(self) -> list[str]:
        """Where this node tells peers to dial it."""
        return self._announce or self.listen_addrs

    def call(self, zome: str, fn: str, payload: Any = None) -> Any:
        """Run a zome function on what this node holds (output as plain JSON data) and
        publish what it wrote. :meth:`zome_call` also reads from the network."""
        output = self.conductor.call_json(zome, fn, payload)
        self.publish_new_records()
        return output

    def publish_new_records(self) -> int:
        """Hand every own record committed since the last call to the protocol, which holds
        and publishes them; returns how many. Zome calls do this themselves."""
        store = self.conductor.store
        new = [signed for signed, _ in store.chain(self.agent, start_seq=self._published_seq + 1)]
        if not new:
            return 0
        entries = [store.entry_of(s, shared=True) for s in new]  # private ones stay here
        self._published_seq = new[-1].action.seq
        self._dispatch(self.protocol.on_commit(new, entries, self._clock_us()))
        self._note_changes()
        return len(new)

    def status(self) -> dict[str, Any]:
        """The home's status plus the live network state."""
        protocol = self.protocol
        data = self.home.status()
        members = sorted(protocol.members)
        data.update(
            running=True,
            listen_addrs=self.listen_addrs,
            announce_addrs=self.announce_addrs,
            peers=sorted(self.host.connected_peers()),
            members=[str(AgentPubKey(a)) for a in members],
            blocked=[str(AgentPubKey(a)) for a in sorted(protocol.blocked)],
            warrants=[str(AgentPubKey(a)) for a in sorted(protocol.warrants)],
            publish_pending=protocol.publish_pending(),
            ops_indexed=protocol.held_op_count(),
            net={k: self.stats[k] for k in sorted(self.stats)},
        )
        return data

    # --- receiving ----------------------------------------------------------------------

    async def handle_frame(self, peer_id: str, frame: bytes) -> bytes | None:
        """The request/ack handler: one message in, an empty ack out (None refuses it)."""
        return b"" if self._handle(peer_id, frame) else None

    async def handle_message(self, peer_id: str, frame: bytes) -> None:
        """The one-way message stream handler (a frame that does not decode is skipped)."""
        self._handle(peer_id, frame)

    def _handle(self, peer_id: str, frame: bytes) -> bool:
        """Handle one message frame; False if it was refused."""
        agent = self.host.remote_public_key(peer_id)  # NotAnAgent: the transport logs it
        try:
            message = decode_peer_message(self.conductor.dna.hash, frame)
        except MalformedData as exc:
            self.stats["frames_refused"] += 1
            log.warning("refused a frame from %s: %s", agent_label(agent, peer_id), exc)
            return False
        self.stats["frames_in"] += 1
        kind = type(message).__name__
        self.received_kinds[kind] += 1
        if isinstance(message, _DATA_MESSAGES):
            self.stats["records_in"] += len(message.records)
        try:
            with self.store_guard():
                out = self.protocol.on_message(agent, message, self._clock_us())
        except NodeError as exc:  # the node survives anything a peer sends
            log.warning("failed on a %s from %s: %s", kind, agent_label(agent, peer_id), exc)
            return True
        self._dispatch(out)
        self._note_changes()
        return True

    # --- sending ------------------------------------------------------------------------

    def _dispatch(self, out: list[Outgoing]) -> None:
        frames: dict[int, bytes | None] = {}  # a message to many peers is encoded once
        for item in out:
            if item.peer == self.agent or self._closed:
                continue
            queue = self._queue_for(item.peer)
            if queue is None:
                continue
            key = id(item.message)  # ``out`` keeps every message alive: ids stay unique
            if key not in frames:
                frames[key] = self._encode(item)
            frame = frames[key]
            if frame is not None:
                self._queues.put(queue, type(item.message).__name__, frame)

    def _encode(self, item: Outgoing) -> bytes | None:
        try:
            return encode_message(self.conductor.dna.hash, item.message)
        except MalformedData as exc:
            log.warning("not sending a %s to %s: %s", type(item.message).__name__,
                        agent_label(item.peer), exc)
            return None

    def _queue_for(self, agent: bytes) -> PeerQueue | None:
        """The agent's send queue, opened with its sender task if it has none (None: no room).
        Members and bootstrap peers are trusted: strangers have a budget of their own."""
        trusted = agent in self.protocol.members or agent in self._dial_addrs
        queue = self._queues.get(agent, trusted)
        if queue is not None or self._nursery is None:
            return queue
        queue = self._queues.open(agent, trusted)
        if queue is None:
            return None
        try:
            self._nursery.start_soon(self._send_loop, queue)
        except RuntimeError:  # the nursery is shutting down
            self._queues.close(queue)
            return None
        return queue

    async def _send_loop(self, queue: PeerQueue) -> None:
        peer_id = peer_id_of(queue.agent)
        legacy = [False]  # the peer serves only the request/ack protocol
        try:
            while True:
                item: Frame | None = None
                with trio.move_on_after(SENDER_IDLE_S):
                    item = await queue.receive.receive()
                if item is not None:
                    kind, frame = item
                    await self._send_one(queue.agent, peer_id, kind, frame, legacy)
                    self._queues.sent(queue, len(frame))
                elif queue.receive.statistics().current_buffer_used == 0:
                    return  # idle: the next message for this peer opens a new queue
        finally:
            self._queues.close(queue)  # cancelled mid-send: the bytes are released here

    async def _send_one(self, agent: bytes, peer_id: str, kind: str, frame: bytes,
                        legacy: list[bool]) -> None:
        with trio.move_on_after(SEND_S_MAX) as scope:
            try:
                if peer_id not in self.host.connected_peers() and not await self._dial(
                        agent, peer_id):
                    self.stats["dropped_unreachable"] += 1
                    return
                if not legacy[0]:
                    try:
                        await self.host.send(peer_id, self.message_protocol_id, frame)
                    except UnsupportedProtocol:
                        log.info("%s does not serve %s: using %s", agent_label(agent, peer_id),
                                 self.message_protocol_id, self.protocol_id)
                        legacy[0] = True
                if legacy[0]:
                    await self.host.request(peer_id, self.protocol_id, frame,
                                            response_bytes_max=ACK_BYTES_MAX)
            except NodeError as exc:
                self.stats["send_failed"] += 1
                log.debug("sending a %s to %s failed: %s", kind, agent_label(agent, peer_id), exc)
                return
        if scope.cancelled_caught:
            self.stats["send_failed"] += 1
            log.debug("sending a %s to %s took over %g s", kind, agent_label(agent, peer_id),
                      SEND_S_MAX)
            return
        self.stats["frames_out"] += 1

    def _addresses_of(self, agent: bytes, peer_id: str) -> list[str]:
        addrs = [*self.protocol.addresses.get(agent, ()), *self._dial_addrs.get(agent, ())]
        out = []
        for addr in dict.fromkeys(addrs):
            named = _peer_of_addr(addr)
            if named is None:
                addr = f"{addr}/p2p/{peer_id}"
            elif named != peer_id:
                continue  # an address for someone else is no way to reach this peer
            out.append(addr)
        return out

    async def _dial(self, agent: bytes, peer_id: str) -> bool:
        if self._dial_backoff.waiting(agent, trio.current_time()):
            return False
        for addr in self._addresses_of(agent, peer_id):
            with trio.move_on_after(DIAL_S_MAX):
                try:
                    await self.host.connect(addr)
                except NodeError as exc:
                    log.debug("cannot dial %s at %s: %s", agent_label(agent, peer_id), addr, exc)
                    continue
                self._dial_backoff.succeeded(agent)
                return True
        if peer_id in self.host.connected_peers():  # it dialled us meanwhile
            return True
        self._dial_backoff.failed(agent, trio.current_time())
        return False

    # --- time ---------------------------------------------------------------------------

    async def _tick_loop(self, tick_s: float, summary_s: float) -> None:
        next_summary = trio.current_time() + summary_s
        while True:
            await trio.sleep(tick_s)
            try:
                with self.store_guard():
                    out = self.protocol.on_tick(self._clock_us(), self.rng)
            except NodeError as exc:
                log.warning("a protocol tick failed: %s", exc)
                continue
            self._dispatch(out)
            self._note_changes()
            if trio.current_time() >= next_summary:
                next_summary = trio.current_time() + summary_s
                self._log_summary()

    def _note_changes(self) -> None:
        protocol = self.protocol
        if len(protocol.members) != len(self._known_members):
            for agent in sorted(protocol.members - self._known_members):
                addrs = protocol.addresses.get(agent, ())
                log.info("peer joined: %s%s", agent_label(agent, peer_id_of(agent)),
                         f" at {addrs[0]}" if addrs else "")
            self._known_members = set(protocol.members)
        if len(protocol.warrants) != len(self._known_warrants):
            for agent in sorted(set(protocol.warrants) - self._known_warrants):
                warrant = protocol.warrants[agent]
                kind = "invalid data" if warrant.kind == 0 else "chain fork"
                log.warning("warrant: %s is blocked for %s (issued by %s)", agent_label(agent),
                            kind, agent_label(warrant.issuer))
            self._known_warrants = set(protocol.warrants)

    def _log_summary(self) -> None:
        protocol = self.protocol
        log.info("sync: %d members, %d connected, %d ops held, %d publishes pending, "
                 "%d warrants; frames in %d out %d, send failures %d, dropped %d",
                 len(protocol.members), len(self.host.connected_peers()),
                 protocol.held_op_count(), protocol.publish_pending(), len(protocol.warrants),
                 self.stats["frames_in"], self.stats["frames_out"], self.stats["send_failed"],
                 sum(n for k, n in self.stats.items() if k.startswith("dropped_")))


def announce_addresses(announce: Sequence[str], peer_id: str) -> list[str]:
    """Announce addresses, each ending in our ``/p2p/<peer id>``; at most ADDRS_MAX, each
    short enough for a HELLO."""
    out = []
    for given in announce:
        named = _peer_of_addr(given)
        if named is not None and named != peer_id:
            raise BadAddress(f"announce address {given} names another peer, not {peer_id}")
        # the /p2p/<peer id> part may be left out: it can only be ours
        addr = given if named is not None else f"{given.rstrip('/')}/p2p/{peer_id}"
        out.append(check_peer_address(addr, "announce address", as_given=given))
    if len(out) > ADDRS_MAX:
        raise BadAddress(f"at most {ADDRS_MAX} announce addresses fit in a HELLO")
    return out


async def run_node(home: NodeHome, passphrase: str | None, listen: Sequence[str], *,
                   tick_ms: int = 100, settings: ProtocolSettings | None = None,
                   clock_us: Callable[[], int] = wall_clock_us, announce: Sequence[str] = (),
                   local_api: bool = True, summary_s: float = SUMMARY_S_DEFAULT,
                   task_status: trio.TaskStatus[RunningNode] = trio.TASK_STATUS_IGNORED
                   ) -> None:
    """Run the node of ``home`` on the network until cancelled.

    Listens on ``listen`` (multiaddrs; ``/ip4/127.0.0.1/tcp/0`` picks a free port) and tells
    peers to dial it at ``announce`` (default: the bound listen addresses). With
    ``local_api`` it serves ``<home>/node.sock`` (see :mod:`nodeapp.local_api`) and refuses
    to start if another node already answers there. Reports the :class:`RunningNode` once it
    listens. Raises ``HomeError`` (no network, no genesis, already running), ``KeystoreError``
    (passphrase) and the transport's ``ListenFailed`` / ``BadAddress``.
    """
    from nodeapp.local_api import check_not_running, serve_local_api

    if tick_ms < 1:
        raise HomeError("tick_ms must be at least 1")
    bootstrap = bootstrap_agents(home.bootstrap())
    bootstrap.pop(home.public_key(), None)  # a steward's invites name the steward itself
    if local_api:
        check_not_running(home)
    warm_up_frame_checks()
    warm_up_sync()
    conductor = home.open_conductor(passphrase)
    try:
        if not conductor.has_genesis:
            raise HomeError(f"{home.path} has no chain yet: join a network first")
        store = conductor.store
        genesis = [(s.action_bytes, s.signature, None)
                   for s, _ in store.chain(conductor.agent, end_seq=2)]
        protocol = NodeProtocol(conductor, settings or ProtocolSettings(),
                                bootstrap=sorted(bootstrap))
        announced = announce_addresses(announce, peer_id_of(conductor.agent))
        async with open_host(conductor.key.seed, listen) as host:
            node = RunningNode(home, conductor, host, protocol, bootstrap, clock_us, announced)
            protocol.my_addrs = tuple(node.announce_addrs[:ADDRS_MAX])
            if not announce and any("/ip4/0.0.0.0/" in a or "/ip6/::/" in a
                                    for a in node.listen_addrs):
                log.warning("listening on a wildcard address: peers cannot dial it; tell "
                            "them where to with --announce")
            try:
                async with trio.open_nursery() as nursery:
                    node._nursery = nursery
                    host.set_handler(node.protocol_id, node.handle_frame,
                                     request_bytes_max=FRAME_BYTES_MAX)
                    host.set_message_handler(node.message_protocol_id, node.handle_message,
                                             frame_bytes_max=FRAME_BYTES_MAX)
                    host.set_handler(node.query_protocol_id, node.handle_query,
                                     request_bytes_max=FRAME_BYTES_MAX)
                    if local_api:
                        await nursery.start(serve_local_api, home, node)
                    nursery.start_soon(node._tick_loop, tick_ms / 1000, summary_s)
                    log.info("node %s listening on %s", node.peer_id,
                             ", ".join(node.listen_addrs))
                    node._dispatch(protocol.start(genesis))
                    task_status.started(node)
                if node.failure is not None:  # the store broke while the node ran
                    raise node.failure
            finally:
                node._closed = True
                host.remove_handler(node.protocol_id)
                host.remove_handler(node.message_protocol_id)
                host.remove_handler(node.query_protocol_id)
                log.info("node %s stopped", node.peer_id)
    finally:
        conductor.store.close()
