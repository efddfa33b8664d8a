"""Integrity of the governance zome: events, commitments, claims, validation receipts,
multi-validator resource validations and economic processes.

Entry types, in DNA order: ``EconomicEvent``, ``Commitment``, ``Claim``, ``ValidationReceipt``,
``ResourceValidation``, ``EconomicProcess`` (models in ``zomes.governance.models``).

Rules (rule names prefix every refusal):
* ``governance.role_required``: every ``RoleClaim`` an entry carries is proven for its author
  (``zomes.person.integrity.must_hold_role``);
* ``governance.author_is_party``: an event's or commitment's author is its provider or receiver;
  a claim's author is a party of the commitment it claims;
* ``governance.cites_resource``: a cited resource is an EconomicResource's first Create;
* ``governance.initial_transfer_by_creator``: an initial-transfer event names a resource and
  is provided by the agent who created it;
* ``governance.fulfills_commitment``: an event that fulfils, or a claim, cites a Commitment
  with the same action, parties and resource;
* ``governance.commitment_due_after_proposal``: a commitment is due after it is written;
* ``governance.no_self_validation``: nobody validates what they wrote;
* ``governance.scheme``: a resource validation's "k-of-n" scheme has 1 <= k <= n <= 16, cites
  at most n receipts, each a ValidationReceipt of that resource by a distinct validator who
  holds ``required_role`` and is not the resource's creator; Approved needs k approvals,
  Rejected needs more than n - k refusals;
* ``governance.process_requires_role``: an economic process claims the role its type needs
  (``PROCESS_ROLES``); completing one updates an Initiated process of the same type and
  resource;
* ``governance.append_only``: governance records are never deleted, and events, commitments,
  claims and receipts never updated; only a record's author updates it, with an entry of the
  same type; only a link's creator deletes it;
* ``governance.link_target``: links point at actions.
System validation has already checked signatures, chain order, entry hashes and sizes, and
that entry and link types exist.
"""

from __future__ import annotations

from nodeapp._core.actions import Create, CreateLink, Delete, DeleteLink, SignedAction, Update
from nodeapp._core.hashing import ActionHash, HashKind
from nodeapp._core.integrity import (
    VALID,
    EntryDef,
    IntegrityZome,
    Invalid,
    LinkDef,
    Op,
    ValidateContext,
    ValidateResult,
    deleted_by_link_creator,
    must_get_entry_of,
)
from nodeapp._core.ops import OpType
from zomes.governance import models as governance_models
from zomes.governance.models import (
    Claim,
    Commitment,
    EconomicEvent,
    EconomicProcess,
    ProcessType,
    ResourceValidation,
    RoleClaim,
    ValidationReceipt,
    VfAction,
    parse_scheme,
)
from zomes.person.integrity import Role, agent_raw, must_hold_role
from zomes.resource import models as resource_models
from zomes.resource.models import RESOURCE_TYPES, EconomicResource

CODE_DEPENDENCIES = (governance_models, resource_models)

# the role each economic process needs
PROCESS_ROLES: dict[ProcessType, Role] = {
    ProcessType.Use: Role.AccountableAgent,
    ProcessType.Transport: Role.Transport,
    ProcessType.Storage: Role.Storage,
    ProcessType.Repair: Role.Repair,
}

ENTRY_DEFS = (
    EntryDef("EconomicEvent", EconomicEvent),
    EntryDef("Commitment", Commitment),
    EntryDef("Claim", Claim),
    EntryDef("ValidationReceipt", ValidationReceipt),
    EntryDef("ResourceValidation", ResourceValidation),
    EntryDef("EconomicProcess", EconomicProcess),
)
LINK_DEFS = (
    LinkDef("ResourceToEvents"),       # resource (first Create) -> EconomicEvent
    LinkDef("ResourceToCommitments"),  # resource -> Commitment
    LinkDef("ItemToReceipts"),         # validated item -> ValidationReceipt
    LinkDef("ResourceToValidations"),  # resource -> ResourceValidation
    LinkDef("ResourceToProcesses"),    # resource -> EconomicProcess
    LinkDef("CommitmentToClaims"),     # commitment -> Claim
)
_UPDATABLE = (ResourceValidation, EconomicProcess)


def raw(printable: str) -> bytes:
    """Raw bytes of a printable action hash."""
    return ActionHash.parse(printable).raw


def proven_roles(ctx: ValidateContext, agent: bytes, claims: tuple[RoleClaim, ...],
                 rule: str) -> frozenset[str] | Invalid:
    """The roles ``claims`` prove for ``agent`` (SimpleAgent always), or Invalid naming
    ``rule`` when one claim is not proven."""
    roles = {Role.SimpleAgent.value}
    for claim in claims:
        evidence = None if claim.evidence is None else raw(claim.evidence)
        refused = must_hold_role(ctx, agent, claim.role, evidence)
        if refused is not None:
            return Invalid(f"{rule}: {refused.reason}")
        roles.add(claim.role.value)
    return frozenset(roles)


def cited_resource(ctx: ValidateContext, printable: str
                   ) -> tuple[SignedAction, EconomicResource] | None:
    """The resource whose first Create is ``printable``; None if it is anything else."""
    found = must_get_entry_of(ctx, raw(printable), RESOURCE_TYPES, "EconomicResource")
    if found is None or not isinstance(found[0].action, Create):
        return None
    assert isinstance(found[1], EconomicResource)
    return found[0], found[1]


def cited_commitment(ctx: ValidateContext, printable: str
                     ) -> tuple[SignedAction, Commitment] | None:
    """The Commitment at ``printable``; None if it is anything else."""
    found = must_get_entry_of(ctx, raw(printable), ZOME, "Commitment")
    if found is None:
        return None
    assert isinstance(found[1], Commitment)
    return found[0], found[1]


def _parties(entry: EconomicEvent | Commitment) -> tuple[bytes, bytes]:
    return agent_raw(entry.provider), agent_raw(entry.receiver)


def _check_event(ctx: ValidateContext, author: bytes, event: EconomicEvent) -> Invalid | None:
    if author not in _parties(event):
        return Invalid("governance.author_is_party: an event's author is its provider or "
                       "receiver")
    resource = None
    if event.resource_inventoried_as is not None:
        resource = cited_resource(ctx, event.resource_inventoried_as)
        if resource is None:
            return Invalid("governance.cites_resource: resource_inventoried_as is not an "
                           "EconomicResource's first Create")
    if event.action is VfAction.InitialTransfer and (
            resource is None or resource[0].action.author != agent_raw(event.provider)):
        return Invalid("governance.initial_transfer_by_creator: an initial transfer names a "
                       "resource and is provided by its creator")
    if event.fulfills is not None:
        return _matches_commitment(ctx, event.fulfills, event)
    return None


def _matches_commitment(ctx: ValidateContext, commitment_hash: str,
                        event: EconomicEvent) -> Invalid | None:
    found = cited_commitment(ctx, commitment_hash)
    if found is None:
        return Invalid("governance.fulfills_commitment: the cited record is not a Commitment")
    commitment = found[1]
    if (commitment.action, _parties(commitment), commitment.resource) != (
            event.action, _parties(event), event.resource_inventoried_as):
        return Invalid("governance.fulfills_commitment: the event's action, parties and "
                       "resource differ from the commitment's")
    return None


def _check_claim(ctx: ValidateContext, author: bytes, claim: Claim) -> Invalid | None:
    found = cited_commitment(ctx, claim.fulfills)
    if found is None:
        return Invalid("governance.fulfills_commitment: a claim cites a Commitment")
    if author not in _parties(found[1]):
        return Invalid("governance.author_is_party: only a party of the commitment claims it")
    event = must_get_entry_of(ctx, raw(claim.fulfilled_by), ZOME, "EconomicEvent")
    if event is None:
        return Invalid("governance.fulfills_commitment: fulfilled_by is not an EconomicEvent")
    assert isinstance(event[1], EconomicEvent)
    return _matches_commitment(ctx, claim.fulfills, event[1])


def _check_receipt(ctx: ValidateContext, author: bytes,
                   receipt: ValidationReceipt) -> Invalid | None:
    item = ctx.must_get_action(raw(receipt.validated_item)).action
    if item.author == author:
        return Invalid("governance.no_self_validation: nobody validates what they wrote")
    return None


def _check_resource_validation(ctx: ValidateContext,
                               validation: ResourceValidation) -> Invalid | None:
    try:
        required, total = parse_scheme(validation.scheme)
    except ValueError as exc:
        return Invalid(f"governance.scheme: {exc}")
    resource = cited_resource(ctx, validation.resource)
    if resource is None:
        return Invalid("governance.cites_resource: a resource validation names an "
                       "EconomicResource's first Create")
    if len(validation.receipts) > total:
        return Invalid(f"governance.scheme: {validation.scheme} takes at most {total} receipts")
    creator = resource[0].action.author
    validators: set[bytes] = set()
    approvals = 0
    for cited in validation.receipts:
        found = must_get_entry_of(ctx, raw(cited), ZOME, "ValidationReceipt")
        if found is None:
            return Invalid("governance.scheme: a cited receipt is not a ValidationReceipt")
        signed, receipt = found
        assert isinstance(receipt, ValidationReceipt)
        validator = signed.action.author
        if receipt.validated_item != validation.resource:
            return Invalid("governance.scheme: a cited receipt validates another item")
        if validator == creator:
            return Invalid("governance.scheme: the resource's creator may not validate it")
        if validator in validators:
            return Invalid("governance.scheme: each validator counts once")
        if validation.required_role not in {c.role for c in receipt.roles} | {Role.SimpleAgent}:
            return Invalid(f"governance.scheme: a validator did not prove "
                           f"{validation.required_role}")
        validators.add(validator)
        approvals += receipt.approved
    refusals = len(validation.receipts) - approvals
    if validation.status == "Approved" and approvals < required:
        return Invalid(f"governance.scheme: {validation.scheme} needs {required} approvals; "
                       f"{approvals} cited")
    if validation.status == "Rejected" and refusals <= total - required:
        return Invalid(f"governance.scheme: {validation.scheme} is rejected only after "
                       f"{total - required + 1} refusals; {refusals} cited")
    return None


def _check_process(ctx: ValidateContext, process: EconomicProcess,
                   roles: frozenset[str]) -> Invalid | None:
    needed = PROCESS_ROLES[process.process_type]
    if needed.value not in roles:
        return Invalid(f"governance.process_requires_role: a {process.process_type} process "
                       f"needs role {needed}")
    if cited_resource(ctx, process.resource) is None:
        return Invalid("governance.cites_resource: a process names an EconomicResource's "
                       "first Create")
    return None


def _check_entry(ctx: ValidateContext, author: bytes, entry: object,
                 timestamp_us: int) -> Invalid | None:
    """The rules every version of an entry obeys."""
    claims = getattr(entry, "roles", ())
    roles = proven_roles(ctx, author, claims, "governance.role_required")
    if isinstance(roles, Invalid):
        return roles
    if isinstance(entry, EconomicEvent):
        return _check_event(ctx, author, entry)
    if isinstance(entry, Commitment):
        if author not in _parties(entry):
            return Invalid("governance.author_is_party: a commitment's author is its provider "
                           "or receiver")
        if entry.due_before_us <= timestamp_us:
            return Invalid("governance.commitment_due_after_proposal: a commitment is due "
                           "after it is written")
        if entry.resource is not None and cited_resource(ctx, entry.resource) is None:
            return Invalid("governance.cites_resource: a commitment names an "
                           "EconomicResource's first Create")
        return None
    if isinstance(entry, Claim):
        return _check_claim(ctx, author, entry)
    if isinstance(entry, ValidationReceipt):
        return _check_receipt(ctx, author, entry)
    if isinstance(entry, ResourceValidation):
        return _check_resource_validation(ctx, entry)
    if isinstance(entry, EconomicProcess):
        return _check_process(ctx, entry, roles)
    return None


def _check_update(ctx: ValidateContext, op: Op, action: Update) -> Invalid | None:
    original = ctx.must_get_action(action.original_action).action
    if original.author != action.author or not isinstance(original, Create | Update) or (
            original.zome_index, original.entry_type_index) != (action.zome_index,
                                                                action.entry_type_index):
        return Invalid("governance.append_only: only a record's author updates it, with an "
                       "entry of the same type")
    model = ENTRY_DEFS[action.entry_type_index].model
    if model not in _UPDATABLE:
        return Invalid(f"governance.append_only: a {model.__name__} is never updated")
    if isinstance(op.entry, EconomicProcess):
        found = must_get_entry_of(ctx, action.original_action, ZOME, "EconomicProcess")
        assert found is not None and isinstance(found[1], EconomicProcess)
        before = found[1]
        if (before.status != "Initiated" or op.entry.status != "Completed"
                or (before.process_type, before.resource) != (op.entry.process_type,
                                                              op.entry.resource)):
            return Invalid("governance.process_requires_role: completing a process updates an "
                           "Initiated process of the same type and resource")
    if isinstance(op.entry, ResourceValidation):
        found = must_get_entry_of(ctx, action.original_action, ZOME, "ResourceValidation")
        assert found is not None and isinstance(found[1], ResourceValidation)
        if (found[1].resource, found[1].scheme) != (op.entry.resource, op.entry.scheme):
            return Invalid("governance.scheme: an update keeps the resource and scheme")
    return None


def validate(op: Op, ctx: ValidateContext) -> ValidateResult:
    """The zome's rules; see the module docstring."""
    action = op.action  # only StoreRecord ops come here (see validated_ops)
    if isinstance(action, Create | Update):
        if isinstance(action, Update):
            refused = _check_update(ctx, op, action)
            if refused is not None:
                return refused
        if op.entry is None:
            return VALID
        return _check_entry(ctx, action.author, op.entry, action.timestamp_us) or VALID
    if isinstance(action, Delete):
        return Invalid("governance.append_only: governance records are never deleted")
    if isinstance(action, CreateLink) and action.target[0] != HashKind.ACTION:
        return Invalid("governance.link_target: governance links point at actions")
    if isinstance(action, DeleteLink) and not deleted_by_link_creator(ctx, action):
        return Invalid("governance.append_only: only a link's creator deletes it")
    return VALID


ZOME = IntegrityZome(
    name="governance",
    version="1.0.0",
    entry_defs=ENTRY_DEFS,
    link_defs=LINK_DEFS,
    validate=validate,
    validated_ops=frozenset({OpType.STORE_RECORD}),
)
