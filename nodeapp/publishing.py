"""Publishing our own ops to their authorities until each has sent a validation receipt.

A mixin of :class:`~nodeapp.protocol.NodeProtocol`. Rules:
* Every op of every action we write is owed to the authorities of its basis, as the ring is
  when it is (re)sent: members learnt after the commit are owed it too.
* An op goes out at once, then again with doubling backoff (``publish_retry_us`` up to
  ``publish_backoff_max_us``) to the authorities that have not receipted it; a receipt from
  each ends its publishing. Records of one action going to one peer travel once per frame.
* Anti-entropy repairs whatever publishing misses; publishing is only the fast path.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from typing import Any

from nodeapp._core.actions import SignedAction
from nodeapp._core.messages import (
    RECORDS_PER_FRAME_MAX,
    Publish,
    Receipts,
    Record,
    receipts_signed_bytes,
)
from nodeapp._core.ops import OpPlacement, OpType
from nodeapp.protocol_common import Outgoing, agent_label, verify_detached

log = logging.getLogger("nodeapp.net")

# Doublings of the retry interval before the backoff stops growing: 2 ** 20 intervals is far
# past any ``publish_backoff_max_us`` (30 s by default is under 2 ** 5 s), and the power stays
# a small number however many attempts an op without receipts makes.
BACKOFF_DOUBLINGS_MAX = 20
# Our ops whose receipts stay in memory (``receipts``, which tests and benchmarks watch; the store
# keeps every receipt): far more than are ever publishing at once, ~5 MB at most.
RECEIPTED_OPS_MAX = 16_384


@dataclass
class PublishState:
    """One of our ops on its way to its authorities."""

    record: Record
    location: int  # of the op's basis
    receipted: set[bytes]  # validators that sent a receipt
    next_try_us: int
    action_hash: bytes
    op_type: OpType
    attempts: int = 0


class Publishing:
    """The author's side of publishing: schedule and receipts."""

    # provided by NodeProtocol
    agent: bytes
    conductor: Any
    settings: Any
    receipts: dict[bytes, set[bytes]]
    _ring: Any
    _publishing: dict[bytes, PublishState]
    _publish_queue: list[tuple[int, int, bytes]]
    _publish_order: int

    def _placements(self, signed: SignedAction) -> tuple[OpPlacement, ...]:
        raise NotImplementedError

    def _queue_publish(self, signed: SignedAction, entry: bytes | None, now_us: int,
                       receipted: dict[int, set[bytes]]) -> None:
        record: Record = (signed.action_bytes, signed.signature, entry)
        for op_type, key, location in self._placements(signed):
            self._publishing[key] = PublishState(
                record if op_type != OpType.REGISTER_AGENT_ACTIVITY else
                (signed.action_bytes, signed.signature, None),
                location, set(receipted.get(op_type, ())), now_us, signed.hash, op_type)
            self._schedule_publish(key, now_us)

    def _schedule_publish(self, key: bytes, when_us: int) -> None:
        self._publish_order += 1
        heapq.heappush(self._publish_queue, (when_us, self._publish_order, key))

    def _reschedule_all_publishes(self) -> None:
        """The ring changed: every op still publishing is owed to its authorities now."""
        for state in self._publishing.values():
            state.next_try_us = 0
            state.attempts = 0
        self._publish_queue = [(0, order, key) for order, key in enumerate(self._publishing)]
        self._publish_order = len(self._publish_queue)

    def _due_publishes(self, now_us: int) -> list[Outgoing]:
        batches: dict[bytes, dict[bytes, Record]] = {}  # peer -> action bytes -> record
        queue = self._publish_queue
        while queue and queue[0][0] <= now_us:
            when, _, key = heapq.heappop(queue)
            state = self._publishing.get(key)
            if state is None or state.next_try_us != when:
                continue  # receipted since, or rescheduled
            # the authorities as the ring is now: members learnt since the commit count too
            pending = self._pending_authorities(state)
            if not pending and len(self._ring) > 1:
                del self._publishing[key]
                continue
            state.attempts += 1
            doublings = min(state.attempts - 1, BACKOFF_DOUBLINGS_MAX)
            backoff = min(self.settings.publish_retry_us * 2 ** doublings,
                          self.settings.publish_backoff_max_us)
            state.next_try_us = now_us + backoff
            self._schedule_publish(key, state.next_try_us)
            for peer in pending:  # none while we know no other member: kept for later
                _keep_fullest(batches.setdefault(peer, {}), state.record)
        out = []
        for peer, by_action in batches.items():
            records = list(by_action.values())
            for offset in range(0, len(records), RECORDS_PER_FRAME_MAX):
                out.append(Outgoing(peer, Publish(tuple(records[offset:offset +
                                                                RECORDS_PER_FRAME_MAX]))))
        return out

    def _on_receipts(self, peer: bytes, message: Receipts, now_us: int) -> list[Outgoing]:
        """Note receipts for the ops we are publishing; a receipt for any other op (one that
        finished publishing, or that we never wrote) is dropped."""
        validator = message.validator
        if validator != peer or not verify_detached(
                validator, receipts_signed_bytes(validator, message.items), message.signature):
            log.info("dropped receipts from %s: not signed by the sender", agent_label(peer))
            return []
        kept = []
        for op, _verdict in message.items:
            state = self._publishing.get(op)
            if state is None:
                continue
            self._note_receipt(op, validator)
            kept.append((state.action_hash, int(state.op_type), validator))
            state.receipted.add(validator)
            if not self._pending_authorities(state) and len(self._ring) > 1:
                del self._publishing[op]
        if kept:
            self.conductor.store.add_receipts(kept)
        return []

    def _note_receipt(self, op: bytes, validator: bytes) -> None:
        """Keep a receipt in :attr:`receipts`, forgetting the oldest op past the bound."""
        receipts = self.receipts
        if op not in receipts and len(receipts) >= RECEIPTED_OPS_MAX:
            receipts.pop(next(iter(receipts)))
        receipts.setdefault(op, set()).add(validator)

    def _pending_authorities(self, state: PublishState) -> list[bytes]:
        """Authorities of the op (as the ring is now) that have not receipted it, in ring
        order (a function of the members alone, so a seed replays the same order)."""
        agent, receipted = self.agent, state.receipted
        return [a for a in self._ring.authorities(state.location)
                if a != agent and a not in receipted]

    def publish_pending(self) -> int:
        """How many of our ops still lack a receipt from some authority."""
        return len(self._publishing)


def _keep_fullest(by_action: dict[bytes, Record], record: Record) -> None:
    """Keep one record per action, the one that carries its entry if any does."""
    held = by_action.get(record[0])
    if held is None or (held[2] is None and record[2] is not None):
        by_action[record[0]] = record
