"""Facts for a resource update's governance rules, assembled from the evidence it cites.

Fact names (see ``zomes.rules.library``): ``from_state``, ``to_state``, ``state_changes``,
``custody_changes``, ``quantity``, ``unit``, ``actor.roles``, ``actor.is_custodian``,
``receiver.roles``, ``commitment.accepted``, ``validation.approved``, ``validators``,
``validators.<Role>``, ``stage_validations.<validation_type>``.

Evidence is read only through ``ctx`` and only what the entry cites; a cited record that is not
a governance record about this resource is refused (``resource.evidence``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from nodeapp._core.integrity import Invalid, ValidateContext, must_get_entry_of
from zomes.governance.integrity import ENTRY_DEFS as GOVERNANCE_ENTRY_DEFS
from zomes.governance.integrity import ZOME as GOVERNANCE
from zomes.governance.integrity import raw
from zomes.governance.models import (
    Commitment,
    EconomicEvent,
    EconomicProcess,
    ResourceValidation,
    ValidationReceipt,
    VfAction,
)
from zomes.person.integrity import agent_raw
from zomes.resource.models import EconomicResource
from zomes.rules import FactValue


@dataclass
class Evidence:
    """What the cited records of one update prove."""

    commitments: list[tuple[bytes, Commitment]] = field(default_factory=list)
    events: list[EconomicEvent] = field(default_factory=list)
    approved_validation: bool = False
    # validator -> approving receipts (validation_type, stage, claimed roles)
    receipts: dict[bytes, list[ValidationReceipt]] = field(
        default_factory=lambda: defaultdict(list))


def _governance_type(ctx: ValidateContext, action_hash: bytes) -> str | None:
    action = ctx.must_get_action(action_hash).action
    index = getattr(action, "zome_index", None)
    if index is None or index >= len(ctx.zome_names) or ctx.zome_names[index] != "governance":
        return None
    return GOVERNANCE_ENTRY_DEFS[action.entry_type_index].name  # type: ignore[attr-defined]


def _add_receipt(ctx: ValidateContext, evidence: Evidence, cited: str, origin: str,
                 creator: bytes) -> Invalid | None:
    found = must_get_entry_of(ctx, raw(cited), GOVERNANCE, "ValidationReceipt")
    if found is None:
        return Invalid("resource.evidence: a cited receipt is not a ValidationReceipt")
    signed, receipt = found
    assert isinstance(receipt, ValidationReceipt)
    if receipt.validated_item != origin:
        return Invalid("resource.evidence: a cited receipt validates another item")
    if receipt.approved and signed.action.author != creator:
        evidence.receipts[signed.action.author].append(receipt)
    return None


def gather(ctx: ValidateContext, cited: tuple[str, ...], origin: str,
           creator: bytes) -> Evidence | Invalid:
    """Read the governance records an update of resource ``origin`` cites."""
    evidence = Evidence()
    for printable in cited:
        kind = _governance_type(ctx, raw(printable))
        if kind == "ValidationReceipt":
            refused = _add_receipt(ctx, evidence, printable, origin, creator)
            if refused is not None:
                return refused
            continue
        if kind not in ("Commitment", "EconomicEvent", "ResourceValidation", "EconomicProcess"):
            return Invalid("resource.evidence: cited evidence must be a governance record")
        found = must_get_entry_of(ctx, raw(printable), GOVERNANCE, kind)
        assert found is not None
        signed, entry = found
        about = getattr(entry, "resource", None) or getattr(entry, "resource_inventoried_as",
                                                            None)
        if about != origin:
            return Invalid(f"resource.evidence: a cited {kind} is about another resource")
        if isinstance(entry, Commitment):
            evidence.commitments.append((signed.action.author, entry))
        elif isinstance(entry, EconomicEvent):
            evidence.events.append(entry)
        elif isinstance(entry, ResourceValidation):
            if entry.status == "Approved":
                evidence.approved_validation = True
            for receipt in entry.receipts:
                refused = _add_receipt(ctx, evidence, receipt, origin, creator)
                if refused is not None:
                    return refused
        else:
            assert isinstance(entry, EconomicProcess)
    return evidence


def accepted_commitment(evidence: Evidence, before: EconomicResource,
                        after: EconomicResource) -> Commitment | None:
    """A cited custody commitment from the current custodian to the new one, written (so
    accepted) by the new custodian."""
    receiver = agent_raw(after.custodian)
    for author, commitment in evidence.commitments:
        if (commitment.action is VfAction.TransferCustody and author == receiver
                and commitment.receiver == after.custodian
                and commitment.provider == before.custodian):
            return commitment
    return None


def resource_facts(evidence: Evidence, before: EconomicResource, after: EconomicResource,
                   actor_roles: frozenset[str]) -> dict[str, FactValue]:
    """The facts an update's governance rules are judged on."""
    commitment = accepted_commitment(evidence, before, after)
    facts: dict[str, FactValue] = {
        "from_state": before.state.value,
        "to_state": after.state.value,
        "state_changes": before.state != after.state,
        "custody_changes": before.custodian != after.custodian,
        "quantity": after.quantity,
        "unit": after.unit,
        "actor.roles": actor_roles,
        "actor.is_custodian": True,  # only the custodian may update (checked before)
        "commitment.accepted": commitment is not None,
        "receiver.roles": frozenset(
            {"SimpleAgent"} | {c.role.value for c in commitment.roles} if commitment else ()),
        "validation.approved": evidence.approved_validation,
        "validators": frozenset(v.hex() for v in evidence.receipts),
    }
    by_role: dict[str, set[str]] = defaultdict(set)
    by_stage: dict[str, set[str]] = defaultdict(set)
    for validator, receipts in evidence.receipts.items():
        for receipt in receipts:
            for claim in receipt.roles:
                by_role[f"validators.{claim.role.value}"].add(validator.hex())
            if receipt.stage == after.state.value:
                by_stage[f"stage_validations.{receipt.validation_type}"].add(validator.hex())
    facts.update({k: frozenset(v) for k, v in (by_role | by_stage).items()})
    return facts
