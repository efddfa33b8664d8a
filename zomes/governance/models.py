"""Entry models of the governance zome (ValueFlows events and commitments, claims, validation
receipts, multi-validator resource validations, economic processes).

Agents and actions appear as printable keys and hashes, as in the person zome. Quantities are
integers in the entry's ``unit``. Role evidence travels as :class:`RoleClaim` lists: each claim
is checked with ``zomes.person.integrity.must_hold_role`` when the entry is validated.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from zomes.person.integrity import ActionHashStr, AgentKeyStr, Role

QUANTITY_MAX = 10**15
UNIT_CHARS_MAX = 32
NOTE_CHARS_MAX = 1000
ROLE_CLAIMS_MAX = 6
RECEIPTS_MAX = 16
SCHEME = re.compile(r"^([1-9][0-9]?)-of-([1-9][0-9]?)$")
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


class VfAction(StrEnum):
    """ValueFlows actions (plus Nondominium's InitialTransfer), a closed set."""

    Transfer = "transfer"
    TransferAllRights = "transfer-all-rights"
    TransferCustody = "transfer-custody"
    InitialTransfer = "initial-transfer"
    Move = "move"
    Use = "use"
    Consume = "consume"
    Produce = "produce"
    Work = "work"
    Modify = "modify"
    Combine = "combine"
    Separate = "separate"
    Raise = "raise"
    Lower = "lower"
    Cite = "cite"
    Accept = "accept"
    DeliverService = "deliver-service"
    Pickup = "pickup"
    Dropoff = "dropoff"


class ProcessType(StrEnum):
    """The economic processes Nondominium specified."""

    Use = "Use"
    Transport = "Transport"
    Storage = "Storage"
    Repair = "Repair"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleClaim(_Entry):
    """The author holds ``role``, proven by ``evidence`` (a PersonRole action; None for a
    steward's PrimaryAccountableAgent and the roles it implies)."""

    role: Role
    evidence: ActionHashStr | None = None


class EconomicEvent(_Entry):
    """Something that happened: ``provider`` gave ``receiver`` some of a resource (or work)."""

    action: VfAction
    provider: AgentKeyStr
    receiver: AgentKeyStr
    resource_inventoried_as: ActionHashStr | None = None  # the resource's first Create
    resource_quantity: int = Field(default=0, ge=0, le=QUANTITY_MAX)
    unit: str = Field(default="each", min_length=1, max_length=UNIT_CHARS_MAX)
    fulfills: ActionHashStr | None = None  # a Commitment this event fulfils
    note: str = Field(default="", max_length=NOTE_CHARS_MAX)


class Commitment(_Entry):
    """A promise of a future event; its author agrees to it, with the roles it claims."""

    action: VfAction
    provider: AgentKeyStr
    receiver: AgentKeyStr
    resource: ActionHashStr | None = None
    resource_quantity: int = Field(default=0, ge=0, le=QUANTITY_MAX)
    unit: str = Field(default="each", min_length=1, max_length=UNIT_CHARS_MAX)
    due_before_us: int = Field(ge=0)
    note: str = Field(default="", max_length=NOTE_CHARS_MAX)
    roles: tuple[RoleClaim, ...] = Field(default=(), max_length=ROLE_CLAIMS_MAX)


class Claim(_Entry):
    """``fulfilled_by`` (an event) fulfils ``fulfills`` (a commitment)."""

    fulfills: ActionHashStr
    fulfilled_by: ActionHashStr
    note: str = Field(default="", max_length=NOTE_CHARS_MAX)


class ValidationReceipt(_Entry):
    """The author's judgement of ``validated_item``; ``stage`` names the state a resource may
    move to on the strength of it (quality validation at each stage)."""

    validated_item: ActionHashStr
    validation_type: str = Field(pattern=NAME_PATTERN)
    stage: str | None = Field(default=None, max_length=32)
    approved: bool
    notes: str = Field(default="", max_length=NOTE_CHARS_MAX)
    roles: tuple[RoleClaim, ...] = Field(default=(), max_length=ROLE_CLAIMS_MAX)


class ResourceValidation(_Entry):
    """A multi-validator decision on a resource under ``scheme`` ("k-of-n"): Approved needs k
    approving receipts from distinct validators holding ``required_role``, none the resource's
    creator, among at most n receipts."""

    resource: ActionHashStr
    scheme: str = Field(pattern=SCHEME.pattern)
    required_role: Role = Role.AccountableAgent
    receipts: tuple[ActionHashStr, ...] = Field(default=(), max_length=RECEIPTS_MAX)
    status: Literal["Pending", "Approved", "Rejected"] = "Pending"


class EconomicProcess(_Entry):
    """A Use, Transport, Storage or Repair process on a resource; the author claims the role
    the process type requires. Completed is an update of the Initiated entry."""

    process_type: ProcessType
    resource: ActionHashStr
    status: Literal["Initiated", "Completed"] = "Initiated"
    location: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=NOTE_CHARS_MAX)
    roles: tuple[RoleClaim, ...] = Field(default=(), max_length=ROLE_CLAIMS_MAX)


def parse_scheme(scheme: str) -> tuple[int, int]:
    """(required, total) of a "k-of-n" scheme; ValueError unless 1 <= k <= n <= RECEIPTS_MAX."""
    match = SCHEME.match(scheme)
    if match is None:
        raise ValueError(f"{scheme!r} is not a k-of-n scheme")
    required, total = int(match.group(1)), int(match.group(2))
    if not 1 <= required <= total <= RECEIPTS_MAX:
        raise ValueError(f"{scheme!r}: need 1 <= k <= n <= {RECEIPTS_MAX}")
    return required, total
