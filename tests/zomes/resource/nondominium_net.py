"""A small Nondominium network for tests: one steward and members, each on its own conductor
over a real SQLite file, with the person, resource and governance zomes; helpers to give roles,
share chains, and take a resource through its validation.

Imported by the resource and governance tests (the governance conftest puts this directory on
``sys.path``)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from builders import FakeClock, build_conductor, build_dna, export_chain, with_coordinator
from pydantic import BaseModel
from zome_testing import forge, refused_by_peer

from nodeapp._core.hashing import ActionHash, AgentPubKey, parse_hash
from nodeapp._core.integrity import decode_entry
from nodeapp.conductor import Conductor
from nodeapp.coordinator import Coordinator
from nodeapp.errors import AppValidationError
from nodeapp.keystore import generate_agent_key
from nodeapp.store import SqliteStore
from nodeapp.zome_api import ZomeApi
from zomes.governance.integrity import ZOME as GOVERNANCE
from zomes.resource import coordinator as resource_coordinator
from zomes.resource.integrity import ZOME as RESOURCE
from zomes.rules import library

# The resource functions plus a raw write, as a node running modified coordinator code could:
# integrity validation, not the coordinator, must refuse what breaks a rule.
RAW = Coordinator(RESOURCE)
RAW.functions.update(resource_coordinator.COORDINATOR.functions)
_ZOMES = {"resource": RESOURCE, "governance": GOVERNANCE}


class RawDelete(BaseModel):
    """Delete the entry ``action`` wrote."""

    action: str


@RAW.function
def delete_raw(api: ZomeApi, target: RawDelete) -> ActionHash:
    """Delete any entry without a coordinator check."""
    return api.delete_entry(ActionHash.parse(target.action))


class RawLink(BaseModel):
    """A link of ``link_type`` of ``zome`` from ``base`` to ``target`` (any printable hashes)."""

    zome: str
    base: str
    target: str
    link_type: str


@RAW.function
def link_raw(api: ZomeApi, link: RawLink) -> ActionHash:
    """Create any link without a coordinator check."""
    return api.zome(link.zome).create_link(parse_hash(link.base), parse_hash(link.target),
                                           link.link_type)


@RAW.function
def delete_link_raw(api: ZomeApi, target: RawDelete) -> ActionHash:
    """Delete any link (``action`` is its CreateLink) without a coordinator check."""
    return api.delete_link(ActionHash.parse(target.action))


class RawWrite(BaseModel):
    """Write ``entry`` (an entry of ``zome``) as given, as a Create or an Update of
    ``original``."""

    zome: str
    entry: BaseModel
    original: str | None = None

    model_config = {"arbitrary_types_allowed": True}


@RAW.function
def write_raw(api: ZomeApi, raw: RawWrite) -> ActionHash:
    """Write an entry without any coordinator check."""
    target = api.zome(raw.zome)
    if raw.original is None:
        return target.create_entry(raw.entry)
    return target.update_entry(ActionHash.parse(raw.original), raw.entry)

ZOMES = ("person", "resource", "governance")
DAY_US = 24 * 3600 * 1_000_000


class Net:
    """Named conductors; ``alice`` is the DNA's steward."""

    def __init__(self, tmp_path: Path, names: tuple[str, ...] = ("alice", "bob", "carol",
                                                                   "dave")) -> None:
        self.clock = FakeClock()
        steward = generate_agent_key()
        self.dna = with_coordinator(build_dna(stewards=[steward], zomes=ZOMES), RAW, "resource")
        self.nodes: dict[str, Conductor] = {}
        self._sent: dict[tuple[str, str], int] = {}  # chain items each node already gave another
        for index, name in enumerate(names):
            self.nodes[name] = build_conductor(
                tmp_path, key=steward if index == 0 else None, dna=self.dna, clock=self.clock,
                db_name=f"{name}.db")

    def copy_to(self, tmp_path: Path) -> Net:
        """The same network (same keys, chains and clock reading) over copies of the stores:
        tests start from a prepared network without repeating its setup."""
        clone = Net.__new__(Net)
        clone.clock = FakeClock(start_us=self.clock.now_us)
        clone.dna, clone._sent, clone.nodes = self.dna, dict(self._sent), {}
        for name, node in self.nodes.items():
            copy = tmp_path / f"{name}.db"
            with closing(sqlite3.connect(node.store.path)) as src, closing(
                    sqlite3.connect(copy)) as dst:
                src.backup(dst)
            clone.nodes[name] = Conductor(SqliteStore(copy), self.dna, node.key,
                                          clock_us=clone.clock)
        return clone

    def __getitem__(self, name: str) -> Conductor:
        return self.nodes[name]

    def agent(self, name: str) -> str:
        """Printable key of a member."""
        return str(AgentPubKey(self.nodes[name].agent))

    def call(self, name: str, zome: str, fn: str, payload: Any = None) -> Any:
        """A zome call as JSON on ``name``'s node."""
        return self.nodes[name].call_json(zome, fn, payload)

    def sync(self) -> None:
        """Every node receives every other node's chain; everything must be accepted."""
        for _round in range(2):  # evidence may come from a third chain: a second pass holds it
            pending = []
            for src_name, src in self.nodes.items():
                chain = export_chain(src)
                for dst_name, dst in self.nodes.items():
                    sent = self._sent.get((src_name, dst_name), 0)
                    if src is not dst and sent < len(chain):
                        report = dst.ingest(chain[sent:])
                        assert report.rejected == [], (src_name, dst_name, report.rejected)
                        pending += report.unresolved
                        if not report.unresolved:
                            self._sent[src_name, dst_name] = len(chain)
            if not pending:
                return
        raise AssertionError(f"unresolved after sync: {pending}")

    def make_accountable(self, name: str) -> None:
        """``name`` asks for AccountableAgent and the steward approves."""
        request = self.call(name, "person", "request_role_promotion",
                            {"role": "AccountableAgent"})
        self.sync()
        self.call("alice", "person", "approve_role_promotion", {"action": request})
        self.sync()

    def give_role(self, name: str, role: str) -> None:
        """The steward gives a specialized role to an AccountableAgent."""
        self.call("alice", "person", "assign_person_role", {"agent": self.agent(name),
                                                            "role": role})
        self.sync()

    # --- rule-breaking writes ----------------------------------------------------------

    def refused_call(self, name: str, fn: str, payload: Any, rule: str, *,
                     zome: str = "resource", peer: str = "alice") -> str:
        """``name``'s own node refuses ``zome.fn(payload)`` and ``peer`` refuses the records
        it writes, signed by ``name`` outside any conductor, both naming ``rule``; returns the
        peer's reason."""
        self.sync()
        with pytest.raises(AppValidationError) as caught:
            self.nodes[name].call(zome, fn, payload)
        assert rule in str(caught.value), caught.value
        reason = refused_by_peer(self.nodes[peer], forge(self.nodes[name], fn, payload, zome))
        assert rule in reason, reason
        return reason

    def refused_everywhere(self, name: str, zome: str, entry: BaseModel, rule: str,
                           original: str | None = None, peer: str = "alice") -> str:
        """``name``'s own node refuses to write ``entry`` (an entry of ``zome``) and ``peer``
        refuses the forged record, both naming ``rule``; returns the peer's reason."""
        return self.refused_call(name, "write_raw", RawWrite(zome=zome, entry=entry,
                                                             original=original), rule, peer=peer)

    def entry_at(self, name: str, action: str, zome: str = "resource") -> BaseModel:
        """The entry an action wrote, as ``name``'s node holds it."""
        node = self.nodes[name]
        found = node.store.get_action(ActionHash.parse(action).raw)
        assert found is not None
        written = found[0].action
        data = node.store.get_entry(written.entry_hash)  # type: ignore[attr-defined]
        assert data is not None
        return decode_entry(data, _ZOMES[zome].entry_defs[written.entry_type_index])  # type: ignore[attr-defined]

    # --- resources --------------------------------------------------------------------

    def specification(self, name: str, rules: list[dict[str, Any]] | None = None) -> str:
        """A specification by ``name`` with ``rules`` (GovernanceRule inputs)."""
        return self.call(name, "resource", "create_resource_specification", {
            "name": "sensor kit", "default_unit": "each", "governance_rules": rules or []})

    def resource(self, name: str, spec: str, quantity: int = 5) -> str:
        """A new resource in ``name``'s custody."""
        return self.call(name, "resource", "create_economic_resource",
                         {"specification": spec, "quantity": quantity})

    def receipt(self, validator: str, item: str, *, approved: bool = True,
                stage: str | None = None, roles: tuple[str, ...] = ("AccountableAgent",),
                validation_type: str = "quality") -> str:
        """A validation receipt by ``validator``."""
        return self.call(validator, "governance", "create_validation_receipt", {
            "validated_item": item, "approved": approved, "stage": stage,
            "roles": list(roles), "validation_type": validation_type})

    def validation(self, name: str, resource: str, receipts: list[str],
                   scheme: str = "2-of-3", status: str | None = None) -> str:
        """A resource validation over ``receipts``."""
        return self.call(name, "governance", "create_resource_validation", {
            "resource": resource, "scheme": scheme, "receipts": receipts, "status": status})

    def activate(self, owner: str, resource: str, validators: tuple[str, str] = ("carol",
                                                                                  "dave")
                 ) -> str:
        """Two approvals, a 2-of-3 validation, and the owner moves the resource to Active."""
        self.sync()
        receipts = [self.receipt(v, resource, stage="Active") for v in validators]
        self.sync()
        validation = self.validation(owner, resource, receipts)
        return self.call(owner, "resource", "update_resource_state", {
            "resource": resource, "new_state": "Active", "evidence": [validation]})

    def custody_commitment(self, receiver: str, provider: str, resource: str,
                           roles: tuple[str, ...] = ()) -> str:
        """``receiver`` commits to take custody of ``resource`` from ``provider``."""
        return self.call(receiver, "governance", "propose_commitment", {
            "action": "transfer-custody", "provider": self.agent(provider),
            "receiver": self.agent(receiver), "resource": resource, "roles": list(roles),
            "due_before_us": self.clock.now_us + DAY_US})


@pytest.fixture(scope="session")
def accountable_template(tmp_path_factory: pytest.TempPathFactory) -> Net:
    """Built once: alice (steward), bob, carol and dave, all AccountableAgents."""
    net = Net(tmp_path_factory.mktemp("nondominium"))
    for name in ("bob", "carol", "dave"):
        net.make_accountable(name)
    return net


@pytest.fixture
def net(accountable_template: Net, tmp_path: Path) -> Net:
    """A fresh copy of the prepared network."""
    return accountable_template.copy_to(tmp_path)


def rule(rule_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A GovernanceRule input."""
    return {"rule_type": rule_type, "rule_data": data}


REPAIR_ONLY_MAINTENANCE = rule("transition",
                               library.transition_requires_role("Maintenance", "Repair"))
CUSTODY_NEEDS_TRANSPORT = rule("custody_transfer", library.custody_requires("Transport"))
TWO_ACCOUNTABLE_VALIDATORS = rule("activation",
                                  library.validations_required(2, "AccountableAgent"))
QUALITY_EACH_STAGE = rule("transition", library.quality_validation_each_stage())
