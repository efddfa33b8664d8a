"""Received records that wait for a dependency (a prev, a cited record) to arrive.

Records arrive in any order: sync sends a region's records, not a chain's, and a frame can be
lost. A record whose validation is Unresolved is parked here under the hashes it waits for;
when a record with one of those hashes (or writing one of those entries) is stored, its
dependents are released and judged again at once, so a chain that arrived backwards resolves
in a cascade instead of waiting for timers. Everything parked is also retried now and then
(a dependency can arrive in a way that names no waiter), and the lot is bounded by count and
by bytes: what a peer sends that never resolves cannot pin more memory than that. A record still
waiting after ``ttl_us`` is dropped at a retry, so such records cannot hold the lot (and the
dependencies asked for on their behalf) for good either; if it is ever wanted, a sync brings it
again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from nodeapp._core.messages import Record
from nodeapp.protocol_common import record_bytes

log = logging.getLogger("nodeapp.net")

# All parked records together. Honest parked records are chain links that came before their
# prev (typically well under 4 KiB: 10,000 of them, the default count cap, take ~40 MiB); 64 MiB
# leaves room for that plus some dozens of max-size (1 MiB) entries, and is all the memory
# records that never resolve can hold (without it, 10,000 of 1 MiB: 10 GiB).
PARKED_BYTES_MAX = 64 * 1024 * 1024


class ParkingLot:
    """Parked records by action hash, and who waits for which dependency."""

    def __init__(self, capacity: int, bytes_max: int = PARKED_BYTES_MAX) -> None:
        self.capacity = capacity
        self.bytes_max = bytes_max
        self._records: dict[bytes, Record] = {}
        self._waiting_on: dict[bytes, list[bytes]] = {}  # dependency -> parked action hashes
        self._released: dict[bytes, Record] = {}
        self._since: dict[bytes, int] = {}  # action hash -> when first parked (kept by retries)
        self._bytes = 0  # of the records in _records and _released

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, action_hash: bytes) -> bool:
        return action_hash in self._records

    @property
    def bytes_held(self) -> int:
        """Bytes held by the parked records (released ones not taken yet included)."""
        return self._bytes

    def waits_for(self, dependency: bytes) -> bool:
        """Whether a parked record waits for this action or entry hash."""
        return dependency in self._waiting_on

    def park(self, action_hash: bytes, record: Record, deps: Iterable[bytes],
             now_us: int) -> bool:
        """Keep ``record`` until one of ``deps`` arrives; False when the lot is full (by count
        or by bytes)."""
        if action_hash not in self._records:
            size = record_bytes(record)
            if len(self._records) >= self.capacity or self._bytes + size > self.bytes_max:
                log.debug("parking lot full (%d records, %d bytes): a record waits for the next "
                          "sync", len(self._records), self._bytes)
                return False
            self._records[action_hash] = record
            self._since.setdefault(action_hash, now_us)
            self._bytes += size
        for dep in deps:
            waiters = self._waiting_on.setdefault(dep, [])
            if action_hash not in waiters:
                waiters.append(action_hash)
        return True

    def remove(self, action_hash: bytes) -> None:
        """Forget a record (stored or refused meanwhile)."""
        self._since.pop(action_hash, None)
        for held in (self._records, self._released):
            record = held.pop(action_hash, None)
            if record is not None:
                self._bytes -= record_bytes(record)

    def arrived(self, hashes: Iterable[bytes]) -> None:
        """These action or entry hashes are now held: release whoever waited for them."""
        for found in hashes:
            for waiter in self._waiting_on.pop(found, ()):
                record = self._records.pop(waiter, None)
                if record is not None:
                    self._released[waiter] = record

    def take_released(self) -> list[Record]:
        """Records whose dependency arrived, to judge again now."""
        released = list(self._released.values())
        self._released.clear()
        self._bytes -= sum(record_bytes(r) for r in released)
        return released

    def take_all(self, now_us: int, ttl_us: int) -> list[Record]:
        """Every parked record, for a periodic retry (they park again if still waiting),
        except those first parked ``ttl_us`` or more ago: they are dropped."""
        records: list[Record] = []
        since: dict[bytes, int] = {}
        for held in (self._released, self._records):
            for action_hash, record in held.items():
                parked_at = self._since.get(action_hash, now_us)
                if now_us - parked_at < ttl_us:
                    records.append(record)
                    since[action_hash] = parked_at
        if len(records) < len(self._records) + len(self._released):
            log.info("dropped %d parked records that waited %d s for a dependency",
                     len(self._records) + len(self._released) - len(records), ttl_us // 10**6)
        # only the records handed out keep their first-parked time: one that parks again
        # keeps its age, and the entry of one that does not park again goes here
        self._since = since
        self._records.clear()
        self._released.clear()
        self._waiting_on.clear()
        self._bytes = 0
        return records
