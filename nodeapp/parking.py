"""Received records that wait for a dependency (a prev, a cited record) to arrive.

Records arrive in any order: sync sends a region's records, not a chain's, and a frame can be
lost. A record whose validation is Unresolved is parked here under the hashes it waits for;
when a record with one of those hashes (or writing one of those entries) is stored, its
dependents are released and judged again at once, so a chain that arrived backwards resolves
in a cascade instead of waiting for timers. Everything parked is also retried now and then
(a dependency can arrive in a way that names no waiter), and the lot is bounded.
"""

from __future__ import annotations

from collections.abc import Iterable

from nodeapp._core.messages import Record


class ParkingLot:
    """Parked records by action hash, and who waits for which dependency."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._records: dict[bytes, Record] = {}
        self._waiting_on: dict[bytes, list[bytes]] = {}  # dependency -> parked action hashes
        self._released: dict[bytes, Record] = {}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, action_hash: bytes) -> bool:
        return action_hash in self._records

    def park(self, action_hash: bytes, record: Record, deps: Iterable[bytes]) -> bool:
        """Keep ``record`` until one of ``deps`` arrives; False when the lot is full."""
        if action_hash not in self._records:
            if len(self._records) >= self.capacity:
                return False
            self._records[action_hash] = record
        for dep in deps:
            waiters = self._waiting_on.setdefault(dep, [])
            if action_hash not in waiters:
                waiters.append(action_hash)
        return True

    def remove(self, action_hash: bytes) -> None:
        """Forget a record (stored or refused meanwhile)."""
        self._records.pop(action_hash, None)
        self._released.pop(action_hash, None)

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
        return released

    def take_all(self) -> list[Record]:
        """Every parked record, for a periodic retry (they park again if still waiting)."""
        records = [*self._released.values(), *self._records.values()]
        self._records.clear()
        self._released.clear()
        self._waiting_on.clear()
        return records
