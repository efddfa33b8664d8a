"""Public profiles: the functions and their rules (one per agent, owner-only updates, index
links), at the author's node and at a peer."""

from __future__ import annotations

import pytest
from builders import STEP_US, sign
from conftest import (
    forge_create,
    forge_delete,
    forge_update,
    head_of,
    key_of,
    peer_refusal,
    sync,
)
from zome_testing import forge, refused_by_peer

from nodeapp._core.actions import CreateLink, DeleteLink
from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp.conductor import Conductor
from nodeapp.errors import AppValidationError, ZomeCallError
from nodeapp.keystore import generate_agent_key
from zomes.person.integrity import Person


def test_create_and_get_person_profile(alice: Conductor, bob: Conductor) -> None:
    created = bob.call_json("person", "create_person",
                            {"name": "Bob", "bio": "maker", "avatar_url": "https://x/b.png"})
    assert bob.call_json("person", "get_person_profile", {"agent": key_of(bob)}) == {
        "agent": key_of(bob), "action": created, "name": "Bob", "bio": "maker",
        "avatar_url": "https://x/b.png"}
    assert alice.call_json("person", "get_person_profile", {"agent": key_of(bob)}) is None
    sync(alice, bob)
    assert alice.call_json("person", "get_person_profile", {"agent": key_of(bob)})["name"] == "Bob"


def test_get_person_profile_of_a_stranger_is_none(alice: Conductor) -> None:
    stranger = str(AgentPubKey(generate_agent_key().public_key))
    assert alice.call_json("person", "get_person_profile", {"agent": stranger}) is None


def test_update_person_follows_the_newest_version(alice: Conductor, bob: Conductor) -> None:
    first = bob.call_json("person", "create_person", {"name": "Bob"})
    second = bob.call_json("person", "update_person", {"name": "Bobby"})
    third = bob.call_json("person", "update_person", {"name": "Robert", "bio": "v3"})
    assert len({first, second, third}) == 3
    sync(alice, bob)
    profile = alice.call_json("person", "get_person_profile", {"agent": key_of(bob)})
    assert (profile["action"], profile["name"], profile["bio"]) == (third, "Robert", "v3")


def test_get_all_persons(alice: Conductor, bob: Conductor, carol: Conductor) -> None:
    assert alice.call_json("person", "get_all_persons") == []
    alice.call_json("person", "create_person", {"name": "Alice"})
    bob.call_json("person", "create_person", {"name": "Bob"})
    carol.call_json("person", "create_person", {"name": "Carol"})
    bob.call_json("person", "update_person", {"name": "Bobby"})
    sync(alice, bob, carol)
    everyone = carol.call_json("person", "get_all_persons")
    assert sorted(p["name"] for p in everyone) == ["Alice", "Bobby", "Carol"]
    assert {p["agent"] for p in everyone} == {key_of(n) for n in (alice, bob, carol)}


def test_create_person_twice_and_update_without_profile_are_refused(bob: Conductor) -> None:
    with pytest.raises(ZomeCallError, match="no profile yet"):
        bob.call_json("person", "update_person", {"name": "x"})
    bob.call_json("person", "create_person", {"name": "Bob"})
    with pytest.raises(ZomeCallError, match="already have a profile"):
        bob.call_json("person", "create_person", {"name": "Bob again"})


@pytest.mark.parametrize("payload", [
    {"name": ""}, {"name": "n" * 201}, {"name": "x", "bio": "b" * 2001}, {"name": "x", "age": 3},
    None,
])
def test_create_person_refuses_bad_input(bob: Conductor, payload: object) -> None:
    with pytest.raises(ZomeCallError, match="bad input|takes"):
        bob.call_json("person", "create_person", payload)


# --- rules ------------------------------------------------------------------------------


def test_one_profile_per_agent(alice: Conductor, bob: Conductor) -> None:
    bob.call_json("person", "create_person", {"name": "Bob"})
    with pytest.raises(AppValidationError) as caught:
        bob.call_json("person", "raw_create_person", {"name": "Bob II"})
    assert caught.value.detail.startswith("person.one_profile_per_agent: ")
    reason = peer_refusal(bob, alice, forge_create(bob, Person(name="Bob II")))
    assert reason.startswith("person.one_profile_per_agent: ")


def test_only_the_owner_updates_or_deletes_a_profile(alice: Conductor, bob: Conductor) -> None:
    profile = bob.call_json("person", "create_person", {"name": "Bob"})
    sync(alice, bob)
    with pytest.raises(AppValidationError) as caught:
        alice.call_json("person", "raw_update", {"original": profile, "person": {"name": "X"}})
    assert caught.value.detail.startswith("person.only_owner_modifies: ")
    with pytest.raises(AppValidationError) as caught:
        alice.call_json("person", "raw_delete", {"action": profile})
    assert caught.value.detail.startswith("person.only_owner_modifies: ")
    reason = peer_refusal(alice, bob, forge_update(alice, profile, Person(name="X")))
    assert reason.startswith("person.only_owner_modifies: ")
    reason = peer_refusal(alice, bob, forge_delete(alice, profile))
    assert reason.startswith("person.only_owner_modifies: ")
    assert bob.call_json("person", "get_person_profile", {"agent": key_of(bob)})["name"] == "Bob"


def test_an_update_keeps_the_entry_type(alice: Conductor, bob: Conductor) -> None:
    device = bob.call_json("person", "register_device_for_person", {
        "device_key": key_of(alice), "kind": "sensor_station", "name": "s"})
    with pytest.raises(AppValidationError) as caught:
        bob.call_json("person", "raw_update", {"original": device, "person": {"name": "X"}})
    assert caught.value.detail.startswith("person.update_same_type: ")
    reason = peer_refusal(bob, alice, forge_update(bob, device, Person(name="X")))
    assert reason.startswith("person.update_same_type: ")


@pytest.mark.parametrize("link_type", ["AgentToPerson", "AgentToDevices", "AllPersons",
                                       "PromotionRequests"])
def test_index_links_start_at_their_own_base(alice: Conductor, bob: Conductor,
                                             link_type: str) -> None:
    bob.call_json("person", "create_person", {"name": "Bob"})
    link = {"agent": key_of(alice), "link_type": link_type}
    with pytest.raises(AppValidationError) as caught:
        bob.call_json("person", "raw_link", link)
    assert caught.value.detail.startswith("person.link_base: ")
    sync(alice, bob)
    forged = forge(bob, "raw_link", link, "person")
    assert refused_by_peer(alice, forged).startswith("person.link_base: ")


def test_role_links_start_at_an_agent_and_point_at_an_action(bob: Conductor) -> None:
    # from my own key to my own action: allowed for AgentToRoles (anyone indexes a role)
    link = bob.call_json("person", "raw_link", {"agent": key_of(bob), "link_type": "AgentToRoles"})
    assert isinstance(ActionHash.parse(link), ActionHash)


def test_only_a_links_creator_deletes_it(alice: Conductor, bob: Conductor) -> None:
    bob.call_json("person", "create_person", {"name": "Bob"})
    sync(alice, bob)
    links = [s for s, _ in alice.store.chain(bob.agent) if isinstance(s.action, CreateLink)]
    head = head_of(alice)
    forged = sign(DeleteLink(alice.agent, head.action.seq + 1, head.hash,
                             head.action.timestamp_us + STEP_US, links[0].action.base,
                             links[0].hash), alice.key)
    reason = peer_refusal(alice, bob, (forged, None))
    assert reason.startswith("person.only_owner_modifies: ")
