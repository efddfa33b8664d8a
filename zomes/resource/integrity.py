"""Integrity of the resource zome: specifications with embedded governance rules, and economic
resources whose lifecycle those rules govern.

Entry types, in DNA order: ``ResourceSpecification``, ``GovernanceRule``, ``EconomicResource``,
``SpecificationPrivatePart`` (private) (models in ``zomes.resource.models``).

Rules (rule names prefix every refusal):
* ``resource.rule_well_formed``: every governance rule parses in the rule language;
* ``resource.cites_specification``: a resource names a ResourceSpecification;
* ``resource.created_pending``: a new resource is PendingValidation, has no origin and its
  author is its custodian;
* ``resource.role_required``: every ``RoleClaim`` a resource version carries is proven for its
  author;
* ``resource.only_custodian_updates``: only the current custodian writes a new version, which
  replaces an EconomicResource and keeps its ``origin`` (the first Create);
* ``resource.fixed_fields``: specification and unit never change;
* ``resource.quantity_needs_event``: a quantity change cites an event on this resource that
  raises (produce, raise) or lowers (consume, lower) it by exactly that much;
* ``resource.transition_allowed``: state changes follow ``TRANSITIONS``; Retired is final;
* ``resource.activation_requires_validation``: PendingValidation -> Active cites an Approved
  ResourceValidation of this resource (its k-of-n scheme is checked by governance);
* ``resource.custody_needs_commitment``: a new custodian cites a transfer-custody Commitment
  from the current custodian that the new custodian wrote;
* ``resource.evidence``: cited evidence is a governance record about this resource;
* ``resource.governance_rule``: the specification's rules of the matching types hold over the
  facts of ``zomes.resource.facts`` (the refusal says which condition failed);
* ``resource.no_delete``: resources are retired, never deleted; only the author deletes a
  specification or rule; only a link's creator deletes it;
* ``resource.link_target``: links point at actions.
"""

from __future__ import annotations

from nodeapp._core.actions import Create, CreateLink, Delete, DeleteLink, Update
from nodeapp._core.hashing import ActionHash, HashKind
from nodeapp._core.integrity import (
    VALID,
    IntegrityZome,
    Invalid,
    Op,
    ValidateContext,
    ValidateResult,
    deleted_by_link_creator,
    must_get_entry_of,
)
from nodeapp._core.ops import OpType
from zomes.governance import models as governance_models
from zomes.governance.integrity import proven_roles, raw
from zomes.governance.models import VfAction
from zomes.person.integrity import agent_raw
from zomes.resource import facts as resource_facts_module
from zomes.resource import models as resource_models
from zomes.resource.facts import Evidence, accepted_commitment, gather, resource_facts
from zomes.resource.models import (
    ENTRY_DEFS,
    LINK_DEFS,
    TRANSITIONS,
    EconomicResource,
    GovernanceRule,
    ResourceSpecification,
    ResourceState,
    RuleType,
)
from zomes.rules import RuleError, evaluate, parse_rule
from zomes.rules import evaluation as evaluation_module
from zomes.rules import language as language_module

CODE_DEPENDENCIES = (resource_models, resource_facts_module, governance_models, language_module,
                     evaluation_module)

_RAISES = (VfAction.Produce, VfAction.Raise)
_LOWERS = (VfAction.Consume, VfAction.Lower)


def rule_problem(rules: tuple[GovernanceRule, ...]) -> Invalid | None:
    """Invalid if a rule does not parse."""
    for index, rule in enumerate(rules):
        try:
            parse_rule(rule.rule_data)
        except RuleError as exc:
            return Invalid(f"resource.rule_well_formed: rule {index} ({rule.rule_type}): {exc}")
    return None


def _specification(ctx: ValidateContext, printable: str) -> ResourceSpecification | None:
    found = must_get_entry_of(ctx, raw(printable), ZOME, "ResourceSpecification")
    return None if found is None else found[1]  # type: ignore[return-value]


def _check_new_resource(ctx: ValidateContext, author: bytes,
                        resource: EconomicResource) -> Invalid | None:
    if _specification(ctx, resource.specification) is None:
        return Invalid("resource.cites_specification: specification is not a "
                       "ResourceSpecification")
    if (resource.state is not ResourceState.PendingValidation or resource.origin is not None
            or agent_raw(resource.custodian) != author):
        return Invalid("resource.created_pending: a new resource is PendingValidation, has no "
                       "origin, and its creator is its custodian")
    roles = proven_roles(ctx, author, resource.roles, "resource.role_required")
    return roles if isinstance(roles, Invalid) else None


def _quantity_problem(evidence: Evidence, before: EconomicResource,
                      after: EconomicResource) -> Invalid | None:
    delta = after.quantity - before.quantity
    if delta == 0:
        return None
    actions = _RAISES if delta > 0 else _LOWERS
    if any(e.action in actions and e.resource_quantity == abs(delta) and e.unit == after.unit
           for e in evidence.events):
        return None
    return Invalid(f"resource.quantity_needs_event: quantity changes by {delta} without a "
                   "cited event that accounts for it")


def _lifecycle_problem(evidence: Evidence, before: EconomicResource,
                       after: EconomicResource) -> Invalid | None:
    if before.state is ResourceState.Retired:
        return Invalid("resource.transition_allowed: a Retired resource is never changed")
    if after.state != before.state and after.state not in TRANSITIONS[before.state]:
        return Invalid(f"resource.transition_allowed: {before.state} cannot become "
                       f"{after.state}")
    if (before.state is ResourceState.PendingValidation and after.state is ResourceState.Active
            and not evidence.approved_validation):
        return Invalid("resource.activation_requires_validation: becoming Active needs a cited "
                       "Approved ResourceValidation of this resource")
    if before.custodian != after.custodian and accepted_commitment(
            evidence, before, after) is None:
        return Invalid("resource.custody_needs_commitment: a new custodian needs a cited "
                       "transfer-custody commitment it wrote, from the current custodian")
    return None


def _rule_types(before: EconomicResource, after: EconomicResource) -> set[RuleType]:
    types = {RuleType.transition}
    if before.custodian != after.custodian:
        types.add(RuleType.custody_transfer)
    if before.state is ResourceState.PendingValidation and after.state is ResourceState.Active:
        types.add(RuleType.activation)
    return types


def _check_resource_update(ctx: ValidateContext, action: Update,
                           after: EconomicResource) -> Invalid | None:
    found = must_get_entry_of(ctx, action.original_action, ZOME, "EconomicResource")
    if found is None:
        return Invalid("resource.only_custodian_updates: an update replaces an EconomicResource")
    original, before = found
    assert isinstance(before, EconomicResource)
    origin = before.origin or str(ActionHash(action.original_action))
    if agent_raw(before.custodian) != action.author or after.origin != origin:
        return Invalid("resource.only_custodian_updates: only the current custodian writes a "
                       "new version, keeping the resource's origin")
    if (after.specification, after.unit) != (before.specification, before.unit):
        return Invalid("resource.fixed_fields: specification and unit never change")
    roles = proven_roles(ctx, action.author, after.roles, "resource.role_required")
    if isinstance(roles, Invalid):
        return roles
    creator = original.action.author if before.origin is None else ctx.must_get_action(
        raw(origin)).action.author
    evidence = gather(ctx, after.evidence, origin, creator)
    if isinstance(evidence, Invalid):
        return evidence
    refused = _lifecycle_problem(evidence, before, after) or _quantity_problem(
        evidence, before, after)
    if refused is not None:
        return refused
    specification = _specification(ctx, before.specification)
    assert specification is not None  # checked when the resource was created
    facts = resource_facts(evidence, before, after, roles)
    types = _rule_types(before, after)
    for rule in specification.governance_rules:
        if rule.rule_type in types:
            verdict = evaluate(parse_rule(rule.rule_data), facts)
            if not verdict.holds:
                return Invalid(f"resource.governance_rule: {verdict.why}")
    return None


def _check_same_author_and_type(ctx: ValidateContext, action: Update) -> Invalid | None:
    original = ctx.must_get_action(action.original_action).action
    if not isinstance(original, Create | Update) or (
            original.zome_index, original.entry_type_index) != (action.zome_index,
                                                                action.entry_type_index):
        return Invalid("resource.only_custodian_updates: an update replaces an entry of its "
                       "type")
    if ENTRY_DEFS[action.entry_type_index].model is not EconomicResource and (
            original.author != action.author):
        return Invalid("resource.no_delete: only a specification's or rule's author changes it")
    return None


def _check_entry(ctx: ValidateContext, action: Create | Update, entry: object) -> Invalid | None:
    if isinstance(entry, ResourceSpecification):
        return rule_problem(entry.governance_rules)
    if isinstance(entry, GovernanceRule):
        return rule_problem((entry,))
    if isinstance(entry, EconomicResource):
        if isinstance(action, Create):
            return _check_new_resource(ctx, action.author, entry)
        return _check_resource_update(ctx, action, entry)
    return None


def validate(op: Op, ctx: ValidateContext) -> ValidateResult:
    """The zome's rules; see the module docstring."""
    action = op.action  # only StoreRecord ops come here (see validated_ops)
    if isinstance(action, Create | Update):
        if isinstance(action, Update):
            refused = _check_same_author_and_type(ctx, action)
            if refused is not None:
                return refused
        if op.entry is None:
            return VALID
        return _check_entry(ctx, action, op.entry) or VALID
    if isinstance(action, Delete):
        original = ctx.must_get_action(action.deletes_action).action
        assert isinstance(original, Create | Update)  # the dispatcher checked it
        if ENTRY_DEFS[original.entry_type_index].model is EconomicResource:
            return Invalid("resource.no_delete: a resource is retired, never deleted")
        if original.author != action.author:
            return Invalid("resource.no_delete: only a specification's or rule's author "
                           "deletes it")
        return VALID
    if isinstance(action, CreateLink) and action.target[0] != HashKind.ACTION:
        return Invalid("resource.link_target: resource links point at actions")
    if isinstance(action, DeleteLink) and not deleted_by_link_creator(ctx, action):
        return Invalid("resource.no_delete: only a link's creator deletes it")
    return VALID


ZOME = IntegrityZome(
    name="resource",
    version="1.0.0",
    entry_defs=ENTRY_DEFS,
    link_defs=LINK_DEFS,
    validate=validate,
    validated_ops=frozenset({OpType.STORE_RECORD}),
)
