"""The resource zome: every function, and every rule refused by name on the author's own node
and by a peer (zomes/resource)."""

from __future__ import annotations

import pytest
from nondominium_net import (
    CUSTODY_NEEDS_TRANSPORT,
    QUALITY_EACH_STAGE,
    REPAIR_ONLY_MAINTENANCE,
    Net,
    rule,
)

from nodeapp._core.actions import CreateLink
from nodeapp._core.hashing import ActionHash
from nodeapp.errors import AppValidationError, ZomeCallError
from zomes.resource.models import (
    EconomicResource,
    GovernanceRule,
    ResourceSpecification,
    ResourceState,
    RuleType,
)
from zomes.rules import library


def state_of(net: Net, name: str, resource: str) -> str:
    return net.call(name, "resource", "get_economic_resource", {"resource": resource})["state"]


def version_of(net: Net, name: str, resource: str) -> tuple[str, EconomicResource]:
    version = net.call(name, "resource", "get_economic_resource",
                       {"resource": resource})["version"]
    entry = net.entry_at(name, version)
    assert isinstance(entry, EconomicResource)
    return version, entry


def next_version(net: Net, name: str, resource: str, **changes: object
                 ) -> tuple[str, EconomicResource]:
    """The newest version and a next version with ``changes`` (nothing else checked)."""
    version, entry = version_of(net, name, resource)
    return version, entry.model_copy(update={"origin": resource, "evidence": (), "roles": (),
                                             **changes})


# --- specifications and rules -------------------------------------------------------------


def test_create_and_get_specification_with_rules(net: Net) -> None:
    spec = net.specification("bob", [REPAIR_ONLY_MAINTENANCE])
    got = net.call("bob", "resource", "get_resource_specification_with_rules",
                   {"specification": spec})
    assert got["name"] == "sensor kit" and got["author"] == net.agent("bob")
    assert got["governance_rules"] == [{"action": None, "rule_type": "transition",
                                        "rule_data": REPAIR_ONLY_MAINTENANCE["rule_data"],
                                        "enforced_by": None}]
    assert net.call("bob", "resource", "get_all_resource_specifications") == [spec]
    net.sync()
    assert net.call("carol", "resource", "get_resource_specification_with_rules",
                    {"specification": spec})["action"] == spec


def test_get_specification_of_something_else_is_none(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    assert net.call("bob", "resource", "get_resource_specification_with_rules",
                    {"specification": resource}) is None


def test_a_malformed_rule_is_refused_by_the_coordinator(net: Net) -> None:
    with pytest.raises(ZomeCallError, match="resource.rule_well_formed: rule 0 .*unknown "
                                            "operator 'eval'"):
        net.specification("bob", [rule("transition", {"eval": "True"})])


def test_create_governance_rule_and_list_by_type(net: Net) -> None:
    first = net.call("bob", "resource", "create_governance_rule", CUSTODY_NEEDS_TRANSPORT)
    net.call("bob", "resource", "create_governance_rule", REPAIR_ONLY_MAINTENANCE)
    listed = net.call("bob", "resource", "get_governance_rules_by_type",
                      {"rule_type": "custody_transfer"})
    assert [(r["action"], r["rule_data"]) for r in listed] == [
        (first, CUSTODY_NEEDS_TRANSPORT["rule_data"])]
    assert net.call("bob", "resource", "get_governance_rules_by_type",
                    {"rule_type": "access"}) == []


# --- resources ------------------------------------------------------------------------------


def test_create_economic_resource(net: Net) -> None:
    spec = net.specification("bob")
    resource = net.resource("bob", spec, quantity=7)
    got = net.call("bob", "resource", "get_economic_resource", {"resource": resource})
    assert got == {"resource": resource, "version": resource, "specification": spec,
                   "quantity": 7, "unit": "each", "custodian": net.agent("bob"),
                   "current_location": None, "state": "PendingValidation",
                   "creator": net.agent("bob")}
    assert net.call("bob", "resource", "get_resources_by_custodian",
                    {"agent": net.agent("bob")}) == [resource]
    net.sync()
    assert net.call("carol", "resource", "check_first_resource_requirement",
                    {"agent": net.agent("bob")}) is True
    assert net.call("carol", "resource", "check_first_resource_requirement",
                    {"agent": net.agent("carol")}) is False


def test_create_economic_resource_needs_a_specification(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    with pytest.raises(ZomeCallError, match="is not a ResourceSpecification"):
        net.resource("bob", resource)


@pytest.mark.parametrize("quantity", [-1, 10**15 + 1])
def test_create_economic_resource_bounds_quantity(net: Net, quantity: int) -> None:
    with pytest.raises(ZomeCallError):
        net.resource("bob", net.specification("bob"), quantity=quantity)


def test_activation_with_two_of_three_validations(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    version = net.activate("bob", resource)
    got = net.call("bob", "resource", "get_economic_resource", {"resource": version})
    assert (got["state"], got["version"], got["resource"]) == ("Active", version, resource)


def test_update_resource_state_refuses_what_the_lifecycle_forbids(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    with pytest.raises(ZomeCallError, match="PendingValidation resource cannot become "
                                            "Maintenance"):
        net.call("bob", "resource", "update_resource_state",
                 {"resource": resource, "new_state": "Maintenance"})
    net.activate("bob", resource)
    net.call("bob", "resource", "update_resource_state",
             {"resource": resource, "new_state": "Retired"})
    with pytest.raises(ZomeCallError, match="Retired resource cannot become Active"):
        net.call("bob", "resource", "update_resource_state",
                 {"resource": resource, "new_state": "Active"})


def test_update_resource_state_and_location(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    net.activate("bob", resource)
    net.call("bob", "resource", "update_resource_state",
             {"resource": resource, "new_state": "Reserved", "current_location": "lab 2"})
    got = net.call("bob", "resource", "get_economic_resource", {"resource": resource})
    assert (got["state"], got["current_location"]) == ("Reserved", "lab 2")


def test_transfer_custody(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    net.activate("bob", resource)
    net.sync()
    commitment = net.custody_commitment("carol", "bob", resource)
    net.sync()
    net.call("bob", "resource", "transfer_custody", {
        "resource": resource, "new_custodian": net.agent("carol"), "commitment": commitment})
    net.sync()
    assert net.call("carol", "resource", "get_economic_resource",
                    {"resource": resource})["custodian"] == net.agent("carol")
    assert net.call("carol", "resource", "get_resources_by_custodian",
                    {"agent": net.agent("carol")}) == [resource]
    assert net.call("carol", "resource", "get_resources_by_custodian",
                    {"agent": net.agent("bob")}) == []
    with pytest.raises(ZomeCallError, match="only the resource's custodian"):
        net.call("bob", "resource", "update_resource_state",
                 {"resource": resource, "new_state": "Retired"})
    net.call("carol", "resource", "update_resource_state",
             {"resource": resource, "new_state": "Retired"})
    net.sync()
    assert state_of(net, "alice", resource) == "Retired"


# --- the specification's rules ------------------------------------------------------------


def test_only_repair_may_move_to_maintenance(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob", [REPAIR_ONLY_MAINTENANCE]))
    net.activate("bob", resource)
    with pytest.raises(AppValidationError) as caught:
        net.call("bob", "resource", "update_resource_state",
                 {"resource": resource, "new_state": "Maintenance"})
    assert ("resource.governance_rule: transition_requires_role: when to_state == "
            "'Maintenance': has_role(actor, Repair) failed") in str(caught.value)
    _, after = next_version(net, "bob", resource, state=ResourceState.Maintenance)
    net.refused_everywhere("bob", "resource", after, "transition_requires_role",
                           original=version_of(net, "bob", resource)[0])
    net.give_role("bob", "Repair")
    net.call("bob", "resource", "update_resource_state",
             {"resource": resource, "new_state": "Maintenance", "roles": ["Repair"]})
    assert state_of(net, "bob", resource) == "Maintenance"


def test_custody_needs_receiver_role_and_accepted_commitment(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob", [CUSTODY_NEEDS_TRANSPORT]))
    net.activate("bob", resource)
    net.sync()
    commitment = net.custody_commitment("carol", "bob", resource)
    net.sync()
    assert net.call("bob", "governance", "validate_agent_for_custodianship", {
        "agent": net.agent("carol"), "resource": resource})["valid"] is False
    net.refused_call("bob", "transfer_custody", {
        "resource": resource, "new_custodian": net.agent("carol"), "commitment": commitment},
        "resource.governance_rule: custody_requires_role_and_commitment: "
        "has_role(receiver, Transport) failed")
    net.give_role("carol", "Transport")
    assert net.call("bob", "governance", "validate_agent_for_custodianship", {
        "agent": net.agent("carol"), "resource": resource})["valid"] is True
    with_role = net.custody_commitment("carol", "bob", resource, roles=("Transport",))
    net.sync()
    net.call("bob", "resource", "transfer_custody", {
        "resource": resource, "new_custodian": net.agent("carol"), "commitment": with_role})
    assert net.call("bob", "resource", "get_economic_resource",
                    {"resource": resource})["custodian"] == net.agent("carol")


def test_activation_rule_can_ask_for_more_validators(net: Net) -> None:
    three = rule("activation", library.validations_required(3, "AccountableAgent"))
    resource = net.resource("bob", net.specification("bob", [three]))
    net.sync()
    receipts = [net.receipt(v, resource, stage="Active") for v in ("carol", "dave")]
    net.sync()
    validation = net.validation("bob", resource, receipts)
    net.refused_call("bob", "update_resource_state", {
        "resource": resource, "new_state": "Active", "evidence": [validation]},
        "resource.governance_rule: validations_required: count(validators.AccountableAgent) "
        ">= 3 failed")


def test_quality_validation_at_each_stage(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob", [QUALITY_EACH_STAGE]))
    net.activate("bob", resource)  # the validators' receipts are for stage Active
    net.refused_call("bob", "update_resource_state",
                     {"resource": resource, "new_state": "Reserved"},
                     "resource.governance_rule: quality_validation_each_stage")
    net.sync()
    receipt = net.receipt("carol", resource, stage="Reserved")
    net.sync()
    net.call("bob", "resource", "update_resource_state",
             {"resource": resource, "new_state": "Reserved", "evidence": [receipt]})
    assert state_of(net, "bob", resource) == "Reserved"


# --- built-in rules, refused by the author's node and by peers ------------------------------


def test_rule_well_formed(net: Net) -> None:
    bad = ResourceSpecification(name="x", governance_rules=(
        GovernanceRule(rule_type=RuleType.transition, rule_data={"all": "nope"}),))
    net.refused_everywhere("bob", "resource", bad, "resource.rule_well_formed")
    net.refused_everywhere("bob", "resource", GovernanceRule(
        rule_type=RuleType.access, rule_data={"eq": {"fact": "x", "value": None}}),
        "resource.rule_well_formed")


def test_cites_specification(net: Net) -> None:
    spec = net.specification("bob")
    resource = net.resource("bob", spec)
    entry = net.entry_at("bob", resource)
    assert isinstance(entry, EconomicResource)
    net.refused_everywhere("bob", "resource", entry.model_copy(
        update={"specification": resource}), "resource.cites_specification")


@pytest.mark.parametrize("change", [
    {"state": ResourceState.Active},
    {"origin": "SELF"},
    {"custodian": "CAROL"},
])
def test_created_pending(net: Net, change: dict[str, object]) -> None:
    spec = net.specification("bob")
    resource = net.resource("bob", spec)
    entry = net.entry_at("bob", resource)
    fill = {"SELF": resource, "CAROL": net.agent("carol")}
    change = {k: fill.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    net.refused_everywhere("bob", "resource", entry.model_copy(update=change),
                           "resource.created_pending")


def test_role_required(net: Net) -> None:
    from zomes.governance.models import RoleClaim
    from zomes.person.integrity import Role

    resource = net.resource("bob", net.specification("bob"))
    net.activate("bob", resource)
    version, after = next_version(net, "bob", resource, roles=(RoleClaim(role=Role.Repair),))
    net.refused_everywhere("bob", "resource", after, "resource.role_required",
                           original=version)


def test_only_custodian_updates(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    net.activate("bob", resource)
    net.sync()
    version, after = next_version(net, "carol", resource, state=ResourceState.Retired)
    net.refused_everywhere("carol", "resource", after, "resource.only_custodian_updates",
                           original=version)
    _, lost = next_version(net, "bob", resource, origin=version)
    net.refused_everywhere("bob", "resource", lost, "resource.only_custodian_updates",
                           original=version)


def test_fixed_fields(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    version, after = next_version(net, "bob", resource, unit="kg")
    net.refused_everywhere("bob", "resource", after, "resource.fixed_fields", original=version)


def test_quantity_needs_event(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"), quantity=5)
    net.activate("bob", resource)
    version, after = next_version(net, "bob", resource, quantity=3)
    net.refused_everywhere("bob", "resource", after, "resource.quantity_needs_event",
                           original=version)
    event = net.call("bob", "governance", "log_economic_event", {
        "action": "consume", "receiver": net.agent("bob"), "resource_inventoried_as": resource,
        "resource_quantity": 2})
    written = net.call("bob", "resource", "write_raw", {
        "zome": "resource", "original": version,
        "entry": after.model_copy(update={"evidence": (event,)})})
    assert net.entry_at("bob", written).quantity == 3  # type: ignore[attr-defined]
    net.sync()  # and every peer accepts it


def test_transition_allowed(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    version, after = next_version(net, "bob", resource, state=ResourceState.Maintenance)
    net.refused_everywhere("bob", "resource", after, "resource.transition_allowed",
                           original=version)
    net.activate("bob", resource)
    net.call("bob", "resource", "update_resource_state",
             {"resource": resource, "new_state": "Retired"})
    version, after = next_version(net, "bob", resource, current_location="anywhere")
    net.refused_everywhere("bob", "resource", after, "a Retired resource is never changed",
                           original=version)


def test_activation_requires_validation(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    version, after = next_version(net, "bob", resource, state=ResourceState.Active)
    net.refused_everywhere("bob", "resource", after,
                           "resource.activation_requires_validation", original=version)
    net.sync()
    one = net.receipt("carol", resource)
    net.sync()
    pending = net.validation("bob", resource, [one])
    net.refused_everywhere("bob", "resource", after.model_copy(update={"evidence": (pending,)}),
                           "resource.activation_requires_validation", original=version)


def test_custody_needs_commitment(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    net.activate("bob", resource)
    net.sync()
    version, after = next_version(net, "bob", resource, custodian=net.agent("carol"))
    net.refused_everywhere("bob", "resource", after, "resource.custody_needs_commitment",
                           original=version)
    # a commitment bob wrote himself is not carol's acceptance
    own = net.custody_commitment("bob", "bob", resource)
    net.refused_everywhere("bob", "resource", after.model_copy(update={"evidence": (own,)}),
                           "resource.custody_needs_commitment", original=version)


def test_evidence_must_be_about_this_resource(net: Net) -> None:
    spec = net.specification("bob")
    resource = net.resource("bob", spec)
    other = net.resource("bob", spec)
    net.activate("bob", resource)
    net.sync()
    foreign = net.receipt("carol", other)
    net.sync()
    version, after = next_version(net, "bob", resource, evidence=(spec,))
    net.refused_everywhere("bob", "resource", after, "resource.evidence", original=version)
    net.refused_everywhere("bob", "resource", after.model_copy(update={"evidence": (foreign,)}),
                           "resource.evidence: a cited receipt validates another item",
                           original=version)


def test_no_delete(net: Net) -> None:
    spec = net.specification("bob")
    resource = net.resource("bob", spec)
    net.refused_call("bob", "delete_raw", {"action": resource},
                     "resource.no_delete: a resource is retired, never deleted")
    net.refused_call("carol", "delete_raw", {"action": spec},
                     "resource.no_delete: only a specification's or rule's author deletes it")
    net.sync()
    index = next(s for s, _ in net["carol"].store.chain(net["bob"].agent)
                 if isinstance(s.action, CreateLink)
                 and s.action.zome_index == net.dna.zome_index("resource"))
    net.refused_call("carol", "delete_link_raw", {"action": str(ActionHash(index.hash))},
                     "resource.no_delete: only a link's creator deletes it")
    # the author may delete their own specification
    net.call("bob", "resource", "delete_raw", {"action": spec})
    net.sync()


def test_only_the_author_changes_a_specification(net: Net) -> None:
    spec = net.specification("bob")
    net.sync()
    copy = net.entry_at("carol", spec)
    net.refused_everywhere("carol", "resource", copy, "resource.no_delete: only a "
                           "specification's or rule's author changes it", original=spec)


def test_link_target(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    net.refused_call("bob", "link_raw", {
        "zome": "resource", "base": net.agent("bob"), "target": net.agent("carol"),
        "link_type": "CustodianToResources"}, "resource.link_target")
    # a link to an action is fine
    net.call("bob", "resource", "link_raw", {
        "zome": "resource", "base": net.agent("bob"), "target": resource,
        "link_type": "CustodianToResources"})
