"""The facility zome's functions (zomes/facility/coordinator.py), called on real nodes."""

from __future__ import annotations

from typing import Any

import pytest
from facility_net import DAY_US, Net, agent_str, certification, facility_input, judge

from nodeapp._core.hashing import ActionHash
from nodeapp.errors import ZomeCallError
from zomes.facility.integrity import CERTIFICATIONS_MAX


def register(net: Net, **changes: Any) -> str:
    return net.maker.call_json("facility", "register_facility",
                               facility_input(net.clock.now_us, **changes))


def read(node: Any, facility: str) -> dict[str, Any]:
    found = node.call_json("facility", "get_facility", {"facility": facility})
    assert found is not None
    return found


def verified(net: Net, **changes: Any) -> str:
    facility = register(net, **changes)
    net.sync()
    judge(net.vera, "verify_facility", facility, net.vera_role)
    net.sync()
    return facility


# --- register_facility / get_facility -------------------------------------------------------


def test_register_facility_starts_pending_and_reads_back_everywhere(net: Net) -> None:
    facility = register(net)
    net.sync()
    for node in net.nodes:
        found = read(node, facility)
        assert found["facility"] == found["version"] == facility
        assert found["registrant"] == agent_str(net.maker)
        assert found["name"] == "Fab Lab North" and found["location"] == "Montreal"
        assert [e["capabilities"] for e in found["equipment"]] == [["cnc_milling"],
                                                                   ["3d_printing"]]
        assert found["certifications"][0]["name"] == "ISO 9001"
        assert found["status"] == "pending"
        assert found["last_verification"] is None and found["verifications"] == []


@pytest.mark.parametrize("changes", [
    {"name": ""},
    {"location": "x" * 201},
    {"equipment": [{"kind": "mill", "count": 0}]},
    {"equipment": [{"kind": "mill", "count": 1, "capabilities": ["CNC Milling"]}]},
    {"equipment": [{"kind": "mill", "count": 1.5}]},
    {"certifications": [{"name": "ISO 9001", "issuer": "TUV", "valid_from_us": -1,
                         "valid_until_us": 5}]},
    {"owner": "someone"},
])
def test_register_facility_refuses_bad_input(net: Net, changes: dict[str, Any]) -> None:
    before = net.maker.store.counts()
    with pytest.raises(ZomeCallError):
        register(net, **changes)
    assert net.maker.store.counts() == before


def test_get_facility_of_what_is_no_registration(net: Net) -> None:
    facility = register(net)
    update = net.maker.call_json("facility", "update_facility_equipment",
                                 {"facility": facility, "equipment": []})
    assert net.maker.call_json("facility", "get_facility", {"facility": update}) is None
    assert net.maker.call_json("facility", "get_facility",
                               {"facility": str(ActionHash(b"\x07" * 32))}) is None
    assert net.maker.call_json("facility", "get_facility", {"facility": net.vera_role}) is None
    with pytest.raises(ZomeCallError, match="must be an action hash"):
        net.maker.call_json("facility", "get_facility", {"facility": "nope"})


# --- list_facilities ---------------------------------------------------------------------


def test_list_facilities_oldest_first_on_every_node(net: Net) -> None:
    first = register(net)
    second = net.stella.call_json("facility", "register_facility",
                                  facility_input(net.clock.now_us, name="Steward Works"))
    assert [f["facility"] for f in net.maker.call_json("facility", "list_facilities")] == [first]
    net.sync()
    for node in net.nodes:
        listed = node.call_json("facility", "list_facilities")
        assert [(f["facility"], f["name"]) for f in listed] == [
            (first, "Fab Lab North"), (second, "Steward Works")]


def test_list_facilities_of_an_empty_network(net: Net) -> None:
    assert net.vera.call_json("facility", "list_facilities") == []


# --- update_facility_equipment / add_certification ---------------------------------------


def test_update_facility_equipment_replaces_the_list(net: Net) -> None:
    facility = register(net)
    equipment = [{"kind": "pick and place", "model": "", "count": 1,
                  "capabilities": ["pcb_assembly", "smt_soldering"]}]
    update = net.maker.call_json("facility", "update_facility_equipment",
                                 {"facility": facility, "equipment": equipment})
    net.sync()
    found = read(net.mallory, facility)
    assert found["version"] == update
    assert found["equipment"] == equipment
    assert found["certifications"][0]["name"] == "ISO 9001"  # untouched


def test_add_certification_appends(net: Net) -> None:
    facility = register(net)
    clean_room = certification("clean room ISO 7", start_us=net.clock.now_us, days=30)
    net.maker.call_json("facility", "add_certification",
                        {"facility": facility, "certification": clean_room})
    second = net.maker.call_json("facility", "add_certification", {
        "facility": facility, "certification": certification("CNC operator",
                                                             start_us=net.clock.now_us)})
    found = read(net.maker, facility)
    assert found["version"] == second
    assert [c["name"] for c in found["certifications"]] == [
        "ISO 9001", "clean room ISO 7", "CNC operator"]
    assert found["equipment"] and found["status"] == "pending"


def test_add_certification_beyond_the_limit_is_a_call_error(net: Net) -> None:
    certs = [certification(f"cert {i}", start_us=0) for i in range(CERTIFICATIONS_MAX)]
    facility = register(net, certifications=certs)
    with pytest.raises(ZomeCallError, match="certifications"):
        net.maker.call_json("facility", "add_certification", {
            "facility": facility, "certification": certification(start_us=0)})


def test_updating_a_verified_facility_makes_it_pending_again(net: Net) -> None:
    facility = verified(net)
    assert read(net.stella, facility)["status"] == "verified"
    net.maker.call_json("facility", "add_certification", {
        "facility": facility, "certification": certification("CNC operator", start_us=0)})
    net.sync()
    assert read(net.stella, facility)["status"] == "pending"
    judge(net.stella, "verify_facility", facility, reason="new certificate checked")
    net.sync()
    found = read(net.vera, facility)
    assert found["status"] == "verified"
    assert found["verifications"][-1]["facility_version"] == found["version"]


def test_updating_a_suspended_facility_keeps_it_suspended(net: Net) -> None:
    facility = verified(net)
    judge(net.stella, "suspend_facility", facility)
    net.sync()
    net.maker.call_json("facility", "update_facility_equipment",
                        {"facility": facility, "equipment": []})
    net.sync()
    assert read(net.vera, facility)["status"] == "suspended"


def test_updates_of_an_unknown_facility_are_call_errors(net: Net) -> None:
    unknown = str(ActionHash(b"\x09" * 32))
    with pytest.raises(ZomeCallError, match="not a facility registration"):
        net.maker.call_json("facility", "update_facility_equipment",
                            {"facility": unknown, "equipment": []})
    with pytest.raises(ZomeCallError, match="not a facility registration"):
        net.maker.call_json("facility", "add_certification", {
            "facility": unknown, "certification": certification(start_us=0)})


# --- verify_facility / suspend_facility / revoke_facility ---------------------------------


def test_verify_suspend_verify_revoke(net: Net) -> None:
    facility = register(net)
    net.sync()
    steps = [(net.vera, "verify_facility", net.vera_role, "verified"),
             (net.stella, "suspend_facility", None, "suspended"),
             (net.vera, "verify_facility", net.vera_role, "verified"),
             (net.stella, "revoke_facility", None, "revoked")]
    made = []
    for node, fn, evidence, status in steps:
        made.append(judge(node, fn, facility, evidence, reason=f"{fn} now"))
        net.sync()
        found = read(net.mallory, facility)
        assert found["status"] == status
        assert found["last_verification"] == made[-1]
    history = read(net.maker, facility)["verifications"]
    assert [v["action"] for v in history] == made
    assert [v["previous"] for v in history] == [None, *made[:-1]]
    assert [v["verifier"] for v in history] == [agent_str(n) for n, *_ in steps]
    assert history[0]["reason"] == "verify_facility now"


def test_revoking_a_pending_facility(net: Net) -> None:
    facility = register(net)
    net.sync()
    judge(net.vera, "revoke_facility", facility, net.vera_role, reason="fraudulent papers")
    assert read(net.vera, facility)["status"] == "revoked"


@pytest.mark.parametrize("payload", [
    {"reason": ""},
    {"reason": "ok", "role_evidence": "nope"},
    {"reason": "ok", "extra": 1},
])
def test_judgements_refuse_bad_input(net: Net, payload: dict[str, Any]) -> None:
    facility = register(net)
    net.sync()
    with pytest.raises(ZomeCallError):
        net.vera.call_json("facility", "verify_facility", {"facility": facility, **payload})


def test_judging_a_facility_this_node_does_not_hold(net: Net) -> None:
    facility = register(net)  # not synced
    with pytest.raises(ZomeCallError, match="not a facility registration held by this node"):
        judge(net.vera, "verify_facility", facility, net.vera_role)


# --- validate_production_capability / find_capable_facilities ---------------------------


def capability(node: Any, facility: str, **needs: Any) -> dict[str, Any]:
    return node.call_json("facility", "validate_production_capability",
                          {"facility": facility, **needs})


def test_validate_production_capability(net: Net) -> None:
    facility = verified(net)
    assert capability(net.mallory, facility, capabilities=["cnc_milling", "3d_printing"],
                      certifications=["ISO 9001"]) == {
        "facility": facility, "name": "Fab Lab North", "status": "verified", "capable": True,
        "missing_capabilities": [], "missing_certifications": []}
    lacking = capability(net.mallory, facility, capabilities=["cnc_milling", "pcb_assembly"],
                         certifications=["ISO 9001", "clean room ISO 7"])
    assert lacking["capable"] is False
    assert lacking["missing_capabilities"] == ["pcb_assembly"]
    assert lacking["missing_certifications"] == ["clean room ISO 7"]


def test_capability_respects_certificate_validity_at_the_given_time(net: Net) -> None:
    start = net.clock.now_us
    facility = verified(net)
    needs = {"certifications": ["ISO 9001"]}
    assert capability(net.vera, facility, at_us=start, **needs)["capable"] is True
    assert capability(net.vera, facility, at_us=start + 364 * DAY_US, **needs)["capable"]
    expired = capability(net.vera, facility, at_us=start + 365 * DAY_US, **needs)
    assert expired["missing_certifications"] == ["ISO 9001"] and not expired["capable"]
    early = capability(net.vera, facility, at_us=start - 1, **needs)
    assert early["missing_certifications"] == ["ISO 9001"]
    # default time: now, within the year
    assert capability(net.vera, facility, **needs)["capable"] is True


def test_only_verified_facilities_are_capable(net: Net) -> None:
    facility = register(net)
    net.sync()
    assert capability(net.vera, facility)["status"] == "pending"
    assert capability(net.vera, facility)["capable"] is False
    judge(net.vera, "verify_facility", facility, net.vera_role)
    assert capability(net.vera, facility)["capable"] is True
    judge(net.vera, "suspend_facility", facility, net.vera_role)
    assert capability(net.vera, facility)["capable"] is False


def test_validate_production_capability_of_an_unknown_facility(net: Net) -> None:
    with pytest.raises(ZomeCallError, match="not a facility registration"):
        capability(net.vera, str(ActionHash(b"\x08" * 32)))
    with pytest.raises(ZomeCallError):
        capability(net.vera, str(ActionHash(b"\x08" * 32)), capabilities=["Not Valid"])


def test_find_capable_facilities(net: Net) -> None:
    start = net.clock.now_us
    fab = verified(net)
    pcb_equipment = [{"kind": "pick and place", "count": 1, "capabilities": ["pcb_assembly"]}]
    pcb = net.stella.call_json("facility", "register_facility", facility_input(
        start, name="PCB House", equipment=pcb_equipment))
    pending_pcb = net.mallory.call_json("facility", "register_facility", facility_input(
        start, name="Unverified PCB", equipment=pcb_equipment))
    net.sync()
    judge(net.vera, "verify_facility", pcb, net.vera_role)
    net.sync()

    def found(**needs: Any) -> list[str]:
        return [r["facility"] for r in net.maker.call_json("facility",
                                                           "find_capable_facilities", needs)]

    assert found(capabilities=["pcb_assembly"]) == [pcb]
    assert found(capabilities=["cnc_milling"], certifications=["ISO 9001"]) == [fab]
    assert found(certifications=["ISO 9001"]) == [fab, pcb]
    assert found(certifications=["ISO 9001"], at_us=start + 400 * DAY_US) == []
    assert found(capabilities=["pcb_assembly", "cnc_milling"]) == []
    assert pending_pcb not in found()
