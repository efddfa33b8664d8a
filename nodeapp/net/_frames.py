"""Length-prefixed frames on a byte stream.

Rules:

* A frame is a 4-byte big-endian unsigned length, then exactly that many payload bytes.
* Every read names its limit (``bytes_max``); a header announcing more is refused with
  :class:`FrameTooLarge` before a single body byte is read, so a peer cannot make us buffer
  more than we agreed to.
* A stream that ends at a frame boundary raises :class:`PeerClosed`; one that ends inside a
  frame raises :class:`TruncatedFrame`.
* Readers follow trio's ``receive_some`` convention: ``read(n)`` returns between 1 and ``n``
  bytes, or ``b""`` at end of stream. Each loop iteration consumes at least one byte, so a
  read of ``n`` bytes takes at most ``n`` iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

import trio

from nodeapp.net._errors import FrameLimitError, FrameTooLarge, PeerClosed, TruncatedFrame

HEADER_BYTES = 4
FRAME_BYTES_LIMIT = 2**32 - 1  # the most a 4-byte length can announce
READ_CHUNK_BYTES = 64 * 1024  # ask the stream for at most this much per read


class FrameReader(Protocol):
    """Anything frames can be read from."""

    async def read(self, max_bytes: int) -> bytes:
        """Return 1..max_bytes bytes, or ``b""`` once the stream has ended."""
        ...


def check_limit(bytes_max: int) -> int:
    """Return ``bytes_max`` if a frame header can express it, else raise FrameLimitError."""
    if type(bytes_max) is not int or not 0 <= bytes_max <= FRAME_BYTES_LIMIT:
        raise FrameLimitError(f"a frame limit must be an int in 0..{FRAME_BYTES_LIMIT}, "
                              f"got {bytes_max!r}")
    return bytes_max


def encode_frame(payload: bytes, bytes_max: int) -> bytes:
    """The frame carrying ``payload``; refuses a payload over the sender's own limit."""
    check_limit(bytes_max)
    if len(payload) > bytes_max:
        raise FrameLimitError(f"payload of {len(payload)} bytes is over the limit of "
                              f"{bytes_max} bytes")
    return len(payload).to_bytes(HEADER_BYTES, "big") + bytes(payload)


def decode_header(header: bytes, bytes_max: int) -> int:
    """The payload length a header announces, refused if over ``bytes_max``."""
    if len(header) != HEADER_BYTES:
        raise TruncatedFrame(f"a frame header is {HEADER_BYTES} bytes, got {len(header)}")
    length = int.from_bytes(header, "big")
    if length > bytes_max:
        raise FrameTooLarge(f"frame announces {length} bytes; the limit is {bytes_max} bytes")
    return length


async def read_frame(stream: FrameReader, bytes_max: int, *,
                     hold: Callable[[int], AbstractContextManager[None]] | None = None,
                     body_s_max: float | None = None) -> bytes:
    """Read one whole frame and return its payload. ``hold(length)``, if given, is entered
    while the body arrives (a budget shared by several readers); the body must arrive within
    ``body_s_max`` seconds of the header, if given, or TruncatedFrame is raised."""
    check_limit(bytes_max)
    header = await _read_exactly(stream, HEADER_BYTES, at_boundary=True)
    length = decode_header(header, bytes_max)
    with hold(length) if hold is not None else nullcontext():
        with trio.move_on_after(body_s_max if body_s_max is not None else math.inf) as scope:
            return await _read_exactly(stream, length, at_boundary=False)
    assert scope.cancelled_caught
    raise TruncatedFrame(f"a frame body of {length} bytes did not arrive within "
                         f"{body_s_max:g} s")


async def _read_exactly(stream: FrameReader, size: int, *, at_boundary: bool) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        want = min(size - len(buf), READ_CHUNK_BYTES)
        chunk = await stream.read(want)
        if not chunk:
            if at_boundary and not buf:
                raise PeerClosed("the stream ended before a frame started")
            part = "header" if at_boundary else "body"
            raise TruncatedFrame(f"the stream ended inside a frame {part} "
                                 f"({len(buf)} of {size} bytes)")
        buf += chunk
    return bytes(buf)
