"""Integrity of the facility zome: makerspaces, their equipment and certifications, and the
verifications that move them through pending / verified / suspended / revoked.

A makerspace's agent (an organisation agent) registers itself with a ``Facility`` entry; the
action hash of that Create names the facility from then on. Its later versions are Updates of
that Create, all on the registrant's own chain, so chain seq orders them. Entry types, in DNA
order: ``Facility``, ``FacilityVerification``. Hashes appear in entries as printable strings
(``"action_..."``), as in the person zome.

Each status change is a ``FacilityVerification`` citing the facility, the version it judged, the
verification it follows (``previous``; None for the first) and the verifier's role evidence.
Its status must be a move that :mod:`zomes.facility.lifecycle` allows from the status the
previous verification left, read against the judged version: a registrant's update after a
``verified`` judgement makes the facility ``pending`` again. A judgement citing an older
``previous`` (a fork) is valid by itself, since validation cannot see later judgements; readers
therefore hold any revocation of a facility as final (see the coordinator's ``_status``).

Rules (rule names prefix every refusal):
* ``facility.one_registration_per_agent``: an agent is one facility: it registers once, then
  updates that registration;
* ``facility.certification_dates``: a certification ends after it starts;
* ``facility.update_by_registrant``: only the registrant updates its Facility, and an update
  replaces the registering Create itself (``facility.update_of_registration``);
* ``facility.verifications_are_final``: a FacilityVerification is never updated;
* ``facility.cites_facility``: ``facility`` is a Facility's registering Create and
  ``facility_version`` that Create or one of its updates;
* ``facility.no_self_verification``: the registrant never judges its own facility;
* ``facility.verifier_authorised``: the verifier is a steward or cites a PersonRole giving it
  PrimaryAccountableAgent (``role_evidence``);
* ``facility.previous_of_same_facility``: ``previous`` is a verification of the same facility;
* ``facility.version_not_older``: a verification judges the version its previous judged or a
  newer one;
* ``facility.transition_allowed`` / ``facility.revoked_is_final``: the lifecycle's moves only;
* ``facility.no_deletes``: registrations, verifications and links are never deleted: other
  members plan production on them;
* ``facility.link_*``: index links start where the coordinator looks for them and point at the
  records their name promises, written by the record's author.
System validation has already checked signatures, chain order, entry hashes and sizes, and that
entry and link types exist; entries arrive decoded into their models (bounds checked).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

import zomes.facility.lifecycle
import zomes.person.integrity
from nodeapp._core.actions import (
    Create,
    CreateLink,
    Delete,
    DeleteLink,
    SignedAction,
    Update,
    Visibility,
)
from nodeapp._core.hashing import ActionHash, ExternalHash, HashKind, blake2b_256
from nodeapp._core.integrity import (
    VALID,
    EntryDef,
    IntegrityZome,
    Invalid,
    LinkDef,
    Op,
    ValidateContext,
    ValidateResult,
    must_get_entry_of,
)
from nodeapp._core.ops import OpType
from nodeapp.errors import InvalidHash
from zomes.facility.lifecycle import FacilityStatus, effective_status, move_problem
from zomes.person.integrity import Role, must_hold_role

# the shared rule modules this zome judges with: their code is part of the DNA hash
CODE_DEPENDENCIES = (zomes.facility.lifecycle, zomes.person.integrity)

NAME_CHARS_MAX = 200
REASON_CHARS_MAX = 1000
EQUIPMENT_MAX = 200
CERTIFICATIONS_MAX = 100
CAPABILITIES_PER_EQUIPMENT_MAX = 32
UNITS_MAX = 100_000
ALL_FACILITIES_ANCHOR = ExternalHash(blake2b_256(b"anchor:facility.all"))


def action_raw(printable: str) -> bytes:
    """Raw bytes of a printable action hash (raises InvalidHash)."""
    return ActionHash.parse(printable).raw


# the shape is checked when an entry decodes; the checksum when a rule reads the hash
ActionRef = Annotated[str, Field(pattern=r"^action_[A-Za-z0-9_-]{48}$")]
# capabilities are matched by exact name, so they have one spelling: "cnc_milling"
Capability = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Equipment(_Model):
    """``count`` machines of one kind and model, and what they can do."""

    kind: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    model: str = Field(default="", max_length=NAME_CHARS_MAX)
    count: int = Field(ge=1, le=UNITS_MAX)
    capabilities: tuple[Capability, ...] = Field(
        default=(), max_length=CAPABILITIES_PER_EQUIPMENT_MAX)


class Certification(_Model):
    """A certification (``"ISO 9001"``, ``"CNC operator"``, ``"clean room ISO 7"``) issued by
    ``issuer``, valid from ``valid_from_us`` (inclusive) until ``valid_until_us`` (exclusive),
    in microseconds since the Unix epoch."""

    name: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    issuer: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    valid_from_us: int = Field(ge=0)
    valid_until_us: int = Field(ge=0)

    def holds_at(self, at_us: int) -> bool:
        """Whether the certification is in force at ``at_us``."""
        return self.valid_from_us <= at_us < self.valid_until_us


class Facility(_Model):
    """A makerspace's registration: who and where it is, and what it can do."""

    name: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    location: str = Field(min_length=1, max_length=NAME_CHARS_MAX)
    contact: str = Field(default="", max_length=NAME_CHARS_MAX)
    equipment: tuple[Equipment, ...] = Field(default=(), max_length=EQUIPMENT_MAX)
    certifications: tuple[Certification, ...] = Field(default=(), max_length=CERTIFICATIONS_MAX)


class FacilityVerification(_Model):
    """A verifier moves ``facility`` to ``status`` after judging ``facility_version``."""

    facility: ActionRef
    facility_version: ActionRef
    previous: ActionRef | None = None
    status: FacilityStatus
    reason: str = Field(min_length=1, max_length=REASON_CHARS_MAX)
    role_evidence: ActionRef | None = None  # the verifier's PrimaryAccountableAgent PersonRole


ENTRY_DEFS = (
    EntryDef("Facility", Facility, Visibility.PUBLIC),
    EntryDef("FacilityVerification", FacilityVerification, Visibility.PUBLIC),
)
LINK_DEFS = (
    LinkDef("AllFacilities"),          # ALL_FACILITIES_ANCHOR -> registering Create
    LinkDef("FacilityVersions"),       # registering Create -> each Update of it
    LinkDef("FacilityVerifications"),  # registering Create -> each FacilityVerification
)


# --- reading cited records ---------------------------------------------------------------


def registration(ctx: ValidateContext, facility: bytes) -> tuple[SignedAction, Facility] | None:
    """The Create that registered a facility, with its entry; None if ``facility`` is not one."""
    found = must_get_entry_of(ctx, facility, ZOME, "Facility")
    if found is None or not isinstance(found[0].action, Create):
        return None
    assert isinstance(found[1], Facility)
    return found[0], found[1]


def version_seq(ctx: ValidateContext, facility: bytes, version: bytes) -> int | None:
    """Chain seq of ``version`` if it is the registration ``facility`` or an update of it."""
    found = must_get_entry_of(ctx, version, ZOME, "Facility")
    if found is None:
        return None
    action = found[0].action
    if version != facility and not (isinstance(action, Update)
                                    and action.original_action == facility):
        return None
    return action.seq


# --- rules -------------------------------------------------------------------------------


def _certification_problem(facility: Facility) -> Invalid | None:
    for cert in facility.certifications:
        if cert.valid_until_us <= cert.valid_from_us:
            return Invalid(f"facility.certification_dates: {cert.name!r} must end after it "
                           "starts")
    return None


def _registered_before(ctx: ValidateContext, action: Create) -> bool:
    """Whether the author's chain already holds a facility registration."""
    earlier = ctx.must_get_agent_activity(action.author, action.prev)
    return any(isinstance(a.action, Create) and a.action.zome_index == action.zome_index
               and a.action.entry_type_index == action.entry_type_index for a in earlier)


def _validate_facility_update(ctx: ValidateContext, action: Update) -> Invalid | None:
    original = ctx.must_get_action(action.original_action).action
    if original.author != action.author:
        return Invalid("facility.update_by_registrant: only the facility's registrant may "
                       "update it")
    if registration(ctx, action.original_action) is None:
        return Invalid("facility.update_of_registration: an update must replace the Create "
                       "that registered the facility")
    return None


def _validate_verification(ctx: ValidateContext, action: Create,
                           verdict: FacilityVerification) -> Invalid | None:
    try:
        facility, version = action_raw(verdict.facility), action_raw(verdict.facility_version)
        previous = None if verdict.previous is None else action_raw(verdict.previous)
        evidence = None if verdict.role_evidence is None else action_raw(verdict.role_evidence)
    except InvalidHash as exc:
        return Invalid(f"facility.cites_facility: a cited hash does not parse ({exc})")
    registered = registration(ctx, facility)
    if registered is None:
        return Invalid("facility.cites_facility: `facility` must be the Create that registered "
                       "a Facility")
    judged_seq = version_seq(ctx, facility, version)
    if judged_seq is None:
        return Invalid("facility.cites_facility: `facility_version` must be the facility's "
                       "registration or an update of it")
    if registered[0].action.author == action.author:
        return Invalid("facility.no_self_verification: a facility's registrant may not judge "
                       "it")
    refused = must_hold_role(ctx, action.author, Role.PrimaryAccountableAgent, evidence)
    if refused is not None:
        return Invalid("facility.verifier_authorised: only a steward or a "
                       f"PrimaryAccountableAgent may judge a facility ({refused.reason})")
    before, before_seq = None, judged_seq
    if previous is not None:
        found = must_get_entry_of(ctx, previous, ZOME, "FacilityVerification")
        if found is None or found[1].facility != verdict.facility:  # type: ignore[attr-defined]
            return Invalid("facility.previous_of_same_facility: `previous` must be a "
                           "verification of the same facility")
        earlier = found[1]
        assert isinstance(earlier, FacilityVerification)
        before = earlier.status
        before_seq = ctx.must_get_action(action_raw(earlier.facility_version)).action.seq
        if judged_seq < before_seq:
            return Invalid("facility.version_not_older: a verification may not judge an older "
                           "version than the one its previous judged")
    problem = move_problem(effective_status(before, before_seq, judged_seq), verdict.status)
    return None if problem is None else Invalid(problem)


def _validate_link(ctx: ValidateContext, action: CreateLink) -> Invalid | None:
    name = LINK_DEFS[action.link_type_index].name
    if action.target[0] != HashKind.ACTION:
        return Invalid(f"facility.link_target: {name} links point at an action")
    target = action.target[1:]
    if name == "AllFacilities":
        registered = registration(ctx, target)
        if (action.base != ALL_FACILITIES_ANCHOR.tagged() or registered is None
                or registered[0].action.author != action.author):
            return Invalid("facility.link_index: AllFacilities links go from the facilities "
                           "anchor to a facility's registration, by its registrant")
        return None
    if action.base[0] != HashKind.ACTION:
        return Invalid(f"facility.link_base: {name} links start at a facility's registration")
    facility = action.base[1:]
    if name == "FacilityVersions":
        found = must_get_entry_of(ctx, target, ZOME, "Facility")
        if (found is None or not isinstance(found[0].action, Update)
                or found[0].action.original_action != facility
                or found[0].action.author != action.author):
            return Invalid("facility.link_version: FacilityVersions links go from a facility "
                           "to an update of it, by its registrant")
        return None
    found = must_get_entry_of(ctx, target, ZOME, "FacilityVerification")
    if (found is None or action_raw(found[1].facility) != facility  # type: ignore[attr-defined]
            or found[0].action.author != action.author):
        return Invalid("facility.link_verification: FacilityVerifications links go from a "
                       "facility to a verification of it, by its verifier")
    return None


def validate(op: Op, ctx: ValidateContext) -> ValidateResult:
    """The zome's rules; see the module docstring."""
    action = op.action  # only StoreRecord ops come here (see validated_ops): judged once
    entry = op.entry
    refused: Invalid | None = None
    if isinstance(entry, FacilityVerification):
        refused = (_validate_verification(ctx, action, entry) if isinstance(action, Create)
                   else Invalid("facility.verifications_are_final: a verification is never "
                                "updated; write a new one"))
    elif isinstance(entry, Facility):
        if isinstance(action, Update):
            refused = _validate_facility_update(ctx, action)
        elif isinstance(action, Create) and _registered_before(ctx, action):
            refused = Invalid("facility.one_registration_per_agent: this agent has registered "
                              "its facility already; update that registration instead")
        refused = refused or _certification_problem(entry)
    elif isinstance(action, CreateLink):
        refused = _validate_link(ctx, action)
    elif isinstance(action, Delete | DeleteLink):
        refused = Invalid("facility.no_deletes: facility records and their links are never "
                          "deleted; other members plan production on them")
    return refused or VALID


ZOME = IntegrityZome(
    name="facility",
    version="1.0.0",
    entry_defs=ENTRY_DEFS,
    link_defs=LINK_DEFS,
    validate=validate,
    validated_ops=frozenset({OpType.STORE_RECORD}),
)
