"""Entry models of the resource zome, and its entry types in DNA order.

``RESOURCE_TYPES`` describes the resource zome's entry types (name, model, visibility) so that
the governance zome can read cited resources with ``must_get_entry_of`` without importing the
resource integrity module (which imports governance's).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nodeapp._core.actions import Visibility
from nodeapp._core.integrity import VALID, EntryDef, IntegrityZome, LinkDef
from zomes.governance.models import (
    NOTE_CHARS_MAX,
    QUANTITY_MAX,
    RECEIPTS_MAX,
    ROLE_CLAIMS_MAX,
    UNIT_CHARS_MAX,
    RoleClaim,
)
from zomes.person.integrity import ActionHashStr, AgentKeyStr, Role

NAME_CHARS_MAX = 200
RULES_MAX = 16
PRIVATE_CHARS_MAX = 32 * 1024


class ResourceState(StrEnum):
    """Where a resource is in its life."""

    PendingValidation = "PendingValidation"
    Active = "Active"
    Maintenance = "Maintenance"
    Retired = "Retired"
    Reserved = "Reserved"


# the transitions the lifecycle allows (a state may also stay the same, e.g. on a move)
TRANSITIONS: dict[ResourceState, frozenset[ResourceState]] = {
    ResourceState.PendingValidation: frozenset({ResourceState.Active, ResourceState.Retired}),
    ResourceState.Active: frozenset({ResourceState.Maintenance, ResourceState.Reserved,
                                     ResourceState.Retired}),
    ResourceState.Maintenance: frozenset({ResourceState.Active, ResourceState.Retired}),
    ResourceState.Reserved: frozenset({ResourceState.Active, ResourceState.Retired}),
    ResourceState.Retired: frozenset(),
}


class RuleType(StrEnum):
    """When a specification's rule is evaluated."""

    transition = "transition"              # every update of a resource of the specification
    custody_transfer = "custody_transfer"  # updates that change the custodian
    activation = "activation"              # PendingValidation -> Active
    access = "access"                      # reading the specification's private parts


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GovernanceRule(_Entry):
    """A rule in the rule language (``zomes.rules``), evaluated at ``rule_type`` moments."""

    rule_type: RuleType
    rule_data: dict[str, Any]
    enforced_by: Role | None = None


class ResourceSpecification(_Entry):
    """What a kind of resource is, with the governance rules every resource of it obeys."""

    name: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    description: str = Field(default="", max_length=NOTE_CHARS_MAX)
    category: str = Field(default="", max_length=NAME_CHARS_MAX)
    default_unit: str = Field(default="each", min_length=1, max_length=UNIT_CHARS_MAX)
    governance_rules: tuple[GovernanceRule, ...] = Field(default=(), max_length=RULES_MAX)


class SpecificationPrivatePart(_Entry):
    """A specification's protected content (designs, know-how): it stays on the author's node
    and is read by peers through a remote call that applies the specification's access rules."""

    specification: ActionHashStr
    content: str = Field(max_length=PRIVATE_CHARS_MAX)


class EconomicResource(_Entry):
    """One resource. Its state changes are Updates of this entry; ``origin`` is None on the
    first Create and names that Create on every update, so the resource keeps one identity.
    ``roles`` proves the author's roles and ``evidence`` cites the governance records
    (commitments, validation receipts, resource validations, events) this version relies on."""

    specification: ActionHashStr
    quantity: int = Field(ge=0, le=QUANTITY_MAX)
    unit: str = Field(min_length=1, max_length=UNIT_CHARS_MAX)
    custodian: AgentKeyStr
    current_location: str | None = Field(default=None, max_length=NAME_CHARS_MAX)
    state: ResourceState = ResourceState.PendingValidation
    origin: ActionHashStr | None = None
    roles: tuple[RoleClaim, ...] = Field(default=(), max_length=ROLE_CLAIMS_MAX)
    evidence: tuple[ActionHashStr, ...] = Field(default=(), max_length=RECEIPTS_MAX)


ENTRY_DEFS = (
    EntryDef("ResourceSpecification", ResourceSpecification, Visibility.PUBLIC),
    EntryDef("GovernanceRule", GovernanceRule, Visibility.PUBLIC),
    EntryDef("EconomicResource", EconomicResource, Visibility.PUBLIC),
    EntryDef("SpecificationPrivatePart", SpecificationPrivatePart, Visibility.PRIVATE),
)
LINK_DEFS = (
    LinkDef("AllSpecifications"),    # anchor -> ResourceSpecification
    LinkDef("RulesByType"),          # anchor per rule type -> GovernanceRule
    LinkDef("AllResources"),         # anchor -> EconomicResource (first Create)
    LinkDef("CustodianToResources"),  # custodian's key -> EconomicResource (first Create)
    LinkDef("ResourceUpdates"),      # first Create -> each later version
)

# the resource zome's types, for zomes that read cited resources (no validation here)
RESOURCE_TYPES = IntegrityZome(name="resource", version="types", entry_defs=ENTRY_DEFS,
                               link_defs=LINK_DEFS, validate=lambda op, ctx: VALID)
