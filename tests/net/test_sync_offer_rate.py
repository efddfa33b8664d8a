"""A member cannot make a node spend its thread answering sync offers faster than sync runs.

Each answer scans every op the node holds (~16 ms at a million ops). Offers from one peer are
answered up to a burst, then at a steady rate tied to the sync interval; the rest are told to
offer again later (cheap to say). Other peers are not affected, and a catch-up that needs more
offers than the burst goes on where it stopped at the next sync turn.
"""

from __future__ import annotations

import logging
from pathlib import Path
from random import Random

import pytest

from nodeapp._core.messages import SyncOffer, SyncReply
from nodeapp._core.reconcile import CELLS_MIN
from nodeapp.anti_entropy import (
    BUSY,
    DEFERRED_PER_PEER_MAX,
    DEFERRED_PER_ROUND,
    SPLIT_REGION,
    Session,
)
from nodeapp.protocol import NodeProtocol
from nodeapp.rate_limits import TokenBuckets
from sims.cluster import Cluster
from tests.net.test_resource_bounds import (
    assert_valid_then_close,
    big_chain_nodes,
    catch_up,
    protocol_of,
    settled_cluster,
    through_frames,
)

logging.getLogger("nodeapp").setLevel(logging.ERROR)

WHOLE_RING = ((0, 1 << 32),)


# --- the buckets ----------------------------------------------------------------------------


def test_a_bucket_allows_its_burst_then_its_refill() -> None:
    buckets = TokenBuckets(refill=2, every_us=1_000_000, burst=5)
    assert [buckets.take(b"a", 0) for _ in range(6)] == [True] * 5 + [False]
    assert buckets.take(b"b", 0)  # one bucket per key
    assert [buckets.take(b"a", 1_000_000) for _ in range(3)] == [True, True, False]
    assert [buckets.take(b"a", 1_250_000)] == [False]  # half a token so far
    assert buckets.take(b"a", 1_500_000)
    # a long silence refills to the burst, never beyond
    assert [buckets.take(b"a", 10**9) for _ in range(6)] == [True] * 5 + [False]


def test_a_clock_going_backwards_gives_no_tokens() -> None:
    buckets = TokenBuckets(refill=1, every_us=1_000, burst=1)
    assert buckets.take(b"a", 5_000)
    assert not buckets.take(b"a", 0)
    assert not buckets.take(b"a", 5_500)


def test_buckets_are_bounded_and_the_least_recently_used_goes() -> None:
    buckets = TokenBuckets(refill=1, every_us=10**9, burst=1, keys_max=3)
    for key in (b"a", b"b", b"c"):
        assert buckets.take(key, 0)
    assert not buckets.take(b"a", 0)  # a is now the most recently used
    assert buckets.take(b"d", 0)  # evicts b
    assert len(buckets) == 3
    assert not buckets.take(b"a", 0) and not buckets.take(b"c", 0)
    assert buckets.take(b"b", 0)  # forgotten, so full again


@pytest.mark.parametrize("args", [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_a_bucket_that_could_never_allow_is_refused(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        TokenBuckets(*args)


# --- sync offers ----------------------------------------------------------------------------


def offer_from(sender: NodeProtocol, receiver: NodeProtocol) -> SyncOffer:
    offer = sender._offer(Session(receiver.agent, WHOLE_RING, 7, (0, 0), CELLS_MIN)).message
    assert isinstance(offer, SyncOffer)
    message = through_frames(receiver, offer)
    assert isinstance(message, SyncOffer)
    return message


def replies(receiver: NodeProtocol, sender: NodeProtocol, offers: int, now_us: int
            ) -> tuple[int, int]:
    """(answered, told to offer again later) of ``offers`` offers from ``sender``."""
    answered = busy = 0
    for _ in range(offers):
        out = receiver.on_message(sender.agent, offer_from(sender, receiver), now_us)
        got = [o.message for o in out if isinstance(o.message, SyncReply)]
        assert len(got) >= 1
        busy += got[0].retry_cells == BUSY
        answered += got[0].retry_cells != BUSY
    return answered, busy


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return settled_cluster(tmp_path, seed=23)


def test_offers_past_the_burst_are_deferred_until_the_rate_allows(cluster: Cluster) -> None:
    node, spammer, other = (protocol_of(n) for n in cluster.nodes[:3])
    settings = node.settings
    now = cluster.net.now_us + 10 * settings.sync_interval_us  # buckets full
    burst = settings.sync_offer_burst
    assert replies(node, spammer, burst + 20, now) == (burst, 20)
    # another member's sync is not held up by the spammer
    assert replies(node, other, 3, now) == (3, 0)
    # one sync interval later, the steady rate
    now += settings.sync_interval_us
    per_interval = settings.sync_offers_per_interval
    assert replies(node, spammer, 20, now) == (per_interval, 20 - per_interval)


def test_a_catch_up_bigger_than_the_burst_goes_on_where_it_stopped(tmp_path: Path) -> None:
    """4,500 differing ops need tables of 48 up to 12,288 cells: five offers in a row, more
    than a burst of two. Offers the peer was busy for are made again on the next turn instead
    of the sync starting from the smallest table again (which would never get past two)."""
    a, b, notes = big_chain_nodes(tmp_path, notes=1500, body_bytes=40)
    for protocol in (a, b):
        protocol._offers_answered = TokenBuckets(1, protocol.settings.sync_interval_us, 2)
    catch_up(a, b, rounds_max=60, round_us=a.settings.sync_interval_us)
    assert_valid_then_close(b, notes, also_close=a)


def test_deferred_offers_are_bounded_per_peer_and_made_again_a_turn_at_a_time(
        cluster: Cluster) -> None:
    node = protocol_of(cluster.nodes[0])
    neighbours = node.ring.neighbours(node.agent, node.settings.neighbours_max)
    honest, greedy, stranger = neighbours[0], neighbours[1], b"\x07" * 32
    for n in range(DEFERRED_PER_ROUND + 5):
        node._defer(Session(honest, WHOLE_RING, n, (0, 0), CELLS_MIN * 4))
    node._defer(Session(stranger, WHOLE_RING, 0, (0, 0), CELLS_MIN))
    # a neighbour whose sessions overflow loses its own oldest, never another's
    for n in range(DEFERRED_PER_PEER_MAX + 10):
        node._defer(Session(greedy, WHOLE_RING, n, (0, 0), CELLS_MIN))
    assert [s.seed for s in node._deferred[greedy]] == list(range(10, DEFERRED_PER_PEER_MAX
                                                                   + 10))
    assert len(node._deferred[honest]) == DEFERRED_PER_ROUND + 5
    # the honest peer's turn: its deferred offers are made again (oldest first, their size
    # kept), not a new sync; and a peer that is no longer a neighbour loses its queue
    now = cluster.net.now_us + 100 * node.settings.sync_interval_us  # within the rate
    node._neighbour_turn = neighbours.index(honest)
    offers = [o.message for o in node._start_sync(Random(1), now)]
    assert stranger not in node._deferred
    assert [o.seed for o in offers if isinstance(o, SyncOffer)] == list(
        range(DEFERRED_PER_ROUND))
    assert all(isinstance(o, SyncOffer) and len(o.table) == CELLS_MIN * 4 * 20
               for o in offers)
    # offers the rate refuses keep their place at the front
    node._offers_made = TokenBuckets(1, node.settings.sync_interval_us, 2)
    node._neighbour_turn = neighbours.index(honest)
    offers = [o.message for o in node._start_sync(Random(1), now)]
    assert [o.seed for o in offers if isinstance(o, SyncOffer)] == [32, 33]
    assert [s.seed for s in node._deferred[honest]] == [34, 35, 36]
    node._neighbour_turn = neighbours.index(honest)
    later = now + 3 * node.settings.sync_interval_us
    assert len(node._start_sync(Random(1), later)) == 2
    node._neighbour_turn = neighbours.index(honest)
    assert len(node._start_sync(Random(1), later + 10**7)) == 1
    assert honest not in node._deferred


def test_a_peer_asking_for_ever_more_tables_gets_them_only_at_the_rate(cluster: Cluster
                                                                        ) -> None:
    """A reply may ask for a bigger table or for the region in halves; a peer that asks for
    halves every time would double the tables we build per round trip. The offers we make to
    a peer follow the same rate as those we answer; the rest wait for its next sync turn."""
    node, greedy = (protocol_of(n) for n in cluster.nodes[:2])
    settings = node.settings
    now = cluster.net.now_us + 100 * settings.sync_interval_us  # buckets full
    queue = [node._offer(Session(greedy.agent, WHOLE_RING, 3, (0, 0), CELLS_MIN)).message]
    made = 0
    for _ in range(1_000):  # bounded: each reply below answers one offer
        if not queue:
            break
        offer = queue.pop()
        assert isinstance(offer, SyncOffer)
        reply = through_frames(node, SyncReply(offer.session, SPLIT_REGION, (), ()))
        out = [o.message for o in node.on_message(greedy.agent, reply, now)]
        made += len(out)
        queue.extend(out)
    assert made == settings.sync_offer_burst
    # the rest wait for the peer's next turn, and only up to the per-peer bound
    assert 0 < len(node._deferred[greedy.agent]) <= DEFERRED_PER_PEER_MAX
