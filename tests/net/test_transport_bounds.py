"""What a peer can make a host hold on the streams it opens, over real TCP on 127.0.0.1.

The attacker is a host of our own adapter that uses the libp2p streams below it directly:
it writes raw yamux data past the receive window, opens more streams than a peer may, sends
frames that never complete, and keeps answered request streams open. Every wait is bounded
by ``trio.fail_after`` and every loop by a count.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
import trio
from libp2p.abc import INetStream
from libp2p.exceptions import BaseLibp2pError
from libp2p.peer.id import ID
from libp2p.stream_muxer.yamux.yamux import MAX_WINDOW_SIZE, TYPE_DATA, YAMUX_HEADER_FORMAT

from nodeapp.keystore import AgentKey
from nodeapp.net import (
    PeerClosed,
    PeerUnreachable,
    UnsupportedProtocol,
    _streams,
    _transport,
    encode_frame,
    open_host,
)
from nodeapp.net._frames import read_frame
from nodeapp.net._inbound import InboundLimits
from nodeapp.net._streams import StreamReader
from nodeapp.net._transport import Host
from nodeapp.net._yamux import WINDOW_SLACK_BYTES

LOCAL = ["/ip4/127.0.0.1/tcp/0"]
ECHO = "/nodeapp-test/echo/1"
MSG = "/nodeapp-test/msg/1"
KIB = 1024
MIB = 1024 * 1024
POLLS_MAX = 500  # 10 ms apart: 5 s at most for anything awaited by polling


def seed(n: int) -> bytes:
    return AgentKey(bytes([n]) * 32).seed


async def echo(peer_id: str, request: bytes) -> bytes:
    return request


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(POLLS_MAX):
        if condition():
            return
        await trio.sleep(0.01)
    raise AssertionError("condition not met within the polling bound")


def buffered_from(server: Host, client: Host) -> int:
    """Bytes the server's yamux holds for streams of ``client``'s connections."""
    conns = server._host.get_network().connections.get(ID.from_base58(client.peer_id), [])
    return sum(len(b) for c in conns for b in c.muxed_conn.stream_buffers.values())


def outbound_window(host: Host, peer: str, protocol: str) -> int:
    """The receive window left on ``host``'s one-way stream to ``peer``."""
    stream = host._outbound[(peer, protocol)]
    return int(stream.muxed_stream.recv_window)  # type: ignore[attr-defined]


async def push_raw(stream: INetStream, total: int) -> None:
    """Write ``total`` bytes of yamux DATA on ``stream``, ignoring the receive window."""
    muxed = stream.muxed_stream  # type: ignore[attr-defined]
    chunk = b"z" * (60 * KIB)
    for _ in range(total // len(chunk)):
        if muxed.conn.event_shutting_down.is_set():
            return
        try:
            await muxed.conn._write_frame(struct.pack(YAMUX_HEADER_FORMAT, 0, TYPE_DATA, 0,
                                                      muxed.stream_id, len(chunk)) + chunk)
        except (OSError, trio.BrokenResourceError, BaseLibp2pError):
            return  # the other side closed the connection: what this test waits for


async def test_a_peer_that_sends_past_the_receive_window_is_disconnected() -> None:
    async def ignore(peer_id: str, frame: bytes) -> None:
        return None

    with trio.fail_after(60):
        async with open_host(seed(1), LOCAL) as server, open_host(seed(2), LOCAL) as attacker, \
                open_host(seed(3), LOCAL) as honest:
            server.set_handler(ECHO, echo, request_bytes_max=KIB)
            attacker.set_message_handler(MSG, ignore, frame_bytes_max=KIB)
            peer = await server.connect(attacker.listen_addrs[0])
            # the server's one-way stream to the attacker, which the server never reads
            await server.send(peer, MSG, b"m")
            await eventually(lambda: len(attacker._inbound) == 1)
            stream = next(iter(attacker._inbound))
            window = outbound_window(server, peer, MSG)
            assert 0 < window <= MAX_WINDOW_SIZE
            peak = 0
            for _ in range((MAX_WINDOW_SIZE + 4 * MIB) // (60 * KIB)):  # past any window
                await push_raw(stream, 60 * KIB)
                peak = max(peak, buffered_from(server, attacker))
                if attacker.peer_id not in server.connected_peers():
                    break
            await eventually(lambda: attacker.peer_id not in server.connected_peers())
            assert peak <= window + WINDOW_SLACK_BYTES  # before: all of it was kept
            # and the server serves everyone else as before
            other = await honest.connect(server.listen_addrs[0])
            assert await honest.request(other, ECHO, b"still here",
                                        response_bytes_max=KIB) == b"still here"


async def test_large_honest_frames_are_not_taken_for_an_overrun() -> None:
    got: list[bytes] = []

    async def hear(peer_id: str, frame: bytes) -> None:
        got.append(frame)

    with trio.fail_after(60):
        async with open_host(seed(1), LOCAL) as a, open_host(seed(2), LOCAL) as b:
            b.set_handler(ECHO, echo, request_bytes_max=8 * MIB)
            b.set_message_handler(MSG, hear, frame_bytes_max=8 * MIB)
            peer = await a.connect(b.listen_addrs[0])
            big = bytes(range(256)) * (8 * MIB // 256)
            for _ in range(3):
                assert await a.request(peer, ECHO, big, response_bytes_max=8 * MIB) == big
                await a.send(peer, MSG, big)
            await eventually(lambda: len(got) == 3)
            assert got == [big] * 3 and peer in a.connected_peers()


async def test_streams_past_a_peers_share_are_reset() -> None:
    with trio.fail_after(60):
        async with open_host(seed(1), LOCAL) as server, open_host(seed(2), LOCAL) as attacker, \
                open_host(seed(3), LOCAL) as honest:
            server._limits = InboundLimits(streams_per_peer_max=4, streams_max=6)

            async def ignore(peer_id: str, frame: bytes) -> None:
                return None

            server.set_message_handler(MSG, ignore, frame_bytes_max=KIB)
            server.set_handler(ECHO, echo, request_bytes_max=KIB)
            await attacker.connect(server.listen_addrs[0])
            held = []
            for _ in range(8):  # idle message streams: each one a served stream
                try:
                    stream = await attacker._open_stream(server.peer_id, MSG)
                    await stream.write(b"\x00")  # a frame header begun, never finished
                except (PeerClosed, PeerUnreachable):  # reset as it opened: past the share
                    continue
                held.append(stream)
            await eventually(lambda: server._limits.refused_streams >= 4)
            assert server._limits.streams_open == 4
            # another peer still has room: the total is 6
            peer = await honest.connect(server.listen_addrs[0])
            assert await honest.request(peer, ECHO, b"room", response_bytes_max=KIB) == b"room"


async def test_frames_being_received_share_one_byte_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transport, "FRAME_BODY_S_MAX", 0.5)

    async def ignore(peer_id: str, frame: bytes) -> None:
        return None

    with trio.fail_after(60):
        async with open_host(seed(1), LOCAL) as server, open_host(seed(2), LOCAL) as attacker:
            server._limits = InboundLimits(receiving_bytes_max=MIB)
            server.set_message_handler(MSG, ignore, frame_bytes_max=MIB)
            await attacker.connect(server.listen_addrs[0])
            first = await attacker._open_stream(server.peer_id, MSG)
            await first.write((700 * KIB).to_bytes(4, "big") + bytes(100 * KIB))  # never ends
            await eventually(lambda: server._limits.receiving_bytes == 700 * KIB)
            second = await attacker._open_stream(server.peer_id, MSG)
            await second.write((700 * KIB).to_bytes(4, "big"))  # does not fit: refused
            with pytest.raises(PeerClosed):
                await read_frame(StreamReader(second, "server"), KIB)
            # the first frame's body never completes: dropped after FRAME_BODY_S_MAX
            await eventually(lambda: server._limits.receiving_bytes == 0)


async def test_an_answered_request_stream_left_open_is_reset(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_streams, "ANSWERED_DRAIN_S_MAX", 0.3)
    with trio.fail_after(60):
        async with open_host(seed(1), LOCAL) as server, open_host(seed(2), LOCAL) as attacker:
            server.set_handler(ECHO, echo, request_bytes_max=KIB)
            await attacker.connect(server.listen_addrs[0])
            stream = await attacker._open_stream(server.peer_id, ECHO)
            await stream.write(encode_frame(b"hi", KIB))
            assert await read_frame(StreamReader(stream, "server"), KIB) == b"hi"
            await stream.write(bytes(10 * KIB))  # never closed by us
            await eventually(lambda: buffered_from(server, attacker) == 0
                             and server._limits.streams_open == 0)
            with pytest.raises(Exception):  # noqa: B017 - reset, whatever libp2p calls it
                for _ in range(50):
                    await stream.write(bytes(KIB))
                    await trio.sleep(0.01)


async def test_sends_that_open_no_stream_leave_no_lock_behind() -> None:
    with trio.fail_after(60):
        async with open_host(seed(1), LOCAL) as sender, open_host(seed(2), LOCAL) as other:
            peer = await sender.connect(other.listen_addrs[0])
            for n in range(20):  # a protocol the peer does not serve, 20 times over
                with pytest.raises(UnsupportedProtocol):
                    await sender.send(peer, f"/nodeapp-test/none/{n}", b"m")
            assert sender._send_locks == {}  # before: one lock per (peer, protocol) tried
