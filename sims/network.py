"""A simulated network: a virtual clock, one seeded RNG, and the faults of real links.

Rules:
* Time is virtual (microseconds); nothing here reads a clock or sleeps. Events run in time
  order, ties broken by insertion order, so a seed reproduces a run exactly.
* A message is encoded to its real frame bytes on send and decoded on delivery, so the
  simulated nodes run the same decoding as over libp2p (and a Byzantine node can send garbage).
* Faults: per-message loss, duplication and a random delay (which also reorders); partitions
  (sets of nodes that cannot reach each other) and nodes that are down drop everything sent to
  or from them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random


@dataclass
class LinkFaults:
    """How links misbehave (probabilities per message; delays in microseconds)."""

    loss: float = 0.0
    duplicate: float = 0.0
    delay_min_us: int = 5_000
    delay_max_us: int = 50_000


@dataclass
class SimNetwork:
    """Delivers frames between node ids on a virtual clock."""

    rng: Random
    faults: LinkFaults = field(default_factory=LinkFaults)
    now_us: int = 0
    _queue: list[tuple[int, int, Callable[[], None]]] = field(default_factory=list)
    _counter: int = 0
    down: set[bytes] = field(default_factory=set)
    partition: list[set[bytes]] = field(default_factory=list)
    sent_frames: int = 0
    sent_bytes: int = 0
    events_run: int = 0

    def at(self, when_us: int, action: Callable[[], None]) -> None:
        """Run ``action`` at virtual time ``when_us``."""
        self._counter += 1
        heapq.heappush(self._queue, (max(when_us, self.now_us), self._counter, action))

    def reachable(self, a: bytes, b: bytes) -> bool:
        """Whether a frame from a can reach b now."""
        if a in self.down or b in self.down:
            return False
        if not self.partition:
            return True
        return any(a in side and b in side for side in self.partition)

    def send(self, src: bytes, dst: bytes, frame: bytes,
             deliver: Callable[[bytes, bytes, bytes], None]) -> None:
        """Queue a frame; faults decide whether, when and how often it arrives."""
        self.sent_frames += 1
        self.sent_bytes += len(frame)
        if not self.reachable(src, dst) or self.rng.random() < self.faults.loss:
            return
        copies = 2 if self.rng.random() < self.faults.duplicate else 1
        for _ in range(copies):
            delay = self.rng.randint(self.faults.delay_min_us, self.faults.delay_max_us)

            def arrive(src: bytes = src, dst: bytes = dst, frame: bytes = frame) -> None:
                if self.reachable(src, dst):  # a partition or crash since sending drops it
                    deliver(src, dst, frame)

            self.at(self.now_us + delay, arrive)

    def run_until(self, end_us: int, events_max: int) -> None:
        """Run events up to virtual time ``end_us`` (bounded by ``events_max``)."""
        while self._queue and self._queue[0][0] <= end_us and events_max > 0:
            when, _, action = heapq.heappop(self._queue)
            self.now_us = when
            action()
            self.events_run += 1
            events_max -= 1
        self.now_us = max(self.now_us, end_us)
