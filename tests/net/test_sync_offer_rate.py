"""A member cannot make a node spend its thread answering sync offers faster than sync runs.

Each answer builds a table of every op the node holds in the offer's region (~15 ms at a
million ops). Offers from one peer are answered up to a burst, then at a steady rate tied to
the sync interval; other peers are not affected, and honest catch-ups (tested in
test_resource_bounds.py) still finish.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nodeapp._core.messages import SyncOffer, SyncReply
from nodeapp._core.reconcile import CELLS_MIN
from nodeapp.protocol import NodeProtocol
from nodeapp.rate_limits import TokenBuckets
from sims.cluster import Cluster
from tests.net.test_resource_bounds import protocol_of, settled_cluster, through_frames

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
    offer = sender._offer(receiver.agent, WHOLE_RING, CELLS_MIN, 7).message
    assert isinstance(offer, SyncOffer)
    message = through_frames(receiver, offer)
    assert isinstance(message, SyncOffer)
    return message


def answered(receiver: NodeProtocol, sender: NodeProtocol, offers: int, now_us: int) -> int:
    """How many of ``offers`` offers from ``sender`` at ``now_us`` got a reply."""
    count = 0
    for _ in range(offers):
        out = receiver.on_message(sender.agent, offer_from(sender, receiver), now_us)
        count += any(isinstance(o.message, SyncReply) for o in out)
    return count


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return settled_cluster(tmp_path, seed=23)


def test_offers_past_the_burst_are_not_answered_until_the_rate_allows(cluster: Cluster
                                                                      ) -> None:
    node, spammer, other = (protocol_of(n) for n in cluster.nodes[:3])
    settings = node.settings
    now = cluster.net.now_us + 10 * settings.sync_interval_us  # buckets full
    burst = settings.sync_offer_burst
    assert answered(node, spammer, burst + 20, now) == burst
    # another member's sync is not held up by the spammer
    assert answered(node, other, 3, now) == 3
    # one sync interval later, the steady rate
    now += settings.sync_interval_us
    assert answered(node, spammer, 20, now) == settings.sync_offers_per_interval
