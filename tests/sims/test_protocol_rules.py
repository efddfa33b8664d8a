"""Protocol rules at the edges: invite use counts, forged records, strangers, bad frames,
missing dependencies, and the forwarding that lets activity authorities see forks."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from random import Random
from typing import Any

import pytest

from nodeapp._core.actions import Create, Visibility, sign_action
from nodeapp._core.hashing import blake2b_256, location_of
from nodeapp._core.messages import Get, Hello, Publish, Refused, SyncOffer, decode_message
from nodeapp.conductor import make_signer
from nodeapp.errors import MalformedData
from nodeapp.protocol import NodeProtocol
from nodeapp.store import Status
from sims.cluster import Cluster, _raw_note_bytes

logging.getLogger("nodeapp").setLevel(logging.ERROR)


def settle(cluster: Cluster, seconds: float) -> None:
    cluster.net.run_until(cluster.net.now_us + int(seconds * 1e6), 1_000_000)


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    c = Cluster(tmp_path, seed=3, size=4)
    c.start(200_000)
    settle(c, 5)
    return c


def test_everyone_becomes_a_member_of_everyone(cluster: Cluster) -> None:
    agents = {n.agent for n in cluster.nodes}
    for node in cluster.nodes:
        assert node.protocol is not None and node.protocol.members == agents


def test_a_one_use_invite_admits_one_agent(tmp_path: Path) -> None:
    c = Cluster(tmp_path, seed=4, size=3)
    c.nodes[2].membrane_proof = c.nodes[1].membrane_proof  # the same one-use invite, twice
    c.start(200_000)
    settle(c, 5)
    steward = c.nodes[0].protocol
    assert steward is not None
    assert c.nodes[1].agent in steward.members
    assert c.nodes[2].agent not in steward.members


def test_a_forged_record_convicts_nobody(cluster: Cluster) -> None:
    honest, forger, judge = cluster.nodes[1], cluster.nodes[2], cluster.nodes[3]
    assert honest.protocol and judge.protocol
    store = honest.protocol.conductor.store
    head = store.chain_head(honest.agent)
    assert head is not None
    entry = _raw_note_bytes("framed")  # invalid too: if it convicted anyone, it would be them
    # claims the honest agent as author, signed with the forger's key
    forged = sign_action(Create(honest.agent, head.seq + 1, head.hash, cluster.clock_us(), 0, 0,
                                Visibility.PUBLIC, blake2b_256(entry)), make_signer(forger.key))
    replies = judge.protocol.on_message(
        forger.agent, Publish(((forged.action_bytes, forged.signature, entry),)),
        cluster.net.now_us)
    assert honest.agent not in judge.protocol.blocked
    assert not any(type(r.message).__name__ == "Warrant" for r in replies)
    assert judge.protocol.conductor.store.get_action(forged.hash) is None


def test_a_stranger_gets_only_refusals(cluster: Cluster, tmp_path: Path) -> None:
    member = cluster.nodes[1].protocol
    assert member is not None
    stranger = b"\x07" * 32
    for message in (Get(cluster.nodes[2].agent), SyncOffer(1, ((0, 2**32),), 1, b"\x00" * 960),
                    Publish(())):
        replies = member.on_message(stranger, message, cluster.net.now_us)
        assert [type(r.message) for r in replies] == [Refused]
    bad_hello = member.on_message(stranger, Hello(()), cluster.net.now_us)
    assert [type(r.message) for r in bad_hello] == [Refused]
    assert stranger not in member.members


@pytest.mark.parametrize("frame", [
    b"", b"\xff", b"\x83\x01\x40\x00", b"\x9f" * 10,
    b"\x84\x01" + b"\x58\x20" + b"d" * 32 + b"\x63",  # a text string cut short
])
def test_malformed_frames_are_malformed_data(cluster: Cluster, frame: bytes) -> None:
    with pytest.raises(MalformedData):
        decode_message(cluster.dna.hash, frame)


def test_a_frame_for_another_dna_is_refused(cluster: Cluster) -> None:
    from nodeapp._core.messages import encode_message

    frame = encode_message(b"\x01" * 32, Get(b"\x02" * 32))
    with pytest.raises(MalformedData, match="another DNA"):
        decode_message(cluster.dna.hash, frame)


def test_a_difference_too_big_for_any_table_is_split_until_it_fits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A newcomer missing more ops than the largest IBLT can peel still catches up: the
    region is halved until each half fits (here the largest table is made tiny)."""
    import nodeapp._core.reconcile as reconcile
    from nodeapp.keystore import AgentKey
    from nodeapp.testing import iter_chain
    from sims.bench import _two_nodes

    monkeypatch.setattr(reconcile, "CELLS_MAX", 3 * 64)
    a, b, cluster = _two_nodes(tmp_path, seed=8)
    author = AgentKey(Random(8).randbytes(32))
    records = [r.staged() for r in iter_chain(author, cluster.dna.hash, 400, body_bytes=10)]
    a.conductor.store.store_received(records)
    for protocol in (a, b):
        protocol.members.add(author.public_key)
        protocol._refresh_ring()
    from nodeapp._core.ops import op_mask_for

    for record in records:
        a._index(record.signed, op_mask_for(record.signed.action))
    assert len(a.held_op_ids() - b.held_op_ids()) > 1000
    rng = Random(1)
    queue = [(a, o) for o in a._start_sync(rng, 0)]
    by_agent = {a.agent: a, b.agent: b}
    for _ in range(5_000):
        if not queue:
            break
        sender, item = queue.pop(0)
        receiver = by_agent[item.peer]
        queue.extend((receiver, o) for o in receiver.on_message(sender.agent, item.message, 0))
    assert not queue
    for _ in range(3):  # records that arrived before their prev were parked: ticks retry them
        b.on_tick(0, rng)
    assert a.held_op_ids() <= b.held_op_ids()
    for protocol in (a, b):
        protocol.conductor.store.close()


def test_a_record_whose_dependency_is_missing_fetches_it_then_validates(
        cluster: Cluster) -> None:
    """An update arrives before the note it updates: the receiver parks it, asks the note's
    authorities for the note, validates what comes back, and then accepts the update."""
    author, judge = cluster.nodes[1], cluster.nodes[3]
    assert author.protocol and judge.protocol
    conductor = author.protocol.conductor
    note = conductor.call("example", "create_note", {"title": "v1", "index_by_author": False})
    update = conductor.call("example", "update_note", {"original": str(note), "title": "v2"})
    store = conductor.store
    found = store.get_action(update.raw)
    assert found is not None
    record = (found[0].action_bytes, found[0].signature,
              store.get_entry(found[0].action.entry_hash_or_none))
    now = cluster.net.now_us
    asks = judge.protocol.on_message(author.agent, Publish((record,)), now)
    gets = [o for o in asks if isinstance(o.message, Get)]
    assert gets and all(o.message.action_hash == note.raw for o in gets)
    assert all(o.peer in judge.protocol.ring.authorities(note.location) for o in gets)
    assert judge.protocol.conductor.store.get_action(update.raw) is None  # parked, not stored
    # asked again at once: no second GET (one per dependency per retry interval)
    again = judge.protocol.on_message(author.agent, Publish((record,)), now)
    assert not [o for o in again if isinstance(o.message, Get)]
    # the author answers (it is an authority of its own note here); the judge validates it,
    # then its next tick retries the parked update
    answers = author.protocol.on_message(judge.agent, Get(note.raw), now)
    for answer in answers:
        judge.protocol.on_message(author.agent, answer.message, now)
    judge.protocol.on_tick(now, Random(1))
    for action_hash in (note.raw, update.raw):
        held = judge.protocol.conductor.store.get_action(action_hash)
        assert held is not None and held[1] == Status.VALID


def test_a_record_its_author_sends_again_is_forwarded_again(cluster: Cluster) -> None:
    """The StoreRecord authorities nearest an action forward it to its author's activity
    authorities. That forward may be lost, so a copy the author sends again is forwarded
    again; a copy from anyone else is not (it is gossip, not the author's retry)."""
    author = cluster.nodes[1]
    assert author.protocol is not None
    note = author.protocol.conductor.call("example", "create_note",
                                          {"title": "seen twice", "index_by_author": False})
    store = author.protocol.conductor.store
    found = store.get_action(note.raw)
    assert found is not None
    record = (found[0].action_bytes, found[0].signature,
              store.get_entry(found[0].action.entry_hash_or_none))
    ring = author.protocol.ring
    forwarder = next(n for n in cluster.nodes if n.agent != author.agent
                     and n.agent in ring.authorities(note.location)[:2])
    other = next(n for n in cluster.nodes if n.agent not in (author.agent, forwarder.agent))
    assert forwarder.protocol is not None
    activity = set(ring.authorities(location_of(author.agent))) - {author.agent, forwarder.agent}
    assert activity  # someone to forward to

    def forwarded(sender: bytes) -> set[bytes]:
        assert forwarder.protocol is not None
        out = forwarder.protocol.on_message(sender, Publish((record,)), cluster.net.now_us)
        return {o.peer for o in out if isinstance(o.message, Publish)}

    assert forwarded(author.agent) == activity  # first copy: stored and forwarded
    assert forwarded(author.agent) == activity  # the author's retry: forwarded again
    assert forwarded(other.agent) == set()  # a copy from another member: not forwarded


def test_a_chain_rule_break_is_warranted_with_its_prev_as_proof(cluster: Cluster) -> None:
    # a modified node writes a record dated before the one it follows (rule timestamp): only
    # the author's activity authorities, which hold the prev, can see it, and their warrant
    # carries the prev so that every node can check it
    bad = cluster.nodes[2]
    assert bad.protocol is not None
    conductor = bad.protocol.conductor
    head = conductor.store.chain_head(bad.agent)
    assert head is not None
    prev = conductor.store.get_action(head.hash)
    assert prev is not None
    entry = _raw_note_bytes("backdated")
    backdated = bad._sign_create(head.seq + 1, head.hash, prev[0].action.timestamp_us - 1, entry)
    bad._keep_and_publish(backdated, entry)
    settle(cluster, 20)
    honest = [n for n in cluster.nodes if n is not bad]
    for node in honest:
        assert node.protocol is not None
        assert bad.agent in node.protocol.blocked, node.agent.hex()[:8]
        warrant = node.protocol.warrants[bad.agent]
        assert len(warrant.proof) == 2 and warrant.proof[1][0] == prev[0].action_bytes
        found = node.protocol.conductor.store.get_action(backdated.hash)
        assert found is None or found[1] != Status.VALID


def test_published_records_are_decoded_and_judged_with_the_collector_paused(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The receive path pauses the cyclic collector for a whole batch: decoding, judging and
    the receipts after (nodeapp/gc_pause.py), and it is running again once the batch is done."""
    collector_on: dict[str, list[bool]] = {"_members_records": [], "_after_ingest": []}

    def watching(method: Any, seen: list[bool]) -> Any:
        def watched(self: NodeProtocol, *args: Any, **kwargs: Any) -> Any:
            seen.append(gc.isenabled())
            return method(self, *args, **kwargs)
        return watched

    for name, seen in collector_on.items():
        monkeypatch.setattr(NodeProtocol, name, watching(getattr(NodeProtocol, name), seen))
    assert gc.isenabled()
    cluster.nodes[1].commit_note("paused")
    settle(cluster, 5)
    assert all(seen and not any(seen) for seen in collector_on.values()), collector_on
    assert gc.isenabled()
