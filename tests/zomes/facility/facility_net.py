"""A small network for facility tests: a steward, a makerspace, a PrimaryAccountableAgent
verifier and a plain member, each on its own node (real SQLite files), plus raw coordinators
that write what the real coordinators never would, to show that validation refuses it
(``zome_testing.forge`` signs their records outside any conductor, for peers to refuse)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builders import FakeClock, build_conductor, build_dna, export_chain, with_coordinator
from pydantic import BaseModel, ConfigDict
from zome_testing import sync_chains

from nodeapp._core.hashing import ActionHash, AgentPubKey, parse_hash
from nodeapp.conductor import Conductor
from nodeapp.coordinator import Coordinator
from nodeapp.keystore import generate_agent_key
from nodeapp.zome_api import ZomeApi
from zomes.facility import coordinator as facility_coordinator
from zomes.facility.integrity import ZOME, Facility, FacilityVerification
from zomes.person.integrity import ZOME as PERSON_ZOME
from zomes.person.integrity import PersonRole, Role, RolePromotionRequest

ZOMES = ("person", "facility")
DAY_US = 24 * 3600 * 1_000_000

# --- raw coordinators --------------------------------------------------------------------

PERSON_RAW = Coordinator(PERSON_ZOME)


@PERSON_RAW.function
def request_role(api: ZomeApi, request: RolePromotionRequest) -> ActionHash:
    """Ask for a role (the person zome's rules judge it)."""
    return api.create_entry(request)


@PERSON_RAW.function
def give_role(api: ZomeApi, role: PersonRole) -> ActionHash:
    """Give a role (the person zome's rules judge it)."""
    return api.create_entry(role)


RAW = Coordinator(ZOME)
RAW.functions.update(facility_coordinator.COORDINATOR.functions)


class RawUpdate(BaseModel):
    """A Facility update of any action, with no index link."""

    model_config = ConfigDict(extra="forbid")
    original: str
    facility: Facility


class Ref(BaseModel):
    """Names one action."""

    model_config = ConfigDict(extra="forbid")
    action: str


class RawLink(BaseModel):
    """A facility link from any base to any target."""

    model_config = ConfigDict(extra="forbid")
    base: str
    target: str
    link_type: str


@RAW.function
def write_verification(api: ZomeApi, verdict: FacilityVerification) -> ActionHash:
    """A verification exactly as given: any previous, version, status or evidence."""
    return api.create_entry(verdict)


@RAW.function
def write_update(api: ZomeApi, update: RawUpdate) -> ActionHash:
    """A Facility written as an update of any action."""
    return api.update_entry(ActionHash.parse(update.original), update.facility)


@RAW.function
def update_verification(api: ZomeApi, ref: Ref) -> ActionHash:
    """Rewrite a verification as an update of itself."""
    original = ActionHash.parse(ref.action)
    verdict = api.get_entry(original, FacilityVerification)
    assert verdict is not None
    return api.update_entry(original, verdict)


@RAW.function
def delete_record(api: ZomeApi, ref: Ref) -> ActionHash:
    """Delete any facility record."""
    return api.delete_entry(ActionHash.parse(ref.action))


@RAW.function
def delete_link(api: ZomeApi, ref: Ref) -> ActionHash:
    """Delete any facility link."""
    return api.delete_link(ActionHash.parse(ref.action))


@RAW.function
def link(api: ZomeApi, raw: RawLink) -> ActionHash:
    """A link of any facility link type between any two hashes."""
    return api.create_link(parse_hash(raw.base), parse_hash(raw.target), raw.link_type)


# --- the network -------------------------------------------------------------------------


@dataclass
class Net:
    """Four members on four nodes sharing one DNA and one clock."""

    stella: Conductor  # a steward: PrimaryAccountableAgent without evidence
    maker: Conductor   # a makerspace's organisation agent
    vera: Conductor    # PrimaryAccountableAgent by a PersonRole (``vera_role``)
    mallory: Conductor  # a member with no role
    vera_role: str
    clock: FakeClock

    @property
    def nodes(self) -> tuple[Conductor, ...]:
        return (self.stella, self.maker, self.vera, self.mallory)

    def sync(self) -> None:
        """Every node receives every other node's chain; all of it must be accepted."""
        sync_chains(self.nodes)


def agent_str(node: Conductor) -> str:
    return str(AgentPubKey(node.agent))


def build_net(tmp_path: Path) -> Net:
    """The four members; vera is promoted to AccountableAgent then PrimaryAccountableAgent by
    the steward, as the person zome's rules require."""
    clock = FakeClock()
    steward_key = generate_agent_key()
    dna = with_coordinator(with_coordinator(build_dna(stewards=[steward_key], zomes=ZOMES),
                                            RAW, "facility"), PERSON_RAW, "person")
    stella = build_conductor(tmp_path, key=steward_key, dna=dna, clock=clock, db_name="s.db")
    maker, vera, mallory = (build_conductor(tmp_path, dna=dna, clock=clock, db_name=f"{n}.db")
                            for n in ("maker", "vera", "mallory"))
    request = vera.call_json("person", "request_role", {"role": "AccountableAgent"})
    stella.ingest(export_chain(vera))
    accountable = stella.call_json("person", "give_role", {
        "agent": agent_str(vera), "role": "AccountableAgent", "request": request})
    primary = stella.call_json("person", "give_role", {
        "agent": agent_str(vera), "role": Role.PrimaryAccountableAgent,
        "receiver_evidence": accountable})
    net = Net(stella, maker, vera, mallory, primary, clock)
    net.sync()
    return net


# --- facility data -----------------------------------------------------------------------


def certification(name: str = "ISO 9001", *, start_us: int, days: int = 365) -> dict[str, Any]:
    return {"name": name, "issuer": "TUV", "valid_from_us": start_us,
            "valid_until_us": start_us + days * DAY_US}


def facility_input(start_us: int, **changes: Any) -> dict[str, Any]:
    """A makerspace with a CNC mill, a 3D printer and ISO 9001 (one year from ``start_us``)."""
    data: dict[str, Any] = {
        "name": "Fab Lab North", "location": "Montreal", "contact": "lab@example.org",
        "equipment": [
            {"kind": "CNC mill", "model": "Tormach 1100", "count": 2,
             "capabilities": ["cnc_milling"]},
            {"kind": "3D printer", "model": "Prusa MK4", "count": 5,
             "capabilities": ["3d_printing"]},
        ],
        "certifications": [certification(start_us=start_us)],
    }
    data.update(changes)
    return data


def judge(node: Conductor, fn: str, facility: str, evidence: str | None = None,
          reason: str = "site visit") -> str:
    """Call one of verify/suspend/revoke_facility."""
    return node.call_json("facility", fn, {"facility": facility, "reason": reason,
                                           "role_evidence": evidence})
