"""Integrity of the person zome: profiles, private data and grants, roles, promotions, devices.

Agents appear in entries as printable keys (``"agent_..."``); rules compare their raw 32 bytes
with action authors. Entry types, in DNA order: ``Person``, ``PrivatePersonData`` (private),
``PrivateDataGrant`` (private), ``PersonRole``, ``RolePromotionRequest``, ``Device``.

Roles (``Role``): every member holds SimpleAgent; PrimaryAccountableAgent implies
AccountableAgent implies SimpleAgent; Transport, Repair and Storage imply nothing else. The DNA's
stewards hold PrimaryAccountableAgent without evidence. Anyone else holds a role when a valid
``PersonRole`` gives it to them; a rule that needs a role cites that record's action hash and
:func:`must_hold_role` decides. A ``PersonRole`` can be neither updated nor deleted.

Rules (rule names prefix every refusal):
* ``person.one_profile_per_agent``: an agent writes one Person (then updates it);
* ``person.only_owner_modifies``: only an entry's author updates or deletes it; an update
  replaces an entry of the same type (``person.update_same_type``);
* ``person.no_self_assignment``: nobody gives a role to themselves;
* ``person.role_not_assignable``: SimpleAgent is never assigned (every member holds it);
* ``person.accountable_needs_approved_request``: AccountableAgent is given only by approving a
  ``RolePromotionRequest`` for AccountableAgent written by the receiver, and the approver
  (the author) must hold AccountableAgent (``assigner_evidence``);
* ``person.primary_needs_primary``: PrimaryAccountableAgent is given only by a steward or a
  PrimaryAccountableAgent, to an AccountableAgent (``receiver_evidence``);
* ``person.specialized_needs_primary``: Transport, Repair, Storage are given only by a
  PrimaryAccountableAgent, to an AccountableAgent (``receiver_evidence``);
* ``person.request_mismatch``: a cited request must be the receiver's and name the same role;
* ``person.role_immutable``: PersonRole and RolePromotionRequest records are never updated or
  deleted (roles are not revoked in this version);
* ``person.role_required``: cited role evidence does not prove the role (:func:`must_hold_role`);
* ``person.request_role``: a promotion request may not ask for SimpleAgent;
* ``person.device_update_deactivates_only``: a Device update keeps key, kind and name and sets
  ``active`` to False (so a deactivated device is never reactivated); a new Device is active
  and its key is not its owner's (``person.device_key_not_owner``);
* ``person.link_base``: ``AgentToPerson`` and ``AgentToDevices`` start at the author's own key,
  ``AllPersons`` and ``PromotionRequests`` at their anchors, ``AgentToRoles`` at an agent key;
  links point at actions; only a link's creator deletes it (``person.only_owner_modifies``).
* ``person.grant_expiry_max_30_days`` (:func:`grant_expiry_problem`): a grant expires after its
  action's timestamp and at most 30 days later. A grant is private, so only its author's node
  (the one place it exists) can judge it: it refuses to commit a grant that breaks the rule,
  and ``get_private_data_with_capability`` applies the rule again before answering with one.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from nodeapp._core.actions import Create, CreateLink, Delete, DeleteLink, Update, Visibility
from nodeapp._core.hashing import ActionHash, AgentPubKey, ExternalHash, HashKind, blake2b_256
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
from nodeapp.errors import InvalidHash

NAME_CHARS_MAX = 200
TEXT_CHARS_MAX = 2000
URL_CHARS_MAX = 500
GRANT_US_MAX = 30 * 24 * 3600 * 1_000_000  # a grant lasts at most 30 days
ALL_PERSONS_ANCHOR = ExternalHash(blake2b_256(b"anchor:all_persons"))
PROMOTION_REQUESTS_ANCHOR = ExternalHash(blake2b_256(b"anchor:promotion_requests"))


class Role(StrEnum):
    """The roles of Nondominium."""

    SimpleAgent = "SimpleAgent"
    AccountableAgent = "AccountableAgent"
    PrimaryAccountableAgent = "PrimaryAccountableAgent"
    Transport = "Transport"
    Repair = "Repair"
    Storage = "Storage"


SPECIALIZED_ROLES = frozenset({Role.Transport, Role.Repair, Role.Storage})
# what holding a role (key) also proves
_IMPLIES: dict[Role, frozenset[Role]] = {
    Role.PrimaryAccountableAgent: frozenset({Role.PrimaryAccountableAgent, Role.AccountableAgent,
                                             Role.SimpleAgent}),
    Role.AccountableAgent: frozenset({Role.AccountableAgent, Role.SimpleAgent}),
    **{r: frozenset({r, Role.SimpleAgent}) for r in SPECIALIZED_ROLES},
    Role.SimpleAgent: frozenset({Role.SimpleAgent}),
}

PrivateField = Literal["legal_name", "email", "phone", "address", "emergency_contact",
                       "time_zone", "location"]


def agent_raw(printable: str) -> bytes:
    """Raw key bytes of a printable agent key (raises InvalidHash)."""
    return AgentPubKey.parse(printable).raw


def _check_agent(value: str) -> str:
    try:
        agent_raw(value)
    except InvalidHash as exc:  # pydantic reports ValueErrors only
        raise ValueError(str(exc)) from exc
    return value


def _check_action(value: str) -> str:
    try:
        ActionHash.parse(value)
    except InvalidHash as exc:
        raise ValueError(str(exc)) from exc
    return value


# printable keys and hashes in entries and inputs, checked when parsed
AgentKeyStr = Annotated[str, Field(max_length=60), AfterValidator(_check_agent)]
ActionHashStr = Annotated[str, Field(max_length=60), AfterValidator(_check_action)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Entry):
    """A member's public profile."""

    name: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    avatar_url: str | None = Field(default=None, max_length=URL_CHARS_MAX)
    bio: str | None = Field(default=None, max_length=TEXT_CHARS_MAX)


class PrivatePersonData(_Entry):
    """Personal data that stays on its owner's node."""

    legal_name: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    email: str = Field(min_length=3, max_length=NAME_CHARS_MAX)
    phone: str | None = Field(default=None, max_length=50)
    address: str | None = Field(default=None, max_length=TEXT_CHARS_MAX)
    emergency_contact: str | None = Field(default=None, max_length=TEXT_CHARS_MAX)
    time_zone: str | None = Field(default=None, max_length=50)
    location: str | None = Field(default=None, max_length=NAME_CHARS_MAX)


class PrivateDataGrant(_Entry):
    """The owner lets ``grantee`` read ``fields`` of its private data until ``expires_at_us``."""

    grantee: AgentKeyStr
    fields: tuple[PrivateField, ...] = Field(min_length=1, max_length=7)
    expires_at_us: int = Field(ge=0)
    context: str = Field(default="", max_length=NAME_CHARS_MAX)


class PersonRole(_Entry):
    """``role`` given to ``agent`` by the author, with the evidence that allows it.

    ``assigner_evidence``: the author's PersonRole proving it may give ``role`` (None for a
    steward); ``receiver_evidence``: ``agent``'s AccountableAgent PersonRole where the rule needs
    one; ``request``: the approved RolePromotionRequest (needed for AccountableAgent)."""

    agent: AgentKeyStr
    role: Role
    assigner_evidence: ActionHashStr | None = None
    receiver_evidence: ActionHashStr | None = None
    request: ActionHashStr | None = None


class RolePromotionRequest(_Entry):
    """The author asks to be given ``role``."""

    role: Role
    justification: str = Field(default="", max_length=TEXT_CHARS_MAX)


class Device(_Entry):
    """A device (its own Ed25519 key) owned by the author; inactive once deactivated."""

    device_key: AgentKeyStr
    kind: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    active: bool = True


ENTRY_DEFS = (
    EntryDef("Person", Person, Visibility.PUBLIC),
    EntryDef("PrivatePersonData", PrivatePersonData, Visibility.PRIVATE),
    EntryDef("PrivateDataGrant", PrivateDataGrant, Visibility.PRIVATE),
    EntryDef("PersonRole", PersonRole, Visibility.PUBLIC),
    EntryDef("RolePromotionRequest", RolePromotionRequest, Visibility.PUBLIC),
    EntryDef("Device", Device, Visibility.PUBLIC),
)
LINK_DEFS = (
    LinkDef("AllPersons"),            # ALL_PERSONS_ANCHOR -> Person
    LinkDef("AgentToPerson"),         # author's key -> its Person
    LinkDef("AgentToRoles"),          # receiver's key -> PersonRole
    LinkDef("PromotionRequests"),     # PROMOTION_REQUESTS_ANCHOR -> RolePromotionRequest
    LinkDef("AgentToDevices"),        # owner's key -> Device
)


# --- roles -------------------------------------------------------------------------------


def role_implies(held: Role, wanted: Role) -> bool:
    """Whether holding ``held`` proves ``wanted``."""
    return wanted in _IMPLIES[held]


def is_steward(dna_properties: Mapping[str, Any], agent: bytes) -> bool:
    """Whether ``agent`` (raw key) is one of the DNA's stewards."""
    for steward in dna_properties.get("stewards", ()):
        try:
            if agent_raw(steward) == agent:
                return True
        except InvalidHash:
            continue
    return False


def must_hold_role(ctx: ValidateContext, agent: bytes, role: Role,
                   evidence: bytes | None) -> Invalid | None:
    """None if ``agent`` (raw key) holds ``role``, proven by ``evidence`` (the action hash of a
    PersonRole, raw 32 bytes) unless the role is SimpleAgent or the agent is a steward and the
    role is implied by PrimaryAccountableAgent; else Invalid. Raises MissingDependency while the
    evidence is not held."""
    role = Role(role)
    if role is Role.SimpleAgent:
        return None
    if evidence is None:
        if is_steward(ctx.dna_properties, agent) and role_implies(Role.PrimaryAccountableAgent,
                                                                  role):
            return None
        return Invalid(f"person.role_required: {role} needs cited PersonRole evidence")
    found = must_get_entry_of(ctx, evidence, ZOME, "PersonRole")
    if found is None:
        return Invalid(f"person.role_required: the evidence for {role} is not a PersonRole")
    _, given = found
    assert isinstance(given, PersonRole)
    if agent_raw(given.agent) != agent:
        return Invalid(f"person.role_required: the evidence for {role} names another agent")
    if not role_implies(given.role, role):
        return Invalid(f"person.role_required: the evidence gives {given.role}, not {role}")
    return None


def _raw_action(printable: str | None) -> bytes | None:
    return None if printable is None else ActionHash.parse(printable).raw


def _validate_role(ctx: ValidateContext, author: bytes, given: PersonRole) -> Invalid | None:
    """Who may give which role; see the module docstring."""
    receiver = agent_raw(given.agent)
    if receiver == author:
        return Invalid("person.no_self_assignment: nobody may give a role to themselves")
    if given.role is Role.SimpleAgent:
        return Invalid("person.role_not_assignable: every member holds SimpleAgent already")
    if given.request is not None:
        found = must_get_entry_of(ctx, _raw_action(given.request), ZOME, "RolePromotionRequest")
        if found is None:
            return Invalid("person.request_mismatch: the cited request is not a "
                           "RolePromotionRequest")
        signed, request = found
        assert isinstance(request, RolePromotionRequest)
        if signed.action.author != receiver or request.role != given.role:
            return Invalid("person.request_mismatch: the cited request is not the receiver's "
                           f"request for {given.role}")
    if given.role is Role.AccountableAgent:
        if given.request is None:
            return Invalid("person.accountable_needs_approved_request: AccountableAgent is given "
                           "only by approving the receiver's promotion request")
        needed, rule = Role.AccountableAgent, "person.accountable_needs_approved_request"
    else:
        rule = ("person.primary_needs_primary" if given.role is Role.PrimaryAccountableAgent
                else "person.specialized_needs_primary")
        needed = Role.PrimaryAccountableAgent
        refused = must_hold_role(ctx, receiver, Role.AccountableAgent,
                                 _raw_action(given.receiver_evidence))
        if refused is not None:
            return Invalid(f"{rule}: the receiver must be an AccountableAgent "
                           f"({refused.reason})")
    refused = must_hold_role(ctx, author, needed, _raw_action(given.assigner_evidence))
    if refused is not None:
        return Invalid(f"{rule}: only a {needed} may give {given.role} ({refused.reason})")
    return None


# --- devices -----------------------------------------------------------------------------


def must_be_active_device(ctx: ValidateContext, device_action_hash: bytes,
                          device_key: bytes) -> Invalid | None:
    """None if ``device_action_hash`` is an active Device whose key is ``device_key`` (raw).

    A rule sees only the record it cites: a reading citing the registration of a device that
    was deactivated later still passes here; citing the deactivating update always fails."""
    found = must_get_entry_of(ctx, device_action_hash, ZOME, "Device")
    if found is None:
        return Invalid("person.device_required: the cited record is not a Device")
    _, device = found
    assert isinstance(device, Device)
    if agent_raw(device.device_key) != device_key:
        return Invalid("person.device_required: the cited Device has another key")
    if not device.active:
        return Invalid("person.device_required: the cited Device is deactivated")
    return None


def _validate_device_update(before: Device, after: Device) -> Invalid | None:
    if (before.device_key, before.kind, before.name) != (after.device_key, after.kind,
                                                         after.name) or after.active:
        return Invalid("person.device_update_deactivates_only: a Device update may only set "
                       "active to False, keeping key, kind and name")
    return None


# --- private data grants -----------------------------------------------------------------


def grant_expiry_problem(grant: PrivateDataGrant, timestamp_us: int) -> Invalid | None:
    """A grant expires after it is written and at most 30 days later."""
    if not timestamp_us < grant.expires_at_us <= timestamp_us + GRANT_US_MAX:
        return Invalid("person.grant_expiry_max_30_days: a grant must expire after it is "
                       "written and at most 30 days later")
    return None


# --- dispatch ----------------------------------------------------------------------------


def _entry_name(action: Create | Update) -> str:
    return ENTRY_DEFS[action.entry_type_index].name


def _validate_create(op: Op, ctx: ValidateContext, action: Create) -> ValidateResult:
    entry = op.entry
    if isinstance(entry, Person):
        for earlier in ctx.must_get_agent_activity(action.author, action.prev):  # type: ignore[arg-type]
            prior = earlier.action
            if (isinstance(prior, Create) and prior.zome_index == action.zome_index
                    and prior.entry_type_index == action.entry_type_index):
                return Invalid("person.one_profile_per_agent: this agent already has a Person; "
                               "update it instead")
    elif isinstance(entry, PersonRole):
        return _validate_role(ctx, action.author, entry) or VALID
    elif isinstance(entry, RolePromotionRequest) and entry.role is Role.SimpleAgent:
        return Invalid("person.request_role: every member holds SimpleAgent already")
    elif isinstance(entry, Device):
        if not entry.active:
            return Invalid("person.device_update_deactivates_only: a new Device is active")
        if agent_raw(entry.device_key) == action.author:
            return Invalid("person.device_key_not_owner: a device has its own key")
    elif isinstance(entry, PrivateDataGrant):
        return grant_expiry_problem(entry, action.timestamp_us) or VALID
    return VALID


def _validate_update(op: Op, ctx: ValidateContext, action: Update) -> ValidateResult:
    original = ctx.must_get_action(action.original_action).action
    if original.author != action.author:
        return Invalid("person.only_owner_modifies: only an entry's author may update it")
    if not isinstance(original, Create | Update) or (
            original.entry_type_index != action.entry_type_index
            or original.zome_index != action.zome_index):
        return Invalid("person.update_same_type: an update must replace an entry of its type")
    name = _entry_name(action)
    if name in ("PersonRole", "RolePromotionRequest"):
        return Invalid(f"person.role_immutable: a {name} is never updated")
    if name == "Device" and op.entry is not None:
        found = must_get_entry_of(ctx, action.original_action, ZOME, "Device")
        if found is None:  # the original is a private or unreadable entry: cannot happen
            return Invalid("person.update_same_type: the original is not a Device")
        assert isinstance(op.entry, Device) and isinstance(found[1], Device)
        return _validate_device_update(found[1], op.entry) or VALID
    if isinstance(op.entry, PrivateDataGrant):
        return grant_expiry_problem(op.entry, action.timestamp_us) or VALID
    return VALID


def _validate_link(ctx: ValidateContext, action: CreateLink) -> ValidateResult:
    name = LINK_DEFS[action.link_type_index].name
    own_key = bytes((HashKind.AGENT,)) + action.author
    if name in ("AgentToPerson", "AgentToDevices") and action.base != own_key:
        return Invalid(f"person.link_base: {name} links start at their author's key")
    if name == "AllPersons" and action.base != ALL_PERSONS_ANCHOR.tagged():
        return Invalid("person.link_base: AllPersons links start at the all-persons anchor")
    if name == "PromotionRequests" and action.base != PROMOTION_REQUESTS_ANCHOR.tagged():
        return Invalid("person.link_base: PromotionRequests links start at their anchor")
    if name == "AgentToRoles" and action.base[0] != HashKind.AGENT:
        return Invalid("person.link_base: AgentToRoles links start at an agent key")
    if action.target[0] != HashKind.ACTION:
        return Invalid(f"person.link_base: {name} links point at an action")
    return VALID


def validate(op: Op, ctx: ValidateContext) -> ValidateResult:
    """The zome's rules; see the module docstring."""
    action = op.action  # only StoreRecord ops come here (see validated_ops): judged once
    if isinstance(action, Create):
        return _validate_create(op, ctx, action)
    if isinstance(action, Update):
        return _validate_update(op, ctx, action)
    if isinstance(action, Delete):
        original = ctx.must_get_action(action.deletes_action).action
        if original.author != action.author:
            return Invalid("person.only_owner_modifies: only an entry's author may delete it")
        assert isinstance(original, Create | Update)
        if _entry_name(original) in ("PersonRole", "RolePromotionRequest"):
            return Invalid(f"person.role_immutable: a {_entry_name(original)} is never deleted")
        return VALID
    if isinstance(action, CreateLink):
        return _validate_link(ctx, action)
    if isinstance(action, DeleteLink) and not deleted_by_link_creator(ctx, action):
        return Invalid("person.only_owner_modifies: only a link's creator may delete it")
    return VALID


ZOME = IntegrityZome(
    name="person",
    version="1.0.0",
    entry_defs=ENTRY_DEFS,
    link_defs=LINK_DEFS,
    validate=validate,
    validated_ops=frozenset({OpType.STORE_RECORD}),
)
