"""Records that never resolve cannot hold the parking lot or the wanted list for good.

A member can send records whose prev nobody holds (a valid signature, a seq far ahead). Such a
record is parked and its prev asked for; it is dropped once it has waited ``parked_ttl_us``,
and so is the dependency asked on its behalf. Once the lot is full, further records ask for
nothing. Afterwards the node again asks for what an honest record waits for.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from random import Random

import pytest

from nodeapp._core.actions import Create, Delete, SignedAction, Visibility, sign_action
from nodeapp._core.canonical import encode_flat
from nodeapp._core.hashing import blake2b_256
from nodeapp._core.messages import Get, Message, Publish, Record, Warrant
from nodeapp.conductor import make_signer
from nodeapp.keystore import AgentKey
from nodeapp.protocol import NodeProtocol
from nodeapp.warrants import WARRANT_INVALID_OP, WARRANT_TAG
from sims.cluster import Cluster, SimNode
from tests.net.test_resource_bounds import (
    commit_unpublished,
    create_after_unknown,
    protocol_of,
    publish,
    settled_cluster,
    through_frames,
)

logging.getLogger("nodeapp").setLevel(logging.ERROR)

LOT = 20  # parking capacity for these tests: small, so filling it is cheap


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return settled_cluster(tmp_path, seed=13)


def flood(judge: NodeProtocol, sender: SimNode, count: int, now_us: int,
          first_seq: int = 100) -> int:
    """Publish ``count`` records of ``sender`` whose prevs nobody holds; returns the GETs."""
    gets = 0
    for i in range(count):
        entry = bytes([i % 256, i // 256])
        replies = publish(judge, sender, create_after_unknown(sender, entry, seq=first_seq + i),
                          entry, now_us)
        gets += sum(isinstance(m, Get) for m in replies)
    return gets


def test_a_full_lot_asks_for_nothing_more(cluster: Cluster) -> None:
    judge, sender = protocol_of(cluster.nodes[3]), cluster.nodes[1]
    judge._parking.capacity = LOT
    now = cluster.net.now_us
    assert flood(judge, sender, LOT, now) > 0
    assert len(judge._parking) == LOT
    wanted = dict(judge._wanted)
    assert len(wanted) == LOT  # each parked record waits for its own prev
    assert flood(judge, sender, 3 * LOT, now, first_seq=1_000) == 0  # not parked: not asked
    assert judge._wanted == wanted


def test_records_that_never_resolve_are_dropped_with_what_they_asked_for(
        cluster: Cluster) -> None:
    judge, sender = protocol_of(cluster.nodes[3]), cluster.nodes[1]
    settings = judge.settings
    judge._parking.capacity = settings.parked_max = LOT
    now = cluster.net.now_us
    flood(judge, sender, LOT, now)
    assert len(judge._parking) == LOT and len(judge._wanted) == LOT
    rng = Random(6)
    # retried (and asked for again) while younger than the TTL: still parked
    retries = 0
    tick = now + settings.parked_retry_us
    while tick < now + settings.parked_ttl_us:
        judge.on_tick(tick, rng)
        retries += 1
        assert len(judge._parking) == LOT and len(judge._wanted) == LOT
        tick += max(settings.parked_retry_us, settings.parked_ttl_us // 4)
    assert retries >= 2
    # past it: dropped, and the prevs asked for on their behalf are forgotten
    judge.on_tick(now + settings.parked_ttl_us, rng)
    assert len(judge._parking) == 0 and judge._parking.bytes_held == 0
    assert judge._wanted == {}
    # an honest record that waits now gets its dependency asked for
    later = now + settings.parked_ttl_us + 1
    assert flood(judge, sender, 1, later, first_seq=5_000) > 0
    assert len(judge._parking) == 1


def test_a_dependency_asked_for_is_forgotten_once_its_record_is_stored(
        cluster: Cluster) -> None:
    author, judge = protocol_of(cluster.nodes[1]), protocol_of(cluster.nodes[3])
    first, second = commit_unpublished(author, 2, "later")
    now = cluster.net.now_us
    judge.on_message(author.agent, through_frames(judge, Publish((second,))), now)
    assert len(judge._parking) == 1 and len(judge._wanted) == 1
    judge.on_message(author.agent, through_frames(judge, Publish((first,))), now)
    assert len(judge._parking) == 0 and judge._wanted == {}


def test_a_full_lot_of_records_that_never_resolve_is_judged_less_and_less_often(
        cluster: Cluster) -> None:
    judge, sender = protocol_of(cluster.nodes[3]), cluster.nodes[1]
    settings = judge.settings
    now = cluster.net.now_us
    flood(judge, sender, LOT, now)
    judged: list[int] = []
    take_due = judge._parking.take_due

    def counting(*args: int) -> list[Record]:
        due = take_due(*args)
        judged.append(len(due))
        return due

    judge._parking.take_due = counting  # type: ignore[method-assign]
    rng = Random(7)
    ticks = settings.parked_ttl_us // settings.parked_retry_us
    for k in range(1, ticks):
        judge.on_tick(now + k * settings.parked_retry_us, rng)
    assert len(judge._parking) == LOT  # still waiting: nothing was dropped early
    # every 2 s for 10 minutes was 300 judgements of each record; with the interval doubling
    # up to 64 s, 5 doublings and then one every 64 s
    retries = sum(judged) / LOT
    cap = settings.parked_retry_max_us // settings.parked_retry_us
    assert retries <= cap.bit_length() + ticks / cap + 1
    assert retries >= ticks / cap  # but judged again throughout


def test_dependencies_are_asked_again_in_turn(cluster: Cluster) -> None:
    judge, sender = protocol_of(cluster.nodes[3]), cluster.nodes[1]
    settings = judge.settings
    count = 4 * settings.dependency_gets_max
    now = cluster.net.now_us
    flood(judge, sender, count, now)
    first_asked = dict(judge._wanted)
    assert len(first_asked) == count
    rng = Random(8)
    tick = now
    for _ in range(40):  # each retry asks again for dependency_gets_max of them
        tick += settings.parked_retry_us
        judge.on_tick(tick, rng)
        if all(judge._wanted[d] > first_asked[d] for d in first_asked):
            break
    # before, the same first 64 were asked again every time, the others never
    assert all(judge._wanted[d] > first_asked[d] for d in first_asked)


def delete_before_prev(judge: NodeProtocol, author: SimNode) -> SignedAction:
    """A Delete by ``author`` dated before its prev (a chain rule it breaks), of an action
    nobody holds: refused, and the proof of it, judged alone, waits for that action."""
    prev = list(judge.conductor.store.chain(author.agent))[-1][0]
    action = Delete(author.agent, prev.action.seq + 1, prev.hash, prev.action.timestamp_us - 1,
                    os.urandom(32), os.urandom(32))
    return sign_action(action, make_signer(author.key))


def test_an_invalid_record_whose_proof_waits_asks_for_nothing_when_the_lot_is_full(
        cluster: Cluster) -> None:
    judge, sender = protocol_of(cluster.nodes[3]), cluster.nodes[1]
    judge._parking.capacity = LOT
    now = cluster.net.now_us

    def send(signed: SignedAction) -> list[Message]:
        message = Publish(((signed.action_bytes, signed.signature, None),))
        return [o.message for o in judge.on_message(sender.agent, through_frames(judge, message),
                                                    now)]

    room = delete_before_prev(judge, sender)
    assert [m for m in send(room) if isinstance(m, Get)]  # with room: parked, and asked for
    assert room.hash in judge._parking
    flood(judge, sender, LOT, now)
    full = delete_before_prev(judge, sender)
    assert not [m for m in send(full) if isinstance(m, Get)]
    assert full.hash not in judge._parking


def warrant_waiting_for_an_entry(cluster: Cluster, agent: AgentKey, issuer: AgentKey
                                 ) -> Warrant:
    """A warrant against ``agent`` whose proof, a public Create sent without its entry, can
    only be judged once the entry is fetched."""
    action = Create(agent.public_key, 5, os.urandom(32), cluster.clock_us(), 0, 0,
                    Visibility.PUBLIC, blake2b_256(os.urandom(8)))
    signed = sign_action(action, make_signer(agent))
    proof = ((signed.action_bytes, signed.signature, None),)
    body = encode_flat([WARRANT_INVALID_OP, agent.public_key, [list(r) for r in proof]])
    return Warrant(WARRANT_INVALID_OP, agent.public_key, proof, issuer.public_key,
                   make_signer(issuer)(WARRANT_TAG + body))


def test_a_warrant_naming_a_stranger_waits_for_nothing(cluster: Cluster) -> None:
    judge, sender = protocol_of(cluster.nodes[3]), cluster.nodes[1]
    issuer = AgentKey(os.urandom(32))
    now = cluster.net.now_us
    for _ in range(20):  # made-up agents: before, each was kept and its entry asked for
        warrant = warrant_waiting_for_an_entry(cluster, AgentKey(os.urandom(32)), issuer)
        assert judge.on_message(sender.agent, through_frames(judge, warrant), now) == []
    assert judge._warrants_pending == {} and judge._wanted == {}


def test_a_warrant_waiting_for_data_is_dropped_after_the_ttl(cluster: Cluster) -> None:
    judge, sender, accused = (protocol_of(cluster.nodes[3]), cluster.nodes[1],
                              cluster.nodes[2])
    settings = judge.settings
    warrant = warrant_waiting_for_an_entry(cluster, accused.key, sender.key)
    now = cluster.net.now_us
    replies = judge.on_message(sender.agent, through_frames(judge, warrant), now)
    assert [o.message for o in replies if isinstance(o.message, Get)]  # the entry is asked for
    assert accused.agent in judge._warrants_pending
    rng = Random(9)
    judge.on_tick(now + settings.parked_ttl_us // 2, rng)
    assert accused.agent in judge._warrants_pending  # judged again, still waiting
    judge.on_tick(now + settings.parked_ttl_us, rng)
    assert judge._warrants_pending == {}
    judge.on_tick(now + settings.parked_ttl_us + settings.parked_retry_us, rng)
    assert judge._wanted == {}
    assert accused.agent not in judge.blocked
