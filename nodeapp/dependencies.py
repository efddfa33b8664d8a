"""Records that wait for a dependency, and the dependencies asked for on their behalf.

A mixin of :class:`~nodeapp.protocol.NodeProtocol`. Rules:
* A received record whose validation is Unresolved is parked (:mod:`nodeapp.parking`) and what
  it waits for is asked of that hash's authorities (GET), each dependency at most once per
  ``dependency_retry_us``, those asked longest ago first. A dependency is asked for only on
  behalf of a record that could be parked, so a full lot also bounds what is asked for.
* A wanted dependency is kept when it arrives even if this node is no authority for it: it is
  validated like any record before anything relies on it.
* A parked record is judged again (a dependency can arrive in a way that names no waiter)
  after ``parked_retry_us``, then after twice as long each time up to ``parked_retry_max_us``;
  pending warrants are judged again every ``parked_retry_us``. Records and pending warrants
  first seen ``parked_ttl_us`` ago are dropped, and then so are the dependencies nothing waits
  for any more. Without that, what never resolves would hold the lot, the wanted list and the
  CPU for good, and the node would stop asking for what honest records wait for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nodeapp._core.actions import SignedAction
from nodeapp._core.dht import Ring
from nodeapp._core.hashing import location_of
from nodeapp._core.messages import Get, Record
from nodeapp._core.ops import OpType
from nodeapp.parking import ParkingLot
from nodeapp.protocol_common import Outgoing


class Dependencies:
    """Parked records, the dependencies they wait for, and their periodic retry."""

    # provided by NodeProtocol
    agent: bytes
    settings: Any
    _ring: Ring
    _parking: ParkingLot
    _wanted: dict[bytes, int]  # missing dependency (action or entry hash) -> when last asked
    _warrants_pending: dict[bytes, Any]
    _next_parked_retry_us: int

    def held_op_types(self, signed: SignedAction) -> tuple[OpType, ...]:
        raise NotImplementedError

    def _accept(self, peer: bytes, records: list[Record], now_us: int, *,
                receipts_to_author: bool) -> list[Outgoing]:
        raise NotImplementedError

    if TYPE_CHECKING:  # a stub at run time would hide Warrants' method (it comes later)
        def _retry_pending_warrants(self, now_us: int) -> list[Outgoing]: ...

    def _held_or_wanted(self, signed: SignedAction) -> tuple[OpType, ...]:
        """The ops of an action this node keeps: those it is an authority for, and the record
        itself when a parked record waits for it (a dependency is validated like any record
        before anything relies on it)."""
        held = self.held_op_types(signed)
        if not self._wanted or OpType.STORE_RECORD in held:
            return held
        entry_hash = signed.action.entry_hash_or_none
        if signed.hash in self._wanted or (entry_hash is not None and entry_hash in self._wanted):
            return (OpType.STORE_RECORD, *held)  # with the entry, even if held without it
        return held

    def _park(self, action_hash: bytes, record: Record, deps: Sequence[bytes],
              now_us: int) -> bool:
        """Park a record that waits for ``deps``; False when the lot is full."""
        return self._parking.park(action_hash, record, deps, now_us,
                                  self.settings.parked_retry_us)

    def _ask_for_dependencies(self, deps: Sequence[bytes], now_us: int) -> list[Outgoing]:
        """GET what validation waits for from its authorities: each dependency at most once
        per ``dependency_retry_us``, at most ``dependency_gets_max`` at a time, those never
        asked for first, then those asked longest ago (the same few cannot take every turn)."""
        out: list[Outgoing] = []
        asks = 0
        wanted = self._wanted
        for dep in sorted(dict.fromkeys(deps), key=lambda d: wanted.get(d, -1)):
            asked = wanted.get(dep)
            if asks >= self.settings.dependency_gets_max or (
                    asked is not None and now_us - asked < self.settings.dependency_retry_us
            ) or (asked is None and len(self._wanted) >= self.settings.parked_max):
                continue
            asks += 1
            self._wanted[dep] = now_us
            holders = [a for a in self._ring.authorities(location_of(dep)) if a != self.agent]
            out.extend(Outgoing(holder, Get(dep)) for holder in holders[:2])
        return out

    def _retry_waiting(self, now_us: int) -> list[Outgoing]:
        """Once per ``parked_retry_us``: judge again the parked records that are due and the
        pending warrants; drop those first seen too long ago and the dependencies nothing
        waits for."""
        if not (len(self._parking) or self._warrants_pending or self._wanted) or (
                now_us < self._next_parked_retry_us):
            return []
        settings = self.settings
        self._next_parked_retry_us = now_us + settings.parked_retry_us
        due = self._parking.take_due(now_us, settings.parked_retry_us,
                                     settings.parked_retry_max_us, settings.parked_ttl_us)
        out = self._accept(self.agent, due, now_us, receipts_to_author=True)
        out.extend(self._retry_pending_warrants(now_us))
        # a pending warrant has just asked again for what it still needs, if anything
        recent = now_us - self.settings.dependency_retry_us
        self._wanted = {dep: asked for dep, asked in self._wanted.items()
                        if asked > recent or self._parking.waits_for(dep)}
        return out
