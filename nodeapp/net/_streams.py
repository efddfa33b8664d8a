"""Helpers for the libp2p streams the transport serves and opens: reading them as frames,
closing them whatever state they are in, and saying in one line why one failed."""

from __future__ import annotations

import logging

import trio
from libp2p.abc import INetStream
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.stream.exceptions import StreamEOF, StreamError

from nodeapp.errors import RemoteError
from nodeapp.net._errors import PeerClosed
from nodeapp.net._frames import READ_CHUNK_BYTES

log = logging.getLogger("nodeapp.net")

# A close or reset (of a stream, a connection, a host: closing a libp2p host takes ~0.2 s, see
# slow-close) that takes longer is abandoned: never let a wedged close hang the node.
CLOSE_S_MAX = 10.0
# After a request is answered, the requester closes its side once it has read the response;
# until then it may still send this much, for this long, before the stream is reset.
ANSWERED_DRAIN_BYTES_MAX = 64 * 1024
ANSWERED_DRAIN_S_MAX = 5.0


class StreamReader:
    """A libp2p stream seen through the FrameReader convention (``b""`` at end of stream)."""

    def __init__(self, stream: INetStream, peer_id: str) -> None:
        self._stream = stream
        self._peer_id = peer_id

    async def read(self, max_bytes: int) -> bytes:
        try:
            return await self._stream.read(max_bytes)
        except StreamEOF:
            return b""
        except (StreamError, BaseLibp2pError) as exc:  # reset, or the connection died
            raise PeerClosed(f"peer {self._peer_id} reset the stream "
                             f"({type(exc).__name__})") from None


def log_serve_failure(exc: Exception, what: str, protocol: str, peer: str) -> None:
    """One line for a request or message stream that had to be reset, saying whose fault."""
    if isinstance(exc, RemoteError):
        log.warning("refused a %s on %s from %s: %s", what, protocol, peer, exc)
    elif isinstance(exc, StreamError | BaseLibp2pError):
        log.warning("lost a %s on %s from %s: %s", what, protocol, peer, root_cause(exc))
    else:  # a handler bug
        log.warning("handler for %s failed on a %s from %s: %r", protocol, what, peer, exc)
        log.debug("traceback of the failed %s handler", protocol, exc_info=exc)


async def close_quietly(stream: INetStream, *, reset: bool) -> None:
    """Close or reset ``stream`` even inside a cancelled scope; errors here mean the stream
    is already gone."""
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_S_MAX):
        try:
            if reset:
                await stream.reset()
            else:
                await stream.close()
        except Exception:  # nothing left to clean up
            pass


def stream_is_dead(stream: INetStream) -> bool:
    """True if writing to ``stream`` is known to fail (reset, closed, or its connection is)."""
    try:
        if stream.muxed_conn.is_closed:
            return True
        muxed = stream.muxed_stream
        return bool(getattr(muxed, "closed", False) or getattr(muxed, "send_closed", False))
    except Exception:  # an unexpected stream type: let the write find out
        return False


def root_cause(exc: BaseException) -> str:
    """The innermost error's message: libp2p wraps the reason (connection refused, handshake
    failed) in several layers of SwarmException and MultiError."""
    current: BaseException | None = exc
    last = exc
    for _ in range(16):  # chains are short; never loop on a cyclic one
        if current is None:
            break
        last = current
        inner = getattr(current, "errors", None)  # libp2p MultiError
        if isinstance(current, BaseExceptionGroup):
            inner = current.exceptions
        if isinstance(inner, list | tuple) and inner and isinstance(inner[0], BaseException):
            current = inner[0]
        else:
            current = current.__cause__ or current.__context__
    return str(last) or type(last).__name__


async def end_answered(stream: INetStream) -> None:
    """Close our side of an answered request stream and wait (bounded) for the requester to
    close its own; then reset it if it has not. Without the reset a requester could leave
    many half-open streams, each holding what it sent after its answer."""
    await close_quietly(stream, reset=False)
    drained = 0
    with trio.move_on_after(ANSWERED_DRAIN_S_MAX):
        while drained <= ANSWERED_DRAIN_BYTES_MAX:
            try:
                chunk = await stream.read(READ_CHUNK_BYTES)
            except (StreamEOF, StreamError, BaseLibp2pError):
                return  # closed by the requester (or gone): nothing is held
            if not chunk:
                return
            drained += len(chunk)
    await close_quietly(stream, reset=True)
