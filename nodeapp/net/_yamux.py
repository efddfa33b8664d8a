"""Yamux as py-libp2p 0.8.1 runs it, with the receive window enforced.

PITFALL recv-window: py-libp2p's yamux counts what a peer sends against the stream's receive
window but, when the peer sends more than the window allows, only logs "peer exceeded receive
window" and keeps buffering. A peer could push any amount onto a stream we are not reading
(measured: 100 MiB onto an answered request stream, 100 MiB onto one of our outbound message
streams, all held until the connection ended). Here each stream's buffer checks the window
before it grows: data beyond the window (plus a small slack for honest accounting races) is
not kept, and the connection is closed, as the yamux spec expects of a protocol violation.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from libp2p.stream_muxer.yamux.yamux import Yamux

from nodeapp.net._streams import CLOSE_S_MAX

log = logging.getLogger("nodeapp.net")

# Bytes a peer may send past the window before the connection is closed. Honest peers never
# do (a window update is granted before it is sent); the slack only keeps a counting slip in
# py-libp2p from closing a good connection, and bounds what a stream can hold regardless.
WINDOW_SLACK_BYTES = 64 * 1024


class _WindowedBuffer(bytearray):
    """One stream's receive buffer; refuses data past the stream's receive window."""

    def __init__(self, conn: WindowedYamux, stream_id: int, data: bytes = b"") -> None:
        super().__init__(data)
        self._conn = conn
        self._stream_id = stream_id
        self._excess = 0  # bytes received past the window so far (py-libp2p then zeroes it)

    def extend(self, data: Any) -> None:
        stream = self._conn.streams.get(self._stream_id)
        window = max(stream.recv_window, 0) if stream is not None else 0
        self._excess += max(len(data) - window, 0)
        if self._excess > WINDOW_SLACK_BYTES:
            self._conn.window_overrun(self._stream_id, len(data), window)
            return  # not kept: the connection is closing
        super().extend(data)


class _WindowedBuffers(dict[int, bytearray]):
    """The connection's stream buffers, each made a :class:`_WindowedBuffer` when stored."""

    def __init__(self, conn: WindowedYamux) -> None:
        super().__init__()
        self._conn = conn

    def __setitem__(self, stream_id: int, buffer: bytearray) -> None:
        if not isinstance(buffer, _WindowedBuffer):
            buffer = _WindowedBuffer(self._conn, stream_id, bytes(buffer))
        super().__setitem__(stream_id, buffer)


class WindowedYamux(Yamux):
    """py-libp2p's Yamux, closing a connection whose peer overruns a receive window."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_buffers = _WindowedBuffers(self)
        self.window_overruns = 0

    def window_overrun(self, stream_id: int, size: int, window: int) -> None:
        """A peer sent ``size`` bytes on a stream with ``window`` bytes of window left."""
        self.window_overruns += 1
        if self.window_overruns == 1:
            log.warning("peer %s sent %d bytes on stream %d with a receive window of %d: "
                        "closing the connection", self.peer_id, size, stream_id, window)
        # called inside the muxer's read loop, which holds the stream lock: close from a task
        # of our own once the loop lets go of it (data sent meanwhile is refused the same way)
        nursery = getattr(self, "_nursery", None)
        if nursery is not None and self.window_overruns == 1:
            nursery.start_soon(self._close_after_overrun)

    async def _close_after_overrun(self) -> None:
        # shielded: the read loop stops once shutting down starts, and its exit cancels the
        # muxer's nursery, this task included, before the connection would be closed
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + CLOSE_S_MAX
            await self._cleanup_on_error()
