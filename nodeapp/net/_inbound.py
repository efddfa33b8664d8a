"""What peers may make a host hold on the streams they open to it.

Any Ed25519 key can connect and open streams, so these bounds hold for strangers as much as
for members:

* a peer may have at most ``STREAMS_PER_PEER_MAX`` streams open to us at once (requests and
  message streams together), and all peers together ``STREAMS_MAX``; a stream past either is
  reset as it opens;
* frames being received hold at most ``RECEIVING_BYTES_MAX`` bytes together: a frame whose
  header announces more than what is left is refused before its body is read;
* a frame's body must arrive within ``FRAME_BODY_S_MAX`` of its header, so a peer that sends
  all but the last byte of a big frame cannot keep its buffer for good.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from nodeapp.net._errors import RemoteError

# A reader asks up to 16 queries of one holder at once and keeps one or two message streams
# open to it: 32 leaves room, and no honest peer needs more.
STREAMS_PER_PEER_MAX = 32
STREAMS_MAX = 1024
# 32 frames of the largest size (8 MiB) at once
RECEIVING_BYTES_MAX = 256 * 1024 * 1024
FRAME_BODY_S_MAX = 30.0


class ReceiveBudgetFull(RemoteError):
    """Raised when a frame announces more bytes than the host may hold for frames being
    received right now (many peers sending big frames at once)."""


class InboundLimits:
    """Counts of the streams peers have open to us, and of the bytes of frames arriving."""

    def __init__(self, streams_per_peer_max: int = STREAMS_PER_PEER_MAX,
                 streams_max: int = STREAMS_MAX,
                 receiving_bytes_max: int = RECEIVING_BYTES_MAX) -> None:
        self.streams_per_peer_max = streams_per_peer_max
        self.streams_max = streams_max
        self.receiving_bytes_max = receiving_bytes_max
        self._streams: Counter[str] = Counter()
        self.streams_open = 0  # streams peers have open to us that are being served
        self.receiving_bytes = 0
        self.refused_streams = 0

    @contextmanager
    def stream(self, peer: str) -> Iterator[bool]:
        """``with``: whether a new stream from ``peer`` may be served (False: reset it)."""
        if (self._streams[peer] >= self.streams_per_peer_max
                or self.streams_open >= self.streams_max):
            self.refused_streams += 1
            yield False
            return
        self._streams[peer] += 1
        self.streams_open += 1
        try:
            yield True
        finally:
            self.streams_open -= 1
            self._streams[peer] -= 1
            if not self._streams[peer]:
                del self._streams[peer]

    @contextmanager
    def receiving(self, size: int) -> Iterator[None]:
        """``with``: hold ``size`` bytes of the receive budget while a frame body arrives."""
        if self.receiving_bytes + size > self.receiving_bytes_max:
            raise ReceiveBudgetFull(
                f"a frame of {size} bytes does not fit: {self.receiving_bytes} of "
                f"{self.receiving_bytes_max} bytes are held by frames being received")
        self.receiving_bytes += size
        try:
            yield
        finally:
            self.receiving_bytes -= size
