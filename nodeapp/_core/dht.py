"""The DHT ring: who is an authority for what.

Rules:
* Locations live on a ring of 2**32 points. An agent sits at the location of its public key; an
  op lives at the location of its basis hash.
* The authorities of a location are the R agents nearest to it by ring distance (ties broken by
  public key), out of the members a node knows. With R or fewer members, every member is an
  authority for everything. R is the DNA's replication factor.
* A node's arc is the part of the ring it is an authority for. It is derived from the member set,
  never configured, so two nodes with the same view agree exactly. Views differ while members
  join; anti-entropy repairs what that costs (see ``sync``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nodeapp._core.hashing import location_of

RING = 1 << 32
_AUTHORITY_CACHE_MAX = 65_536


def ring_distance(a: int, b: int) -> int:
    """Shortest distance between two ring locations."""
    d = (a - b) % RING
    return min(d, RING - d)


@dataclass(frozen=True)
class Member:
    """A member as the ring sees it."""

    agent: bytes
    location: int


def member(agent: bytes) -> Member:
    """A member from its public key."""
    return Member(agent, location_of(agent))


class Ring:
    """The members a node knows, sorted by location, and the authority rule over them."""

    def __init__(self, agents: Iterable[bytes], replication_factor: int) -> None:
        if replication_factor < 1:
            raise ValueError("replication factor must be at least 1")
        self.replication_factor = replication_factor
        self._members = sorted({member(a) for a in agents}, key=lambda m: (m.location, m.agent))
        self._locations = [m.location for m in self._members]
        self._arcs: dict[bytes, tuple[int, int] | None] = {}
        # the ring never changes once built, so answers can be kept (bounded)
        self._authorities: dict[int, list[bytes]] = {}

    def __len__(self) -> int:
        return len(self._members)

    @property
    def agents(self) -> list[bytes]:
        """Members in ring order."""
        return [m.agent for m in self._members]

    def authorities(self, location: int) -> list[bytes]:
        """The R members nearest to ``location`` (everyone when there are R or fewer)."""
        found = self._authorities.get(location)
        if found is None:
            if len(self._authorities) >= _AUTHORITY_CACHE_MAX:
                self._authorities.clear()
            found = self._authorities[location] = self._nearest(location)
        return found

    def _nearest(self, location: int) -> list[bytes]:
        members = self._members
        r = self.replication_factor
        n = len(members)
        if n <= r:
            return [m.agent for m in members]
        # merge outwards from the insertion point: the r nearest are r consecutive members
        right = bisect.bisect_left(self._locations, location) % n
        left = (right - 1) % n
        chosen: list[bytes] = []
        while len(chosen) < r:
            a, b = members[right], members[left]
            key_a = (ring_distance(a.location, location), a.agent)
            key_b = (ring_distance(b.location, location), b.agent)
            if key_a <= key_b:
                chosen.append(a.agent)
                right = (right + 1) % n
            else:
                chosen.append(b.agent)
                left = (left - 1) % n
        return chosen

    def is_authority(self, agent: bytes, location: int) -> bool:
        """Whether ``agent`` is one of the authorities of ``location`` (by its arc: constant
        time, with no cache to thrash when a node sorts a hundred thousand ops)."""
        return in_arc(location, self.arc(agent))

    def _covers(self, agent: bytes, location: int) -> bool:
        return agent in self.authorities(location)

    def neighbours(self, agent: bytes, count: int) -> list[bytes]:
        """Up to ``count`` members nearest to ``agent`` on the ring (excluding itself): the
        peers whose arcs overlap its own, so the ones it must keep in sync with."""
        me = member(agent)
        others = [m for m in self._members if m.agent != agent]
        others.sort(key=lambda m: (ring_distance(m.location, me.location), m.agent))
        return [m.agent for m in others[:count]]

    def arc(self, agent: bytes) -> tuple[int, int] | None:
        """(start, length) of the ring part ``agent`` is an authority for; None if nowhere.

        Derived by probing: exact for the nearest-R rule because an agent's region is the
        contiguous interval between the midpoints that bound its R-neighbourhood.
        """
        if agent not in self._arcs:  # the ring is immutable, so an arc never changes
            if len(self._members) <= self.replication_factor:
                found = any(m.agent == agent for m in self._members)
                self._arcs[agent] = (0, RING) if found else None
            else:
                self._arcs[agent] = _arc_by_bisection(self, agent)
        return self._arcs[agent]


def _arc_by_bisection(ring: Ring, agent: bytes) -> tuple[int, int] | None:
    home = member(agent).location
    if not ring._covers(agent, home):
        return None

    def edge(direction: int) -> int:
        # largest offset d (in direction) such that home + d*direction is still covered
        low, high = 0, RING // 2
        while low < high:
            mid = (low + high + 1) // 2
            if ring._covers(agent, (home + direction * mid) % RING):
                low = mid
            else:
                high = mid - 1
        return low

    back, forward = edge(-1), edge(1)
    return ((home - back) % RING, min(RING, back + forward + 1))


def in_arc(location: int, arc: tuple[int, int] | None) -> bool:
    """Whether a location falls inside an arc."""
    if arc is None:
        return False
    start, length = arc
    return (location - start) % RING < length


def overlap(a: tuple[int, int] | None, b: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Intersection of two arcs as a list of (start, length) pieces (0, 1 or 2 pieces)."""
    if a is None or b is None:
        return []
    pieces = []
    for first, second in ((a, b), (b, a)):
        start = second[0]
        if in_arc(start, first):
            end_first = (first[0] + first[1]) % RING
            length = min(second[1], (end_first - start) % RING or RING)
            pieces.append((start, length))
    unique = []
    for piece in pieces:
        if piece not in unique:
            unique.append(piece)
    return unique


def authority_counts(ring: Ring, locations: Sequence[int]) -> list[int]:
    """How many authorities each location has (always min(R, members) under this rule)."""
    return [len(ring.authorities(loc)) for loc in locations]
