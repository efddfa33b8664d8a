"""Frames: 4-byte big-endian length then payload; limits checked before the body is read."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from nodeapp.errors import MalformedData, RemoteError, UsageError
from nodeapp.net import (
    FRAME_BYTES_LIMIT,
    FrameLimitError,
    FrameTooLarge,
    PeerClosed,
    TruncatedFrame,
    decode_header,
    encode_frame,
    read_frame,
)


class ChunkedReader:
    """A reader over fixed bytes that hands out at most ``chunk`` bytes per read and counts
    how much was consumed."""

    def __init__(self, data: bytes, chunk: int = 1) -> None:
        self.data = data
        self.chunk = chunk
        self.consumed = 0
        self.reads = 0

    async def read(self, max_bytes: int) -> bytes:
        self.reads += 1
        await trio.lowlevel.checkpoint()
        take = min(max_bytes, self.chunk, len(self.data) - self.consumed)
        out = self.data[self.consumed:self.consumed + take]
        self.consumed += take
        return out


def test_encode_layout() -> None:
    assert encode_frame(b"abc", 3) == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"", 0) == b"\x00\x00\x00\x00"
    assert decode_header(b"\x00\x01\x00\x00", 65536) == 65536


def test_encode_refuses_over_own_limit() -> None:
    with pytest.raises(FrameLimitError):
        encode_frame(b"x" * 11, 10)
    for bad in (-1, FRAME_BYTES_LIMIT + 1, 1.5, True):
        with pytest.raises(FrameLimitError):
            encode_frame(b"", bad)  # type: ignore[arg-type]
    assert issubclass(FrameLimitError, UsageError)


async def test_read_frame_over_one_byte_reads() -> None:
    payload = bytes(range(256)) * 4
    reader = ChunkedReader(encode_frame(payload, 1024) + b"next", chunk=1)
    with trio.fail_after(5):
        assert await read_frame(reader, 1024) == payload
    assert reader.consumed == 4 + 1024  # exactly one frame, nothing of the next
    assert reader.reads == 4 + 1024


async def test_read_frames_back_to_back() -> None:
    reader = ChunkedReader(encode_frame(b"one", 10) + encode_frame(b"", 10)
                           + encode_frame(b"three", 10), chunk=7)
    with trio.fail_after(5):
        assert [await read_frame(reader, 10) for _ in range(3)] == [b"one", b"", b"three"]
        with pytest.raises(PeerClosed):
            await read_frame(reader, 10)


async def test_oversize_refused_before_body() -> None:
    reader = ChunkedReader(encode_frame(b"x" * 1000, 1000), chunk=4096)
    with trio.fail_after(5), pytest.raises(FrameTooLarge, match="1000 bytes"):
        await read_frame(reader, 999)
    assert reader.consumed == 4  # the header only
    assert issubclass(FrameTooLarge, MalformedData)


async def test_huge_announced_length_is_refused() -> None:
    reader = ChunkedReader(b"\xff\xff\xff\xff" + b"x" * 10, chunk=4096)
    with trio.fail_after(5), pytest.raises(FrameTooLarge):
        await read_frame(reader, 1 << 20)


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x00\x00", b"\x00\x00\x00\x05ab"])
async def test_truncated(data: bytes) -> None:
    with trio.fail_after(5), pytest.raises(TruncatedFrame):
        await read_frame(ChunkedReader(data, chunk=2), 100)
    assert issubclass(TruncatedFrame, MalformedData)


async def test_clean_end_at_boundary_is_peer_closed() -> None:
    with trio.fail_after(5), pytest.raises(PeerClosed):
        await read_frame(ChunkedReader(b""), 100)
    assert issubclass(PeerClosed, RemoteError)


async def test_read_frame_over_a_trio_stream() -> None:
    """Any trio stream works as a reader (receive_some has the same convention)."""
    left, right = trio.testing.memory_stream_pair()

    class TrioReader:
        async def read(self, max_bytes: int) -> bytes:
            return await right.receive_some(max_bytes)

    with trio.fail_after(5):
        await left.send_all(encode_frame(b"hello", 5))
        assert await read_frame(TrioReader(), 5) == b"hello"
