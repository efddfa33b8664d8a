"""Callable functions of the resource zome (Nondominium names).

A resource is named by its first Create; each state change is an Update of its newest version,
which a ``ResourceUpdates`` link from the first Create points at."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from nodeapp._core.hashing import ActionHash, AgentPubKey, ExternalHash, blake2b_256
from nodeapp.coordinator import Coordinator
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.governance.calls import (
    Input,
    ResourceRef,
    RolesInput,
    author_of,
    claims_for,
    newest_version,
    read,
)
from zomes.governance.models import RECEIPTS_MAX
from zomes.person.integrity import ActionHashStr, AgentKeyStr, Role
from zomes.resource import access
from zomes.resource.integrity import ZOME, rule_problem
from zomes.resource.models import (
    RULES_MAX,
    TRANSITIONS,
    EconomicResource,
    GovernanceRule,
    ResourceSpecification,
    ResourceState,
    RuleType,
)

COORDINATOR = Coordinator(ZOME)
ALL_SPECIFICATIONS_ANCHOR = ExternalHash(blake2b_256(b"anchor:resource_specifications"))
ALL_RESOURCES_ANCHOR = ExternalHash(blake2b_256(b"anchor:economic_resources"))


def rules_anchor(rule_type: RuleType) -> ExternalHash:
    """The anchor standalone governance rules of one type hang from."""
    return ExternalHash(blake2b_256(b"anchor:governance_rules:" + rule_type.value.encode()))


class GovernanceRuleInput(Input):
    """A rule in the rule language (see ``zomes.rules``)."""

    rule_type: RuleType
    rule_data: dict[str, Any]
    enforced_by: Role | None = None


class SpecificationInput(Input):
    """A new resource specification with its embedded rules."""

    name: str
    description: str = ""
    category: str = ""
    default_unit: str = "each"
    governance_rules: list[GovernanceRuleInput] = Field(default_factory=list,
                                                        max_length=RULES_MAX)


class SpecificationRef(Input):
    """Names a specification."""

    specification: ActionHashStr


class RuleTypeQuery(Input):
    """A rule type to list."""

    rule_type: RuleType


class RuleOutput(BaseModel):
    """A governance rule as read back."""

    action: str | None = None
    rule_type: str
    rule_data: dict[str, Any]
    enforced_by: str | None


class SpecificationOutput(BaseModel):
    """A specification with its rules."""

    action: str
    author: str
    name: str
    description: str
    category: str
    default_unit: str
    governance_rules: list[RuleOutput]


class NewResourceInput(RolesInput):
    """A new resource of a specification, in my custody."""

    specification: ActionHashStr
    quantity: int
    unit: str | None = None  # the specification's default unit when omitted
    current_location: str | None = None


class StateChangeInput(RolesInput):
    """Move a resource to ``new_state``, citing the governance records that allow it."""

    resource: ActionHashStr
    new_state: ResourceState
    evidence: list[ActionHashStr] = Field(default_factory=list, max_length=RECEIPTS_MAX)
    current_location: str | None = None


class TransferCustodyInput(RolesInput):
    """Hand a resource to ``new_custodian``, who committed to take it (``commitment``)."""

    resource: ActionHashStr
    new_custodian: AgentKeyStr
    commitment: ActionHashStr
    evidence: list[ActionHashStr] = Field(default_factory=list, max_length=RECEIPTS_MAX - 1)
    current_location: str | None = None


class AgentInput(Input):
    """Names an agent."""

    agent: AgentKeyStr


class ResourceOutput(BaseModel):
    """A resource's newest version."""

    resource: str
    version: str
    specification: str
    quantity: int
    unit: str
    custodian: str
    current_location: str | None
    state: str
    creator: str


def _rule_output(rule: GovernanceRule, action: ActionHash | None = None) -> RuleOutput:
    return RuleOutput(action=None if action is None else str(action), rule_type=rule.rule_type,
                      rule_data=rule.rule_data, enforced_by=rule.enforced_by)


def _rules(inputs: list[GovernanceRuleInput]) -> tuple[GovernanceRule, ...]:
    rules = tuple(GovernanceRule(**rule.model_dump()) for rule in inputs)
    refused = rule_problem(rules)
    if refused is not None:
        raise ZomeCallError(refused.reason)
    return rules


@COORDINATOR.function
def create_resource_specification(api: ZomeApi, spec: SpecificationInput) -> ActionHash:
    """Write a specification with its embedded governance rules."""
    created = api.create_entry(ResourceSpecification(
        name=spec.name, description=spec.description, category=spec.category,
        default_unit=spec.default_unit, governance_rules=_rules(spec.governance_rules)))
    api.create_link(ALL_SPECIFICATIONS_ANCHOR, created, "AllSpecifications")
    return created


@COORDINATOR.function
def create_governance_rule(api: ZomeApi, rule: GovernanceRuleInput) -> ActionHash:
    """Write a standalone governance rule, listed under its type."""
    (entry,) = _rules([rule])
    created = api.create_entry(entry)
    api.create_link(rules_anchor(entry.rule_type), created, "RulesByType")
    return created


@COORDINATOR.function
def get_resource_specification_with_rules(api: ZomeApi, ref: SpecificationRef
                                          ) -> SpecificationOutput | None:
    """A specification and its rules; None if unknown."""
    action = ActionHash.parse(ref.specification)
    spec = api.get_entry(action, ResourceSpecification)
    if spec is None:
        return None
    return SpecificationOutput(
        action=str(action), author=str(author_of(api, action)), name=spec.name,
        description=spec.description, category=spec.category, default_unit=spec.default_unit,
        governance_rules=[_rule_output(rule) for rule in spec.governance_rules])


@COORDINATOR.function
def get_all_resource_specifications(api: ZomeApi) -> list[str]:
    """Action hashes of every specification held here, oldest first."""
    return [str(link.target) for link in api.get_links(ALL_SPECIFICATIONS_ANCHOR,
                                                       "AllSpecifications")]


@COORDINATOR.function
def get_governance_rules_by_type(api: ZomeApi, query: RuleTypeQuery) -> list[RuleOutput]:
    """Standalone rules of one type held here, oldest first."""
    out = []
    for link in api.get_links(rules_anchor(query.rule_type), "RulesByType"):
        if isinstance(link.target, ActionHash):
            rule = api.get_entry(link.target, GovernanceRule)
            if rule is not None:
                out.append(_rule_output(rule, link.target))
    return out


@COORDINATOR.function
def create_economic_resource(api: ZomeApi, new: NewResourceInput) -> ActionHash:
    """Write a new resource in my custody; it starts PendingValidation."""
    spec = read(api, new.specification, ResourceSpecification, "ResourceSpecification")
    created = api.create_entry(EconomicResource(
        specification=new.specification, quantity=new.quantity,
        unit=new.unit or spec.default_unit, custodian=str(api.agent),
        current_location=new.current_location, roles=claims_for(api, new.roles)))
    api.create_link(ALL_RESOURCES_ANCHOR, created, "AllResources")
    api.create_link(api.agent, created, "CustodianToResources")
    return created


def current(api: ZomeApi, resource: str) -> tuple[ActionHash, ActionHash, EconomicResource]:
    """(first Create, newest version, its entry) of a resource named by any of its versions."""
    named = ActionHash.parse(resource)
    entry = read(api, named, EconomicResource, "EconomicResource")
    origin = ActionHash.parse(entry.origin) if entry.origin else named
    version = newest_version(api, origin, "ResourceUpdates")
    return origin, version, read(api, version, EconomicResource, "EconomicResource")


def write_version(resource_api: ZomeApi, resource: str, roles: list[Role],
                  evidence: list[str], **changes: Any) -> ActionHash:
    """Write a resource's next version with ``changes`` through ``resource_api`` (the resource
    zome's API of this call, so other zomes' functions can change a resource too)."""
    origin, version, before = current(resource_api, resource)
    if AgentPubKey.parse(before.custodian) != resource_api.agent:
        raise ZomeCallError("only the resource's custodian may change it")
    new_state = changes.get("state", before.state)
    if before.state is ResourceState.Retired or (
            new_state != before.state and new_state not in TRANSITIONS[before.state]):
        raise ZomeCallError(f"a {before.state} resource cannot become {new_state}")
    after = before.model_copy(update={
        **changes, "origin": str(origin), "roles": claims_for(resource_api, roles),
        "evidence": tuple(evidence)})
    written = resource_api.update_entry(version, EconomicResource.model_validate(
        after.model_dump()))
    resource_api.create_link(origin, written, "ResourceUpdates")
    return written


@COORDINATOR.function
def update_resource_state(api: ZomeApi, change: StateChangeInput) -> ActionHash:
    """Move one of my resources to a new state (and place)."""
    changes: dict[str, Any] = {"state": change.new_state}
    if change.current_location is not None:
        changes["current_location"] = change.current_location
    return write_version(api, change.resource, change.roles, change.evidence, **changes)


@COORDINATOR.function
def transfer_custody(api: ZomeApi, transfer: TransferCustodyInput) -> ActionHash:
    """Hand one of my resources to the agent who committed to take it."""
    changes: dict[str, Any] = {"custodian": transfer.new_custodian}
    if transfer.current_location is not None:
        changes["current_location"] = transfer.current_location
    origin = current(api, transfer.resource)[0]
    written = write_version(api, transfer.resource, transfer.roles,
                            [transfer.commitment, *transfer.evidence], **changes)
    api.create_link(AgentPubKey.parse(transfer.new_custodian), origin, "CustodianToResources")
    return written


@COORDINATOR.function
def get_economic_resource(api: ZomeApi, ref: ResourceRef) -> ResourceOutput | None:
    """A resource's newest version held here; None if unknown."""
    if api.get_entry(ActionHash.parse(ref.resource), EconomicResource) is None:
        return None
    origin, version, entry = current(api, ref.resource)
    return ResourceOutput(
        resource=str(origin), version=str(version), specification=entry.specification,
        quantity=entry.quantity, unit=entry.unit, custodian=entry.custodian,
        current_location=entry.current_location, state=entry.state,
        creator=str(author_of(api, origin)))


@COORDINATOR.function
def get_resources_by_custodian(api: ZomeApi, ref: AgentInput) -> list[str]:
    """Resources (first Creates) whose newest version held here is in ``agent``'s custody."""
    out = []
    for link in api.get_links(AgentPubKey.parse(ref.agent), "CustodianToResources"):
        if isinstance(link.target, ActionHash) and str(link.target) not in out:
            if current(api, str(link.target))[2].custodian == ref.agent:
                out.append(str(link.target))
    return out


@COORDINATOR.function
def check_first_resource_requirement(api: ZomeApi, ref: AgentInput) -> bool:
    """Whether ``agent`` has created a resource (Nondominium asks this before promotion)."""
    agent = AgentPubKey.parse(ref.agent)
    return any(link.author == agent
               for link in api.get_links(ALL_RESOURCES_ANCHOR, "AllResources"))


COORDINATOR.function(access.store_specification_private_part)
COORDINATOR.remote(access.get_specification_private_parts)
