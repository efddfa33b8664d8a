"""How many CBOR items a frame from a peer holds, counted before it is decoded.

Decoding makes a Python object of every item. An 8 MiB frame of one-byte items (empty
arrays, say) is 8 million objects: about 600 MB and several seconds of the node's only
thread, from any peer that can open a stream. Every message the node sends spends at least
~12 bytes per item (a receipt, the densest, is a 32-byte hash and a small integer), so a
frame may hold at most one item per ``BYTES_PER_ITEM_MIN`` bytes; this kernel counts item
heads without building anything (a few ms for 8 MiB) and the caller refuses a frame over
budget.
"""

from __future__ import annotations

import numba
import numpy as np

from nodeapp.errors import MalformedData

BYTES_PER_ITEM_MIN = 8  # honest frames spend 12 or more; below 8 is an item bomb
ITEMS_SLACK = 256  # small frames (a HELLO, a one-op publish) are never refused for this
CHECKED_FROM_BYTES = 64 * 1024  # below this, decoding costs little whatever the frame holds


@numba.njit(cache=True)
def _count_heads(buf: np.ndarray, limit: int) -> int:
    """CBOR heads in ``buf`` (every data item has one; an array's or map's items follow it
    in line, so no stack is needed), stopping at ``limit + 1``. -1 when a head is cut short
    or of a kind the decoder refuses anyway (reserved, indefinite length)."""
    n = buf.shape[0]
    pos = 0
    count = 0
    while pos < n:
        count += 1
        if count > limit:
            return count
        initial = buf[pos]
        major = initial >> 5
        info = initial & 31
        pos += 1
        length = np.int64(info)
        if info >= 28:
            return -1
        if info >= 24:
            width = 1 << (info - 24)
            if pos + width > n:
                return -1
            if width == 8 and buf[pos] >= 0x80 and (major == 2 or major == 3):
                return -1  # a string longer than any frame
            length = np.int64(0)
            for k in range(width):
                length = (length << 8) | np.int64(buf[pos + k])
            pos += width
        if major == 2 or major == 3:  # byte and text strings: skip their contents
            if length > n - pos:
                return -1
            pos += int(length)  # (an int for mypy; numba treats both alike)
    return count


def check_item_budget(frame: bytes) -> None:
    """Refuse, with MalformedData, a frame that holds more CBOR items than any message the
    node sends could for its size. Cut-short or otherwise malformed frames pass: the
    decoder refuses them with a precise reason."""
    if len(frame) < CHECKED_FROM_BYTES:
        return
    budget = len(frame) // BYTES_PER_ITEM_MIN + ITEMS_SLACK
    heads = _count_heads(np.frombuffer(frame, dtype=np.uint8), budget)
    if heads > budget:
        raise MalformedData(f"a frame of {len(frame)} bytes holding over {budget} CBOR items "
                            "(no message is that dense)")


def warm_up() -> None:
    """Compile the kernel (or load it from numba's cache) now, not on the first big frame."""
    _count_heads(np.zeros(1, dtype=np.uint8), 1)
