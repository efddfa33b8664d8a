"""What one peer's frames can make a node keep or load is bounded, and honest work goes on.

Each crafted input goes through real frames (``encode_message`` / ``decode_message``) to the
real :class:`~nodeapp.protocol.NodeProtocol` of nodes in the in-process simulator (``sims``):

* WELCOME frames listing made-up members: no address is kept for them beyond a small bound,
  while the address of a member named in a WELCOME is kept once it is admitted;
* RECEIPTS for ops the node never published: nothing is kept, while receipts for its own ops
  are; a publish retry's backoff stays at its maximum however many attempts were made;
* PUBLISH of records whose prev is unknown: an oversized entry or a forged signature is not
  parked, the lot holds at most its byte budget, and a chain sent backwards still resolves;
* FETCH and sync answers: at most ``ANSWER_BYTES_MAX`` of records are loaded per message and
  every frame can be sent, and a newcomer still catches up over several sync rounds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from random import Random

import pytest

from nodeapp._core.actions import Create, SignedAction, Visibility, sign_action
from nodeapp._core.hashing import blake2b_256
from nodeapp._core.limits import ENTRY_BYTES_MAX
from nodeapp._core.messages import (
    FRAME_BYTES_MAX,
    IDS_PER_FRAME_MAX,
    Fetch,
    Get,
    Got,
    Message,
    Publish,
    Receipts,
    Record,
    Records,
    SyncOffer,
    SyncReply,
    Welcome,
    decode_message,
    encode_message,
    receipts_signed_bytes,
)
from nodeapp._core.ops import op_hash, op_mask_for, op_types_for
from nodeapp._core.reconcile import CELLS_MIN
from nodeapp.anti_entropy import ANSWER_BYTES_MAX, Session
from nodeapp.conductor import Conductor, make_signer
from nodeapp.keystore import AgentKey
from nodeapp.protocol import GENESIS_GETS_PER_WELCOME, HEARD_ADDRESSES_MAX, NodeProtocol
from nodeapp.protocol_common import Outgoing, record_bytes
from nodeapp.store import SqliteStore, Status
from nodeapp.testing import iter_chain
from sims.bench import _two_nodes
from sims.cluster import Cluster, SimNode

logging.getLogger("nodeapp").setLevel(logging.ERROR)

TICK_US = 200_000
MESSAGES_MAX = 20_000  # deliveries in one exchange between in-process nodes
SYNC_ROUNDS_MAX = 40  # sync rounds a catch-up may take before the test gives up


def settle(cluster: Cluster, seconds: float) -> None:
    cluster.net.run_until(cluster.net.now_us + int(seconds * 1e6), 1_000_000)


def through_frames(protocol: NodeProtocol, message: Message) -> Message:
    """``message`` as the receiving node gets it: encoded to a frame, decoded again."""
    frame = encode_message(protocol.dna_hash, message)
    assert len(frame) <= FRAME_BYTES_MAX
    return decode_message(protocol.dna_hash, frame)


def settled_cluster(root: Path, seed: int) -> Cluster:
    """Four in-process nodes that have met each other."""
    c = Cluster(root, seed=seed, size=4)
    c.start(TICK_US)
    settle(c, 5)
    return c


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return settled_cluster(tmp_path, seed=11)


def protocol_of(node: SimNode) -> NodeProtocol:
    assert node.protocol is not None
    return node.protocol


def chain_records(protocol: NodeProtocol, start_seq: int) -> list[Record]:
    store = protocol.conductor.store
    return [protocol._record(s) for s, _ in store.chain(protocol.agent, start_seq=start_seq)]


# --- WELCOME --------------------------------------------------------------------------------


def test_a_strangers_welcomes_keep_no_made_up_members(cluster: Cluster) -> None:
    node = protocol_of(cluster.nodes[1])
    stranger = os.urandom(32)
    addresses_before = dict(node.addresses)
    rng = Random(1)
    for _ in range(3):
        members = tuple(rng.randbytes(32) for _ in range(IDS_PER_FRAME_MAX))
        welcome = Welcome(members, tuple(("/x",) for _ in members))
        replies = node.on_message(stranger, through_frames(node, welcome), cluster.net.now_us)
        assert len(replies) <= GENESIS_GETS_PER_WELCOME  # a few GETs, not 50,000
    assert node.addresses == addresses_before
    assert len(node._heard_addresses) <= HEARD_ADDRESSES_MAX
    assert stranger not in node.members


def test_the_address_of_a_member_heard_in_a_welcome_is_kept_once_admitted(
        tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, seed=12, size=4)
    *running, newcomer = cluster.nodes
    for node in running:
        node.start()
        cluster._schedule_tick(node, TICK_US, 0)
    settle(cluster, 5)
    steward, member = protocol_of(running[0]), protocol_of(running[1])
    # the newcomer's genesis, as its node would have written it on joining
    conductor = Conductor(SqliteStore(newcomer.path), cluster.dna, newcomer.key,
                          clock_us=cluster.clock_us)
    conductor.genesis(newcomer.membrane_proof)
    genesis = [(s.action_bytes, s.signature, None)
               for s, _ in conductor.store.chain(newcomer.agent, end_seq=2)]
    address = ("/ip4/10.0.0.7/tcp/4001",)

    # the steward names the newcomer in a WELCOME: the member asks for its genesis...
    asks = member.on_message(steward.agent, through_frames(
        member, Welcome((newcomer.agent,), (address,))), cluster.net.now_us)
    assert [o.message for o in asks] == [Get(newcomer.agent)]
    assert newcomer.agent not in member.addresses  # hearsay until it is admitted
    # ...admits it when the genesis comes, and then knows where it listens
    member.on_message(steward.agent, through_frames(member, Got(tuple(genesis))),
                      cluster.net.now_us)
    assert newcomer.agent in member.members
    assert member.addresses[newcomer.agent] == address
    assert newcomer.agent not in member._heard_addresses


# --- RECEIPTS -------------------------------------------------------------------------------


def signed_receipts(node: SimNode, ops: Iterable[bytes]) -> Receipts:
    items = tuple((op, 1) for op in ops)
    signature = make_signer(node.key)(receipts_signed_bytes(node.agent, items))
    return Receipts(node.agent, items, signature)


def test_receipts_for_ops_never_published_are_not_kept(cluster: Cluster) -> None:
    author, validator = protocol_of(cluster.nodes[1]), cluster.nodes[2]
    rng = Random(2)
    before = dict(author.receipts)
    for _ in range(3):
        receipts = signed_receipts(validator, (rng.randbytes(32) for _ in range(20_000)))
        author.on_message(validator.agent, through_frames(author, receipts), cluster.net.now_us)
    assert author.receipts == before


def test_receipts_for_own_ops_are_kept(cluster: Cluster) -> None:
    writer = cluster.nodes[1]
    writer.commit_note("receipted")
    settle(cluster, 5)
    author = protocol_of(writer)
    others = {n.agent for n in cluster.nodes} - {writer.agent}
    head = author.conductor.store.chain_head(writer.agent)
    assert head is not None
    signed = author.conductor.store.get_action(head.hash)
    assert signed is not None
    ops = [op_hash(t, head.hash) for t in op_types_for(signed[0].action)]
    assert all(author.receipts.get(op) == others for op in ops)
    assert author.publish_pending() == 0


def test_a_retry_backoff_stays_at_its_maximum(cluster: Cluster) -> None:
    writer, down = cluster.nodes[1], cluster.nodes[3]
    down.crash()  # one authority never receipts: the op keeps being retried
    writer.commit_note("retried")
    settle(cluster, 5)
    author = protocol_of(writer)
    assert author.publish_pending() > 0
    for state in author._publishing.values():
        state.attempts = 1_000_000
    now = max(state.next_try_us for state in author._publishing.values())
    author.on_tick(now, Random(3))
    backoff_max = author.settings.publish_backoff_max_us
    assert {state.next_try_us - now for state in author._publishing.values()} == {backoff_max}


# --- parking --------------------------------------------------------------------------------


def create_after_unknown(node: SimNode, entry: bytes, signer: AgentKey | None = None,
                         seq: int = 50) -> SignedAction:
    """A Create by ``node``'s agent whose prev nobody holds (signed by ``signer``, if given)."""
    action = Create(node.agent, seq, os.urandom(32), node.cluster.clock_us(), 0, 0,
                    Visibility.PUBLIC, blake2b_256(entry))
    return sign_action(action, make_signer(signer or node.key))


def publish(receiver: NodeProtocol, sender: SimNode, signed: SignedAction, entry: bytes,
            now_us: int) -> list[Message]:
    message = Publish(((signed.action_bytes, signed.signature, entry),))
    replies = receiver.on_message(sender.agent, through_frames(receiver, message), now_us)
    return [o.message for o in replies]


def test_oversized_or_forged_records_are_not_parked(cluster: Cluster) -> None:
    judge, sender, other = protocol_of(cluster.nodes[3]), cluster.nodes[1], cluster.nodes[2]
    now = cluster.net.now_us
    for i in range(3):  # 7 MiB entries: seven times the entry limit, one per frame
        huge = bytes(7 * 1024 * 1024 - i)
        assert len(huge) > ENTRY_BYTES_MAX
        replies = publish(judge, sender, create_after_unknown(sender, huge, seq=50 + i), huge,
                          now)
        assert not [m for m in replies if isinstance(m, Get)]  # nothing asked on its behalf
    small = b"\xa0"  # a forged signature (another member's key) on a record of the sender's
    replies = publish(judge, sender, create_after_unknown(sender, small, signer=other.key),
                      small, now)
    assert not [m for m in replies if isinstance(m, Get)]
    assert len(judge._parking) == 0 and judge._parking.bytes_held == 0


def test_the_parking_lot_holds_at_most_its_byte_budget(cluster: Cluster) -> None:
    judge, sender = protocol_of(cluster.nodes[3]), cluster.nodes[1]
    judge._parking.bytes_max = 1_000_000
    entry_bytes = 100_000
    for i in range(20):  # valid signature, entry within limits, prev unknown: parkable
        entry = bytes([i]) * entry_bytes
        publish(judge, sender, create_after_unknown(sender, entry, seq=50 + i), entry,
                cluster.net.now_us)
    assert 0 < len(judge._parking) < 20
    assert judge._parking.bytes_held <= 1_000_000
    # a retry takes them all and parks them again: still within the budget
    judge.on_tick(cluster.net.now_us + judge.settings.parked_retry_us, Random(4))
    assert 0 < judge._parking.bytes_held <= 1_000_000


def commit_unpublished(author: NodeProtocol, count: int, title: str) -> list[Record]:
    """``count`` notes committed by ``author``'s agent but not published (another node hears
    only what a test sends it), as records in chain order."""
    start = author.conductor.store.chain_head(author.agent)
    assert start is not None
    for i in range(count):
        author.conductor.call("example", "create_note",
                              {"title": f"{title} {i}", "index_by_author": False})
    records = chain_records(author, start.seq + 1)
    assert len(records) == count
    return records


def test_a_chain_sent_backwards_still_resolves(cluster: Cluster) -> None:
    author, judge = protocol_of(cluster.nodes[1]), protocol_of(cluster.nodes[3])
    records = commit_unpublished(author, 5, "backwards")
    now = cluster.net.now_us
    for record in reversed(records[1:]):
        judge.on_message(author.agent, through_frames(judge, Publish((record,))), now)
    assert len(judge._parking) == 4  # each waits for its prev
    judge.on_message(author.agent, through_frames(judge, Publish((records[0],))), now)
    assert len(judge._parking) == 0 and judge._parking.bytes_held == 0
    store = judge.conductor.store
    for record in records:
        found = store.get_action(blake2b_256(record[0]))
        assert found is not None and found[1] == Status.VALID


# --- FETCH and sync answers ------------------------------------------------------------------


def big_chain_nodes(tmp_path: Path, notes: int = 160, body_bytes: int = 65_536
                    ) -> tuple[NodeProtocol, NodeProtocol, list[bytes]]:
    """Two nodes; the first holds a third member's chain of ``notes`` notes (by default 160 of
    64 KiB: ~10 MiB, more than a frame), the second only that member's genesis. Returns the
    notes' hashes."""
    a, b, cluster = _two_nodes(tmp_path, seed=9)
    author = AgentKey(Random(9).randbytes(32))
    chain = [r.staged() for r in iter_chain(author, cluster.dna.hash, notes,
                                            body_bytes=body_bytes)]
    for protocol, records in ((a, chain), (b, chain[:3])):
        protocol.conductor.store.store_received(records)
        protocol.members.add(author.public_key)
        protocol._refresh_ring()
        for record in records:
            protocol._index(record.signed, op_mask_for(record.signed.action))
    return a, b, [r.signed.hash for r in chain[3:]]


def sent_records(protocol: NodeProtocol, replies: Iterable[Outgoing]) -> list[Record]:
    """The records of ``replies``, each of which must fit a frame."""
    records: list[Record] = []
    for reply in replies:
        message = through_frames(protocol, reply.message)
        assert isinstance(message, Records)
        records.extend(message.records)
    return records


def test_a_fetch_of_every_op_loads_at_most_the_answer_budget(tmp_path: Path) -> None:
    a, b, _ = big_chain_nodes(tmp_path)
    ids = tuple(sorted(a.held_op_ids()))
    fetch = through_frames(a, Fetch(ids))
    sent = sent_records(a, a.on_message(b.agent, fetch, 0))
    assert sent and sum(record_bytes(r) for r in sent) <= ANSWER_BYTES_MAX
    # the same for the ids a sync reply says it wants
    offer = a._offer(Session(b.agent, ((0, 1 << 32),), 1, (0, 0), CELLS_MIN)).message
    assert isinstance(offer, SyncOffer)
    reply = through_frames(a, SyncReply(offer.session, 0, ids, ()))
    sent = sent_records(a, a.on_message(b.agent, reply, 0))
    assert sent and sum(record_bytes(r) for r in sent) <= ANSWER_BYTES_MAX
    for protocol in (a, b):
        protocol.conductor.store.close()


def catch_up(a: NodeProtocol, b: NodeProtocol, rounds_max: int, round_us: int) -> int:
    """Sync rounds ``round_us`` apart until ``b`` holds every op ``a`` does (every message
    delivered at once, through real frames); returns how many rounds it took."""
    by_agent = {a.agent: a, b.agent: b}
    rng = Random(5)
    now = rounds = 0
    while not a.held_op_ids() <= b.held_op_ids():
        rounds += 1
        assert rounds <= rounds_max, "the newcomer does not catch up"
        now += round_us
        queue = [(b, o) for o in b.on_tick(now, rng)] + [(a, o) for o in a.on_tick(now, rng)]
        for _ in range(MESSAGES_MAX):
            if not queue:
                break
            sender, item = queue.pop(0)
            receiver = by_agent.get(item.peer)
            if receiver is None:  # the chain's author is not running
                continue
            message = through_frames(receiver, item.message)  # every frame can be sent
            queue.extend((receiver, o) for o in receiver.on_message(sender.agent, message, now))
        assert not queue
    return rounds


def test_a_newcomer_catches_up_on_a_chain_bigger_than_an_answer(tmp_path: Path) -> None:
    a, b, notes = big_chain_nodes(tmp_path)
    assert len(notes) * 65_536 > FRAME_BYTES_MAX
    # 3 s a round: past the sync, parked-retry and dependency-retry intervals
    rounds = catch_up(a, b, SYNC_ROUNDS_MAX, 3_000_000)
    assert rounds > 1  # it took more than one answer: the budget was in force
    assert_valid_then_close(b, notes, also_close=a)


def assert_valid_then_close(protocol: NodeProtocol, hashes: list[bytes], *,
                            also_close: NodeProtocol) -> None:
    """Each of ``hashes`` is stored valid at ``protocol``; then both nodes' stores close."""
    store = protocol.conductor.store
    for action_hash in hashes:
        found = store.get_action(action_hash)
        assert found is not None and found[1] == Status.VALID
    for node in (protocol, also_close):
        node.conductor.store.close()
