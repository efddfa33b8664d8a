"""Five real nodes in one process over libp2p on 127.0.0.1: membership, publishing, warrants
and the membrane, end to end through :func:`nodeapp.runtime.run_node`.

The steward starts first; invites carry its actual listen address, and the members join with
them exactly as ``nodeapp join`` does. Every wait is bounded.
"""

from __future__ import annotations

from pathlib import Path

import trio
from nodes import LOCAL, commit_unchecked, in_thread, network, new_home, run_fast, wait_until

from nodeapp._core.ops import op_hash, op_types_for
from nodeapp.conductor import wall_clock_us
from nodeapp.keystore import AgentKey, read_keystore
from nodeapp.local_api import request_running_node
from nodeapp.runtime import RunningNode
from nodeapp.store import Status
from nodeapp.testing import iter_chain
from zomes.example.integrity import Note


def invalid_note(node: RunningNode) -> tuple[bytes, bytes]:
    """A Note with an empty title, committed and published bypassing the coordinator."""
    # model_construct skips pydantic's checks: what a modified coordinator could write
    return commit_unchecked(node, "example", "Note", Note.model_construct(title="", body=""))


async def test_five_nodes_share_notes_and_warrant_an_invalid_author(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with network(tmp_path, 4) as (_, nodes):
            # all five are members of each other, with connections to talk over
            for node in nodes:
                assert len(node.status()["members"]) == 5

            # a note written through node 2's local API is readable on every node
            writer = nodes[2]
            reply = await in_thread(
                request_running_node, writer.home,
                {"op": "call", "zome": "example", "fn": "create_note",
                 "payload": {"title": "sensor batch 1", "body": "50 units"}})
            assert reply is not None and reply["ok"]
            note = reply["output"]

            def readable_everywhere() -> bool:
                return all(n.call("example", "get_note", {"note": note}) is not None
                           for n in nodes)

            await wait_until("the note is readable on every node", readable_everywhere)
            read = nodes[0].call("example", "get_note", {"note": note})
            assert read["title"] == "sensor batch 1" and read["body"] == "50 units"
            others = {n.agent for n in nodes} - {writer.agent}

            def receipted_by_all() -> bool:
                store = writer.conductor.store
                return all(others <= writer.protocol.receipts.get(op_hash(t, s.hash), set())
                           for s, _ in store.chain(writer.agent, start_seq=3)
                           for t in op_types_for(s.action))

            await wait_until("the writer has a receipt from every other node",
                             receipted_by_all)

            # node 4 writes what the rules forbid: every honest node warrants and blocks it
            bad, honest = nodes[4], nodes[:4]
            bad_hash, _ = invalid_note(bad)
            await wait_until("every honest node blocks the invalid author",
                             lambda: all(bad.agent in n.protocol.blocked
                                         and bad.agent in n.protocol.warrants for n in honest))
            for node in honest:
                found = node.conductor.store.get_action(bad_hash)
                assert found is None or found[1] != Status.VALID
                assert str_agent(bad) in node.status()["warrants"]
                assert str_agent(bad) in node.status()["blocked"]
            # and the honest nodes go on working among themselves
            later = honest[1].call("example", "create_note", {"title": "after the warrant"})
            await wait_until("a later note reaches the honest nodes", lambda: all(
                n.call("example", "get_note", {"note": later}) is not None for n in honest))


def str_agent(node: RunningNode) -> str:
    return node.status()["agent"]


async def test_a_non_member_gets_only_refusals(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with network(tmp_path, 2) as (nursery, nodes):
            steward = nodes[0]
            # a modified node without an invite writes its genesis itself and dials in
            home = new_home(tmp_path / "intruder")
            manifest = steward.home.manifest()
            assert manifest is not None
            home.write_manifest(manifest)
            key: AgentKey = read_keystore(home.keystore_path, None)
            with home.open_store() as store:
                store.commit_own(key.public_key, [r.staged() for r in iter_chain(
                    key, manifest.hash.raw, 0, start_us=wall_clock_us())], None)
            home.set_bootstrap(steward.listen_addrs)
            intruder = await nursery.start(run_fast, home, None, LOCAL)
            # it asks the steward (and keeps asking): each time it is refused
            await wait_until("the intruder hears refusals",
                             lambda: intruder.received_kinds["Refused"] >= 2)
            # it has one more go at a member it learns nothing about: dial one directly
            assert await intruder.host.connect(nodes[1].listen_addrs[0])
            intruder.protocol.bootstrap.append(nodes[1].agent)
            await wait_until("a member refuses it too",
                             lambda: intruder.received_kinds["Refused"] >= 4)
            await trio.sleep(0.5)  # a few more ticks and sync rounds on every side

            assert set(intruder.received_kinds) == {"Refused"}, intruder.received_kinds
            assert intruder.stats["records_in"] == 0
            assert intruder.protocol.members == {intruder.agent}
            for node in nodes:
                assert intruder.agent not in node.protocol.members
                assert node.agent not in intruder.protocol.members
                assert list(node.conductor.store.chain(intruder.agent)) == []  # nor its data
            # nothing of any member reached its store
            with home.open_store() as store:
                assert store.counts()["action"] == 3
