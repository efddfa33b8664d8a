"""Devices: registration, deactivation for good, and ``must_be_active_device`` (the check the
attestation rules will cite)."""

from __future__ import annotations

import pytest
from conftest import forge_create, forge_update, key_of, peer_refusal, sync

from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp._core.integrity import MissingDependency
from nodeapp.conductor import Conductor
from nodeapp.errors import AppValidationError, ZomeCallError
from nodeapp.keystore import generate_agent_key
from nodeapp.zome_api import LocalContext, Scratch
from zomes.person.integrity import Device, must_be_active_device

DEVICE_KEY = str(AgentPubKey(generate_agent_key().public_key))


def register(node: Conductor, key: str = DEVICE_KEY) -> str:
    return node.call_json("person", "register_device_for_person",
                          {"device_key": key, "kind": "cnc_controller", "name": "mill"})


def context(node: Conductor) -> LocalContext:
    """The validation context of ``node``'s store, as its own validation sees it."""
    return LocalContext(node.store, Scratch(None, 0), node.dna.manifest.properties,
                        tuple(z.name for z in node.dna.zomes))


def test_register_and_list_devices(alice: Conductor, bob: Conductor) -> None:
    first = register(bob)
    second = register(bob, str(AgentPubKey(generate_agent_key().public_key)))
    sync(alice, bob)
    listed = alice.call_json("person", "get_devices_for_person", {"agent": key_of(bob)})
    assert [d["action"] for d in listed] == [first, second]
    assert listed[0] == {"action": first, "owner": key_of(bob), "device_key": DEVICE_KEY,
                         "kind": "cnc_controller", "name": "mill", "active": True}
    assert alice.call_json("person", "get_devices_for_person", {"agent": key_of(alice)}) == []


@pytest.mark.parametrize("payload", [
    {"device_key": "agent_x", "kind": "cnc", "name": "m"},
    {"device_key": DEVICE_KEY, "kind": "CNC Controller", "name": "m"},
    {"device_key": DEVICE_KEY, "kind": "cnc", "name": ""},
])
def test_register_refuses_bad_input(bob: Conductor, payload: dict[str, str]) -> None:
    with pytest.raises(ZomeCallError, match="bad input"):
        bob.call_json("person", "register_device_for_person", payload)


def test_deactivate_device(alice: Conductor, bob: Conductor) -> None:
    device = register(bob)
    inactive = bob.call_json("person", "deactivate_device", {"action": device})
    sync(alice, bob)
    listed = alice.call_json("person", "get_devices_for_person", {"agent": key_of(bob)})
    assert [(d["action"], d["active"]) for d in listed] == [(inactive, False)]
    with pytest.raises(ZomeCallError, match="already deactivated"):
        bob.call_json("person", "deactivate_device", {"action": inactive})


def test_only_the_owner_deactivates(alice: Conductor, bob: Conductor) -> None:
    device = register(bob)
    sync(alice, bob)
    with pytest.raises(ZomeCallError, match="only a device's owner"):
        alice.call_json("person", "deactivate_device", {"action": device})
    off = Device(device_key=DEVICE_KEY, kind="cnc_controller", name="mill", active=False)
    with pytest.raises(AppValidationError) as caught:
        alice.call_json("person", "raw_update", {"original": device, "device": off.model_dump()})
    assert caught.value.detail.startswith("person.only_owner_modifies: ")
    reason = peer_refusal(alice, bob, forge_update(alice, device, off))
    assert reason.startswith("person.only_owner_modifies: ")


@pytest.mark.parametrize("change", [{"active": True}, {"name": "renamed", "active": False},
                                    {"device_key": "alice's", "active": False}])
def test_an_update_only_deactivates(alice: Conductor, bob: Conductor, change: dict) -> None:
    """Reactivation, renaming or re-keying is refused, so a deactivated device stays so."""
    device = bob.call_json("person", "deactivate_device", {"action": register(bob)})
    fields = {"device_key": DEVICE_KEY, "kind": "cnc_controller", "name": "mill", **change}
    if fields["device_key"] == "alice's":
        fields["device_key"] = key_of(alice)
    new = Device(**fields)
    with pytest.raises(AppValidationError) as caught:
        bob.call_json("person", "raw_update", {"original": device, "device": new.model_dump()})
    assert caught.value.detail.startswith("person.device_update_deactivates_only: ")
    reason = peer_refusal(bob, alice, forge_update(bob, device, new))
    assert reason.startswith("person.device_update_deactivates_only: ")


def test_a_new_device_is_active_and_has_its_own_key(alice: Conductor, bob: Conductor) -> None:
    off = Device(device_key=DEVICE_KEY, kind="sensor_station", name="s", active=False)
    with pytest.raises(AppValidationError) as caught:
        bob.call_json("person", "raw_device", off.model_dump())
    assert caught.value.detail.startswith("person.device_update_deactivates_only: ")
    assert peer_refusal(bob, alice, forge_create(bob, off)).startswith(
        "person.device_update_deactivates_only: ")
    own = Device(device_key=key_of(bob), kind="sensor_station", name="s")
    with pytest.raises(ZomeCallError, match="its own key"):
        register(bob, key_of(bob))
    with pytest.raises(AppValidationError) as caught:
        bob.call_json("person", "raw_device", own.model_dump())
    assert caught.value.detail.startswith("person.device_key_not_owner: ")
    assert peer_refusal(bob, alice, forge_create(bob, own)).startswith(
        "person.device_key_not_owner: ")


def test_must_be_active_device(alice: Conductor, bob: Conductor) -> None:
    device = register(bob)
    inactive = bob.call_json("person", "deactivate_device", {"action": register(bob, key_of(
        alice))})
    profile = bob.call_json("person", "create_person", {"name": "Bob"})
    sync(alice, bob)
    ctx = context(alice)
    key = AgentPubKey.parse(DEVICE_KEY).raw
    assert must_be_active_device(ctx, ActionHash.parse(device).raw, key) is None
    other = must_be_active_device(ctx, ActionHash.parse(device).raw, alice.agent)
    assert other is not None and "another key" in other.reason
    off = must_be_active_device(ctx, ActionHash.parse(inactive).raw, alice.agent)
    assert off is not None and off.reason.startswith("person.device_required: ")
    assert "deactivated" in off.reason
    wrong = must_be_active_device(ctx, ActionHash.parse(profile).raw, key)
    assert wrong is not None and "not a Device" in wrong.reason


def test_must_be_active_device_waits_for_unheld_records(alice: Conductor,
                                                        bob: Conductor) -> None:
    device = register(bob)
    with pytest.raises(MissingDependency):
        must_be_active_device(context(alice), ActionHash.parse(device).raw,
                              AgentPubKey.parse(DEVICE_KEY).raw)
