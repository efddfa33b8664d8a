"""Each facility rule (zomes/facility/integrity.py) refuses on the author's own node, naming
itself, and a peer refuses the same records signed by a node that skipped validation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from facility_net import Net, agent_str, certification, facility_input, judge
from zome_testing import forge, refused_by_peer

from nodeapp._core.hashing import ActionHash
from nodeapp.conductor import Conductor
from nodeapp.errors import AppValidationError
from zomes.facility.integrity import ALL_FACILITIES_ANCHOR


@dataclass
class World:
    """A registered facility (verified once by vera), with an update, and a second one."""

    net: Net
    facility: str
    update: str
    verdict: str
    other: str
    other_verdict: str
    other_update: str
    other_reverdict: str  # judged ``other_update``


def build_world(net: Net) -> World:
    start = net.clock.now_us
    facility = net.maker.call_json("facility", "register_facility", facility_input(start))
    other = net.stella.call_json("facility", "register_facility",
                                 facility_input(start, name="Steward Works"))
    net.sync()
    verdict = judge(net.vera, "verify_facility", facility, net.vera_role)
    other_verdict = judge(net.vera, "verify_facility", other, net.vera_role)
    net.sync()
    update = net.maker.call_json("facility", "update_facility_equipment",
                                 {"facility": facility, "equipment": []})
    other_update = net.stella.call_json("facility", "update_facility_equipment",
                                        {"facility": other, "equipment": []})
    net.sync()
    other_reverdict = judge(net.vera, "verify_facility", other, net.vera_role)
    net.sync()
    return World(net, facility, update, verdict, other, other_verdict, other_update,
                 other_reverdict)


@pytest.fixture
def world(net: Net) -> World:
    return build_world(net)


def verdict(w: World, **changes: Any) -> dict[str, Any]:
    """A FacilityVerification that vera may write (facility pending after its update)."""
    data = {"facility": w.facility, "facility_version": w.update, "previous": w.verdict,
            "status": "verified", "reason": "checked", "role_evidence": w.net.vera_role}
    data.update(changes)
    return data


@dataclass(frozen=True)
class Case:
    """A call that breaks ``rule`` when ``author`` makes it."""

    rule: str
    author: Callable[[World], Conductor]
    fn: str
    payload: Callable[[World], Any]


def maker(w: World) -> Conductor:
    return w.net.maker


def vera(w: World) -> Conductor:
    return w.net.vera


def stella(w: World) -> Conductor:
    return w.net.stella


def mallory(w: World) -> Conductor:
    return w.net.mallory


def corrupt(printable: str) -> str:
    """The same printable hash with one character changed: its checksum fails."""
    return printable[:10] + ("A" if printable[10] != "A" else "B") + printable[11:]


def judging(w: World, evidence: str | None = None) -> dict[str, Any]:
    return {"facility": w.facility, "reason": "r", "role_evidence": evidence}


CASES = [
    Case("facility.certification_dates", mallory, "register_facility", lambda w: facility_input(
        0, certifications=[certification(start_us=5, days=0)])),
    Case("facility.one_registration_per_agent", maker, "register_facility",
         lambda w: facility_input(0, name="Second Lab")),
    Case("facility.certification_dates", maker, "add_certification", lambda w: {
        "facility": w.facility, "certification": {"name": "ISO 9001", "issuer": "TUV",
                                                  "valid_from_us": 9, "valid_until_us": 3}}),
    Case("facility.update_by_registrant", mallory, "update_facility_equipment",
         lambda w: {"facility": w.facility, "equipment": []}),
    Case("facility.update_of_registration", maker, "write_update",
         lambda w: {"original": w.update, "facility": facility_input(0)}),
    Case("facility.verifications_are_final", vera, "update_verification",
         lambda w: {"action": w.verdict}),
    Case("facility.cites_facility", vera, "write_verification",
         lambda w: verdict(w, facility=w.update, previous=None)),
    Case("facility.cites_facility", vera, "write_verification",
         lambda w: verdict(w, facility=w.net.vera_role, previous=None)),
    Case("facility.cites_facility", vera, "write_verification",
         lambda w: verdict(w, facility_version=w.other)),
    Case("facility.cites_facility", vera, "write_verification",
         lambda w: verdict(w, facility=corrupt(w.facility))),
    Case("facility.no_self_verification", stella, "verify_facility",
         lambda w: {"facility": w.other, "reason": "mine"}),
    Case("facility.verifier_authorised", mallory, "verify_facility", judging),
    Case("facility.verifier_authorised", mallory, "verify_facility",
         lambda w: judging(w, w.net.vera_role)),
    Case("facility.verifier_authorised", vera, "verify_facility", lambda w: judging(w)),
    Case("facility.previous_of_same_facility", vera, "write_verification",
         lambda w: verdict(w, previous=w.other_verdict)),
    Case("facility.previous_of_same_facility", vera, "write_verification",
         lambda w: verdict(w, previous=w.net.vera_role)),
    Case("facility.version_not_older", vera, "write_verification",
         lambda w: verdict(w, facility=w.other, previous=w.other_reverdict,
                           facility_version=w.other, status="suspended")),
    Case("facility.transition_allowed", vera, "suspend_facility",
         lambda w: judging(w, w.net.vera_role)),  # pending again after the update
    Case("facility.transition_allowed", vera, "write_verification",
         lambda w: verdict(w, facility_version=w.facility, status="verified")),
    Case("facility.transition_allowed", vera, "write_verification",
         lambda w: verdict(w, status="pending")),
    Case("facility.no_deletes", maker, "delete_record", lambda w: {"action": w.facility}),
    Case("facility.no_deletes", vera, "delete_record", lambda w: {"action": w.verdict}),
    Case("facility.link_index", mallory, "link", lambda w: {
        "base": str(ALL_FACILITIES_ANCHOR), "target": w.facility,
        "link_type": "AllFacilities"}),
    Case("facility.link_index", maker, "link", lambda w: {
        "base": w.facility, "target": w.facility, "link_type": "AllFacilities"}),
    Case("facility.link_target", maker, "link", lambda w: {
        "base": w.facility, "target": agent_str(w.net.maker), "link_type": "FacilityVersions"}),
    Case("facility.link_base", maker, "link", lambda w: {
        "base": str(ALL_FACILITIES_ANCHOR), "target": w.update,
        "link_type": "FacilityVersions"}),
    Case("facility.link_version", mallory, "link", lambda w: {
        "base": w.facility, "target": w.update, "link_type": "FacilityVersions"}),
    Case("facility.link_version", maker, "link", lambda w: {
        "base": w.other, "target": w.update, "link_type": "FacilityVersions"}),
    Case("facility.link_verification", vera, "link", lambda w: {
        "base": w.facility, "target": w.other_verdict, "link_type": "FacilityVerifications"}),
    Case("facility.link_verification", mallory, "link", lambda w: {
        "base": w.facility, "target": w.verdict, "link_type": "FacilityVerifications"}),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}-{c.fn}-{i}" for i, c in
                                             enumerate(CASES)])
def test_rule_refuses_on_the_authors_node_and_at_peers(world: World, case: Case) -> None:
    author, payload = case.author(world), case.payload(world)
    before = author.store.counts()
    with pytest.raises(AppValidationError) as caught:
        author.call_json("facility", case.fn, payload)
    assert caught.value.detail.startswith(case.rule + ": "), caught.value.detail
    assert author.store.counts() == before
    forged = forge(author, case.fn, payload, "facility")
    for peer in world.net.nodes:
        if peer is not author:
            assert case.rule + ": " in refused_by_peer(peer, forged)


def test_link_deletes_are_refused(world: World) -> None:
    net = world.net
    link = [s for s, _ in net.maker.store.chain(net.maker.agent)][-1]
    ref = {"action": str(ActionHash(link.hash))}
    with pytest.raises(AppValidationError, match="facility.no_deletes: "):
        net.maker.call_json("facility", "delete_link", ref)
    forged = forge(net.maker, "delete_link", ref, "facility")
    assert "facility.no_deletes: " in refused_by_peer(net.stella, forged)


def test_a_revoked_facility_stays_revoked(world: World) -> None:
    net = world.net
    revoked = judge(net.stella, "revoke_facility", world.facility)
    net.sync()
    for fn in ("verify_facility", "suspend_facility", "revoke_facility"):
        with pytest.raises(AppValidationError, match="facility.revoked_is_final: "):
            judge(net.vera, fn, world.facility, net.vera_role)
        forged = forge(net.vera, fn, judging(world, net.vera_role), "facility")
        assert "facility.revoked_is_final: " in refused_by_peer(net.mallory, forged)
    # a fork that follows an older judgement is valid by itself, but never undoes revocation
    fork = net.vera.call_json("facility", "write_verification", verdict(world))
    net.vera.call_json("facility", "link", {"base": world.facility, "target": fork,
                                            "link_type": "FacilityVerifications"})
    net.sync()
    for node in net.nodes:
        found = node.call_json("facility", "get_facility", {"facility": world.facility})
        assert found["status"] == "revoked" and found["last_verification"] == revoked
        assert fork in [v["action"] for v in found["verifications"]]


def test_the_right_verifier_passes_where_others_fail(world: World) -> None:
    """The refusals above are about who and what, not about the call: the same move by an
    authorised verifier is accepted by the author's node and by every peer."""
    net = world.net
    judge(net.vera, "verify_facility", world.facility, net.vera_role)
    judge(net.vera, "suspend_facility", world.other, net.vera_role)
    net.sync()
    for node in net.nodes:
        assert node.call_json("facility", "get_facility",
                              {"facility": world.facility})["status"] == "verified"
        assert node.call_json("facility", "get_facility",
                              {"facility": world.other})["status"] == "suspended"
