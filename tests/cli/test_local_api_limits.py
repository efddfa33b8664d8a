"""The local API's limits on slow, idle and greedy clients, on a real Unix socket served for a
stand-in node. Trio's autojump clock runs the deadlines: the tests assert what happens by
which (virtual) time, and take no wall-clock time for it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import trio
import trio.testing

from nodeapp.home import NodeHome
from nodeapp.local_api import (
    CONNECTION_IDLE_S_MAX,
    CONNECTIONS_MAX,
    REPLY_S_MAX,
    REQUEST_S_MAX,
    serve_local_api,
)

STATUS = b'{"op": "status"}\n'
CALL = b'{"op": "call", "zome": "example", "fn": "slow", "payload": null}\n'


class StandInNode:
    """What the local API asks of a node: a status, a store guard, and zome calls that wait
    until ``release`` is set."""

    def __init__(self, status_bytes: int = 0) -> None:
        self.release = trio.Event()
        self.calls_started = 0
        self._status: dict[str, Any] = {"running": True, "padding": "x" * status_bytes}

    def status(self) -> dict[str, Any]:
        return self._status

    @contextlib.contextmanager
    def store_guard(self) -> Iterator[None]:
        yield

    async def zome_call(self, zome: str, fn: str, payload: object) -> str:
        self.calls_started += 1
        await self.release.wait()
        return "done"


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, node: StandInNode) -> AsyncIterator[Path]:
    """The local API of ``node`` on a socket in ``tmp_path``, until the block ends."""
    async with trio.open_nursery() as nursery:
        path = await nursery.start(serve_local_api, NodeHome(tmp_path), node)
        yield path
        nursery.cancel_scope.cancel()


async def connect(path: Path) -> trio.SocketStream:
    return await trio.open_unix_socket(str(path))


async def receive_until_closed(stream: trio.SocketStream) -> bytes:
    """Every byte until the server closes the connection."""
    data = b""
    with contextlib.suppress(trio.BrokenResourceError):  # closed with our bytes unread
        for _ in range(10_000):
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
    return data


async def read_until_closed(stream: trio.SocketStream) -> list[dict[str, Any]]:
    """Every reply line until the server closes the connection."""
    return [json.loads(line) for line in (await receive_until_closed(stream)).splitlines()]


async def read_reply(stream: trio.SocketStream) -> dict[str, Any]:
    """One reply line."""
    data = b""
    for _ in range(10_000):
        if b"\n" in data:
            break
        chunk = await stream.receive_some(65536)
        assert chunk, "closed before a whole reply"
        data += chunk
    return json.loads(data.split(b"\n", 1)[0])


async def still_open(stream: trio.SocketStream) -> bool:
    """Whether the server keeps ``stream`` open (and silent) for another second."""
    with trio.move_on_after(1):
        await stream.receive_some(1)
        return False
    return True


async def trickle(stream: trio.SocketStream, piece: bytes, every_s: float) -> None:
    """Send ``piece`` every ``every_s`` until the server closes the stream (or 100 times)."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        for _ in range(100):
            await stream.send_all(piece)
            await trio.sleep(every_s)


async def test_a_trickled_line_is_cut_off_at_the_request_deadline(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    async with serving(tmp_path, StandInNode()) as path:
        async with await connect(path) as stream:
            started = trio.current_time()
            async with trio.open_nursery() as nursery:
                # a byte every 10 s: far inside the idle timeout, never a whole line
                nursery.start_soon(trickle, stream, b"{", 10.0)
                with trio.fail_after(REQUEST_S_MAX + 5):
                    replies = await read_until_closed(stream)
                nursery.cancel_scope.cancel()
            assert REQUEST_S_MAX <= trio.current_time() - started <= REQUEST_S_MAX + 1
            [reply] = replies
            assert not reply["ok"] and reply["kind"] == "UsageError"
            assert f"within {REQUEST_S_MAX:g} s" in reply["error"]


async def test_blank_lines_do_not_keep_an_idle_connection_open(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    async with serving(tmp_path, StandInNode()) as path:
        async with await connect(path) as stream:
            await stream.send_all(STATUS)
            assert (await read_reply(stream))["ok"]
            answered = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trickle, stream, b"\n", 60.0)
                with trio.fail_after(CONNECTION_IDLE_S_MAX + 5):
                    assert await read_until_closed(stream) == []
                nursery.cancel_scope.cancel()
            assert (CONNECTION_IDLE_S_MAX <= trio.current_time() - answered
                    <= CONNECTION_IDLE_S_MAX + 1)


async def test_a_full_table_evicts_the_longest_idle_connection(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    async with serving(tmp_path, StandInNode()) as path, contextlib.AsyncExitStack() as open_:
        held = []
        for i in range(CONNECTIONS_MAX):  # idle and half-sent connections, oldest first
            stream = await open_.enter_async_context(await connect(path))
            if i % 2:
                await stream.send_all(b'{"op": "sta')
            held.append(stream)
            await trio.sleep(0.1)
        with trio.fail_after(1):  # well before any of them times out
            async with await connect(path) as newcomer:
                await newcomer.send_all(STATUS)
                reply = await read_reply(newcomer)
        assert reply["ok"] and reply["status"]["running"]
        with trio.fail_after(1):
            assert await read_until_closed(held[0]) == []  # the oldest idle one made room
        assert await still_open(held[1])
        # the half-sent one (now the oldest) still completes its request
        await held[1].send_all(b'tus"}\n')
        assert (await read_reply(held[1]))["ok"]


async def test_a_newcomer_is_told_busy_when_every_connection_is_handling_a_request(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    node = StandInNode()
    async with serving(tmp_path, node) as path, contextlib.AsyncExitStack() as open_:
        held = []
        for _ in range(CONNECTIONS_MAX):
            stream = await open_.enter_async_context(await connect(path))
            await stream.send_all(CALL)
            held.append(stream)
        with trio.fail_after(1):
            while node.calls_started < CONNECTIONS_MAX:  # bounded by the fail_after
                await trio.sleep(0.01)
            async with await connect(path) as newcomer:
                await newcomer.send_all(STATUS)
                [refusal] = await read_until_closed(newcomer)
        assert not refusal["ok"] and refusal["kind"] == "NodeBusy"
        assert "busy" in refusal["error"]
        node.release.set()  # none of the calls was cut short to make room
        for stream in held:
            assert await read_reply(stream) == {"ok": True, "output": "done"}


async def test_a_client_that_takes_no_reply_is_closed(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    # a reply larger than the socket buffers: the server blocks sending it
    async with serving(tmp_path, StandInNode(status_bytes=4 * 1024 * 1024)) as path:
        async with await connect(path) as stream:
            await stream.send_all(STATUS * 2)
            await trio.sleep(REPLY_S_MAX + 1)  # not reading
            with trio.fail_after(1):
                data = await receive_until_closed(stream)
            assert b"\n" not in data  # the first reply was cut off, the second never sent
