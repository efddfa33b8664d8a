"""What outgoing traffic may hold: per-peer send queues within count and byte budgets, and the
dial backoff of peers that could not be reached. :mod:`nodeapp.runtime` runs the senders.

Rules:
* One queue per peer, read by one sender task. Members and the invite's bootstrap peers share
  ``SENDERS_MAX`` queues; every other agent (a stranger) shares ``STRANGER_SENDERS_MAX``. Any
  key can make the node answer it (a ``Refused``), so strangers must not be able to take the
  queues members need. A stranger's queue moves to the members' budget once it is admitted.
* A queue holds at most ``SEND_QUEUE_MAX`` frames and ``SEND_QUEUE_BYTES_MAX`` bytes, all queues
  together ``SEND_BYTES_MAX`` (a frame counts until it is sent): a peer that accepts a stream
  and never reads holds a bounded amount. Whatever does not fit is dropped and counted in the
  node's stats (``dropped_*``); publishing retries and anti-entropy repair it.
* At most ``DIAL_BACKOFFS_MAX`` agents' dial backoffs are remembered, the least recently
  failed forgotten first: strangers can name made-up agents without end.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import trio

from nodeapp._core.messages import FRAME_BYTES_MAX
from nodeapp.protocol_common import agent_label

log = logging.getLogger("nodeapp.runtime")

SEND_QUEUE_MAX = 512  # frames waiting for one peer
SEND_QUEUE_BYTES_MAX = 2 * FRAME_BYTES_MAX  # 16 MiB: the largest frame always fits, and more
SEND_BYTES_MAX = 256 * 1024 * 1024  # all queues: 16 stalled peers' worth, well within RAM
SENDERS_MAX = 1024  # members (and bootstrap peers) with a send queue at once
STRANGER_SENDERS_MAX = 32  # other agents with a send queue at once: refusals, genesis GETs
DIAL_BACKOFF_S_MIN = 0.5
DIAL_BACKOFF_S_MAX = 30.0
# twice the senders there can be, so a busy peer's backoff is not forgotten while it matters
DIAL_BACKOFFS_MAX = 2 * (SENDERS_MAX + STRANGER_SENDERS_MAX)

Frame = tuple[str, bytes]  # (message kind, for logs; the encoded frame)


@dataclass(eq=False)
class PeerQueue:
    """One peer's frames waiting to be sent, and their bytes (the one being sent included)."""

    agent: bytes
    send: trio.MemorySendChannel[Frame]
    receive: trio.MemoryReceiveChannel[Frame]
    stranger: bool  # counted against STRANGER_SENDERS_MAX
    queued_bytes: int = 0


class SendQueues:
    """Every peer's send queue, kept within the budgets above; drops count in ``stats``."""

    def __init__(self, stats: Counter[str]) -> None:
        self._stats = stats
        self._queues: dict[bytes, PeerQueue] = {}
        self._strangers = 0
        self.queued_bytes = 0  # in all queues

    def __contains__(self, agent: object) -> bool:
        return agent in self._queues

    def get(self, agent: bytes, trusted: bool) -> PeerQueue | None:
        """The agent's queue, if it has one; a stranger's moves to the members' budget once
        it is ``trusted`` (so an admitted peer's traffic leaves the strangers' room free)."""
        queue = self._queues.get(agent)
        if queue is not None and queue.stranger and trusted and self._members() < SENDERS_MAX:
            queue.stranger = False
            self._strangers -= 1
        return queue

    def open(self, agent: bytes, trusted: bool) -> PeerQueue | None:
        """A new queue for ``agent``, or None (counted) when its budget of queues is used."""
        if trusted and self._members() >= SENDERS_MAX:
            self._stats["dropped_no_sender"] += 1
            return None
        if not trusted and self._strangers >= STRANGER_SENDERS_MAX:
            self._stats["dropped_stranger_no_sender"] += 1
            return None
        send, receive = trio.open_memory_channel[Frame](SEND_QUEUE_MAX)
        queue = PeerQueue(agent, send, receive, stranger=not trusted)
        self._queues[agent] = queue
        self._strangers += queue.stranger
        return queue

    def put(self, queue: PeerQueue, kind: str, frame: bytes) -> bool:
        """Queue one frame; False (counted) if it does not fit."""
        size = len(frame)
        if queue.queued_bytes + size > SEND_QUEUE_BYTES_MAX:
            return self._drop("dropped_queue_full", queue, kind)
        if self.queued_bytes + size > SEND_BYTES_MAX:
            return self._drop("dropped_send_budget", queue, kind)
        try:
            queue.send.send_nowait((kind, frame))
        except trio.WouldBlock:
            return self._drop("dropped_queue_full", queue, kind)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return self._drop("dropped_closed", queue, kind)
        queue.queued_bytes += size
        self.queued_bytes += size
        return True

    def sent(self, queue: PeerQueue, size: int) -> None:
        """A frame of ``size`` bytes left the queue (sent, or given up on)."""
        queue.queued_bytes -= size
        self.queued_bytes -= size

    def close(self, queue: PeerQueue) -> None:
        """Forget a queue whose sender ended; frames still in it are dropped."""
        if self._queues.get(queue.agent) is queue:
            del self._queues[queue.agent]
            self._strangers -= queue.stranger
        self.queued_bytes -= queue.queued_bytes
        queue.queued_bytes = 0
        queue.send.close()
        queue.receive.close()

    def _members(self) -> int:
        return len(self._queues) - self._strangers

    def _drop(self, counter: str, queue: PeerQueue, kind: str) -> bool:
        self._stats[counter] += 1
        if self._stats[counter] % 100 == 1:  # a stalled peer drops many: log a sample
            log.info("%s: dropped a %s to %s (sync repairs it)", counter, kind,
                     agent_label(queue.agent))
        return False


class DialBackoff:
    """When each agent that could not be dialled may be tried again: the wait doubles per
    failure from ``DIAL_BACKOFF_S_MIN`` to ``DIAL_BACKOFF_S_MAX``, a success forgets it."""

    def __init__(self) -> None:
        # agent -> (until, last wait), least recently failed first
        self._waits: dict[bytes, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._waits)

    def __contains__(self, agent: object) -> bool:
        return agent in self._waits

    def waiting(self, agent: bytes, now: float) -> bool:
        """Whether ``agent`` must not be dialled yet."""
        entry = self._waits.get(agent)
        return entry is not None and now < entry[0]

    def failed(self, agent: bytes, now: float) -> None:
        """A dial of ``agent`` failed at ``now``: wait longer before the next."""
        _, last = self._waits.pop(agent, (0.0, 0.0))  # re-added below as the newest
        wait = min(max(last * 2, DIAL_BACKOFF_S_MIN), DIAL_BACKOFF_S_MAX)
        if len(self._waits) >= DIAL_BACKOFFS_MAX:
            del self._waits[next(iter(self._waits))]
        self._waits[agent] = (now + wait, wait)

    def succeeded(self, agent: bytes) -> None:
        """A dial of ``agent`` worked: no more waiting."""
        self._waits.pop(agent, None)
