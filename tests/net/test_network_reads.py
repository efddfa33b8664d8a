"""Reads over the network with real nodes on 127.0.0.1: a node that holds nothing of a note
reads it, its links and its author's activity from the authorities, and asks another member's
node a question with a remote call (nodeapp.runtime.RunningNode.zome_call / call_remote)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from nodes import in_thread, network, wait_until

from nodeapp._core.hashing import ActionHash, AgentPubKey, EntryHash
from nodeapp.errors import RemoteCallFailed
from nodeapp.local_api import LocalCallFailed, request_running_node
from nodeapp.runtime import RunningNode

# seven nodes, each op held by two: at least two hold nothing of a given note and its link
PROPERTIES = {"replication_factor": 2}


def holds(node: RunningNode, action_hash: bytes) -> bool:
    return node.conductor.store.get_action(action_hash) is not None


def authorities_of(nodes: list[RunningNode], location: int) -> set[bytes]:
    return set(nodes[0].protocol.ring.authorities(location))


async def test_a_node_reads_what_it_does_not_hold_from_the_authorities(tmp_path: Path) -> None:
    with trio.fail_after(90):
        async with network(tmp_path, 7, PROPERTIES) as (_, nodes):
            writer = nodes[1]
            note = ActionHash.parse(await writer.zome_call(
                "example", "create_note", {"title": "enclosure v2", "body": "PETG, 3 mm"}))
            found = writer.conductor.store.get_action(note.raw)
            assert found is not None
            signed = found[0]
            # StoreRecord lives at the action hash, StoreEntry at the entry hash: a node that
            # holds either holds the action
            entry = EntryHash(signed.action.entry_hash_or_none)  # type: ignore[arg-type]
            record_holders = (authorities_of(nodes, note.location)
                              | authorities_of(nodes, entry.location))
            link_base = AgentPubKey(writer.agent)
            link_holders = authorities_of(nodes, link_base.location)
            await wait_until("the note's authorities hold it", lambda: all(
                holds(n, note.raw) for n in nodes if n.agent in record_holders))
            readers = [n for n in nodes if n.agent not in record_holders | link_holders
                       | {writer.agent}]
            assert readers  # 8 nodes, at most 2 + 2 + 2 authorities and the writer
            reader = readers[0]
            assert not holds(reader, note.raw)
            # local reads see nothing; a networked call fetches, validates and stores
            assert reader.call("example", "get_note", {"note": str(note)}) is None
            read = await reader.zome_call("example", "get_note", {"note": str(note)})
            assert read is not None and read["title"] == "enclosure v2"
            assert holds(reader, note.raw)  # validated and kept, like any record
            assert reader.stats["queries_out"] >= 1

            # links live with the base's authorities: the reader asks them
            await wait_until("the link's authorities hold it", lambda: all(
                n.conductor.store.get_links(link_base.tagged(), 0, 0) for n in nodes
                if n.agent in link_holders))
            listed = await reader.zome_call("example", "notes_by_author",
                                            {"agent": str(link_base)})
            assert listed == [str(note)]

            # the author's activity: its chain as its activity authorities hold it
            await wait_until("the activity authorities hold the writer's chain", lambda: all(
                holds(n, signed.hash) for n in nodes
                if n.agent in authorities_of(nodes, link_base.location)))
            length = await reader.zome_call("example", "chain_length_of",
                                            {"agent": str(link_base)})
            assert length == writer.conductor.store.chain_head(writer.agent).seq + 1

            # something nobody holds: the call completes with None after bounded rounds
            missing = ActionHash(bytes(32))
            assert await reader.zome_call("example", "get_note", {"note": str(missing)}) is None


async def test_remote_calls_run_on_the_callee_and_refuse_what_is_not_open(tmp_path: Path
                                                                          ) -> None:
    with trio.fail_after(60):
        async with network(tmp_path, 2) as (_, nodes):
            callee, caller = nodes[1], nodes[2]
            for text in ("supplier list", "prices"):
                callee.call("example", "save_private_note", {"text": text})
            assert await caller.call_remote(callee.agent, "example",
                                            "private_note_count") == 2
            with pytest.raises(RemoteCallFailed, match="not open to calls from other agents"):
                await caller.call_remote(callee.agent, "example", "my_private_notes")
            with pytest.raises(RemoteCallFailed, match="no function"):
                await caller.call_remote(callee.agent, "example", "no_such_fn")
            # through the local API, as `nodeapp call --to` sends it
            reply = await in_thread(request_running_node, caller.home, {
                "op": "call", "zome": "example", "fn": "private_note_count",
                "to": str(AgentPubKey(callee.agent))})
            assert reply is not None and reply["output"] == 2
            with pytest.raises(LocalCallFailed, match="agent"):
                await in_thread(request_running_node, caller.home, {
                    "op": "call", "zome": "example", "fn": "private_note_count",
                    "to": "agent_not-a-key"})
            assert callee.stats["queries_in"] >= 2
