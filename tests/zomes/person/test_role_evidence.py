"""``must_hold_role`` as other zomes call it, and a property: whatever sequence of role writes a
node attempts, exactly those the rules allow are accepted, so no agent ends up holding a role
the rules forbid."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from builders import FakeClock, build_conductor, export_chain
from conftest import key_of, person_dna, sync
from hypothesis import event, given, settings
from hypothesis import strategies as st

from nodeapp._core.hashing import ActionHash
from nodeapp._core.integrity import MissingDependency
from nodeapp.conductor import Conductor
from nodeapp.errors import AppValidationError
from nodeapp.keystore import generate_agent_key
from nodeapp.zome_api import LocalContext, Scratch
from zomes.person.integrity import Invalid, Role, must_hold_role


def context(node: Conductor) -> LocalContext:
    return LocalContext(node.store, Scratch(None, 0), node.dna.manifest.properties,
                        tuple(z.name for z in node.dna.zomes))


def raw(action: str | None) -> bytes | None:
    return None if action is None else ActionHash.parse(action).raw


def test_must_hold_role(alice: Conductor, bob: Conductor, carol: Conductor) -> None:
    request = bob.call_json("person", "request_role_promotion", {})
    sync(alice, bob, carol)
    accountable = alice.call_json("person", "approve_role_promotion", {"action": request})
    sync(alice, bob, carol)
    transport = alice.call_json("person", "assign_person_role",
                                {"agent": key_of(bob), "role": "Transport"})
    profile = carol.call_json("person", "create_person", {"name": "Carol"})
    sync(alice, bob, carol)
    ctx = context(carol)

    def check(agent: Conductor, role: Role, evidence: str | None) -> Invalid | None:
        return must_hold_role(ctx, agent.agent, role, raw(evidence))

    for role in (Role.PrimaryAccountableAgent, Role.AccountableAgent, Role.SimpleAgent):
        assert check(alice, role, None) is None  # the steward
    assert check(carol, Role.SimpleAgent, None) is None  # every member
    assert check(bob, Role.AccountableAgent, accountable) is None
    assert check(bob, Role.SimpleAgent, accountable) is None
    assert check(bob, Role.Transport, transport) is None
    refusals = [
        (check(alice, Role.Transport, None), "needs cited PersonRole evidence"),
        (check(bob, Role.AccountableAgent, None), "needs cited PersonRole evidence"),
        (check(bob, Role.PrimaryAccountableAgent, accountable), "gives AccountableAgent"),
        (check(bob, Role.AccountableAgent, transport), "gives Transport, not AccountableAgent"),
        (check(carol, Role.AccountableAgent, accountable), "names another agent"),
        (check(bob, Role.AccountableAgent, profile), "is not a PersonRole"),
    ]
    for refused, words in refusals:
        assert isinstance(refused, Invalid) and refused.reason.startswith(
            "person.role_required: "), refused
        assert words in refused.reason
    with pytest.raises(MissingDependency):
        check(bob, Role.AccountableAgent, str(ActionHash(b"\x07" * 32)))


# --- property: accepted role writes are exactly the allowed ones --------------------------

AGENTS = 3  # agent 0 is the steward
_IMPLIED = {Role.PrimaryAccountableAgent: {Role.PrimaryAccountableAgent, Role.AccountableAgent}}


@dataclass
class Model:
    """Who was given which role, by accepted PersonRole action."""

    grants: dict[str, tuple[int, Role]] = field(default_factory=dict)

    def proves(self, agent: int, role: Role, evidence: str | None) -> bool:
        if role is Role.SimpleAgent:
            return True
        if evidence is None:
            return agent == 0 and role in _IMPLIED[Role.PrimaryAccountableAgent]
        receiver, given_role = self.grants[evidence]
        return receiver == agent and role in _IMPLIED.get(given_role, {given_role})

    def holds(self, agent: int, role: Role) -> bool:
        return self.proves(agent, role, None) or any(
            self.proves(agent, role, action) for action in self.grants)

    def allows(self, assigner: int, receiver: int, role: Role, request: bool,
               assigner_ev: str | None, receiver_ev: str | None) -> bool:
        if assigner == receiver or role is Role.SimpleAgent:
            return False
        if role is Role.AccountableAgent:
            return request and self.proves(assigner, Role.AccountableAgent, assigner_ev)
        return (self.proves(receiver, Role.AccountableAgent, receiver_ev)
                and self.proves(assigner, Role.PrimaryAccountableAgent, assigner_ev))


# biased towards writes that can succeed (the steward assigns, AccountableAgent with a request)
agent = st.one_of(st.just(0), st.integers(0, AGENTS - 1))
role = st.one_of(st.just(Role.AccountableAgent), st.sampled_from(Role))
step = st.tuples(agent, st.integers(0, AGENTS - 1), role, st.booleans() | st.just(True),
                 st.integers(0, 3), st.integers(0, 3))


def publish(author: Conductor, nodes: list[Conductor]) -> None:
    """Send the author's newest records (a call writes at most two) to every other node."""
    newest = export_chain(author)[-2:]
    for node in nodes:
        if node is not author:
            report = node.ingest(newest)
            assert report.rejected == [] and report.unresolved == [], report


def pick(model: Model, choice: int) -> str | None:
    """Evidence to cite: none, or one of the accepted grants (to anyone, of any role)."""
    actions = list(model.grants)
    return None if choice == 0 or not actions else actions[(choice - 1) % len(actions)]


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_only_allowed_role_writes_are_accepted(steps: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as home:
        keys = [generate_agent_key() for _ in range(AGENTS)]
        dna, clock = person_dna(keys[0]), FakeClock()
        nodes = [build_conductor(Path(home), key=k, dna=dna, clock=clock, db_name=f"{i}.db")
                 for i, k in enumerate(keys)]
        sync(*nodes)  # genesis: peers hold each chain's start
        model = Model()
        for assigner, receiver, role, with_request, a_choice, r_choice in steps:
            request = None
            if with_request and role is not Role.SimpleAgent:
                request = nodes[receiver].call_json("person", "raw_request", {"role": role})
                publish(nodes[receiver], nodes)
            assigner_ev, receiver_ev = pick(model, a_choice), pick(model, r_choice)
            entry = {"agent": key_of(nodes[receiver]), "role": role, "request": request,
                     "assigner_evidence": assigner_ev, "receiver_evidence": receiver_ev}
            allowed = model.allows(assigner, receiver, role, request is not None,
                                   assigner_ev, receiver_ev)
            try:
                created = nodes[assigner].call_json("person", "raw_role", entry)
            except AppValidationError as refused:
                assert not allowed, refused
                continue
            assert allowed, entry
            model.grants[created] = (receiver, role)
            publish(nodes[assigner], nodes)  # every peer accepts what its author accepted
        event(f"role writes accepted: {min(len(model.grants), 3)}+")
        observer = nodes[-1]
        for agent, node in enumerate(nodes):
            holds = {role for role in Role if observer.call_json(
                "person", "has_person_role_capability", {"agent": key_of(node), "role": role})}
            assert holds == {role for role in Role if model.holds(agent, role)}
            if holds - {Role.SimpleAgent}:  # any given role sits on top of AccountableAgent
                assert Role.AccountableAgent in holds
