"""The collector pause around batch ingest (nodeapp.gc_pause)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from nodeapp.gc_pause import collector_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    """Every test starts with the collector on and leaves it so, whatever it asserted."""
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_off_inside_and_on_after() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_when_the_body_raises() -> None:
    with pytest.raises(ZeroDivisionError), collector_paused():
        1 / 0  # noqa: B018 - the error is the point
    assert gc.isenabled()


def test_a_host_that_turned_the_collector_off_keeps_it_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_a_nested_pause_does_not_end_the_outer_one() -> None:
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_cycles_made_during_a_pause_are_collected_after_it() -> None:
    class Node:
        partner: object = None

    with collector_paused():
        a, b = Node(), Node()
        a.partner, b.partner = b, a
        probe = id(a)
        del a, b
    gc.collect()
    assert all(id(o) != probe for o in gc.get_objects() if type(o).__name__ == "Node")
