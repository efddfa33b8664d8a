"""Reusable builders for tests: DNAs, conductors on real SQLite files, signed chains, a clock.

Everything here is deterministic apart from key generation (``generate_agent_key``); nothing
reads the wall clock. Import with ``from builders import ...`` (``tests/conftest.py`` puts this
directory on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dna import PRODUCTION_ZOMES, LoadedDna, build_manifest, load_dna
from nodeapp._core.actions import (
    Action,
    AgentValidationPkg,
    Create,
    Dna,
    InitZomesComplete,
    SignedAction,
    Visibility,
    sign_action,
)
from nodeapp._core.hashing import AgentPubKey, blake2b_256
from nodeapp._core.integrity import encode_entry
from nodeapp.conductor import Conductor, make_signer
from nodeapp.keystore import AgentKey, generate_agent_key
from nodeapp.store import SqliteStore, StagedRecord
from nodeapp.testing import FakeClock
from zomes.example.integrity import ZOME as EXAMPLE_ZOME
from zomes.example.integrity import Note, PrivateNote

START_US = 1_700_000_000_000_000  # 2023-11-14, a fixed "now" for every test
STEP_US = 1_000

NOTE_TYPE = EXAMPLE_ZOME.entry_type_index("Note")
PRIVATE_NOTE_TYPE = EXAMPLE_ZOME.entry_type_index("PrivateNote")
AUTHOR_TO_NOTES = EXAMPLE_ZOME.link_type_index("AuthorToNotes")


def build_dna(network_seed: str = "seed", *, stewards: Iterable[AgentKey] = (), name: str = "t",
              zomes: tuple[str, ...] = PRODUCTION_ZOMES,
              properties: dict[str, Any] | None = None, open_membrane: bool = True
              ) -> LoadedDna:
    """A loaded DNA over the installed zomes (the production set by default). Its membrane is
    open unless ``open_membrane=False``: tests of other rules then need no invites."""
    keys = [AgentPubKey(k.public_key) for k in stewards]
    props = dict(properties or {})
    if open_membrane:
        props.setdefault("membrane", "open")
    return load_dna(build_manifest(name, network_seed, keys, zomes, props))


def build_conductor(tmp_path: Path, *, key: AgentKey | None = None, dna: LoadedDna | None = None,
                    clock: Callable[[], int] | None = None, db_name: str = "node.db",
                    genesis: bool = True, membrane_proof: bytes | None = None) -> Conductor:
    """A conductor over a real SQLite file ``tmp_path / db_name``, with genesis done."""
    key = key or generate_agent_key()
    dna = dna or build_dna(stewards=[key])
    conductor = Conductor(SqliteStore(tmp_path / db_name), dna, key,
                          clock_us=clock or FakeClock())
    if genesis:
        conductor.genesis(membrane_proof)
    return conductor


def signer(key: AgentKey) -> Callable[[bytes], bytes]:
    """The agent's detached Ed25519 signer (the conductor's own)."""
    return make_signer(key)


def sign(action: Action, key: AgentKey) -> SignedAction:
    """Sign ``action`` with ``key`` (which need not be the action's author)."""
    return sign_action(action, make_signer(key))


def note_bytes(title: str = "note", body: str = "") -> bytes:
    """Canonical entry bytes of an example ``Note``."""
    return encode_entry(Note(title=title, body=body))


def private_note_bytes(text: str = "secret") -> bytes:
    """Canonical entry bytes of an example ``PrivateNote``."""
    return encode_entry(PrivateNote(text=text))


def create_after(key: AgentKey, prev: SignedAction, entry: bytes, *, ts: int | None = None,
                 entry_type_index: int = NOTE_TYPE, visibility: Visibility = Visibility.PUBLIC,
                 zome_index: int = 0, seq: int | None = None, entry_hash: bytes | None = None,
                 signing_key: AgentKey | None = None) -> SignedAction:
    """A signed Create that follows ``prev``; every field can be overridden to break a rule."""
    action = Create(
        key.public_key,
        prev.action.seq + 1 if seq is None else seq,
        prev.hash,
        prev.action.timestamp_us + STEP_US if ts is None else ts,
        zome_index,
        entry_type_index,
        visibility,
        blake2b_256(entry) if entry_hash is None else entry_hash,
    )
    return sign(action, signing_key or key)


class Chain(list[SignedAction]):
    """A list of signed actions that also knows the entry bytes of its Creates."""

    def __init__(self, actions: Iterable[SignedAction] = (),
                 entries: dict[bytes, bytes] | None = None) -> None:
        super().__init__(actions)
        self.entries: dict[bytes, bytes] = dict(entries or {})

    def entry_of(self, signed: SignedAction) -> bytes | None:
        """Entry bytes written by ``signed`` (None for actions without one)."""
        return self.entries.get(signed.hash)

    def append_record(self, signed: SignedAction, entry: bytes | None = None) -> None:
        """Add one more action (and its entry)."""
        self.append(signed)
        if entry is not None:
            self.entries[signed.hash] = entry

    def items(self) -> list[tuple[bytes, bytes, bytes | None]]:
        """``(action bytes, signature, entry bytes or None)`` triples, as ``Conductor.ingest``
        takes them (and a frame carries them)."""
        return [(s.action_bytes, s.signature, self.entry_of(s)) for s in self]

    @property
    def head(self) -> SignedAction:
        """The last action."""
        return self[-1]


def build_genesis(key: AgentKey, dna_hash: bytes, *, ts: int = START_US,
                  membrane_proof: bytes | None = None) -> Chain:
    """Dna, AgentValidationPkg, InitZomesComplete, signed by ``key``, all at ``ts``."""
    author = key.public_key
    chain = Chain()
    dna = sign(Dna(author, 0, None, ts, dna_hash), key)
    pkg = sign(AgentValidationPkg(author, 1, dna.hash, ts, membrane_proof), key)
    init = sign(InitZomesComplete(author, 2, pkg.hash, ts), key)
    for signed in (dna, pkg, init):
        chain.append_record(signed)
    return chain


def build_chain(key: AgentKey, n: int, dna_hash: bytes, *, start_us: int = START_US,
                step_us: int = STEP_US, membrane_proof: bytes | None = None,
                title_prefix: str = "note") -> Chain:
    """A valid signed chain: genesis, then ``n`` Creates of example Notes (entries included).

    Note ``i`` has title ``f"{title_prefix} {i}"`` and is dated ``start_us + (i + 1) * step_us``.
    """
    chain = build_genesis(key, dna_hash, ts=start_us, membrane_proof=membrane_proof)
    for i in range(n):
        entry = note_bytes(f"{title_prefix} {i}", f"body {i}")
        signed = create_after(key, chain.head, entry, ts=start_us + (i + 1) * step_us)
        chain.append_record(signed, entry)
    return chain


def with_coordinator(dna: LoadedDna, coordinator: Any, zome: str = "example") -> LoadedDna:
    """The same DNA (same hash: coordinators are not part of it) with ``coordinator`` serving
    ``zome``'s calls - for tests that need zome functions the installed coordinator lacks."""
    module = SimpleNamespace(COORDINATOR=coordinator)
    return replace(dna, coordinators={**dna.coordinators, zome: module})  # type: ignore[dict-item]


def staged(signed: SignedAction, entry: bytes | None = None) -> StagedRecord:
    """A record as ``SqliteStore.commit_own`` / ``store_received`` take it (valid, all ops)."""
    return StagedRecord(signed, entry)


def export_chain(conductor: Conductor) -> list[tuple[bytes, bytes, bytes | None]]:
    """The conductor's own chain as a peer would receive it: ``(action bytes, signature,
    entry)`` triples, public entries included, private entries withheld (None)."""
    store = conductor.store
    items = []
    for signed, _status in store.chain(conductor.agent):
        action = signed.action
        entry_hash = action.entry_hash_or_none
        private = getattr(action, "visibility", Visibility.PUBLIC) == Visibility.PRIVATE
        entry = store.get_entry(entry_hash) if entry_hash is not None and not private else None
        items.append((signed.action_bytes, signed.signature, entry))
    return items
