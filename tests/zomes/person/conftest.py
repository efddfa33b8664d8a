"""Fixtures for the person zome tests: a network whose steward is ``alice``, members on their own
nodes, chain sharing, a coordinator with raw writes, and records forged outside any conductor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from builders import (
    STEP_US,
    FakeClock,
    build_conductor,
    build_dna,
    sign,
    with_coordinator,
)
from pydantic import BaseModel
from zome_testing import refused_by_peer, sync_chains

from dna import LoadedDna
from nodeapp._core.actions import Create, Delete, SignedAction, Update
from nodeapp._core.hashing import ActionHash, AgentPubKey, blake2b_256
from nodeapp._core.integrity import encode_entry
from nodeapp.conductor import Conductor
from nodeapp.coordinator import Coordinator
from nodeapp.keystore import AgentKey, generate_agent_key
from nodeapp.zome_api import ZomeApi
from zomes.person import coordinator as person_coordinator
from zomes.person.integrity import (
    ZOME,
    Device,
    Person,
    PersonRole,
    PrivateDataGrant,
    RolePromotionRequest,
)

# The person functions plus raw writes the real coordinator never makes: the integrity rules
# must hold whatever coordinator code a node runs.
RAW = Coordinator(ZOME)
RAW.functions.update(person_coordinator.COORDINATOR.functions)


class UpdateOf(BaseModel):
    """A raw update: ``original`` replaced by one of the entries given."""

    original: str
    person: Person | None = None
    device: Device | None = None
    role: PersonRole | None = None


class Target(BaseModel):
    """Names one action."""

    action: str


@RAW.function
def raw_create_person(api: ZomeApi, person: Person) -> ActionHash:
    return api.create_entry(person)


@RAW.function
def raw_role(api: ZomeApi, role: PersonRole) -> ActionHash:
    """A PersonRole with whatever evidence it names, indexed like the real coordinator's."""
    created = api.create_entry(role)
    api.create_link(AgentPubKey.parse(role.agent), created, "AgentToRoles")
    return created


@RAW.function
def raw_request(api: ZomeApi, request: RolePromotionRequest) -> ActionHash:
    return api.create_entry(request)


@RAW.function
def raw_grant(api: ZomeApi, grant: PrivateDataGrant) -> ActionHash:
    return api.create_entry(grant)


@RAW.function
def raw_device(api: ZomeApi, device: Device) -> ActionHash:
    return api.create_entry(device)


@RAW.function
def raw_update(api: ZomeApi, update: UpdateOf) -> ActionHash:
    entry = update.person or update.device or update.role
    assert entry is not None
    return api.update_entry(ActionHash.parse(update.original), entry)


@RAW.function
def raw_delete(api: ZomeApi, target: Target) -> ActionHash:
    return api.delete_entry(ActionHash.parse(target.action))


class LinkFrom(BaseModel):
    """A raw link of ``link_type`` from ``agent``'s key to the author's newest action."""

    agent: str
    link_type: str


@RAW.function
def raw_link(api: ZomeApi, link: LinkFrom) -> ActionHash:
    head = api.query()[-1]
    return api.create_link(AgentPubKey.parse(link.agent), ActionHash(head.signed.hash),
                           link.link_type)


def person_dna(steward: AgentKey) -> LoadedDna:
    """A DNA holding the person zome, served by RAW, with ``steward`` as its steward."""
    return with_coordinator(build_dna(stewards=[steward], zomes=("person",)), RAW, "person")


NodeFactory = Callable[[str], Conductor]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_node(tmp_path: Path, clock: FakeClock) -> NodeFactory:
    """``make_node(name)``: a member's node; the first one made is the steward."""
    steward = generate_agent_key()
    dna = person_dna(steward)
    made: dict[str, Conductor] = {}

    def make(name: str) -> Conductor:
        key = steward if not made else generate_agent_key()
        made[name] = build_conductor(tmp_path, key=key, dna=dna, clock=clock,
                                     db_name=f"{name}.db")
        return made[name]

    return make


@pytest.fixture
def alice(make_node: NodeFactory) -> Conductor:
    """The steward."""
    return make_node("alice")


@pytest.fixture
def bob(alice: Conductor, make_node: NodeFactory) -> Conductor:
    return make_node("bob")


@pytest.fixture
def carol(bob: Conductor, make_node: NodeFactory) -> Conductor:
    return make_node("carol")


@pytest.fixture
def dave(carol: Conductor, make_node: NodeFactory) -> Conductor:
    return make_node("dave")


def key_of(node: Conductor) -> str:
    return str(AgentPubKey(node.agent))


def sync(*nodes: Conductor) -> None:
    """Every node receives every other node's chain (public entries); all must be stored."""
    sync_chains(nodes, rounds=len(nodes) + 1)


def head_of(node: Conductor) -> SignedAction:
    return list(node.store.chain(node.agent))[-1][0]


def _type_index(entry: BaseModel) -> int:
    for index, entry_def in enumerate(ZOME.entry_defs):
        if entry_def.model is type(entry):
            return index
    raise KeyError(type(entry).__name__)


def forge_create(node: Conductor, entry: BaseModel) -> tuple[SignedAction, bytes]:
    """A Create of ``entry`` after ``node``'s head, signed by its agent, never validated."""
    data, head, index = encode_entry(entry), head_of(node), _type_index(entry)
    visibility = ZOME.entry_defs[index].visibility
    action = Create(node.agent, head.action.seq + 1, head.hash, head.action.timestamp_us + STEP_US,
                    node.dna.zome_index("person"), index, visibility, blake2b_256(data))
    return sign(action, node.key), data


def forge_update(node: Conductor, original: str, entry: BaseModel) -> tuple[SignedAction, bytes]:
    """An Update of ``original`` by ``node``'s agent, never validated."""
    data, head, index = encode_entry(entry), head_of(node), _type_index(entry)
    found = node.store.get_action(ActionHash.parse(original).raw)
    assert found is not None
    old = found[0]
    action = Update(node.agent, head.action.seq + 1, head.hash, head.action.timestamp_us + STEP_US,
                    node.dna.zome_index("person"), index, ZOME.entry_defs[index].visibility,
                    blake2b_256(data), old.hash, old.action.entry_hash)  # type: ignore[attr-defined]
    return sign(action, node.key), data


def forge_delete(node: Conductor, original: str) -> tuple[SignedAction, None]:
    """A Delete of ``original`` by ``node``'s agent, never validated."""
    head = head_of(node)
    found = node.store.get_action(ActionHash.parse(original).raw)
    assert found is not None
    action = Delete(node.agent, head.action.seq + 1, head.hash,
                    head.action.timestamp_us + STEP_US, found[0].hash,
                    found[0].action.entry_hash)  # type: ignore[attr-defined]
    return sign(action, node.key), None


def peer_refusal(author: Conductor, peer: Conductor,
                 forged: tuple[SignedAction, bytes | None]) -> str:
    """Send ``author``'s chain and then the forged record to ``peer``; the reason it refuses
    (without the ``app: `` stage prefix, so it starts with the rule's name)."""
    sync(author, peer)
    signed, entry = forged
    return refused_by_peer(peer, [(signed.action_bytes, signed.signature, entry)])
