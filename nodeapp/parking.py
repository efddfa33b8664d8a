"""Received records that wait for a dependency (a prev, a cited record) to arrive.

Records arrive in any order: sync sends a region's records, not a chain's, and a frame can be
lost. A record whose validation is Unresolved is parked here under the hashes it waits for;
when a record with one of those hashes (or writing one of those entries) is stored, its
dependents are released and judged again at once, so a chain that arrived backwards resolves
in a cascade instead of waiting for timers. Each parked record is also judged again now and
then (a dependency can arrive in a way that names no waiter), with a doubling interval, so a
full lot of records that never resolve costs little CPU; and one still waiting after the TTL
is dropped (a sync brings it again if it is ever wanted). The lot is bounded by count and by
bytes: what a peer sends that never resolves cannot pin more memory than that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from nodeapp._core.messages import Record
from nodeapp.protocol_common import record_bytes

log = logging.getLogger("nodeapp.net")

# All parked records together. Honest parked records are chain links that came before their
# prev (typically well under 4 KiB: 10,000 of them, the default count cap, take ~40 MiB); 64 MiB
# leaves room for that plus some dozens of max-size (1 MiB) entries, and is all the memory
# records that never resolve can hold (without it, 10,000 of 1 MiB: 10 GiB).
PARKED_BYTES_MAX = 64 * 1024 * 1024


@dataclass
class _Parked:
    record: Record
    size: int
    since_us: int  # when first parked: the TTL counts from here
    next_retry_us: int
    retries: int = 0
    deps: list[bytes] = field(default_factory=list)


# doublings of the retry interval before it stops growing (a bound on the shift, whatever the
# settings say)
_RETRY_DOUBLINGS_MAX = 20


class ParkingLot:
    """Parked records by action hash, and who waits for which dependency."""

    def __init__(self, capacity: int, bytes_max: int = PARKED_BYTES_MAX) -> None:
        self.capacity = capacity
        self.bytes_max = bytes_max
        self._parked: dict[bytes, _Parked] = {}
        # dependency -> parked action hashes waiting for it (a dict: an ordered set, so what
        # reaches the wire does not depend on the process's hash seed)
        self._waiting_on: dict[bytes, dict[bytes, None]] = {}
        self._released: dict[bytes, Record] = {}
        self._bytes = 0  # of the records parked and released

    def __len__(self) -> int:
        return len(self._parked)

    def __contains__(self, action_hash: bytes) -> bool:
        return action_hash in self._parked

    @property
    def bytes_held(self) -> int:
        """Bytes held by the parked records (released ones not taken yet included)."""
        return self._bytes

    def waits_for(self, dependency: bytes) -> bool:
        """Whether a parked record waits for this action or entry hash."""
        return dependency in self._waiting_on

    def park(self, action_hash: bytes, record: Record, deps: Iterable[bytes], now_us: int,
             retry_us: int) -> bool:
        """Keep ``record`` until one of ``deps`` arrives (first judged again after
        ``retry_us``); False when the lot is full (by count or by bytes). A record parked
        already keeps its age and retry schedule and now waits for ``deps`` too."""
        parked = self._parked.get(action_hash)
        if parked is None:
            size = record_bytes(record)
            if len(self._parked) >= self.capacity or self._bytes + size > self.bytes_max:
                log.debug("parking lot full (%d records, %d bytes): a record waits for the next "
                          "sync", len(self._parked), self._bytes)
                return False
            parked = _Parked(record, size, now_us, now_us + retry_us)
            self._parked[action_hash] = parked
            self._bytes += size
        for dep in deps:
            if dep not in parked.deps:
                parked.deps.append(dep)
                self._waiting_on.setdefault(dep, {})[action_hash] = None
        return True

    def _unpark(self, action_hash: bytes) -> _Parked | None:
        parked = self._parked.pop(action_hash, None)
        if parked is None:
            return None
        self._bytes -= parked.size
        for dep in parked.deps:
            waiters = self._waiting_on.get(dep)
            if waiters is not None:
                waiters.pop(action_hash, None)
                if not waiters:
                    del self._waiting_on[dep]
        return parked

    def remove(self, action_hash: bytes) -> None:
        """Forget a record (stored or refused meanwhile)."""
        self._unpark(action_hash)
        record = self._released.pop(action_hash, None)
        if record is not None:
            self._bytes -= record_bytes(record)

    def arrived(self, hashes: Iterable[bytes]) -> None:
        """These action or entry hashes are now held: release whoever waited for them."""
        for found in hashes:
            for waiter in list(self._waiting_on.get(found, ())):
                parked = self._unpark(waiter)
                if parked is not None:
                    self._released[waiter] = parked.record
                    self._bytes += parked.size

    def take_released(self) -> list[Record]:
        """Records whose dependency arrived, to judge again now."""
        released = list(self._released.values())
        self._released.clear()
        self._bytes -= sum(record_bytes(r) for r in released)
        return released

    def take_due(self, now_us: int, retry_us: int, retry_max_us: int, ttl_us: int
                 ) -> list[Record]:
        """Records to judge again now: the released ones, and the parked ones whose retry is
        due (they stay parked; the next retry comes after twice the last interval, at most
        ``retry_max_us``). Records first parked ``ttl_us`` or more ago are dropped."""
        due = self.take_released()
        expired = 0
        for action_hash, parked in list(self._parked.items()):
            if now_us - parked.since_us >= ttl_us:
                self._unpark(action_hash)
                expired += 1
            elif parked.next_retry_us <= now_us:
                parked.retries += 1
                interval = retry_us << min(parked.retries, _RETRY_DOUBLINGS_MAX)
                parked.next_retry_us = now_us + min(interval, retry_max_us)
                due.append(parked.record)
        if expired:
            log.info("dropped %d parked records that waited %d s for a dependency", expired,
                     ttl_us // 10**6)
        return due
