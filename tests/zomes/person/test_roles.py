"""Roles and promotions: the functions, and every role rule refused on the author's node and at
a peer (zomes/person/roles.py, zomes/person/integrity.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from conftest import forge_create, forge_delete, forge_update, key_of, peer_refusal, sync

from nodeapp.conductor import Conductor
from nodeapp.errors import AppValidationError, ZomeCallError
from zomes.person.integrity import PersonRole, Role, RolePromotionRequest


@dataclass
class Community:
    """alice: steward; bob and carol: AccountableAgents; dave: SimpleAgent. All synced."""

    alice: Conductor
    bob: Conductor
    carol: Conductor
    dave: Conductor
    bob_role: str
    carol_role: str

    def all(self) -> tuple[Conductor, ...]:
        return self.alice, self.bob, self.carol, self.dave


def promote(approver: Conductor, agent: Conductor, *others: Conductor) -> str:
    """``agent`` asks to become accountable and ``approver`` approves; returns the PersonRole."""
    request = agent.call_json("person", "request_role_promotion", {"justification": "please"})
    sync(approver, agent, *others)
    role = approver.call_json("person", "approve_role_promotion", {"action": request})
    sync(approver, agent, *others)
    return role


@pytest.fixture
def town(alice: Conductor, bob: Conductor, carol: Conductor, dave: Conductor) -> Community:
    bob_role = promote(alice, bob, carol, dave)
    carol_role = promote(bob, carol, alice, dave)
    return Community(alice, bob, carol, dave, bob_role, carol_role)


def holds(node: Conductor, who: Conductor, role: Role) -> bool:
    return node.call_json("person", "has_person_role_capability",
                          {"agent": key_of(who), "role": role})


# --- functions ----------------------------------------------------------------------------


def test_every_member_holds_simple_agent_and_the_steward_primary(alice: Conductor,
                                                                  bob: Conductor) -> None:
    assert holds(alice, bob, Role.SimpleAgent)
    assert not holds(alice, bob, Role.AccountableAgent)
    for role in (Role.PrimaryAccountableAgent, Role.AccountableAgent, Role.SimpleAgent):
        assert holds(bob, alice, role)
    assert not holds(bob, alice, Role.Transport)  # specialized roles are given, never implied


def test_request_and_approve_promotion(town: Community) -> None:
    for node in town.all():
        assert holds(node, town.bob, Role.AccountableAgent)
        assert holds(node, town.carol, Role.AccountableAgent)
        assert not holds(node, town.bob, Role.PrimaryAccountableAgent)
    roles = town.dave.call_json("person", "get_person_roles", {"agent": key_of(town.carol)})
    assert roles == [{"action": town.carol_role, "role": "AccountableAgent",
                      "assigned_by": key_of(town.bob)}]


def test_promote_agent_to_accountable_finds_the_newest_request(town: Community) -> None:
    with pytest.raises(ZomeCallError, match="has not asked"):
        town.bob.call_json("person", "promote_agent_to_accountable", {"agent": key_of(town.dave)})
    town.dave.call_json("person", "request_role_promotion", {"role": "Repair"})
    town.dave.call_json("person", "request_role_promotion", {})
    sync(*town.all())
    given = town.bob.call_json("person", "promote_agent_to_accountable",
                               {"agent": key_of(town.dave)})
    sync(*town.all())
    assert holds(town.alice, town.dave, Role.AccountableAgent)
    assert town.alice.call_json("person", "get_person_roles", {"agent": key_of(town.dave)})[0][
        "action"] == given


def test_assign_specialized_and_primary_roles(town: Community) -> None:
    town.alice.call_json("person", "assign_person_role",
                         {"agent": key_of(town.bob), "role": "PrimaryAccountableAgent"})
    sync(*town.all())
    # bob, now primary, gives a specialized role (citing his own and carol's evidence)
    town.bob.call_json("person", "assign_person_role",
                       {"agent": key_of(town.carol), "role": "Storage"})
    sync(*town.all())
    assert holds(town.dave, town.carol, Role.Storage)
    assert not holds(town.dave, town.carol, Role.Repair)
    assert holds(town.dave, town.bob, Role.PrimaryAccountableAgent)


def test_request_role_promotion_refuses_a_held_role(town: Community) -> None:
    with pytest.raises(ZomeCallError, match="already hold"):
        town.bob.call_json("person", "request_role_promotion", {})


@pytest.mark.parametrize(("assigner", "receiver", "role", "message"), [
    ("bob", "bob", "Storage", "nobody may give a role to themselves"),
    ("alice", "dave", "SimpleAgent", "every member holds SimpleAgent"),
    ("alice", "dave", "AccountableAgent", "by approving"),
    ("alice", "dave", "Transport", "the receiver must hold AccountableAgent"),
    ("bob", "carol", "Transport", "the assigner must hold PrimaryAccountableAgent"),
    ("bob", "carol", "PrimaryAccountableAgent", "the assigner must hold PrimaryAccountable"),
])
def test_assign_person_role_refuses_early(town: Community, assigner: str, receiver: str,
                                          role: str, message: str) -> None:
    node = getattr(town, assigner)
    before = node.store.counts()
    with pytest.raises(ZomeCallError, match=message):
        node.call_json("person", "assign_person_role",
                       {"agent": key_of(getattr(town, receiver)), "role": role})
    assert node.store.counts() == before


def test_approve_role_promotion_refuses_what_is_not_a_request(town: Community) -> None:
    with pytest.raises(ZomeCallError, match="not a RolePromotionRequest"):
        town.alice.call_json("person", "approve_role_promotion", {"action": town.bob_role})


@pytest.mark.parametrize("payload", [
    {"agent": "nope", "role": "Transport"},
    {"agent": "agent_" + "B" * 48, "role": "Transport"},  # checksum fails
    {"role": "Transport"},
])
def test_bad_role_input_is_refused(alice: Conductor, payload: dict[str, str]) -> None:
    with pytest.raises(ZomeCallError, match="bad input"):
        alice.call_json("person", "assign_person_role", payload)


def test_unknown_role_is_refused(alice: Conductor, bob: Conductor) -> None:
    with pytest.raises(ZomeCallError, match="bad input"):
        alice.call_json("person", "assign_person_role", {"agent": key_of(bob), "role": "King"})


# --- rules: each refused by the author's node and by a peer ------------------------------


Case = Callable[[Community], tuple[Conductor, PersonRole | RolePromotionRequest]]


def _request(node: Conductor, role: Role, *others: Conductor) -> str:
    request = node.call_json("person", "raw_request", {"role": role})
    sync(node, *others)
    return request


def self_assignment(t: Community) -> tuple[Conductor, PersonRole]:
    return t.alice, PersonRole(agent=key_of(t.alice), role=Role.Transport)


def simple_agent(t: Community) -> tuple[Conductor, PersonRole]:
    return t.alice, PersonRole(agent=key_of(t.dave), role=Role.SimpleAgent)


def accountable_without_request(t: Community) -> tuple[Conductor, PersonRole]:
    return t.alice, PersonRole(agent=key_of(t.dave), role=Role.AccountableAgent)


def accountable_by_simple_agent(t: Community) -> tuple[Conductor, PersonRole]:
    request = _request(t.carol, Role.AccountableAgent, *t.all())
    # dave holds only SimpleAgent; citing carol's own evidence does not make it his
    return t.dave, PersonRole(agent=key_of(t.carol), role=Role.AccountableAgent,
                              request=request, assigner_evidence=t.carol_role)


def accountable_with_someone_elses_request(t: Community) -> tuple[Conductor, PersonRole]:
    request = _request(t.carol, Role.AccountableAgent, *t.all())
    return t.alice, PersonRole(agent=key_of(t.dave), role=Role.AccountableAgent,
                               request=request)


def request_for_another_role(t: Community) -> tuple[Conductor, PersonRole]:
    request = _request(t.dave, Role.Repair, *t.all())
    return t.alice, PersonRole(agent=key_of(t.dave), role=Role.AccountableAgent,
                               request=request)


def request_that_is_not_a_request(t: Community) -> tuple[Conductor, PersonRole]:
    return t.alice, PersonRole(agent=key_of(t.dave), role=Role.AccountableAgent,
                               request=t.bob_role)


def primary_by_accountable(t: Community) -> tuple[Conductor, PersonRole]:
    return t.bob, PersonRole(agent=key_of(t.carol), role=Role.PrimaryAccountableAgent,
                             assigner_evidence=t.bob_role, receiver_evidence=t.carol_role)


def primary_to_simple_agent(t: Community) -> tuple[Conductor, PersonRole]:
    return t.alice, PersonRole(agent=key_of(t.dave), role=Role.PrimaryAccountableAgent)


def specialized_by_accountable(t: Community) -> tuple[Conductor, PersonRole]:
    return t.bob, PersonRole(agent=key_of(t.carol), role=Role.Transport,
                             assigner_evidence=t.bob_role, receiver_evidence=t.carol_role)


def specialized_to_simple_agent(t: Community) -> tuple[Conductor, PersonRole]:
    return t.alice, PersonRole(agent=key_of(t.dave), role=Role.Repair)


def specialized_citing_someone_elses_evidence(t: Community) -> tuple[Conductor, PersonRole]:
    return t.alice, PersonRole(agent=key_of(t.dave), role=Role.Repair,
                               receiver_evidence=t.bob_role)


def simple_agent_request(t: Community) -> tuple[Conductor, RolePromotionRequest]:
    return t.dave, RolePromotionRequest(role=Role.SimpleAgent)


RULE_CASES: list[tuple[Case, str, str]] = [
    (self_assignment, "person.no_self_assignment", "give a role to themselves"),
    (simple_agent, "person.role_not_assignable", "every member holds SimpleAgent"),
    (accountable_without_request, "person.accountable_needs_approved_request",
     "only by approving"),
    (accountable_by_simple_agent, "person.accountable_needs_approved_request",
     "evidence for AccountableAgent names another agent"),
    (accountable_with_someone_elses_request, "person.request_mismatch", "receiver's request"),
    (request_for_another_role, "person.request_mismatch", "request for AccountableAgent"),
    (request_that_is_not_a_request, "person.request_mismatch", "not a RolePromotionRequest"),
    (primary_by_accountable, "person.primary_needs_primary",
     "gives AccountableAgent, not PrimaryAccountableAgent"),
    (primary_to_simple_agent, "person.primary_needs_primary",
     "receiver must be an AccountableAgent"),
    (specialized_by_accountable, "person.specialized_needs_primary",
     "only a PrimaryAccountableAgent may give Transport"),
    (specialized_to_simple_agent, "person.specialized_needs_primary",
     "person.role_required: AccountableAgent needs cited PersonRole evidence"),
    (specialized_citing_someone_elses_evidence, "person.specialized_needs_primary",
     "names another agent"),
    (simple_agent_request, "person.request_role", "every member holds SimpleAgent"),
]


@pytest.mark.parametrize(("case", "rule", "detail"), RULE_CASES,
                         ids=[c[0].__name__ for c in RULE_CASES])
def test_rule_refused_on_the_authors_node(town: Community, case: Case, rule: str,
                                          detail: str) -> None:
    author, entry = case(town)
    before = author.store.counts()
    fn = "raw_role" if isinstance(entry, PersonRole) else "raw_request"
    with pytest.raises(AppValidationError) as caught:
        author.call_json("person", fn, entry.model_dump(mode="json"))
    assert caught.value.detail.startswith(rule + ": ")
    assert detail in caught.value.detail
    assert author.store.counts() == before


@pytest.mark.parametrize(("case", "rule", "detail"), RULE_CASES,
                         ids=[c[0].__name__ for c in RULE_CASES])
def test_rule_refused_by_a_peer(town: Community, case: Case, rule: str, detail: str) -> None:
    author, entry = case(town)
    peer = town.dave if author is not town.dave else town.alice
    reason = peer_refusal(author, peer, forge_create(author, entry))
    assert reason.startswith(rule + ": "), reason
    assert detail in reason


def test_a_role_is_never_updated_or_deleted(town: Community) -> None:
    replacement = PersonRole(agent=key_of(town.bob), role=Role.PrimaryAccountableAgent)
    with pytest.raises(AppValidationError, match="person.role_immutable: a PersonRole is never"
                                                 " updated"):
        town.alice.call_json("person", "raw_update", {"original": town.bob_role,
                                                      "role": replacement.model_dump()})
    with pytest.raises(AppValidationError, match="person.role_immutable: a PersonRole is never"
                                                 " deleted"):
        town.alice.call_json("person", "raw_delete", {"action": town.bob_role})
    update = forge_update(town.alice, town.bob_role, replacement)
    assert peer_refusal(town.alice, town.dave, update).startswith("person.role_immutable: ")
    delete = forge_delete(town.alice, town.bob_role)
    assert peer_refusal(town.alice, town.dave, delete).startswith("person.role_immutable: ")
    assert holds(town.dave, town.bob, Role.AccountableAgent)


def test_a_role_citing_unheld_evidence_waits(town: Community, make_node) -> None:  # type: ignore[no-untyped-def]
    """A peer that does not hold the cited evidence neither accepts nor refuses: unresolved."""
    erin = make_node("erin")
    signed, entry = forge_create(town.bob, PersonRole(
        agent=key_of(town.carol), role=Role.Transport, assigner_evidence=town.bob_role,
        receiver_evidence=town.carol_role))
    report = erin.ingest([(signed.action_bytes, signed.signature, entry)])
    assert report.stored == 0 and report.rejected == []
    assert [h for h, _ in report.unresolved] == [signed.hash]
