"""Records that never resolve cannot hold the parking lot or the wanted list for good.

A member can send records whose prev nobody holds (a valid signature, a seq far ahead). Such a
record is parked and its prev asked for; it is dropped once it has waited ``parked_ttl_us``,
and so is the dependency asked on its behalf. Once the lot is full, further records ask for
nothing. Afterwards the node again asks for what an honest record waits for.
"""

from __future__ import annotations

import logging
from pathlib import Path
from random import Random

import pytest

from nodeapp._core.messages import Get, Publish
from nodeapp.protocol import NodeProtocol
from sims.cluster import Cluster, SimNode
from tests.net.test_resource_bounds import (
    TICK_US,
    create_after_unknown,
    protocol_of,
    publish,
    settle,
    through_frames,
)

logging.getLogger("nodeapp").setLevel(logging.ERROR)

LOT = 20  # parking capacity for these tests: small, so filling it is cheap


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    c = Cluster(tmp_path, seed=13, size=4)
    c.start(TICK_US)
    settle(c, 5)
    return c


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
    start = author.conductor.store.chain_head(author.agent)
    assert start is not None
    for i in range(2):  # committed, not published: the judge hears only what we send it
        author.conductor.call("example", "create_note",
                              {"title": f"later {i}", "index_by_author": False})
    first, second = [author._record(s) for s, _ in
                     author.conductor.store.chain(author.agent, start_seq=start.seq + 1)]
    now = cluster.net.now_us
    judge.on_message(author.agent, through_frames(judge, Publish((second,))), now)
    assert len(judge._parking) == 1 and len(judge._wanted) == 1
    judge.on_message(author.agent, through_frames(judge, Publish((first,))), now)
    assert len(judge._parking) == 0 and judge._wanted == {}
