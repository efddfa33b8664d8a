"""Property: whatever sequence of calls members make (including raw writes that bypass the
coordinator), no node ever holds a version of a resource that its rules forbid."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nondominium_net import CUSTODY_NEEDS_TRANSPORT, REPAIR_ONLY_MAINTENANCE, Net, RawWrite

from nodeapp._core.actions import Update
from nodeapp._core.hashing import ActionHash
from nodeapp.errors import NodeError
from zomes.governance.models import Commitment, ResourceValidation, RoleClaim, VfAction
from zomes.person.integrity import Role
from zomes.resource.models import TRANSITIONS, EconomicResource, ResourceState

MEMBERS = ("bob", "carol", "dave")
STATES = list(ResourceState)

STEPS = st.one_of(
    st.tuples(st.just("state"), st.sampled_from(MEMBERS), st.sampled_from(STATES),
              st.booleans()),
    st.tuples(st.just("activate")),
    st.tuples(st.just("commit"), st.sampled_from(MEMBERS), st.booleans()),
    st.tuples(st.just("transfer"), st.sampled_from(MEMBERS), st.booleans(), st.booleans()),
    st.tuples(st.just("process"), st.sampled_from(["Use", "Repair", "Transport"])),
    st.tuples(st.just("raw"), st.sampled_from(MEMBERS), st.sampled_from(STATES),
              st.sampled_from(MEMBERS), st.booleans()),
)


class Scenario:
    """One resource of bob's under Repair-only Maintenance and Transport custody rules."""

    def __init__(self, net: Net, resource: str) -> None:
        self.net, self.resource = net, resource
        self.commitments: dict[str, str] = {}
        self.processes: list[str] = []

    def now(self) -> dict[str, Any]:
        return self.net.call("bob", "resource", "get_economic_resource",
                             {"resource": self.resource})

    def custodian(self) -> str:
        agent = self.now()["custodian"]
        return next(m for m in MEMBERS if self.net.agent(m) == agent)

    def run(self, step: tuple[Any, ...]) -> None:
        net, resource = self.net, self.resource
        match step:
            case ("state", who, new_state, repair):
                net.call(who, "resource", "update_resource_state", {
                    "resource": resource, "new_state": new_state,
                    "roles": ["Repair"] if repair else []})
            case ("activate",):
                owner = self.custodian()
                net.activate(owner, resource, tuple(m for m in MEMBERS if m != "bob")[:2])
            case ("commit", receiver, transport):
                self.commitments[receiver] = net.custody_commitment(
                    receiver, self.custodian(), resource,
                    roles=("Transport",) if transport else ())
            case ("transfer", receiver, commit_first, transport):
                if commit_first:
                    self.run(("commit", receiver, transport))
                net.call(self.custodian(), "resource", "transfer_custody", {
                    "resource": resource, "new_custodian": net.agent(receiver),
                    "commitment": self.commitments.get(receiver, resource)})
            case ("process", kind):
                if self.processes:
                    net.call(self.custodian(), "governance", "complete_economic_process",
                             {"process": self.processes.pop()})
                else:
                    self.processes.append(net.call(
                        self.custodian(), "governance", "initiate_economic_process",
                        {"process_type": kind, "resource": resource})["process"])
            case ("raw", who, new_state, custodian, repair):
                version = self.now()["version"]
                before = net.entry_at("bob", version)
                assert isinstance(before, EconomicResource)
                after = before.model_copy(update={
                    "origin": resource, "state": new_state, "evidence": (),
                    "custodian": net.agent(custodian),
                    "roles": (RoleClaim(role=Role.Repair),) if repair else ()})
                net.nodes[who].call("resource", "write_raw", RawWrite(
                    zome="resource", entry=after, original=version))
        net.sync()


def versions_held(net: Net, holder: str, resource: str) -> list[tuple[Update, str]]:
    """Every Update of the resource ``holder``'s node holds, with its author's name."""
    node = net[holder]
    out = []
    for name in MEMBERS:
        for signed, _status in node.store.chain(net[name].agent):
            action = signed.action
            if isinstance(action, Update) and action.zome_index == net.dna.zome_index(
                    "resource"):
                entry = net.entry_at(holder, str(ActionHash(signed.hash)))
                if isinstance(entry, EconomicResource) and entry.origin == resource:
                    out.append((action, name))
    return out


def check_rules(net: Net, holder: str, resource: str) -> None:
    for action, author in versions_held(net, holder, resource):
        before = net.entry_at(holder, str(ActionHash(action.original_action)))
        after = net.entry_at(holder, str(ActionHash(
            next(s.hash for s, _ in net[holder].store.chain(action.author)
                 if s.action == action))))
        assert isinstance(before, EconomicResource) and isinstance(after, EconomicResource)
        assert net.agent(author) == before.custodian
        assert before.state is not ResourceState.Retired
        assert after.state == before.state or after.state in TRANSITIONS[before.state]
        assert (after.quantity, after.unit, after.specification) == (
            before.quantity, before.unit, before.specification)
        cited = [net.entry_at(holder, e, "governance") for e in after.evidence]
        if after.state is ResourceState.Maintenance and before.state != after.state:
            assert Role.Repair in {claim.role for claim in after.roles}
        if before.state is ResourceState.PendingValidation and after.state is (
                ResourceState.Active):
            assert any(isinstance(c, ResourceValidation) and c.status == "Approved"
                       for c in cited)
        if after.custodian != before.custodian:
            assert any(isinstance(c, Commitment) and c.receiver == after.custodian
                       and c.action is VfAction.TransferCustody
                       and Role.Transport in {claim.role for claim in c.roles} for c in cited)


@pytest.fixture(scope="module")
def starts(accountable_template: Net, tmp_path_factory: pytest.TempPathFactory
           ) -> dict[tuple[bool, bool], tuple[Net, str]]:
    """Prepared networks with bob's resource, by (roles given, resource active): with roles,
    bob may repair and carol may transport; dave never holds a specialized role."""
    out = {}
    for roles in (False, True):
        for active in (False, True):
            net = accountable_template.copy_to(tmp_path_factory.mktemp("start"))
            if roles:
                net.give_role("bob", "Repair")
                net.give_role("carol", "Transport")
            spec = net.specification("bob", [REPAIR_ONLY_MAINTENANCE, CUSTODY_NEEDS_TRANSPORT])
            resource = net.resource("bob", spec)
            if active:
                net.activate("bob", resource)
            net.sync()
            out[roles, active] = (net, resource)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEPS, max_size=8), roles=st.booleans(), active=st.booleans())
def test_random_calls_never_break_the_rules(
        starts: dict[tuple[bool, bool], tuple[Net, str]],
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[Any, ...]],
        roles: bool, active: bool) -> None:
    template, resource = starts[roles, active]
    scenario = Scenario(template.copy_to(tmp_path_factory.mktemp("run")), resource)
    for step in steps:
        try:
            scenario.run(step)
        except NodeError:
            pass  # refused: by the coordinator or by validation; nothing was written
    for holder in ("alice", "bob", "dave"):
        check_rules(scenario.net, holder, scenario.resource)
