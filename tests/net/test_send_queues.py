"""What a real node's outgoing traffic may hold (:mod:`nodeapp.send_queues`), over libp2p on
127.0.0.1: strangers cannot take the senders members need, a peer that never reads holds a
bounded number of bytes, and made-up agents cannot grow the dial backoff. Every wait is bounded.

The stalled peers are the one fake: the node's transport ``send`` waits until released, as a
peer that accepts a stream and never reads would make it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import trio
from nodes import LOCAL, new_home, run_fast, wait_until

from nodeapp._core.hashing import blake2b_256
from nodeapp._core.limits import ENTRY_BYTES_MAX
from nodeapp._core.messages import Message, Records, Refused
from nodeapp.conductor import wall_clock_us
from nodeapp.home import NodeHome
from nodeapp.identity import peer_id_of
from nodeapp.invites import create_invite, join_network
from nodeapp.protocol import Outgoing
from nodeapp.runtime import RunningNode
from nodeapp.send_queues import (
    DIAL_BACKOFFS_MAX,
    SEND_BYTES_MAX,
    SEND_QUEUE_BYTES_MAX,
    SENDERS_MAX,
    STRANGER_SENDERS_MAX,
)

ENTRY = b"x" * ENTRY_BYTES_MAX  # shared by every big message: ~1 MiB frames, little test memory


def steward_home(path: Path) -> NodeHome:
    home = new_home(path)
    home.create_network("send-queues-test", None)
    return home


def made_up_agents(count: int, tag: bytes) -> list[bytes]:
    """Keys no node holds: strangers, as many as anyone can make."""
    return [blake2b_256(tag + n.to_bytes(4, "big")) for n in range(count)]


def big_message(n: int) -> Records:
    """A ~1 MiB message (one record with a 1 MiB entry); ``n`` makes it a distinct one."""
    return Records(((n.to_bytes(8, "big") * 4, bytes(64), ENTRY),))


def drops(node: RunningNode) -> int:
    return sum(count for key, count in node.stats.items() if key.startswith("dropped_"))


class StalledPeers:
    """The node's transport towards ``agents``: connected, and every send waits until
    :attr:`released` is set, then records the frame's size."""

    def __init__(self, agents: list[bytes]) -> None:
        self.peer_ids = {peer_id_of(a) for a in agents}
        self.released = trio.Event()
        self.sent: Counter[str] = Counter()  # peer id -> bytes sent
        self.frames = 0

    def attach(self, node: RunningNode, monkeypatch: pytest.MonkeyPatch) -> None:
        real_connected = node.host.connected_peers
        real_send = node.host.send

        def connected_peers() -> list[str]:
            return [*real_connected(), *self.peer_ids]

        async def send(peer_id: str, protocol: str, frame: bytes) -> None:
            if peer_id not in self.peer_ids:
                return await real_send(peer_id, protocol, frame)
            await self.released.wait()
            self.sent[peer_id] += len(frame)
            self.frames += 1

        monkeypatch.setattr(node.host, "connected_peers", connected_peers)
        monkeypatch.setattr(node.host, "send", send)


async def released_and_drained(node: RunningNode, stalled: StalledPeers, dispatched: int
                               ) -> None:
    """Let the stalled sends go and wait until every message the node kept was sent."""
    stalled.released.set()
    await wait_until("the queues drain", lambda: stalled.frames == dispatched - drops(node))


# --- strangers ------------------------------------------------------------------------------


async def test_strangers_cannot_take_the_senders_a_newcomer_needs(tmp_path: Path) -> None:
    home = steward_home(tmp_path / "steward")
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            steward: RunningNode = await nursery.start(run_fast, home, None, LOCAL)
            # more strangers than there are senders, each sent a Refused (as any key can make
            # the node do by sending it a GET)
            strangers = made_up_agents(SENDERS_MAX + 64, b"stranger")
            steward._dispatch([Outgoing(a, Refused("not a member of this network"))
                               for a in strangers])
            assert sum(a in steward._queues for a in strangers) <= STRANGER_SENDERS_MAX
            assert steward.stats["dropped_stranger_no_sender"] > 0

            # a newcomer joins all the same: the steward's HELLO and WELCOME to it get a sender
            newcomer_home = new_home(tmp_path / "newcomer")
            code = create_invite(home, None, 1, 3600, steward.listen_addrs, wall_clock_us())
            join_network(newcomer_home, None, code, wall_clock_us())
            newcomer: RunningNode = await nursery.start(run_fast, newcomer_home, None, LOCAL)
            await wait_until("the newcomer and the steward admit each other",
                             lambda: newcomer.agent in steward.protocol.members
                             and steward.agent in newcomer.protocol.members, seconds=15)
            assert steward.stats["dropped_no_sender"] == 0
            nursery.cancel_scope.cancel()


# --- bytes ----------------------------------------------------------------------------------


async def test_a_peer_that_never_reads_holds_at_most_its_queue_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = steward_home(tmp_path / "steward")
    [peer] = made_up_agents(1, b"stalled")
    stalled = StalledPeers([peer])
    count = 300  # ~300 MiB offered: many times the queue's bytes, under its message count
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            node: RunningNode = await nursery.start(run_fast, home, None, LOCAL)
            stalled.attach(node, monkeypatch)
            for n in range(count):  # one at a time, as the protocol hands them over
                node._dispatch([Outgoing(peer, big_message(n))])
            assert node.stats["dropped_queue_full"] > 0
            assert drops(node) == node.stats["dropped_queue_full"]

            await released_and_drained(node, stalled, count)
            assert 0 < stalled.sent[peer_id_of(peer)] <= SEND_QUEUE_BYTES_MAX

            # once drained, the peer's queue takes messages again
            node._dispatch([Outgoing(peer, big_message(count))])
            await released_and_drained(node, stalled, count + 1)
            nursery.cancel_scope.cancel()


async def test_peers_that_never_read_hold_at_most_the_send_budget_together(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = steward_home(tmp_path / "steward")
    peers = made_up_agents(20, b"stalled")  # 20 full queues are over the budget
    stalled = StalledPeers(peers)
    messages: list[Message] = [big_message(n) for n in range(20)]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            node: RunningNode = await nursery.start(run_fast, home, None, LOCAL)
            stalled.attach(node, monkeypatch)
            # each message to every peer, as a broadcast is handed over
            for message in messages:
                node._dispatch([Outgoing(p, message) for p in peers])
            assert node.stats["dropped_send_budget"] > 0

            await released_and_drained(node, stalled, len(messages) * len(peers))
            assert sum(stalled.sent.values()) <= SEND_BYTES_MAX
            assert all(0 < sent <= SEND_QUEUE_BYTES_MAX for sent in stalled.sent.values())
            nursery.cancel_scope.cancel()


# --- dial backoff ---------------------------------------------------------------------------


async def test_dial_failures_to_made_up_agents_keep_the_backoff_bounded(tmp_path: Path) -> None:
    home = steward_home(tmp_path / "steward")
    agents = made_up_agents(DIAL_BACKOFFS_MAX + 500, b"unreachable")
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            node: RunningNode = await nursery.start(run_fast, home, None, LOCAL)
            for agent in agents:  # no address is known for any: each dial fails at once
                assert not await node._dial(agent, peer_id_of(agent))
            assert len(node._dial_backoff) <= DIAL_BACKOFFS_MAX
            # the most recent failures are remembered: those agents are not dialled again yet
            assert agents[-1] in node._dial_backoff and agents[0] not in node._dial_backoff
            nursery.cancel_scope.cancel()
