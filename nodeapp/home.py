"""A node's home directory: what is in it and how it is opened.

Layout (every file written atomically, the keystore 0600):
    keystore.json   the agent key, encrypted at rest unless the user opted out
    config.json     node settings (durability, bootstrap peers, ...)
    dna.cbor        the network's DNA manifest, once the node has created or joined one
    node.db         the SQLite store (plus -wal / -shm while open)
    node.sock       the local API of a running node (0600; only while `nodeapp run` runs)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dna import PRODUCTION_ZOMES, LoadedDna, build_manifest, load_dna
from nodeapp._core.actions import ActionKind
from nodeapp._core.dna import DnaManifest, manifest_from_bytes
from nodeapp._core.hashing import ActionHash, AgentPubKey, DnaHash
from nodeapp.conductor import Conductor, wall_clock_us
from nodeapp.errors import HomeError, MalformedData, StoreCorrupted, UsageError
from nodeapp.identity import peer_id_of
from nodeapp.keystore import (
    AgentKey,
    KdfCost,
    generate_agent_key,
    read_keystore,
    read_public_key,
    write_keystore,
)
from nodeapp.store import SqliteStore

CONFIG_VERSION = 1
# configs written before invites existed lack "bootstrap": it reads as []
DEFAULT_CONFIG: dict[str, Any] = {"version": CONFIG_VERSION, "durability": "normal",
                                  "bootstrap": []}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class NodeHome:
    """Paths and operations of one node home."""

    path: Path

    @property
    def keystore_path(self) -> Path:
        return self.path / "keystore.json"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def dna_path(self) -> Path:
        return self.path / "dna.cbor"

    @property
    def db_path(self) -> Path:
        return self.path / "node.db"

    @property
    def socket_path(self) -> Path:
        """The running node's local API socket (see :mod:`nodeapp.local_api`)."""
        return self.path / "node.sock"

    # --- creation ----------------------------------------------------------------------

    def init(self, passphrase: str | None, *, encrypted: bool = True,
             cost: KdfCost = KdfCost.MODERATE, durability: str = "normal") -> AgentKey:
        """Create the home: a new agent key, config and an empty store."""
        if self.keystore_path.exists():
            raise HomeError(f"{self.path} is already a node home (keystore.json exists)")
        created = not self.path.exists()
        written = [Path(f"{path}{suffix}")
                   for path in (self.keystore_path, self.config_path, self.db_path)
                   for suffix in ("", "-wal", "-shm", ".tmp")]
        ours = [path for path in written if not path.exists()]  # only these may be removed
        try:
            # private: the store holds private entries and the socket accepts zome calls
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = generate_agent_key()
            write_keystore(self.keystore_path, key, passphrase, encrypted=encrypted, cost=cost)
            config = dict(DEFAULT_CONFIG, durability=durability)
            _write_atomic(self.config_path, json.dumps(config, indent=2).encode() + b"\n")
            SqliteStore(self.db_path, durability=durability).close()
        except BaseException as exc:
            _remove_partial_init(self.path, ours, created)  # a half-made home would refuse a retry
            if isinstance(exc, OSError):  # a file in the way, no permission, a full disk
                raise HomeError(f"cannot make {self.path} a node home: {exc.strerror or exc}"
                                ) from exc
            raise
        return key

    def require(self) -> None:
        """Refuse to go on in a directory that is not a node home."""
        if not self.keystore_path.exists():
            raise HomeError(f"{self.path} is not a node home: "
                            f"run `nodeapp init --home {shlex.quote(str(self.path))}`")

    def config(self) -> dict[str, Any]:
        """The node's settings."""
        self.require()
        try:
            value = json.loads(self.config_path.read_text())
        except (OSError, ValueError) as exc:
            raise HomeError(f"{self.config_path} is unreadable: {exc}") from exc
        except RecursionError:  # json nests as deep as the text says
            raise HomeError(f"{self.config_path} is unreadable: nested too deeply") from None
        version = value.get("version") if isinstance(value, dict) else None
        if type(version) is not int or version != CONFIG_VERSION:  # true == 1 is no version
            raise HomeError(f"{self.config_path} is not a config this version understands")
        return value

    def bootstrap(self) -> list[str]:
        """Multiaddrs of peers to dial first (from the invite this node joined with)."""
        addrs = self.config().get("bootstrap", [])
        if not isinstance(addrs, list) or not all(isinstance(a, str) for a in addrs):
            raise HomeError(f"{self.config_path}: 'bootstrap' must be a list of multiaddrs")
        return addrs

    def set_bootstrap(self, addrs: list[str] | tuple[str, ...]) -> None:
        """Replace the bootstrap peers in config.json (atomically)."""
        config = self.config()
        config["bootstrap"] = list(addrs)
        _write_atomic(self.config_path, json.dumps(config, indent=2).encode() + b"\n")

    def write_manifest(self, manifest: DnaManifest) -> None:
        """Write dna.cbor (atomically): from now on this home belongs to that network."""
        _write_atomic(self.dna_path, manifest.to_bytes())

    # --- opening -----------------------------------------------------------------------

    def public_key(self) -> bytes:
        """The agent's public key (needs no passphrase)."""
        self.require()
        return read_public_key(self.keystore_path)

    def open_store(self) -> SqliteStore:
        """The node's store, with the configured durability. ``init`` made it: a store that
        is missing or empty is an error here, never silently replaced by a new empty one."""
        wal = Path(str(self.db_path) + "-wal")
        if not self.db_path.is_file() or (self.db_path.stat().st_size == 0 and not (
                wal.is_file() and wal.stat().st_size)):
            self.require()
            raise StoreCorrupted(f"{self.db_path} is missing or empty: restore it from a backup, "
                                 "or make a new home and join the network again")
        return SqliteStore(self.db_path, durability=self.config().get("durability", "normal"))

    def own_agent(self, store: SqliteStore) -> bytes:
        """The home's agent key, once checked against the chain ``store`` holds."""
        agent = self.public_key()
        _own_genesis_dna_hash(self, store, agent)
        return agent

    def manifest(self) -> DnaManifest | None:
        """The DNA this node runs, or None before it created or joined a network."""
        if not self.dna_path.exists():
            return None
        try:
            return manifest_from_bytes(self.dna_path.read_bytes())
        except MalformedData as exc:
            raise StoreCorrupted(f"{self.dna_path} is not a valid DNA manifest: {exc}") from exc

    def open_conductor(self, passphrase: str | None) -> Conductor:
        """Unlock the key and run the node's DNA over its store, once dna.cbor is checked
        against the network the agent's chain was started in."""
        manifest = self.manifest()
        store = self.open_store()
        try:
            manifest = _checked_manifest(self, manifest, store)
            key = read_keystore(self.keystore_path, passphrase)
        except BaseException:
            store.close()
            raise
        return Conductor(store, load_dna(manifest), key)

    def joined(self) -> bool:
        """Whether this agent's chain has its genesis: the chain, written last and in one
        transaction, says a home belongs to a network (dna.cbor is written before it)."""
        with self.open_store() as store:
            return _own_genesis_dna_hash(self, store, self.public_key()) is not None

    def create_network(self, name: str, passphrase: str | None,
                       properties: dict[str, Any] | None = None) -> DnaManifest:
        """Make this agent the steward of a new network and write its genesis."""
        self.require()
        if self.joined():
            raise HomeError(f"{self.path} already belongs to a network; use a new home")
        _check_network_name(name)
        key = read_keystore(self.keystore_path, passphrase)
        manifest = build_manifest(name, secrets.token_hex(16), [AgentPubKey(key.public_key)],
                                  PRODUCTION_ZOMES, properties)
        self.start_chain(load_dna(manifest), key)
        return manifest

    def start_chain(self, dna: LoadedDna, key: AgentKey, *, membrane_proof: bytes | None = None,
                    clock_us: Callable[[], int] = wall_clock_us) -> None:
        """Write dna.cbor, then the agent's genesis in that network. The genesis goes last (one
        transaction): a crash in between leaves a home where creating or joining can simply
        be run again, since a dna.cbor without a genesis is overwritten (see :meth:`joined`)."""
        self.write_manifest(dna.manifest)
        try:
            conductor = Conductor(self.open_store(), dna, key, clock_us=clock_us)
            try:
                conductor.genesis(membrane_proof)
            finally:
                conductor.store.close()
        except BaseException:
            self.dna_path.unlink(missing_ok=True)
            raise

    # --- reports -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What `nodeapp status` reports."""
        public_key = self.public_key()
        manifest = self.manifest()
        with self.open_store() as store:
            head = store.chain_head(public_key)
            found = store.get_action(head.hash) if head else None
            counts = store.counts()
            size = store.size_bytes()
            started_in = _own_genesis_dna_hash(self, store, public_key)
        if manifest is not None and started_in is not None:
            _check_same_network(self, manifest, started_in)  # never report another's DNA
        return {
            "home": str(self.path),
            "agent": str(AgentPubKey(public_key)),
            "peer_id": peer_id_of(public_key),
            "dna_hash": str(DnaHash(manifest.hash.raw)) if manifest else None,
            "network": manifest.name if manifest else None,
            "chain_length": head.seq + 1 if head else 0,
            "chain_head": str(ActionHash(head.hash)) if head else None,
            "chain_closed": found is not None and found[0].action.KIND == ActionKind.CLOSE_CHAIN,
            "actions_held": counts["action"],
            "ops_held": counts["dht_op"],
            "store_bytes": size,
            "bootstrap": self.bootstrap(),
        }


def _genesis_dna_hash(store: SqliteStore, agent: bytes) -> bytes | None:
    """The DNA hash in ``agent``'s Dna action (seq 0), or None before its genesis."""
    for signed, _status in store.chain(agent, end_seq=0):
        return getattr(signed.action, "dna_hash", None)
    return None


def _own_genesis_dna_hash(home: NodeHome, store: SqliteStore, agent: bytes
                          ) -> bytes | None:
    """:func:`_genesis_dna_hash` of the home's agent, refusing a keystore.json that is not the
    key of the agent whose chain the store holds: everything would read as an empty chain."""
    started_in = _genesis_dna_hash(store, agent)
    if started_in is None and store.authored_by_others(agent):
        raise HomeError(f"{home.keystore_path} is not the key of the agent whose chain is in "
                        f"{home.db_path}: restore this home's keystore.json from a backup")
    return started_in


def _checked_manifest(home: NodeHome, manifest: DnaManifest | None, store: SqliteStore
                      ) -> DnaManifest:
    """dna.cbor, keystore.json and the chain must tell the same story; say which is off."""
    started_in = _own_genesis_dna_hash(home, store, home.public_key())
    if manifest is None:
        if started_in is not None:
            raise StoreCorrupted(f"{home.dna_path} is missing, but this agent's chain belongs "
                                 "to a network: restore dna.cbor from a backup")
        raise HomeError("this node is in no network yet: run `nodeapp network create` or "
                        "`nodeapp join`")
    if started_in is None:
        raise HomeError("creating or joining a network did not finish in this home: run "
                        "`nodeapp network create` or `nodeapp join` again")
    _check_same_network(home, manifest, started_in)
    return manifest


def _check_same_network(home: NodeHome, manifest: DnaManifest, started_in: bytes) -> None:
    if started_in != manifest.hash.raw:
        raise StoreCorrupted(
            f"{home.dna_path} is not the network this agent's chain belongs to (it is "
            f"{DnaHash(manifest.hash.raw)}, the chain was started in {DnaHash(started_in)}): "
            "restore dna.cbor from a backup")


def _remove_partial_init(home: Path, files: list[Path], created: bool) -> None:
    """Remove what a failed ``init`` wrote: ``files`` (none existed before it) and the home
    directory if it made it and it is empty. Nothing that was there before is touched."""
    for path in files:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    if created:
        with contextlib.suppress(OSError):
            home.rmdir()


NETWORK_NAME_CHARS_MAX = 100


def _check_network_name(name: str) -> None:
    """A network name people will read in invites and status: some text, one line, not long."""
    if not name.strip():
        raise UsageError("the network name is empty")
    if len(name) > NETWORK_NAME_CHARS_MAX:
        raise UsageError(f"the network name is {len(name)} characters; the limit is "
                         f"{NETWORK_NAME_CHARS_MAX}")
    if not name.isprintable():
        raise UsageError("the network name holds control characters (a line break, a tab)")
