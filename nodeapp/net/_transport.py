"""The production transport: a thin adapter over py-libp2p 0.8.1.

Every known pitfall of py-libp2p 0.8.1 that touches transport use is fixed here and only here
(the first four are measured in ``/work/shared/notes/libp2p.md``, the rest were found while
writing this module); each fix is marked with its pitfall's name:

* PITFALL dial-delay: every ``connect()`` waits the 250 ms happy-eyeballs delay.
* PITFALL plaintext: the default host also offers ``/plaintext/2.0.0`` (any claimed PeerID).
* PITFALL mplex: with mplex one connection's error can take the whole host down.
* PITFALL leaked-listener: leaving ``host.run()`` does not close the TCP listener.
* PITFALL silent-listen: a listen that fails (port in use) is only logged at debug level.
* PITFALL handler-crash: an exception escaping a stream handler tears down the connection.
* PITFALL auto-redial: the swarm's auto-connector redials every peer it has addresses for
  (every 10 s while under 50 connections), so ``disconnect`` does not stick.
* PITFALL dial-retries: a failed dial is retried 3 times with backoff (~0.7 s to fail) and
  then the peer is refused for 60 s by a negative cache, even for an explicit connect.
* PITFALL slow-close: closing a host takes ~0.18 s per connected peer, one after another.
* PITFALL wrapped-errors: anything raised inside ``host.run()`` leaves it wrapped in nested
  exception groups.
* PITFALL recv-window: yamux only logs a peer that sends past a stream's receive window, and
  keeps buffering (fixed in :mod:`nodeapp.net._yamux`).

Stream protocol for ``set_handler``/``request``: the requester opens a stream, writes one
frame, reads one frame, closes. The server reads one frame (refusing it before its body if it
is over the limit), calls the handler, writes the response frame if any, closes. Anything
else (malformed, oversize, slow, handler raised) resets the stream and logs one line.

Stream protocol for ``set_message_handler``/``send`` (one-way, pipelined): the sender keeps one
outbound stream per (peer, protocol), opened on first use, and writes one frame per message on
it; nothing is ever written back. The receiver reads frames in a loop until the stream ends,
calling the handler for each. A malformed or oversize frame, or a handler that raises, resets
that stream (one log line); the sender's next ``send`` opens a new one. The host resets every
such stream when it closes, and forgets a peer's outbound streams when the peer disconnects.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial

import libp2p.network.swarm as _libp2p_swarm
import libp2p.stream_muxer.muxer_multistream as _libp2p_muxer_multistream
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.ed25519 import Ed25519PublicKey
from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.host.exceptions import StreamFailure
from libp2p.network.config import RetryConfig
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from multiaddr import Multiaddr

from nodeapp.errors import InvalidHash, UsageError
from nodeapp.identity import public_key_of_peer_id
from nodeapp.net._errors import (
    BadAddress,
    HostClosed,
    ListenFailed,
    NotAnAgent,
    NotConnected,
    PeerClosed,
    PeerUnreachable,
    UnsupportedProtocol,
)
from nodeapp.net._frames import FRAME_BYTES_LIMIT, check_limit, encode_frame, read_frame
from nodeapp.net._inbound import FRAME_BODY_S_MAX, InboundLimits
from nodeapp.net._negotiation import refused_protocol
from nodeapp.net._ports import refuse_taken_ports
from nodeapp.net._streams import (
    CLOSE_S_MAX,
    StreamReader,
    close_quietly,
    end_answered,
    log_serve_failure,
    root_cause,
    stream_is_dead,
)
from nodeapp.net._yamux import WindowedYamux
from nodeapp.net.interface import Connection, Handler, MessageHandler, Transport

log = logging.getLogger("nodeapp.net")

SEED_BYTES = 32
# A request must arrive whole within this time, and a response must be written within it:
# a peer that trickles bytes (or never reads) cannot pin a server task for longer.
REQUEST_IO_S_MAX = 30.0


def _apply_process_wide_fixes() -> None:
    # PITFALL dial-delay: after starting the dial of each address (even the only one),
    # Swarm.dial_peer waits _HAPPY_EYEBALLS_DELAY (0.25 s) unless that dial *fails*, so every
    # successful connect() took >= 251 ms even on loopback. TCP-only hosts dial one address
    # per peer, so the head start buys nothing. It is a module global: set for the whole
    # process, idempotently.
    _libp2p_swarm._HAPPY_EYEBALLS_DELAY = 0.0
    # PITFALL recv-window: the muxer negotiation builds yamux connections from a class named
    # in its module, whatever class muxer_opt gives; swap that name for the enforcing one.
    _libp2p_muxer_multistream.Yamux = WindowedYamux  # type: ignore[misc]


def _parse_peer_id(peer_id: str) -> ID:
    try:
        return ID.from_base58(peer_id)
    except Exception:  # base58/multihash errors vary by input
        raise BadAddress(f"{peer_id!r} is not a peer ID") from None


class Host(Transport):
    """A running libp2p host (see :func:`open_host`). Only valid inside that context."""

    def __init__(self, host: IHost) -> None:
        self._host = host
        self._peer_id = str(host.get_id())
        self._closed = False
        # One-way message streams: ours by (peer, protocol), and the peers' ones we serve.
        self._outbound: dict[tuple[str, str], INetStream] = {}
        self._send_locks: dict[tuple[str, str], trio.Lock] = {}
        self._inbound: set[INetStream] = set()
        self._limits = InboundLimits()
        self._watcher = _DisconnectWatcher(self)
        host.get_network().register_notifee(self._watcher)

    def _check_open(self) -> None:
        if self._closed:
            raise HostClosed(f"host {self._peer_id} is closed")

    @property
    def peer_id(self) -> str:
        return self._peer_id

    @property
    def listen_addrs(self) -> list[str]:
        # The bound transport addresses (not identify-observed ones), with our /p2p suffix.
        return [f"{addr}/p2p/{self._peer_id}" for addr in self._host.get_transport_addrs()]

    async def connect(self, addr: str) -> str:
        self._check_open()
        try:
            info = info_from_p2p_addr(Multiaddr(addr))
        except Exception as exc:  # multiaddr raises many kinds
            raise BadAddress(f"cannot dial {addr!r}: it must be a multiaddr ending in "
                             f"/p2p/<peer id> ({exc})") from None
        peer = str(info.peer_id)
        if peer == self._peer_id:
            raise BadAddress(f"{addr!r} is this node's own address")
        # PITFALL dial-retries: an explicit connect must really try, not be refused because
        # an earlier dial to this peer failed within the last 60 s.
        self._host.get_network()._negative_peer_cache.evict(peer)  # type: ignore[attr-defined]
        try:
            await self._host.connect(info)
        except BaseLibp2pError as exc:
            raise PeerUnreachable(f"cannot connect to {peer} at {addr}: "
                                  f"{root_cause(exc)}") from None
        except OSError as exc:
            raise PeerUnreachable(f"cannot connect to {peer} at {addr}: {exc}") from None
        if peer not in self.connected_peers():  # closed again during the handshake
            raise PeerUnreachable(f"{peer} at {addr} closed the connection at once")
        return peer

    def set_handler(self, protocol: str, handler: Handler, *, request_bytes_max: int) -> None:
        self._check_open()
        check_limit(request_bytes_max)

        async def serve(stream: INetStream) -> None:
            await self._serve(stream, protocol, handler, request_bytes_max)

        self._host.set_stream_handler(TProtocol(protocol), serve)

    def remove_handler(self, protocol: str) -> None:
        self._host.remove_stream_handler(TProtocol(protocol))

    async def _serve(self, stream: INetStream, protocol: str, handler: Handler,
                     request_bytes_max: int) -> None:
        # PITFALL handler-crash: nothing but cancellation may escape from here, or libp2p
        # tears down the whole connection (and with it every other stream to that peer).
        peer = str(stream.muxed_conn.peer_id)  # set by the Noise handshake: authenticated
        with self._limits.stream(peer) as admitted:
            if admitted:
                await self._serve_admitted(stream, peer, protocol, handler, request_bytes_max)
            else:
                await close_quietly(stream, reset=True)

    async def _serve_admitted(self, stream: INetStream, peer: str, protocol: str,
                              handler: Handler, request_bytes_max: int) -> None:
        try:
            with trio.move_on_after(REQUEST_IO_S_MAX) as read_scope:
                request = await read_frame(StreamReader(stream, peer), request_bytes_max,
                                           hold=self._limits.receiving)
            if read_scope.cancelled_caught:
                raise PeerClosed(f"request not complete after {REQUEST_IO_S_MAX:g} s")
            response = await handler(peer, request)
            if response is not None:
                frame = encode_frame(response, FRAME_BYTES_LIMIT)
                with trio.move_on_after(REQUEST_IO_S_MAX) as write_scope:
                    await stream.write(frame)
                if write_scope.cancelled_caught:
                    raise PeerClosed(f"response not taken within {REQUEST_IO_S_MAX:g} s")
        except Exception as exc:  # nothing but cancellation may reach libp2p
            log_serve_failure(exc, "request", protocol, peer)
            await close_quietly(stream, reset=True)
        except BaseException:
            await close_quietly(stream, reset=True)
            raise
        else:
            await end_answered(stream)

    async def request(self, peer_id: str, protocol: str, frame: bytes, *,
                      response_bytes_max: int) -> bytes:
        self._check_open()
        check_limit(response_bytes_max)
        data = encode_frame(frame, FRAME_BYTES_LIMIT)
        stream = await self._open_stream(peer_id, protocol)
        try:
            try:
                await stream.write(data)
            except (StreamError, BaseLibp2pError) as exc:
                raise PeerClosed(f"peer {peer_id} closed the {protocol} stream while we "
                                 f"wrote the request ({type(exc).__name__})") from None
            try:
                response = await read_frame(StreamReader(stream, peer_id), response_bytes_max)
            except PeerClosed as exc:
                raise PeerClosed(f"peer {peer_id} did not answer on {protocol}: {exc}") from None
        except BaseException:
            await close_quietly(stream, reset=True)
            raise
        await close_quietly(stream, reset=False)
        return response

    async def _open_stream(self, peer_id: str, protocol: str) -> INetStream:
        pid = _parse_peer_id(peer_id)
        try:
            return await self._host.new_stream(pid, [TProtocol(protocol)])
        except StreamFailure as exc:
            if refused_protocol(exc.__cause__):
                raise UnsupportedProtocol(f"peer {peer_id} does not serve {protocol}: "
                                          f"{exc.__cause__}") from None
            raise PeerUnreachable(f"cannot open a {protocol} stream to {peer_id}: "
                                  f"{root_cause(exc)}") from None
        except (BaseLibp2pError, OSError) as exc:
            raise PeerUnreachable(f"cannot open a {protocol} stream to {peer_id}: "
                                  f"{root_cause(exc)}") from None

    # --- one-way message streams -----------------------------------------------------

    def set_message_handler(self, protocol: str, handler: MessageHandler, *,
                            frame_bytes_max: int) -> None:
        """Serve ``protocol`` as one-way message streams: ``handler(peer id, payload)`` is
        called for each frame, in order. A frame over ``frame_bytes_max`` is refused (logged,
        stream reset) before its body is read. Replaces an earlier handler."""
        self._check_open()
        check_limit(frame_bytes_max)

        async def serve(stream: INetStream) -> None:
            await self._serve_messages(stream, protocol, handler, frame_bytes_max)

        self._host.set_stream_handler(TProtocol(protocol), serve)

    async def _serve_messages(self, stream: INetStream, protocol: str, handler: MessageHandler,
                              frame_bytes_max: int) -> None:
        # PITFALL handler-crash: nothing but cancellation may escape from here.
        peer = str(stream.muxed_conn.peer_id)  # set by the Noise handshake: authenticated
        with self._limits.stream(peer) as admitted:
            if self._closed or not admitted:
                await close_quietly(stream, reset=True)
                return
            await self._serve_admitted_messages(stream, peer, protocol, handler,
                                                frame_bytes_max)

    async def _serve_admitted_messages(self, stream: INetStream, peer: str, protocol: str,
                                       handler: MessageHandler, frame_bytes_max: int) -> None:
        reader = StreamReader(stream, peer)
        self._inbound.add(stream)
        try:
            while True:
                try:
                    frame = await read_frame(reader, frame_bytes_max,
                                             hold=self._limits.receiving,
                                             body_s_max=FRAME_BODY_S_MAX)
                except PeerClosed as exc:  # the sender closed or reset it, or went away
                    log.debug("message stream %s from %s ended: %s", protocol, peer, exc)
                    await close_quietly(stream, reset=False)
                    return
                await handler(peer, frame)
        except Exception as exc:  # nothing but cancellation may reach libp2p
            log_serve_failure(exc, "message", protocol, peer)
            await close_quietly(stream, reset=True)
        except BaseException:
            await close_quietly(stream, reset=True)
            raise
        finally:
            self._inbound.discard(stream)

    async def send(self, peer_id: str, protocol: str, frame: bytes) -> None:
        """Write one frame to ``peer_id`` on ``protocol`` over the cached one-way stream,
        opening it first if needed (and once more if the cached one has failed). Returns once
        the frame is written; nothing is read back, so delivery is not confirmed. Raises
        ``PeerUnreachable``, ``UnsupportedProtocol`` or ``PeerClosed``."""
        self._check_open()
        data = encode_frame(frame, FRAME_BYTES_LIMIT)
        key = (peer_id, protocol)
        lock = self._send_locks.get(key)
        if lock is None:
            lock = self._send_locks[key] = trio.Lock()
        try:
            async with lock:  # frames of concurrent sends must not interleave
                await self._send_locked(key, data)
        finally:
            # a send that left no stream (the peer refused the protocol, or is unreachable)
            # must not leave its lock behind: one per peer ever tried would pile up
            if (key not in self._outbound and not lock.locked()
                    and not lock.statistics().tasks_waiting
                    and self._send_locks.get(key) is lock):
                del self._send_locks[key]

    async def _send_locked(self, key: tuple[str, str], data: bytes) -> None:
        """``send`` under the (peer, protocol) lock."""
        peer_id, protocol = key
        self._check_open()
        stream = self._outbound.get(key)
        if stream is not None:
            if not stream_is_dead(stream) and await self._write(key, stream, data):
                return
            await self._drop_outbound(key, stream)
        stream = await self._open_stream(peer_id, protocol)
        if self._closed:
            await close_quietly(stream, reset=True)
            raise HostClosed(f"host {self._peer_id} is closed")
        self._outbound[key] = stream
        if not await self._write(key, stream, data):
            await self._drop_outbound(key, stream)
            raise PeerClosed(f"peer {peer_id} closed the {protocol} stream while we "
                             "wrote a message")

    async def _write(self, key: tuple[str, str], stream: INetStream, data: bytes) -> bool:
        """Write ``data``; False if the stream failed. A write cut short (cancelled) leaves a
        partial frame, so the stream is reset and forgotten."""
        try:
            await stream.write(data)
        except (StreamError, BaseLibp2pError) as exc:
            log.debug("message stream %s to %s failed: %s", key[1], key[0], root_cause(exc))
            return False
        except BaseException:
            await self._drop_outbound(key, stream)
            raise
        return True

    async def _drop_outbound(self, key: tuple[str, str], stream: INetStream) -> None:
        if self._outbound.get(key) is stream:
            del self._outbound[key]
        await close_quietly(stream, reset=True)

    async def _forget_peer(self, peer_id: str) -> None:
        """Reset and forget the outbound message streams to a peer that disconnected."""
        for key, stream in list(self._outbound.items()):
            if key[0] == peer_id:
                await self._drop_outbound(key, stream)
                lock = self._send_locks.get(key)
                if lock is not None and not lock.locked() and key not in self._outbound:
                    del self._send_locks[key]

    async def _close_streams(self) -> None:
        """Reset every one-way message stream, ours and the peers'; the host is closing."""
        self._closed = True
        try:
            self._host.get_network().remove_notifee(self._watcher)
        except Exception:  # older networks lack remove_notifee: the watcher checks _closed
            pass
        streams = [*self._outbound.values(), *self._inbound]
        self._outbound.clear()
        self._send_locks.clear()
        # all at once: each may take up to CLOSE_S_MAX (a peer that stopped reading), and one
        # after another they would hold the node's shutdown for that long per stream
        async with trio.open_nursery() as nursery:
            for stream in streams:
                nursery.start_soon(partial(close_quietly, stream, reset=True))

    def connected_peers(self) -> list[str]:
        network = self._host.get_network()
        return [str(pid) for pid, conns in network.connections.items()
                if any(not conn.is_closed for conn in conns)]

    def remote_public_key(self, peer_id: str) -> bytes:
        # An Ed25519 peer ID *is* the public key (identity multihash), and Noise proved that
        # whoever we talk to as peer_id holds its private key. The peerstore copy (set by
        # identify, which checks it against the peer ID) must agree.
        try:
            key = public_key_of_peer_id(peer_id)
        except InvalidHash:
            raise NotAnAgent(f"peer {peer_id} does not have an Ed25519 identity key") from None
        try:
            stored = self._host.get_peerstore().pubkey(_parse_peer_id(peer_id))
        except Exception:  # not identified yet: the peer ID is enough
            stored = None
        if stored is not None and (not isinstance(stored, Ed25519PublicKey)
                                   or stored.to_bytes() != key):
            raise NotAnAgent(f"peerstore key of {peer_id} does not match its peer ID")
        return key

    def connection(self, peer_id: str) -> Connection:
        if peer_id not in self.connected_peers():
            raise NotConnected(f"no live connection to {peer_id}")
        return _PeerConnection(self, peer_id)

    async def disconnect(self, peer_id: str) -> None:
        await self._host.disconnect(_parse_peer_id(peer_id))


class _DisconnectWatcher(INotifee):
    """Forgets a peer's outbound message streams once its last connection is gone."""

    def __init__(self, host: Host) -> None:
        self._host = host

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        if self._host._closed:
            return
        try:
            peer = str(conn.muxed_conn.peer_id)
        except Exception:  # no peer id: nothing of ours can be cached for it
            return
        if peer not in self._host.connected_peers():
            await self._host._forget_peer(peer)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass


class _PeerConnection(Connection):
    def __init__(self, host: Host, peer_id: str) -> None:
        self._host = host
        self._peer_id = peer_id

    @property
    def peer_id(self) -> str:
        return self._peer_id

    @property
    def remote_public_key(self) -> bytes:
        return self._host.remote_public_key(self._peer_id)

    async def request(self, protocol: str, frame: bytes, *, response_bytes_max: int) -> bytes:
        return await self._host.request(self._peer_id, protocol, frame,
                                        response_bytes_max=response_bytes_max)

    async def close(self) -> None:
        await self._host.disconnect(self._peer_id)


def _build_libp2p_host(seed: bytes, listen: Sequence[Multiaddr]) -> IHost:
    key_pair = ed25519_key_pair(seed)  # the agent's key is the libp2p identity
    host = new_host(
        key_pair=key_pair,
        # PITFALL plaintext: Noise only. The default also offers /plaintext/2.0.0, secio and
        # TLS; plaintext lets a dialer claim any PeerID.
        sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(
            key_pair, noise_privkey=x25519_key_pair().private_key)},
        # PITFALL mplex: yamux only; with mplex one connection's error can take the host down.
        muxer_opt={YAMUX_PROTOCOL_ID: WindowedYamux},  # PITFALL recv-window
        listen_addrs=listen,
    )
    swarm = host.get_network()
    # PITFALL dial-retries: fail a dial at once and let the caller decide about retrying.
    swarm.retry_config = RetryConfig(max_retries=0)  # type: ignore[attr-defined]

    # PITFALL auto-redial: never start the auto-connector; which peers to hold is the node's
    # decision. (maybe_connect() and its background loop both return while not started.)
    async def _keep_auto_connector_stopped() -> None:
        return None

    swarm.auto_connector.start = _keep_auto_connector_stopped  # type: ignore[attr-defined]
    return host


@asynccontextmanager
async def open_host(seed: bytes, listen: Sequence[str]) -> AsyncIterator[Host]:
    """Run a libp2p host for the agent whose Ed25519 seed is ``seed``, listening on ``listen``
    (e.g. ``"/ip4/127.0.0.1/tcp/0"`` for any free port), and close everything on exit.
    Identify (``/ipfs/id/1.0.0``, push) and ping (``/ipfs/ping/1.0.0``) are answered.
    Raises ``BadAddress`` or ``ListenFailed`` (and ``UsageError`` for a bad seed)."""
    if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
        raise UsageError(f"an agent seed is {SEED_BYTES} bytes")  # never echo the seed
    try:
        maddrs = [Multiaddr(a) for a in listen]
    except Exception as exc:  # multiaddr raises many kinds
        raise BadAddress(f"cannot listen on {list(listen)!r}: {exc}") from None
    if not maddrs:
        raise ListenFailed("open_host needs at least one listen address")
    refuse_taken_ports(maddrs)
    _apply_process_wide_fixes()
    lp_host = _build_libp2p_host(seed, maddrs)
    sole: BaseException | None = None
    try:
        async with lp_host.run(maddrs):
            try:
                # PITFALL silent-listen: Swarm.listen() swallows failures; check each address.
                listeners = lp_host.get_network().listeners
                missing = [str(m) for m in maddrs if str(m) not in listeners]
                if missing:
                    raise ListenFailed(f"cannot listen on {', '.join(missing)} "
                                       "(port in use, address not local, or not TCP)")
                host = Host(lp_host)
                try:
                    yield host
                finally:
                    host._closed = True
                    await host._close_streams()
            finally:
                # PITFALL leaked-listener: run()'s own cleanup runs in an already-cancelled,
                # unshielded scope and leaves the listener, connections and their tasks
                # behind; close explicitly, shielded, while the service is still running.
                await _close_libp2p_host(lp_host)
    except BaseExceptionGroup as group:
        # PITFALL wrapped-errors: our body runs inside libp2p's nurseries, so whatever it
        # raises (ours or the caller's) comes out wrapped in nested exception groups.
        sole = _sole_exception(group)
        if sole is None:
            raise
    finally:
        # If run() itself failed before the inner finally, close here (idempotent).
        await _close_libp2p_host(lp_host)
    if sole is not None:
        raise sole  # outside the handler, so its own cause and context stay as they were


async def _close_libp2p_host(lp_host: IHost) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_S_MAX):
        # PITFALL slow-close: Swarm.close() closes connections one after another and each
        # close sleeps 0.1 s (SwarmConn._cleanup), ~0.18 s per peer in all: 100 peers would
        # take 18 s. Close them all at once first; Swarm.close() then finds none left.
        async with trio.open_nursery() as nursery:
            for conns in list(lp_host.get_network().connections.values()):
                for conn in list(conns):
                    nursery.start_soon(_close_connection_quietly, conn)
        await lp_host.close()


async def _close_connection_quietly(conn: INetConn) -> None:
    try:
        await conn.close()
    except Exception as exc:  # the connection is going away regardless
        log.debug("error closing a connection during shutdown: %r", exc)


def _sole_exception(group: BaseExceptionGroup) -> BaseException | None:
    """The one exception inside nested single-member groups, or None if there are more."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc
