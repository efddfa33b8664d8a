"""The DHT ring (nodeapp._core.dht): authorities are the R nearest members, and each
member's arc is exactly the set of locations it is an authority for."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nodeapp._core.dht import RING, Ring, in_arc, ring_distance
from nodeapp._core.hashing import location_of

agents = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=24, unique=True)


@settings(max_examples=60, deadline=None)
@given(agents, st.integers(1, 7), st.lists(st.integers(0, RING - 1), min_size=1, max_size=40))
def test_arc_membership_is_exactly_authority(members: list[bytes], r: int,
                                             locations: list[int]) -> None:
    ring = Ring(members, r)
    # probe the given locations and each member's own location and its neighbours' edges
    probes = list(locations)
    for agent in members:
        home = location_of(agent)
        probes += [home, (home + 1) % RING, (home - 1) % RING]
    for location in probes:
        authorities = ring.authorities(location)
        assert len(authorities) == min(r, len(members))
        for agent in members:
            assert ring.is_authority(agent, location) == (agent in authorities)
            assert in_arc(location, ring.arc(agent)) == (agent in authorities)


@settings(max_examples=40, deadline=None)
@given(agents, st.integers(1, 7), st.integers(0, RING - 1))
def test_authorities_are_the_nearest(members: list[bytes], r: int, location: int) -> None:
    ring = Ring(members, r)
    chosen = ring.authorities(location)
    others = [a for a in members if a not in chosen]
    if others:
        farthest_chosen = max(ring_distance(location_of(a), location) for a in chosen)
        nearest_other = min(ring_distance(location_of(a), location) for a in others)
        assert farthest_chosen <= nearest_other
