"""Per-peer token buckets: how often a peer may ask for work that costs this node CPU.

Deterministic: time is the protocol's ``now_us``, never the wall clock, so a simulation with
the same seed throttles the same requests.
"""

from __future__ import annotations


class TokenBuckets:
    """One bucket per key: ``burst`` tokens at most, ``refill`` more every ``every_us``. A
    request takes one token, or is refused when none is left. At most ``keys_max`` buckets are
    kept; the one used longest ago goes first (it would be nearly full again by now)."""

    def __init__(self, refill: int, every_us: int, burst: int, keys_max: int = 4096) -> None:
        if refill < 1 or every_us < 1 or burst < 1:
            raise ValueError("a token bucket needs refill, every_us and burst >= 1")
        self.refill = refill
        self.every_us = every_us
        self.burst = burst
        self.keys_max = keys_max
        # key -> (tokens x every_us, when last counted): integers, so no rounding drifts.
        # Insertion order is use order: the first key is the one used longest ago.
        self._buckets: dict[bytes, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: bytes, now_us: int) -> bool:
        """Whether ``key`` may make one more request now (and count it if so)."""
        one, full = self.every_us, self.burst * self.every_us
        found = self._buckets.pop(key, None)
        if found is None:
            tokens, counted_us = full, now_us
            if len(self._buckets) >= self.keys_max:
                self._buckets.pop(next(iter(self._buckets)))
        else:
            # a clock that steps back refills nothing, now or when it catches up again
            counted_us = max(found[1], now_us)
            tokens = min(full, found[0] + (counted_us - found[1]) * self.refill)
        allowed = tokens >= one
        self._buckets[key] = (tokens - one if allowed else tokens, counted_us)
        return allowed
