"""DNA: the rules every member runs, hashed into the network's identity.

Rules:
* A DNA manifest names its integrity zomes (name, version, blake2b hash of their code), carries
  properties that zomes read (stewards, replication factor, ...) and a network seed.
* The DNA hash is blake2b-256 of the manifest's canonical CBOR. Change any integrity zome, property
  or the seed and it is a different network. Coordinator zomes are not part of it: they can change
  without forking the network.
* The manifest's order of integrity zomes is meaningful: actions refer to zomes by index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodeapp._core.canonical import decode, encode
from nodeapp._core.hashing import AgentPubKey, DnaHash, blake2b_256
from nodeapp.errors import InvalidHash, MalformedData

MANIFEST_FORMAT = "nodeapp-dna/1"
DEFAULT_REPLICATION_FACTOR = 5
# each op held by up to this many authorities: more only multiplies traffic
REPLICATION_FACTOR_MAX = 50


@dataclass(frozen=True)
class IntegrityZomeRef:
    """One integrity zome as the DNA pins it."""

    name: str
    version: str
    code_hash: bytes


@dataclass(frozen=True)
class DnaManifest:
    """Everything that defines one network."""

    name: str
    network_seed: str
    integrity_zomes: tuple[IntegrityZomeRef, ...]
    properties: dict[str, Any] = field(default_factory=dict)

    def to_cbor_value(self) -> dict[str, Any]:
        """The canonical structure that is hashed."""
        return {
            "format": MANIFEST_FORMAT,
            "name": self.name,
            "network_seed": self.network_seed,
            "integrity_zomes": [[z.name, z.version, z.code_hash] for z in self.integrity_zomes],
            "properties": self.properties,
        }

    def to_bytes(self) -> bytes:
        """Canonical bytes of the manifest."""
        return encode(self.to_cbor_value())

    @property
    def hash(self) -> DnaHash:
        """The network's identity."""
        return DnaHash(blake2b_256(self.to_bytes()))

    @property
    def stewards(self) -> tuple[AgentPubKey, ...]:
        """Agents the DNA trusts to admit members and to anchor reputation."""
        return tuple(AgentPubKey.parse(s) for s in self.properties.get("stewards", ()))

    @property
    def replication_factor(self) -> int:
        """How many authorities hold each op (R)."""
        return int(self.properties.get("replication_factor", DEFAULT_REPLICATION_FACTOR))

    def zome_index(self, name: str) -> int:
        """Index of an integrity zome by name (as actions refer to it)."""
        for index, zome in enumerate(self.integrity_zomes):
            if zome.name == name:
                return index
        raise KeyError(name)


def _check_node_properties(properties: dict[str, Any]) -> None:
    """The properties the node itself reads (zomes check their own): a network whose
    manifest got past this can be joined and run."""
    stewards = properties.get("stewards", [])
    if type(stewards) is not list:
        raise MalformedData("DNA property stewards must be a list of agent keys")
    for steward in stewards:
        try:
            AgentPubKey.parse(steward)
        except InvalidHash as exc:
            raise MalformedData(f"DNA property stewards: {exc}") from None
    factor = properties.get("replication_factor", DEFAULT_REPLICATION_FACTOR)
    if type(factor) is not int or not 1 <= factor <= REPLICATION_FACTOR_MAX:
        raise MalformedData("DNA property replication_factor must be a whole number from 1 to "
                            f"{REPLICATION_FACTOR_MAX}")


_MANIFEST_FIELDS = ("format", "name", "network_seed", "integrity_zomes", "properties")


def manifest_from_bytes(data: bytes) -> DnaManifest:
    """Parse manifest bytes (from a file or a peer); shape errors are MalformedData."""
    value = decode(data, size_max=1024 * 1024)
    if not isinstance(value, dict):
        raise MalformedData(f"a DNA manifest is a map, not a {type(value).__name__}")
    missing = [field for field in _MANIFEST_FIELDS if field not in value]
    if missing:
        raise MalformedData(f"DNA manifest has no {', '.join(missing)}")
    if value["format"] != MANIFEST_FORMAT:
        raise MalformedData(f"unknown DNA manifest format {value['format']!r}")
    for name in ("name", "network_seed"):
        if type(value[name]) is not str:
            raise MalformedData(f"DNA manifest field {name} must be text")
    # checked before any conversion: bytes(n) of a peer's integer n would allocate n bytes
    refs = value["integrity_zomes"]
    if type(refs) is not list or not all(
            type(ref) is list and len(ref) == 3 and type(ref[0]) is str
            and type(ref[1]) is str and type(ref[2]) is bytes for ref in refs):
        raise MalformedData("DNA manifest field integrity_zomes must list [name, version, "
                            "code hash] triples")
    if not isinstance(value["properties"], dict):
        raise MalformedData("DNA properties must be a map")
    _check_node_properties(value["properties"])
    manifest = DnaManifest(value["name"], value["network_seed"],
                           tuple(IntegrityZomeRef(*ref) for ref in refs), value["properties"])
    if manifest.to_bytes() != data:
        raise MalformedData("DNA manifest bytes are not canonical")
    return manifest
