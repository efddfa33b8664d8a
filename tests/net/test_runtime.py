"""The node runtime over real libp2p on 127.0.0.1: what it does with bad frames, its local API,
and that starting and stopping it leaves nothing behind. Every wait is bounded."""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import socket
import sqlite3
import stat
from pathlib import Path

import pytest
import trio
from leaks import resources
from nodes import damage_store, fill_store, in_thread, new_home, wait_until

from nodeapp._core.canonical import encode_flat
from nodeapp._core.hashing import AgentPubKey, blake2b_256
from nodeapp._core.messages import (
    FRAME_BYTES_MAX,
    PROTOCOL_VERSION,
    Get,
    Refused,
    decode_message,
    encode_message,
)
from nodeapp.conductor import wall_clock_us
from nodeapp.errors import HomeError, StoreCorrupted, StoreUnavailable
from nodeapp.home import NodeHome
from nodeapp.invites import create_invite, join_network
from nodeapp.keystore import AgentKey
from nodeapp.local_api import REQUEST_BYTES_MAX, LocalCallFailed, request_running_node
from nodeapp.net import FrameTooLarge, PeerClosed, open_host
from nodeapp.runtime import RunningNode, protocol_id_for, run_node

LOCAL = ["/ip4/127.0.0.1/tcp/0"]
run_fast = functools.partial(run_node, tick_ms=50)


def steward_home(path: Path) -> NodeHome:
    home = new_home(path)
    home.create_network("runtime-test", None)
    return home


def member_home(path: Path, steward: NodeHome, bootstrap: list[str]) -> NodeHome:
    home = new_home(path)
    code = create_invite(steward, None, 1, 3600, bootstrap, wall_clock_us())
    join_network(home, None, code, wall_clock_us())
    return home


async def local_request(home: NodeHome, line: bytes) -> list[dict]:
    """Send raw bytes to the node's socket; every reply line until the node closes or 1 s
    passes without one."""
    stream = await trio.open_unix_socket(str(home.socket_path))
    replies: list[dict] = []
    async with stream:
        await stream.send_all(line)
        data = b""
        while True:
            with trio.move_on_after(1.0):
                chunk = await stream.receive_some(65536)
                if chunk:
                    data += chunk
                    continue
            break
    for text in data.splitlines():
        replies.append(json.loads(text))
    return replies


# --- bad frames -----------------------------------------------------------------------------


async def test_bad_frames_are_refused_logged_and_the_node_keeps_answering(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nodeapp")
    home = steward_home(tmp_path / "steward")
    outsider = AgentKey(bytes([7]) * 32)
    heard = []

    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            node: RunningNode = await nursery.start(run_fast, home, None, LOCAL)
            dna = node.conductor.dna.hash
            proto = protocol_id_for(dna)
            assert proto == f"/nodeapp/{dna.hex()[:16]}/1.0.0"
            async with open_host(outsider.seed, LOCAL) as peer:
                async def hear(peer_id: str, frame: bytes) -> bytes:
                    heard.append(decode_message(dna, frame))
                    return b""

                peer.set_handler(proto, hear, request_bytes_max=FRAME_BYTES_MAX)
                await peer.connect(node.listen_addrs[0])
                bad_frames = {
                    "garbage": b"\x00not cbor at all",
                    "other DNA": encode_message(blake2b_256(b"another network"), Get(bytes(32))),
                    "unknown kind": encode_flat([PROTOCOL_VERSION, dna, 99]),
                    "wrong fields": encode_flat([PROTOCOL_VERSION, dna, 10, b"short"]),
                    # ~8 million empty arrays: ~600 MB and seconds to decode, refused unread
                    "item bomb": encode_flat([PROTOCOL_VERSION, dna, 10,
                                              [[]] * (FRAME_BYTES_MAX - 64)]),
                }
                for frame in bad_frames.values():
                    with pytest.raises(PeerClosed, match="did not answer"):
                        await peer.request(node.peer_id, proto, frame, response_bytes_max=64)
                with pytest.raises((PeerClosed, FrameTooLarge)):
                    await peer.request(node.peer_id, proto, b"x" * (FRAME_BYTES_MAX + 1),
                                       response_bytes_max=64)

                # still up: a well-formed frame from a non-member is acknowledged and refused
                ack = await peer.request(node.peer_id, proto, encode_message(dna, Get(bytes(32))),
                                         response_bytes_max=64)
                assert ack == b""
                await wait_until("the refusal arrives", lambda: heard)
                assert isinstance(heard[0], Refused) and "not a member" in heard[0].reason
                # and its local API answers
                reply = await in_thread(request_running_node, home, {"op": "status"})
                assert reply is not None and reply["status"]["running"] is True
                assert node.stats["frames_refused"] == len(bad_frames)
                assert node.stats["frames_in"] == 1
            nursery.cancel_scope.cancel()

    runtime_lines = [r.getMessage() for r in caplog.records if r.name == "nodeapp.runtime"
                     and "refused a frame" in r.getMessage()]
    assert len(runtime_lines) == len(bad_frames)
    # named as every line names an agent: its key's start, then its peer id
    sender = f"{str(AgentPubKey(outsider.public_key))[:20]} ({peer.peer_id})"
    assert all(sender in line for line in runtime_lines)
    assert any("another DNA" in line for line in runtime_lines)
    assert any("CBOR items" in line for line in runtime_lines)
    net_lines = [r.getMessage() for r in caplog.records if r.name == "nodeapp.net"]
    assert any(f"announces {FRAME_BYTES_MAX + 1} bytes" in line for line in net_lines)


# --- the local API --------------------------------------------------------------------------


async def test_local_api_answers_refuses_and_cleans_up(tmp_path: Path) -> None:
    home = steward_home(tmp_path / "steward")
    sock = home.socket_path
    # a stale socket file from a node that died does not stop a new one
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()
    assert request_running_node(home, {"op": "status"}) is None

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(run_fast, home, None, LOCAL)
            assert stat.S_IMODE(sock.stat().st_mode) == 0o600
            assert [p.name for p in home.path.iterdir() if p.name.endswith(".tmp")] == []

            # one connection, several requests, each answered in order
            replies = await local_request(home, b'{"op": "status"}\nnot json\n[1, 2]\n'
                                                b'{"op": "launch"}\n'
                                                b'{"op": "call", "zome": "nope", "fn": "x"}\n'
                                                b'{"op": "call", "zome": "example"}\n'
                                                b'{"op": "call", "zome": "example", '
                                                b'"fn": "create_note", "payload": {"title": 1}}\n')
            assert [r["ok"] for r in replies] == [True] + [False] * 6
            assert replies[0]["status"]["chain_length"] == 3
            assert "not JSON" in replies[1]["error"]
            assert "JSON object" in replies[2]["error"]
            assert "unknown op 'launch'" in replies[3]["error"]
            assert replies[4]["kind"] == "ZomeCallError" and "nope" in replies[4]["error"]
            assert "'zome' and 'fn'" in replies[5]["error"]
            assert replies[6]["kind"] == "ZomeCallError" and "title" in replies[6]["error"]

            # a line nested past json's recursion limit is an error reply, not a crash
            deep = b"[" * 200_000 + b"]" * 200_000 + b"\n"
            [reply] = await local_request(home, deep)
            assert not reply["ok"] and "nested too deeply" in reply["error"]

            # an oversize request line is refused and the connection closed
            [reply] = await local_request(home, b"x" * (REQUEST_BYTES_MAX + 2))
            assert not reply["ok"] and "at most" in reply["error"]

            # a call through the socket commits and publishes; errors come back raised
            made = await in_thread(request_running_node, home, {
                "op": "call", "zome": "example", "fn": "create_note", "payload": {"title": "t"}})
            assert made is not None and made["output"].startswith("action_")
            with pytest.raises(LocalCallFailed, match="no zome named"):
                await in_thread(request_running_node, home,
                                {"op": "call", "zome": "nope", "fn": "x"})

            # a second node on the same home refuses to start
            with pytest.raises(HomeError, match="already running"):
                await nursery.start(run_fast, home, None, LOCAL)
            nursery.cancel_scope.cancel()

    assert not os.path.lexists(sock)
    assert request_running_node(home, {"op": "status"}) is None


async def test_local_api_works_in_a_home_with_a_long_path(tmp_path: Path) -> None:
    home = steward_home(tmp_path / ("d" * 80) / ("e" * 40))  # longer than a sockaddr_un
    assert len(str(home.socket_path)) > 108
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(run_fast, home, None, LOCAL)
            reply = await in_thread(request_running_node, home, {"op": "status"})
            assert reply is not None and reply["status"]["running"]
            nursery.cancel_scope.cancel()
    assert not os.path.lexists(home.socket_path)


# --- a failing store --------------------------------------------------------------------------


async def test_a_locked_store_fails_the_step_and_the_node_runs_on(tmp_path: Path) -> None:
    home = steward_home(tmp_path / "steward")
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            node: RunningNode = await nursery.start(run_fast, home, None, LOCAL)
            with pytest.raises(StoreUnavailable, match="database is locked"):
                with node.store_guard():
                    raise sqlite3.OperationalError("database is locked")
            assert node.failure is None
            await trio.sleep(0.2)  # ticks go on
            reply = await in_thread(request_running_node, home, {"op": "status"})
            assert reply is not None and reply["status"]["running"]
            nursery.cancel_scope.cancel()


async def test_a_damaged_store_stops_the_node_with_a_clear_error(tmp_path: Path) -> None:
    home = steward_home(tmp_path / "steward")
    fill_store(home, 300)
    with trio.fail_after(30), pytest.raises(ExceptionGroup) as raised:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_fast, home, None, LOCAL)
            damage_store(home)
            # the request that meets the damage is answered with it, then the node stops
            with pytest.raises(LocalCallFailed, match="node store is damaged"):
                await in_thread(request_running_node, home, {"op": "status"})
    assert raised.group_contains(StoreCorrupted, match="Restore node.db from a backup")
    assert not os.path.lexists(home.socket_path)


# --- leaks ----------------------------------------------------------------------------------




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def one_cycle(steward: NodeHome, member: NodeHome, listen: list[str], n: int) -> None:
    async with trio.open_nursery() as nursery:
        a: RunningNode = await nursery.start(run_fast, steward, None, listen)
        b: RunningNode = await nursery.start(run_fast, member, None, LOCAL)
        await wait_until("the member is admitted", lambda: b.agent in a.protocol.members)
        note = b.call("example", "create_note", {"title": f"cycle {n}"})
        await wait_until("the note reaches the steward", lambda: a.call(
            "example", "get_note", {"note": note}) is not None)
        nursery.cancel_scope.cancel()  # as Ctrl-C does: both stop at once, mid-traffic


async def test_start_stop_cycles_leak_nothing(tmp_path: Path) -> None:
    steward = steward_home(tmp_path / "steward")
    listen = [f"/ip4/127.0.0.1/tcp/{free_port()}"]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:  # only to learn the steward's address
            a: RunningNode = await nursery.start(run_fast, steward, None, listen)
            addrs = a.listen_addrs
            nursery.cancel_scope.cancel()
        member = member_home(tmp_path / "member", steward, addrs)
        await one_cycle(steward, member, listen, -1)  # warm-up: first-use caches are no leak
        await trio.sleep(0.2)
        gc.collect()
        before = resources()
        for n in range(4):
            await one_cycle(steward, member, listen, n)
            with trio.move_on_after(2):
                while resources() != before:
                    # A libp2p connection whose host is left by cancellation sometimes keeps
                    # its TCP socket until the garbage collector breaks a reference cycle
                    # (open_host alone shows it; reported). Anything still referenced after
                    # a collection is a real leak.
                    gc.collect()
                    await trio.sleep(0.01)
            assert resources() == before, f"cycle {n}"
        assert not os.path.lexists(steward.socket_path)
        assert not os.path.lexists(member.socket_path)
