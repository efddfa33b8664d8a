"""Intellectual property protection: a specification's private parts stay on its author's node
and are answered to peers only as its access rules allow (zomes/resource/access.py)."""

from __future__ import annotations

import pytest
from nondominium_net import Net, rule

from nodeapp._core.actions import Visibility
from nodeapp._core.hashing import ActionHash
from nodeapp.errors import ZomeCallError
from zomes.rules import library

READERS_REPAIR = rule("access", library.private_parts_readers("Repair"))


def ask(net: Net, owner: str, reader: str, spec: str) -> dict[str, object]:
    """``reader`` calls ``owner``'s node remotely."""
    return net[owner].call_json("resource", "get_specification_private_parts",
                                {"specification": spec}, caller=net[reader].agent)


def test_private_parts_follow_the_access_rules(net: Net) -> None:
    spec = net.specification("bob", [READERS_REPAIR])
    part = net.call("bob", "resource", "store_specification_private_part",
                    {"specification": spec, "content": "CNC toolpaths"})
    found = net["bob"].store.get_action(ActionHash.parse(part).raw)
    assert found is not None and found[0].action.visibility == Visibility.PRIVATE
    net.sync()
    assert net["carol"].store.get_entry(found[0].action.entry_hash) is None  # never left bob
    refused = ask(net, "bob", "carol", spec)
    assert refused["granted"] is False and refused["parts"] == []
    assert str(refused["reason"]).startswith("private_parts_readers: none of these holds")
    net.give_role("carol", "Repair")
    assert ask(net, "bob", "carol", spec) == {
        "granted": True, "reason": "the access rules hold", "parts": ["CNC toolpaths"]}
    assert net.call("bob", "resource", "get_specification_private_parts",
                    {"specification": spec})["parts"] == ["CNC toolpaths"]


def test_without_access_rules_only_the_owner_reads(net: Net) -> None:
    spec = net.specification("bob")
    net.call("bob", "resource", "store_specification_private_part",
             {"specification": spec, "content": "secret"})
    net.sync()
    assert ask(net, "bob", "alice", spec)["granted"] is False
    assert net.call("bob", "resource", "get_specification_private_parts",
                    {"specification": spec})["parts"] == ["secret"]


def test_only_the_author_adds_private_parts(net: Net) -> None:
    spec = net.specification("bob")
    net.sync()
    with pytest.raises(ZomeCallError, match="only a specification's author"):
        net.call("carol", "resource", "store_specification_private_part",
                 {"specification": spec, "content": "mine now"})


def test_storing_is_not_open_to_peers(net: Net) -> None:
    spec = net.specification("bob")
    with pytest.raises(ZomeCallError, match="not open to calls from other agents"):
        net["bob"].call("resource", "store_specification_private_part",
                        {"specification": spec, "content": "x"}, caller=net["carol"].agent)
