"""Private entries never leave their author's node, on a real network on 127.0.0.1: the record
of a private entry is published (peers hold the author's whole chain), its bytes are not, and
saving one gets nobody warranted."""

from __future__ import annotations

from pathlib import Path

import trio
from nodes import network, wait_until

from nodeapp._core.hashing import ActionHash
from nodeapp.runtime import RunningNode

SECRET = "SECRET-supplier-price-4711"


def store_bytes(node: RunningNode) -> bytes:
    """Everything in the node's store files, as a disk reader would see it."""
    path = node.home.db_path
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal"))
                    if p.exists())


async def test_a_private_entry_stays_home_and_nobody_is_warranted(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with network(tmp_path, 2) as (_, nodes):
            author, peers = nodes[1], [nodes[0], nodes[2]]
            private = ActionHash.parse(await author.zome_call(
                "example", "save_private_note", {"text": SECRET}))
            public = ActionHash.parse(await author.zome_call(
                "example", "create_note", {"title": "enclosure v2"}))
            # every peer is an authority here (3 nodes, replication 3): both records arrive
            await wait_until("the peers hold both records", lambda: all(
                p.conductor.store.get_action(h.raw) is not None
                for p in peers for h in (private, public)))
            await trio.sleep(0.5)  # a few ticks: a warrant would have been issued by now
            for node in nodes:
                assert node.protocol.warrants == {}, node.protocol.warrants
                assert not node.protocol.blocked
            for peer in peers:
                assert SECRET.encode() not in store_bytes(peer)
                assert await peer.zome_call("example", "get_note",
                                            {"note": str(public)}) is not None
            # the author still reads its own private note
            assert author.call("example", "my_private_notes") == [SECRET]
