"""Pausing Python's cyclic garbage collector while a batch of received records is judged.

A batch of 500 records allocates some 5,000 short-lived containers (decoded actions, entry
models, ops, staged rows), all freed by reference counting when the batch ends. With the
collector running, those that are still alive when a young-generation collection comes are
moved to the older generations, and enough of them set off a full collection, which walks
every object the process holds (numba, pydantic, libp2p...). In the core benchmark that was
~1.5 us of every received record's ~25 us beyond its signature check, spent on objects that
hold no reference cycles. So the collector pauses for the length of one batch. Every batch
is bounded: a received frame carries at most 2,000 records (RECORDS_PER_FRAME_MAX), records
released from parking at most 10,000 (64 MiB), and a zome call's fetched answers are
bounded by its reads. Any cycle made meanwhile is collected by the next run after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the body with the cyclic collector off, then turn it back on: only if it was on
    (a host that turned it off keeps it off, and a nested pause does not end the outer one)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
