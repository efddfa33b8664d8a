"""Callable functions of the governance zome (Nondominium names): events, commitments, claims,
validation receipts, multi-validator resource validations and agent checks. Economic processes
are in ``zomes.governance.processes`` (registered on the same coordinator)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp.coordinator import Coordinator
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.governance import processes
from zomes.governance.calls import Input, RolesInput, claims_for, read
from zomes.governance.integrity import ZOME
from zomes.governance.models import (
    NAME_PATTERN,
    RECEIPTS_MAX,
    Claim,
    Commitment,
    EconomicEvent,
    ResourceValidation,
    ValidationReceipt,
    VfAction,
    parse_scheme,
)
from zomes.person._shared import AgentRef
from zomes.person.integrity import ActionHashStr, AgentKeyStr, Role
from zomes.person.profiles import get_person_profile
from zomes.person.roles import role_evidence
from zomes.resource.coordinator import current
from zomes.resource.models import ResourceSpecification, RuleType
from zomes.rules import FactValue, evaluate, parse_rule

COORDINATOR = Coordinator(ZOME)


class EventInput(Input):
    """An event I am a party of (``provider`` defaults to me)."""

    action: VfAction
    receiver: AgentKeyStr
    provider: AgentKeyStr | None = None
    resource_inventoried_as: ActionHashStr | None = None
    resource_quantity: int = 0
    unit: str = "each"
    fulfills: ActionHashStr | None = None
    note: str = ""


class InitialTransferInput(Input):
    """The first transfer of a resource I created, to ``receiver``."""

    resource: ActionHashStr
    receiver: AgentKeyStr
    resource_quantity: int = 0
    unit: str = "each"
    note: str = ""


class CommitmentInput(RolesInput):
    """A commitment I agree to (as provider or receiver), with the roles I claim."""

    action: VfAction
    provider: AgentKeyStr
    receiver: AgentKeyStr
    resource: ActionHashStr | None = None
    resource_quantity: int = 0
    unit: str = "each"
    due_before_us: int
    note: str = ""


class ClaimInput(Input):
    """``fulfilled_by`` (an event) fulfils ``commitment``."""

    commitment: ActionHashStr
    fulfilled_by: ActionHashStr
    note: str = ""


class ReceiptInput(RolesInput):
    """My judgement of an item (say, a resource at a stage)."""

    validated_item: ActionHashStr
    validation_type: str = Field(default="quality", pattern=NAME_PATTERN)
    stage: str | None = None
    approved: bool = True
    notes: str = ""


class ResourceValidationInput(Input):
    """A k-of-n decision over cited receipts; ``status`` is computed when omitted."""

    resource: ActionHashStr
    scheme: str = "2-of-3"
    required_role: Role = Role.AccountableAgent
    receipts: list[ActionHashStr] = Field(default_factory=list, max_length=RECEIPTS_MAX)
    status: str | None = None


class ItemRef(Input):
    """Names a validated item."""

    item: ActionHashStr


class RoleCheckInput(Input):
    """Does ``agent`` hold ``role``?"""

    agent: AgentKeyStr
    role: Role


class CustodyCheckInput(Input):
    """Could ``agent`` take custody of ``resource`` under its specification's rules?"""

    agent: AgentKeyStr
    resource: ActionHashStr


class AgentCheck(BaseModel):
    """An answer with its reason."""

    valid: bool
    reason: str


class ReceiptOutput(BaseModel):
    """A validation receipt as read back."""

    action: str
    validator: str
    validation_type: str
    stage: str | None
    approved: bool


def _link_resource(api: ZomeApi, resource: str | None, target: ActionHash,
                   link_type: str) -> None:
    if resource is not None:
        api.create_link(ActionHash.parse(resource), target, link_type)


@COORDINATOR.function
def log_economic_event(api: ZomeApi, event: EventInput) -> ActionHash:
    """Record an event I took part in."""
    written = api.create_entry(EconomicEvent(
        action=event.action, provider=event.provider or str(api.agent), receiver=event.receiver,
        resource_inventoried_as=event.resource_inventoried_as,
        resource_quantity=event.resource_quantity, unit=event.unit, fulfills=event.fulfills,
        note=event.note))
    _link_resource(api, event.resource_inventoried_as, written, "ResourceToEvents")
    return written


@COORDINATOR.function
def log_initial_transfer(api: ZomeApi, transfer: InitialTransferInput) -> ActionHash:
    """Record the first transfer of a resource I created."""
    return log_economic_event(api, EventInput(
        action=VfAction.InitialTransfer, receiver=transfer.receiver,
        resource_inventoried_as=transfer.resource, resource_quantity=transfer.resource_quantity,
        unit=transfer.unit, note=transfer.note))


@COORDINATOR.function
def propose_commitment(api: ZomeApi, commitment: CommitmentInput) -> ActionHash:
    """Commit to a future event; writing it is my acceptance."""
    if commitment.due_before_us <= api.now_us:
        raise ZomeCallError("a commitment must be due in the future")
    written = api.create_entry(Commitment(
        action=commitment.action, provider=commitment.provider, receiver=commitment.receiver,
        resource=commitment.resource, resource_quantity=commitment.resource_quantity,
        unit=commitment.unit, due_before_us=commitment.due_before_us, note=commitment.note,
        roles=claims_for(api, commitment.roles)))
    _link_resource(api, commitment.resource, written, "ResourceToCommitments")
    return written


@COORDINATOR.function
def claim_commitment(api: ZomeApi, claim: ClaimInput) -> ActionHash:
    """Say that an event fulfils a commitment."""
    read(api, claim.commitment, Commitment, "Commitment")
    read(api, claim.fulfilled_by, EconomicEvent, "EconomicEvent")
    written = api.create_entry(Claim(fulfills=claim.commitment, fulfilled_by=claim.fulfilled_by,
                                     note=claim.note))
    api.create_link(ActionHash.parse(claim.commitment), written, "CommitmentToClaims")
    return written


@COORDINATOR.function
def create_validation_receipt(api: ZomeApi, receipt: ReceiptInput) -> ActionHash:
    """Record my judgement of an item."""
    written = api.create_entry(ValidationReceipt(
        validated_item=receipt.validated_item, validation_type=receipt.validation_type,
        stage=receipt.stage, approved=receipt.approved, notes=receipt.notes,
        roles=claims_for(api, receipt.roles)))
    api.create_link(ActionHash.parse(receipt.validated_item), written, "ItemToReceipts")
    return written


@COORDINATOR.function
def get_validation_receipts(api: ZomeApi, ref: ItemRef) -> list[ReceiptOutput]:
    """Receipts held here for an item, oldest first."""
    out = []
    for link in api.get_links(ActionHash.parse(ref.item), "ItemToReceipts"):
        if isinstance(link.target, ActionHash):
            receipt = api.get_entry(link.target, ValidationReceipt)
            if receipt is not None:
                out.append(ReceiptOutput(
                    action=str(link.target), validator=str(link.author),
                    validation_type=receipt.validation_type, stage=receipt.stage,
                    approved=receipt.approved))
    return out


@COORDINATOR.function
def create_resource_validation(api: ZomeApi, request: ResourceValidationInput) -> ActionHash:
    """Record a k-of-n decision on a resource over the receipts cited."""
    try:
        required, total = parse_scheme(request.scheme)
    except ValueError as exc:
        raise ZomeCallError(str(exc)) from None
    approvals = sum(read(api, r, ValidationReceipt, "ValidationReceipt").approved
                    for r in request.receipts)
    status = request.status or (
        "Approved" if approvals >= required
        else "Rejected" if len(request.receipts) - approvals > total - required else "Pending")
    written = api.create_entry(ResourceValidation.model_validate({
        "resource": request.resource, "scheme": request.scheme,
        "required_role": request.required_role, "receipts": tuple(request.receipts),
        "status": status}))
    api.create_link(ActionHash.parse(request.resource), written, "ResourceToValidations")
    return written


@COORDINATOR.function
def validate_agent_identity(api: ZomeApi, ref: AgentRef) -> AgentCheck:
    """Whether an agent has a public profile held here."""
    profile = get_person_profile(api.zome("person"), ref)
    if profile is None:
        return AgentCheck(valid=False, reason="no Person profile of this agent is held here")
    return AgentCheck(valid=True, reason=f"profile {profile.name!r}")


@COORDINATOR.function
def validate_specialized_role(api: ZomeApi, check: RoleCheckInput) -> AgentCheck:
    """Whether an agent holds a role, and the evidence a rule would cite."""
    holds, evidence = role_evidence(api.zome("person"), AgentPubKey.parse(check.agent),
                                    check.role)
    if not holds:
        return AgentCheck(valid=False, reason=f"no evidence of {check.role} is held here")
    return AgentCheck(valid=True, reason=f"evidence {evidence}" if evidence else "steward")


@COORDINATOR.function
def validate_agent_for_custodianship(api: ZomeApi, check: CustodyCheckInput) -> AgentCheck:
    """Whether the resource's custody rules would accept ``agent`` as receiver once it commits
    (the rules run here as they will in validation, with the roles held here)."""
    agent = AgentPubKey.parse(check.agent)
    resource_api = api.zome("resource")
    entry = current(resource_api, check.resource)[2]
    spec = read(resource_api, entry.specification, ResourceSpecification,
                "ResourceSpecification")
    person = api.zome("person")
    roles = frozenset(role.value for role in Role if role_evidence(person, agent, role)[0])
    facts: dict[str, FactValue] = {"receiver.roles": roles, "commitment.accepted": True}
    for rule in spec.governance_rules:
        if rule.rule_type is RuleType.custody_transfer:
            verdict = evaluate(parse_rule(rule.rule_data), facts)
            if not verdict.holds:
                return AgentCheck(valid=False, reason=verdict.why)
    return AgentCheck(valid=True, reason="the custody rules hold")


COORDINATOR.function(processes.initiate_economic_process)
COORDINATOR.function(processes.complete_economic_process)
