"""Binding a DNA manifest to the installed zome code.

A manifest pins each integrity zome by the blake2b hash of its module's source file. Loading a
manifest whose hashes differ from the installed code is refused: running other rules than the
network's would make this node judge peers wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dna.catalog import COORDINATORS, INTEGRITY_ZOMES
from nodeapp._core.dna import DnaManifest, IntegrityZomeRef
from nodeapp._core.hashing import AgentPubKey, blake2b_256
from nodeapp._core.integrity import IntegrityZome
from nodeapp._core.sys_validation import DnaTypes
from nodeapp.errors import UsageError


class DnaMismatch(UsageError):
    """Raised when a manifest names a zome that is not installed, or pins other code than the
    installed zome's."""


def _source_bytes(module: ModuleType) -> bytes:
    source = module.__file__
    if source is None:
        raise DnaMismatch(f"zome module {module.__name__} has no source file to hash")
    return Path(source).read_bytes()


def code_hash(module: ModuleType) -> bytes:
    """blake2b-256 of an integrity zome module's source file bytes, followed by those of the
    modules it lists in ``CODE_DEPENDENCIES`` (shared rule code it validates with), so a change
    to any code that judges peers changes the DNA."""
    data = _source_bytes(module)
    for dependency in getattr(module, "CODE_DEPENDENCIES", ()):
        data += b"\0" + dependency.__name__.encode() + b"\0" + _source_bytes(dependency)
    return blake2b_256(data)


def integrity_ref(name: str) -> IntegrityZomeRef:
    """The manifest entry for an installed integrity zome."""
    module = INTEGRITY_ZOMES.get(name)
    if module is None:
        raise DnaMismatch(f"no integrity zome named {name!r} is installed")
    zome: IntegrityZome = module.ZOME
    return IntegrityZomeRef(zome.name, zome.version, code_hash(module))


def build_manifest(name: str, network_seed: str, stewards: list[AgentPubKey],
                   zome_names: tuple[str, ...], properties: dict[str, Any] | None = None
                   ) -> DnaManifest:
    """A new network's manifest over installed zomes."""
    props = dict(properties or {})
    props["stewards"] = [str(s) for s in stewards]
    return DnaManifest(name, network_seed, tuple(integrity_ref(z) for z in zome_names), props)


@dataclass(frozen=True)
class LoadedDna:
    """A manifest with the code that implements it."""

    manifest: DnaManifest
    hash: bytes
    zomes: tuple[IntegrityZome, ...]
    coordinators: dict[str, ModuleType]
    types: DnaTypes

    def zome_index(self, name: str) -> int:
        """Index of an integrity zome by name."""
        return self.manifest.zome_index(name)


def load_dna(manifest: DnaManifest) -> LoadedDna:
    """Bind a manifest to installed code, checking every pinned hash."""
    zomes = []
    for ref in manifest.integrity_zomes:
        installed = integrity_ref(ref.name)
        if installed.code_hash != ref.code_hash or installed.version != ref.version:
            raise DnaMismatch(
                f"integrity zome {ref.name!r} differs from the network's (installed "
                f"{installed.version}, network {ref.version}): install the network's version"
            )
        zomes.append(INTEGRITY_ZOMES[ref.name].ZOME)
    dna_hash = manifest.hash.raw
    types = DnaTypes(
        dna_hash=dna_hash,
        entry_visibility=tuple(tuple(d.visibility for d in z.entry_defs) for z in zomes),
        link_type_counts=tuple(len(z.link_defs) for z in zomes),
        # a DNA may declare an open membrane (demos, tests): then no invite is asked of anyone
        stewards=() if manifest.properties.get("membrane") == "open" else tuple(
            s.raw for s in manifest.stewards),
    )
    coordinators = {ref.name: COORDINATORS[ref.name] for ref in manifest.integrity_zomes
                    if ref.name in COORDINATORS}
    return LoadedDna(manifest, dna_hash, tuple(zomes), coordinators, types)
