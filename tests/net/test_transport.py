"""The libp2p transport adapter over real TCP on 127.0.0.1.

Every wait is bounded by ``trio.fail_after``; the leak test compares trio tasks, threads, file
descriptors and TCP sockets before and after 20 start/stop cycles.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio
from leaks import resources
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_key_pair
from libp2p.crypto.serialization import deserialize_public_key
from libp2p.crypto.x25519 import create_new_key_pair as x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import PingService
from libp2p.identity.identify.identify import ID as IDENTIFY_PROTOCOL
from libp2p.identity.identify.pb.identify_pb2 import Identify
from libp2p.network.exceptions import SwarmException
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.utils.varint import read_length_prefixed_protobuf
from multiaddr import Multiaddr

from nodeapp.errors import UsageError
from nodeapp.identity import peer_id_of, public_key_of_peer_id
from nodeapp.keystore import AgentKey
from nodeapp.net import (
    BadAddress,
    FrameTooLarge,
    HostClosed,
    ListenFailed,
    NotConnected,
    PeerClosed,
    PeerUnreachable,
    Transport,
    UnsupportedProtocol,
    encode_frame,
    open_host,
)

LOCAL = ["/ip4/127.0.0.1/tcp/0"]
ECHO = "/nodeapp-test/echo/1"
KIB = 1024
MIB = 1024 * 1024


def agent(n: int) -> AgentKey:
    return AgentKey(bytes([n]) * 32)


async def echo(peer_id: str, request: bytes) -> bytes:
    return request


def net_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "nodeapp.net"]


@asynccontextmanager
async def plain_libp2p_host(security: str = "noise", muxer: str = "yamux"
                            ) -> AsyncIterator[IHost]:
    """A standard py-libp2p host built without the adapter (by default Noise + yamux so it can
    talk to ours). It has to be closed explicitly, or its listener leaks (pitfall 4)."""
    key_pair = ed25519_key_pair()
    sec_opt = ({NOISE_PROTOCOL_ID: NoiseTransport(
        key_pair, noise_privkey=x25519_key_pair().private_key)} if security == "noise"
        else {PLAINTEXT_PROTOCOL_ID: InsecureTransport(key_pair)})
    muxer_opt = {YAMUX_PROTOCOL_ID: Yamux} if muxer == "yamux" else {MPLEX_PROTOCOL_ID: Mplex}
    host = new_host(key_pair=key_pair, sec_opt=sec_opt, muxer_opt=muxer_opt)
    async with host.run([Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            yield host
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await host.close()


async def plain_connect(client: IHost, addr: str) -> ID:
    info = info_from_p2p_addr(Multiaddr(addr))
    await client.connect(info)
    return info.peer_id


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- identity and round trips -------------------------------------------------------------


async def test_round_trips_and_authenticated_identity() -> None:
    a, b = agent(1), agent(2)
    seen: list[tuple[str, int]] = []

    async def record(peer_id: str, request: bytes) -> bytes:
        seen.append((peer_id, len(request)))
        return request[::-1]

    with trio.fail_after(20):
        async with open_host(a.seed, LOCAL) as ha, open_host(b.seed, LOCAL) as hb:
            assert isinstance(ha, Transport)
            assert ha.peer_id == peer_id_of(a.public_key)
            assert hb.peer_id == peer_id_of(b.public_key)
            [addr] = hb.listen_addrs
            assert addr.startswith("/ip4/127.0.0.1/tcp/") and addr.endswith(f"/p2p/{hb.peer_id}")
            assert int(addr.split("/")[4]) > 0  # the bound port, not the requested 0

            hb.set_handler(ECHO, record, request_bytes_max=MIB)
            assert await ha.connect(addr) == hb.peer_id
            assert await ha.connect(addr) == hb.peer_id  # idempotent
            assert ha.connected_peers() == [hb.peer_id]

            small = os.urandom(KIB)
            assert await ha.request(hb.peer_id, ECHO, small, response_bytes_max=KIB) == small[::-1]
            big = os.urandom(MIB)
            assert await ha.request(hb.peer_id, ECHO, big, response_bytes_max=MIB) == big[::-1]
            assert seen == [(ha.peer_id, KIB), (ha.peer_id, MIB)]

            assert hb.connected_peers() == [ha.peer_id]
            assert hb.remote_public_key(ha.peer_id) == a.public_key
            assert ha.remote_public_key(hb.peer_id) == b.public_key
            assert hb.remote_public_key(ha.peer_id) == public_key_of_peer_id(ha.peer_id)

            conn = hb.connection(ha.peer_id)  # and back the other way, over the same link
            ha.set_handler(ECHO, echo, request_bytes_max=KIB)
            assert conn.peer_id == ha.peer_id and conn.remote_public_key == a.public_key
            assert await conn.request(ECHO, b"back", response_bytes_max=KIB) == b"back"

            await conn.close()
            with trio.fail_after(5):
                while ha.connected_peers() or hb.connected_peers():
                    await trio.sleep(0.01)
            with pytest.raises(NotConnected):
                hb.connection(ha.peer_id)


async def test_connect_skips_the_happy_eyeballs_delay_and_reconnects() -> None:
    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            times = []
            for _ in range(3):
                start = trio.current_time()
                await ha.connect(hb.listen_addrs[0])
                times.append(trio.current_time() - start)
                await ha.disconnect(hb.peer_id)
                await ha.disconnect(hb.peer_id)  # idempotent
                with trio.fail_after(5):
                    while ha.connected_peers() or hb.connected_peers():
                        await trio.sleep(0.01)
            # libp2p's own connect() never takes less than the 0.25 s delay
            assert min(times) < 0.2, times


async def test_concurrent_requests_on_one_connection() -> None:
    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            hb.set_handler(ECHO, echo, request_bytes_max=KIB)
            peer = await ha.connect(hb.listen_addrs[0])
            results: dict[int, bytes] = {}

            async def one(i: int) -> None:
                results[i] = await ha.request(peer, ECHO, b"%d" % i, response_bytes_max=KIB)

            async with trio.open_nursery() as nursery:
                for i in range(20):
                    nursery.start_soon(one, i)
            assert results == {i: b"%d" % i for i in range(20)}


# --- misbehaving peers and handlers -------------------------------------------------------


async def test_oversize_request_refused_and_host_keeps_serving(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodeapp.net")
    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            hb.set_handler(ECHO, echo, request_bytes_max=KIB)
            peer = await ha.connect(hb.listen_addrs[0])
            for size in (KIB + 1, 256 * KIB):  # one that fits a yamux window, one that does not
                with pytest.raises((PeerClosed, FrameTooLarge)):
                    await ha.request(peer, ECHO, b"x" * size, response_bytes_max=KIB)
            assert await ha.request(peer, ECHO, b"ok", response_bytes_max=KIB) == b"ok"
            assert ha.connected_peers() == [peer]  # only the stream was reset

    lines = net_log_lines(caplog)
    assert len(lines) == 2
    assert all(ha.peer_id in line and ECHO in line for line in lines)
    assert f"announces {KIB + 1} bytes" in lines[0]


async def test_oversize_response_refused_by_requester() -> None:
    async def too_much(peer_id: str, request: bytes) -> bytes:
        return b"y" * (2 * KIB)

    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            hb.set_handler(ECHO, too_much, request_bytes_max=KIB)
            hb.set_handler("/nodeapp-test/ok/1", echo, request_bytes_max=KIB)
            peer = await ha.connect(hb.listen_addrs[0])
            with pytest.raises(FrameTooLarge, match="2048 bytes"):
                await ha.request(peer, ECHO, b"hi", response_bytes_max=KIB)
            assert await ha.request(peer, "/nodeapp-test/ok/1", b"ok",
                                    response_bytes_max=KIB) == b"ok"


async def test_failing_handler_no_answer_and_unknown_protocol(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodeapp.net")

    async def broken(peer_id: str, request: bytes) -> bytes:
        raise ValueError("handler bug")

    async def silent(peer_id: str, request: bytes) -> None:
        return None

    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            hb.set_handler("/t/broken", broken, request_bytes_max=KIB)
            hb.set_handler("/t/silent", silent, request_bytes_max=KIB)
            hb.set_handler(ECHO, echo, request_bytes_max=KIB)
            peer = await ha.connect(hb.listen_addrs[0])
            with pytest.raises(PeerClosed):
                await ha.request(peer, "/t/broken", b"?", response_bytes_max=KIB)
            with pytest.raises(PeerClosed, match="did not answer"):
                await ha.request(peer, "/t/silent", b"?", response_bytes_max=KIB)
            with pytest.raises(UnsupportedProtocol):
                await ha.request(peer, "/t/nobody", b"?", response_bytes_max=KIB)
            hb.remove_handler(ECHO)
            with pytest.raises(UnsupportedProtocol):
                await ha.request(peer, ECHO, b"?", response_bytes_max=KIB)
            hb.set_handler(ECHO, echo, request_bytes_max=KIB)
            assert await ha.request(peer, ECHO, b"ok", response_bytes_max=KIB) == b"ok"

    [line] = net_log_lines(caplog)
    assert "handler bug" in line and ha.peer_id in line and "/t/broken" in line


async def test_garbage_raw_tcp_and_garbage_frames(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodeapp.net")
    with trio.fail_after(30):
        async with open_host(agent(2).seed, LOCAL) as hb, plain_libp2p_host() as client:
            hb.set_handler(ECHO, echo, request_bytes_max=KIB)
            port = int(hb.listen_addrs[0].split("/")[4])

            # 1. bytes that are not even multistream-select, straight on the TCP socket
            for garbage in (os.urandom(4 * KIB), b"\x13/multistream/1.0.0\n" + os.urandom(64)):
                sock = await trio.open_tcp_stream("127.0.0.1", port)
                try:
                    await sock.send_all(garbage)
                    # random bytes are dropped at once; a valid multistream header followed
                    # by junk is only dropped by the 10 s inbound upgrade timeout
                    with trio.move_on_after(0.5):
                        while await sock.receive_some(4096):
                            pass
                except trio.BrokenResourceError:
                    pass
                finally:
                    await sock.aclose()

            # 2. an authenticated peer writing bad frames on the protocol
            peer = await plain_connect(client, hb.listen_addrs[0])
            for bad in (b"\xff\xff\xff\xff" + b"x" * 100,  # announces 4 GiB
                        b"\x00\x00\x00\x10short"):  # truncated body, then end of stream
                stream = await client.new_stream(peer, [TProtocol(ECHO)])
                await stream.write(bad)
                await stream.close()
            # and a good frame from the same client still gets its answer
            stream = await client.new_stream(peer, [TProtocol(ECHO)])
            await stream.write(encode_frame(b"fine", KIB))
            answer = b""
            while len(answer) < 8:
                chunk = await stream.read(8 - len(answer))
                assert chunk
                answer += chunk
            assert answer == encode_frame(b"fine", KIB)
            await stream.close()

            async with open_host(agent(1).seed, LOCAL) as ha:  # a new dialer is served too
                await ha.connect(hb.listen_addrs[0])
                assert await ha.request(hb.peer_id, ECHO, b"ok", response_bytes_max=KIB) == b"ok"

            lines = net_log_lines(caplog)
            assert any("announces 4294967295 bytes" in line for line in lines)
            assert any("inside a frame body" in line for line in lines)
            assert all(str(client.get_id()) in line for line in lines)


# --- interop with a standard libp2p peer --------------------------------------------------


async def test_plain_libp2p_peer_can_identify_and_ping() -> None:
    a = agent(1)
    with trio.fail_after(30):
        async with open_host(a.seed, LOCAL) as ha, plain_libp2p_host() as client:
            ha.set_handler(ECHO, echo, request_bytes_max=KIB)
            peer = await plain_connect(client, ha.listen_addrs[0])
            assert str(peer) == ha.peer_id

            stream = await client.new_stream(peer, [IDENTIFY_PROTOCOL])
            msg = Identify()
            msg.ParseFromString(await read_length_prefixed_protobuf(stream, True))
            await stream.close()
            assert deserialize_public_key(msg.public_key).to_bytes() == a.public_key
            assert {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", ECHO} <= set(msg.protocols)
            assert Multiaddr(ha.listen_addrs[0].rsplit("/p2p/", 1)[0]).to_bytes() \
                in list(msg.listen_addrs)

            rtts = await PingService(client).ping(peer, ping_amt=3)
            assert len(rtts) == 3 and all(rtt >= 0 for rtt in rtts)  # whole ms: 0 on loopback

            # and we see the plain peer as authenticated
            assert ha.connected_peers() == [str(client.get_id())]
            assert ha.remote_public_key(str(client.get_id())) == \
                client.get_public_key().to_bytes()


async def test_errors_and_cancellation_from_the_body_pass_through_unwrapped() -> None:
    with trio.fail_after(20):
        with pytest.raises(KeyError, match="mine"):
            async with open_host(agent(1).seed, LOCAL):
                raise KeyError("mine")
        with trio.move_on_after(0.2) as scope:
            async with open_host(agent(1).seed, LOCAL):
                await trio.sleep_forever()
        assert scope.cancelled_caught


@pytest.mark.parametrize(("security", "muxer"), [("plaintext", "yamux"), ("noise", "mplex")])
async def test_plaintext_and_mplex_peers_are_refused(security: str, muxer: str) -> None:
    with trio.fail_after(30):
        async with open_host(agent(1).seed, LOCAL) as ha, \
                plain_libp2p_host(security, muxer) as client:
            with pytest.raises(SwarmException, match="unable to connect"):
                await plain_connect(client, ha.listen_addrs[0])
            assert ha.connected_peers() == []


# --- failures to connect and listen -------------------------------------------------------


async def test_connect_to_closed_port_fails_fast() -> None:
    port = free_tcp_port()
    nobody = peer_id_of(agent(9).public_key)
    with trio.fail_after(10):
        async with open_host(agent(1).seed, LOCAL) as ha:
            for _ in range(2):  # the second try is not refused by libp2p's negative cache
                start = trio.current_time()
                with pytest.raises(PeerUnreachable, match=f"{nobody}.*refused"):
                    await ha.connect(f"/ip4/127.0.0.1/tcp/{port}/p2p/{nobody}")
                assert trio.current_time() - start < 1.0
            assert ha.connected_peers() == []
            with pytest.raises(PeerUnreachable):
                await ha.request(nobody, ECHO, b"?", response_bytes_max=KIB)


async def test_connect_to_the_wrong_peer_is_refused() -> None:
    impostor = peer_id_of(agent(9).public_key)
    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            where = hb.listen_addrs[0].rsplit("/p2p/", 1)[0]
            with pytest.raises(PeerUnreachable, match="does not correspond"):
                await ha.connect(f"{where}/p2p/{impostor}")
            assert impostor not in ha.connected_peers()
            assert await ha.connect(hb.listen_addrs[0]) == hb.peer_id


async def test_bad_addresses() -> None:
    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha:
            for addr in ("not a multiaddr", "/ip4/127.0.0.1/tcp/1", ha.listen_addrs[0]):
                with pytest.raises(BadAddress):
                    await ha.connect(addr)
            with pytest.raises(BadAddress):
                await ha.request("not-a-peer-id", ECHO, b"", response_bytes_max=1)
        with pytest.raises(BadAddress):
            async with open_host(agent(1).seed, ["/ip4/nonsense"]):
                pass
        with pytest.raises(UsageError):
            async with open_host(b"short", LOCAL):
                pass
    with pytest.raises(HostClosed):
        await ha.connect("/ip4/127.0.0.1/tcp/1/p2p/" + peer_id_of(agent(2).public_key))


async def test_listen_on_a_port_in_use_fails() -> None:
    with trio.fail_after(20):
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            with pytest.raises(ListenFailed, match=str(port)):
                async with open_host(agent(1).seed, [f"/ip4/127.0.0.1/tcp/{port}"]):
                    pass


async def test_a_second_node_cannot_share_a_port_another_node_listens_on() -> None:
    """libp2p listens with SO_REUSEPORT, which would let a second host bind the same port and
    take half of the first one's incoming connections."""
    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as first:
            port = first.listen_addrs[0].split("/")[4]
            for host in ("127.0.0.1", "0.0.0.0"):
                with pytest.raises(ListenFailed, match=f"port {port} is in use"):
                    async with open_host(agent(2).seed, [f"/ip4/{host}/tcp/{port}"]):
                        pass
        # the port is free again once the first host closes
        async with open_host(agent(2).seed, [f"/ip4/127.0.0.1/tcp/{port}"]) as second:
            assert second.listen_addrs[0].startswith(f"/ip4/127.0.0.1/tcp/{port}/p2p/")


async def test_closing_a_host_closes_its_connections_at_once() -> None:
    with trio.fail_after(30):
        async with AsyncExitStack() as stack:
            peers = [await stack.enter_async_context(open_host(agent(10 + i).seed, LOCAL))
                     for i in range(8)]
            async with open_host(agent(1).seed, LOCAL) as hub:
                for peer in peers:
                    await peer.connect(hub.listen_addrs[0])
                start = trio.current_time()
            # libp2p alone closes connections one by one, ~0.18 s each (~1.4 s for 8)
            assert trio.current_time() - start < 0.8
            with trio.fail_after(5):
                while any(peer.connected_peers() for peer in peers):
                    await trio.sleep(0.01)


# --- leaks --------------------------------------------------------------------------------




async def one_cycle(n: int) -> None:
    async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
        hb.set_handler(ECHO, echo, request_bytes_max=KIB)
        peer = await ha.connect(hb.listen_addrs[0])
        assert await ha.request(peer, ECHO, b"%d" % n, response_bytes_max=KIB) == b"%d" % n


async def test_start_stop_cycles_leak_nothing() -> None:
    with trio.fail_after(50):
        await one_cycle(-1)  # warm-up: imports and first-use caches are not leaks
        before = resources()
        for n in range(20):
            await one_cycle(n)
            # No slack is needed: everything is released when open_host exits. The bounded
            # wait only lets system tasks that were already cancelled finish unwinding.
            with trio.move_on_after(2):
                while resources() != before:
                    await trio.sleep(0.01)
            assert resources() == before, f"cycle {n}"


# --- one-way message streams ----------------------------------------------------------------

MSG = "/nodeapp-test/msg/1"


async def test_one_way_messages_arrive_in_order_on_one_stream() -> None:
    got: list[tuple[str, bytes]] = []

    async def hear(peer_id: str, frame: bytes) -> None:
        got.append((peer_id, frame))

    with trio.fail_after(30):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            hb.set_message_handler(MSG, hear, frame_bytes_max=KIB)
            peer = await ha.connect(hb.listen_addrs[0])
            for i in range(1000):
                await ha.send(peer, MSG, b"%d" % i)
            while len(got) < 1000:
                await trio.sleep(0.01)
            assert got == [(ha.peer_id, b"%d" % i) for i in range(1000)]
            assert len(ha._outbound) == 1 and len(hb._inbound) == 1  # one stream carried all


async def test_oversize_message_resets_only_its_stream_and_send_reopens(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodeapp.net")
    got: list[bytes] = []

    async def hear(peer_id: str, frame: bytes) -> None:
        got.append(frame)

    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            hb.set_message_handler(MSG, hear, frame_bytes_max=KIB)
            hb.set_handler(ECHO, echo, request_bytes_max=KIB)
            peer = await ha.connect(hb.listen_addrs[0])
            await ha.send(peer, MSG, b"first")
            first = ha._outbound[(peer, MSG)]
            await ha.send(peer, MSG, b"x" * (KIB + 1))
            while not net_log_lines(caplog):
                await trio.sleep(0.01)
            [line] = net_log_lines(caplog)
            assert f"announces {KIB + 1} bytes" in line and ha.peer_id in line and MSG in line
            while first.muxed_stream.closed is False:  # the reset reaches the sender
                await trio.sleep(0.01)
            await ha.send(peer, MSG, b"after")  # opens a new stream
            while len(got) < 2:
                await trio.sleep(0.01)
            assert got == [b"first", b"after"]
            assert ha._outbound[(peer, MSG)] is not first
            assert ha.connected_peers() == [peer]  # only the stream was reset
            assert await ha.request(peer, ECHO, b"ok", response_bytes_max=KIB) == b"ok"


async def test_failing_message_handler_resets_the_stream_and_host_keeps_serving(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodeapp.net")
    got: list[bytes] = []

    async def hear(peer_id: str, frame: bytes) -> None:
        if frame == b"boom":
            raise ValueError("boom")
        got.append(frame)

    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            hb.set_message_handler(MSG, hear, frame_bytes_max=KIB)
            peer = await ha.connect(hb.listen_addrs[0])
            await ha.send(peer, MSG, b"boom")
            first = ha._outbound[(peer, MSG)]
            while first.muxed_stream.closed is False:
                await trio.sleep(0.01)
            await ha.send(peer, MSG, b"fine")
            while not got:
                await trio.sleep(0.01)
            assert got == [b"fine"]
    lines = net_log_lines(caplog)
    assert len(lines) == 1 and "boom" in lines[0] and MSG in lines[0]


async def test_disconnect_forgets_message_streams_and_send_redials_nothing() -> None:
    async def hear(peer_id: str, frame: bytes) -> None:
        pass

    with trio.fail_after(20):
        async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
            hb.set_message_handler(MSG, hear, frame_bytes_max=KIB)
            peer = await ha.connect(hb.listen_addrs[0])
            await ha.send(peer, MSG, b"hi")
            await ha.disconnect(peer)
            while ha._outbound or hb._inbound:
                await trio.sleep(0.01)
            with pytest.raises(UnsupportedProtocol):
                await ha.send(peer, "/nodeapp-test/nobody/1", b"hi")


async def message_cycle(n: int) -> None:
    got: list[bytes] = []

    async def hear(peer_id: str, frame: bytes) -> None:
        got.append(frame)

    async with open_host(agent(1).seed, LOCAL) as ha, open_host(agent(2).seed, LOCAL) as hb:
        hb.set_message_handler(MSG, hear, frame_bytes_max=KIB)
        ha.set_message_handler(MSG, hear, frame_bytes_max=KIB)
        peer = await ha.connect(hb.listen_addrs[0])
        for i in range(5):
            await ha.send(peer, MSG, b"%d" % i)
            await hb.send(ha.peer_id, MSG, b"%d" % i)
        while len(got) < 10:
            await trio.sleep(0.01)


async def test_message_streams_leak_nothing_when_hosts_close() -> None:
    with trio.fail_after(50):
        await message_cycle(-1)
        before = resources()
        for n in range(10):
            await message_cycle(n)
            with trio.move_on_after(2):
                while resources() != before:
                    await trio.sleep(0.01)
            assert resources() == before, f"cycle {n}"

