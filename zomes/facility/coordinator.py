"""Callable functions of the facility zome: register a makerspace, keep its equipment and
certifications current, judge it, and match production steps to capable facilities.

A facility's status is derived from the verifications held for it (see :func:`_status`), with
the same lifecycle functions integrity validation applies; the coordinator never refuses a move
itself: validation does, naming the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from nodeapp._core.actions import Create, SignedAction
from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp.coordinator import Coordinator
from nodeapp.errors import InvalidHash, ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.facility.capability import missing_capabilities, missing_certifications
from zomes.facility.integrity import (
    ALL_FACILITIES_ANCHOR,
    EQUIPMENT_MAX,
    REASON_CHARS_MAX,
    ZOME,
    Capability,
    Certification,
    Equipment,
    Facility,
    FacilityVerification,
)
from zomes.facility.lifecycle import FacilityStatus, effective_status

COORDINATOR = Coordinator(ZOME)
M = TypeVar("M", bound=BaseModel)
NEEDS_MAX = 32


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FacilityRef(_Input):
    """Names a facility by the action hash of its registration."""

    facility: str = Field(max_length=60)


class EquipmentInput(FacilityRef):
    """The facility's whole equipment list, replacing the current one."""

    equipment: tuple[Equipment, ...] = Field(max_length=EQUIPMENT_MAX)


class CertificationInput(FacilityRef):
    """One more certification for the facility."""

    certification: Certification


class JudgementInput(FacilityRef):
    """A verifier's judgement; ``role_evidence`` is its PrimaryAccountableAgent PersonRole
    (None for a steward)."""

    reason: str = Field(min_length=1, max_length=REASON_CHARS_MAX)
    role_evidence: str | None = Field(default=None, max_length=60)


class Needs(_Input):
    """What a production step needs, at ``at_us`` (default: now)."""

    capabilities: tuple[Capability, ...] = Field(default=(), max_length=NEEDS_MAX)
    certifications: tuple[str, ...] = Field(default=(), max_length=NEEDS_MAX)
    at_us: int | None = Field(default=None, ge=0)


class FacilityNeeds(Needs):
    """Whether one facility meets a step's needs."""

    facility: str = Field(max_length=60)


class VerificationOutput(BaseModel):
    """One judgement of a facility."""

    action: str
    verifier: str
    status: FacilityStatus
    reason: str
    facility_version: str
    previous: str | None
    timestamp_us: int


class FacilityOutput(BaseModel):
    """A facility as it reads now: its newest version and its derived status."""

    facility: str
    registrant: str
    version: str
    name: str
    location: str
    contact: str
    equipment: list[Equipment]
    certifications: list[Certification]
    status: FacilityStatus
    last_verification: str | None  # what the next judgement cites as ``previous``
    verifications: list[VerificationOutput]


class CapabilityReport(BaseModel):
    """Whether a facility can take a production step, and what it lacks."""

    facility: str
    name: str
    status: FacilityStatus
    capable: bool
    missing_capabilities: list[str]
    missing_certifications: list[str]


# --- reading ---------------------------------------------------------------------------


def _parse_action(text: str, what: str) -> ActionHash:
    try:
        return ActionHash.parse(text)
    except InvalidHash as exc:
        raise ZomeCallError(f"{what} must be an action hash: {exc}") from exc


def _registration(api: ZomeApi, text: str) -> tuple[ActionHash, SignedAction, Facility]:
    facility = _parse_action(text, "facility")
    entry = api.get_entry(facility, Facility)
    record = api.get(facility)
    if entry is None or record is None or not isinstance(record.signed.action, Create):
        raise ZomeCallError(f"{facility} is not a facility registration held by this node")
    return facility, record.signed, entry


def _linked(api: ZomeApi, facility: ActionHash, link_type: str, model: type[M]
            ) -> list[tuple[SignedAction, M]]:
    """The records of type ``model`` that ``link_type`` links from ``facility`` point at."""
    found = []
    for link in api.get_links(facility, link_type):
        target = link.target
        if not isinstance(target, ActionHash):
            continue
        record = api.get(target)
        entry = api.get_entry(target, model) if record is not None else None
        if record is not None and entry is not None:
            found.append((record.signed, entry))
    return found


def _versions(api: ZomeApi, facility: ActionHash, registered: SignedAction,
              entry: Facility) -> list[tuple[int, ActionHash, Facility]]:
    """The registration and its updates, oldest first (one chain: seq orders them)."""
    versions = [(registered.action.seq, facility, entry)]
    versions += [(signed.action.seq, ActionHash(signed.hash), update)
                 for signed, update in _linked(api, facility, "FacilityVersions", Facility)]
    return sorted(versions, key=lambda v: v[0])


def _verifications(api: ZomeApi, facility: ActionHash
                   ) -> list[tuple[SignedAction, FacilityVerification]]:
    """The judgements of a facility, oldest first."""
    found = _linked(api, facility, "FacilityVerifications", FacilityVerification)
    return sorted(found, key=lambda v: (v[0].action.timestamp_us, v[0].hash))


def _seq_of(api: ZomeApi, version: str) -> int:
    record = api.get(ActionHash.parse(version))
    return record.signed.action.seq if record is not None else -1


def _status(api: ZomeApi, verdicts: list[tuple[SignedAction, FacilityVerification]],
            newest_seq: int) -> tuple[FacilityStatus, ActionHash | None]:
    """The status and the verification the next judgement follows.

    Verifiers who cite an older ``previous`` fork the history; the newest judgement nobody
    followed stands, except that a revocation anywhere is final: validation cannot see later
    forks, so reading keeps that promise."""
    for signed, verdict in verdicts:
        if verdict.status is FacilityStatus.REVOKED:
            return FacilityStatus.REVOKED, ActionHash(signed.hash)
    followed = {verdict.previous for _, verdict in verdicts}
    heads = [(s, v) for s, v in verdicts if str(ActionHash(s.hash)) not in followed]
    if not heads:
        return FacilityStatus.PENDING, None
    signed, verdict = heads[-1]
    status = effective_status(verdict.status, _seq_of(api, verdict.facility_version), newest_seq)
    return status, ActionHash(signed.hash)


def _read(api: ZomeApi, text: str) -> FacilityOutput:
    """The facility named by ``text``; ZomeCallError if this node holds no such facility."""
    facility, registered, entry = _registration(api, text)
    seq, version, newest = _versions(api, facility, registered, entry)[-1]
    verdicts = _verifications(api, facility)
    status, last = _status(api, verdicts, seq)
    return FacilityOutput(
        facility=str(facility), registrant=str(AgentPubKey(registered.action.author)),
        version=str(version), name=newest.name, location=newest.location,
        contact=newest.contact, equipment=list(newest.equipment),
        certifications=list(newest.certifications), status=status,
        last_verification=None if last is None else str(last),
        verifications=[VerificationOutput(
            action=str(ActionHash(s.hash)), verifier=str(AgentPubKey(s.action.author)),
            status=v.status, reason=v.reason, facility_version=v.facility_version,
            previous=v.previous, timestamp_us=s.action.timestamp_us) for s, v in verdicts])


def _report(api: ZomeApi, facility: FacilityOutput, needs: Needs) -> CapabilityReport:
    newest = Facility(name=facility.name, location=facility.location,
                      equipment=tuple(facility.equipment),
                      certifications=tuple(facility.certifications))
    at_us = api.now_us if needs.at_us is None else needs.at_us
    lacks = missing_capabilities(newest, needs.capabilities)
    lapsed = missing_certifications(newest, needs.certifications, at_us)
    return CapabilityReport(
        facility=facility.facility, name=facility.name, status=facility.status,
        capable=facility.status is FacilityStatus.VERIFIED and not lacks and not lapsed,
        missing_capabilities=lacks, missing_certifications=lapsed)


# --- registration --------------------------------------------------------------------------


@COORDINATOR.function
def register_facility(api: ZomeApi, facility: Facility) -> ActionHash:
    """Register this agent's makerspace; it starts pending."""
    created = api.create_entry(facility)
    api.create_link(ALL_FACILITIES_ANCHOR, created, "AllFacilities")
    return created


def _update(api: ZomeApi, ref: FacilityRef, change: Callable[[Facility], dict[str, Any]]
            ) -> ActionHash:
    """A new version of the facility: its newest version with ``change(newest)`` applied."""
    facility, registered, entry = _registration(api, ref.facility)
    newest = _versions(api, facility, registered, entry)[-1][2]
    # validated again, so a change that breaks the model's bounds is a clear call error
    updated = api.update_entry(facility, Facility.model_validate(
        {**dict(newest), **change(newest)}))
    api.create_link(facility, updated, "FacilityVersions")
    return updated


@COORDINATOR.function
def update_facility_equipment(api: ZomeApi, change: EquipmentInput) -> ActionHash:
    """Replace my facility's equipment list; a verified facility is pending again."""
    return _update(api, change, lambda _: {"equipment": change.equipment})


@COORDINATOR.function
def add_certification(api: ZomeApi, change: CertificationInput) -> ActionHash:
    """Add a certification to my facility; a verified facility is pending again."""
    return _update(api, change, lambda newest: {
        "certifications": (*newest.certifications, change.certification)})


# --- judgements ----------------------------------------------------------------------------


def _judge(api: ZomeApi, judgement: JudgementInput, status: FacilityStatus) -> ActionHash:
    current = _read(api, judgement.facility)
    if judgement.role_evidence is not None:
        _parse_action(judgement.role_evidence, "role_evidence")
    verdict = FacilityVerification(
        facility=current.facility, facility_version=current.version,
        previous=current.last_verification, status=status, reason=judgement.reason,
        role_evidence=judgement.role_evidence)
    created = api.create_entry(verdict)
    api.create_link(ActionHash.parse(current.facility), created, "FacilityVerifications")
    return created


@COORDINATOR.function
def verify_facility(api: ZomeApi, judgement: JudgementInput) -> ActionHash:
    """Judge a pending or suspended facility verified (steward or PrimaryAccountableAgent)."""
    return _judge(api, judgement, FacilityStatus.VERIFIED)


@COORDINATOR.function
def suspend_facility(api: ZomeApi, judgement: JudgementInput) -> ActionHash:
    """Suspend a verified facility."""
    return _judge(api, judgement, FacilityStatus.SUSPENDED)


@COORDINATOR.function
def revoke_facility(api: ZomeApi, judgement: JudgementInput) -> ActionHash:
    """Revoke a facility for good."""
    return _judge(api, judgement, FacilityStatus.REVOKED)


# --- reads and matching ----------------------------------------------------------------------


@COORDINATOR.function
def get_facility(api: ZomeApi, ref: FacilityRef) -> FacilityOutput | None:
    """A facility's newest version and current status; None if it is not held here."""
    facility = _parse_action(ref.facility, "facility")  # a malformed hash is an error
    if api.get_entry(facility, Facility) is None:
        return None
    try:
        return _read(api, ref.facility)
    except ZomeCallError:  # a Facility update, not a registration
        return None


@COORDINATOR.function
def list_facilities(api: ZomeApi) -> list[FacilityOutput]:
    """Every facility this node holds, oldest registration first."""
    links = api.get_links(ALL_FACILITIES_ANCHOR, "AllFacilities")
    out = []
    for link in sorted(links, key=lambda link: (link.timestamp_us, link.create_action.raw)):
        found = get_facility(api, FacilityRef(facility=str(link.target)))
        if found is not None:
            out.append(found)
    return out


@COORDINATOR.function
def validate_production_capability(api: ZomeApi, needs: FacilityNeeds) -> CapabilityReport:
    """Whether a facility is verified and holds the equipment capabilities and the unexpired
    certifications a production step needs at ``at_us``."""
    return _report(api, _read(api, needs.facility), needs)


@COORDINATOR.function
def find_capable_facilities(api: ZomeApi, needs: Needs) -> list[CapabilityReport]:
    """The verified facilities that meet a production step's needs at ``at_us``."""
    reports = [_report(api, facility, needs) for facility in list_facilities(api)]
    return [report for report in reports if report.capable]
