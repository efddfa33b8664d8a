"""The node's SQLite store: one file per node, WAL, versioned schema.

Rules:
* Writes to our own chain go through :meth:`SqliteStore.commit_own`: one ``BEGIN IMMEDIATE``
  transaction that compares-and-swaps the chain head, so two concurrent calls (threads or
  processes) can never fork the chain, and a failed call writes nothing.
* Received data goes through :meth:`SqliteStore.store_received` in batches, with the validation
  status the caller determined.
* Bytes are stored exactly as received; reads decode them again and never re-encode.
* Durability is a choice made when opening: ``"full"`` fsyncs the WAL on every commit (survives
  power loss); ``"normal"`` (the default, as most WAL deployments use) survives any crash of the
  node process and fsyncs at checkpoints, but an OS crash or power loss may undo the last
  commits. The benchmark reports both.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Container, Iterator, Sequence
from pathlib import Path
from typing import Any

from mypy_extensions import mypyc_attr

from nodeapp._core.actions import (
    CreateLink,
    Delete,
    DeleteLink,
    SignedAction,
    Update,
    signed_action_from_parts,
    writes_private_entry,
)
from nodeapp._core.ops import (
    REGISTRATION_OPS,
    OpType,
    basis_of,
    op_mask,
    op_mask_for,
)
from nodeapp.errors import (
    ChainHeadMoved,
    MalformedData,
    SchemaVersionError,
    StoreCorrupted,
    StoreUnavailable,
    UsageError,
)
from nodeapp.store.records import (
    HKEY_STRUCT,
    ChainHead,
    StagedRecord,
    Status,
    StoredLink,
    WriteMarker,
    hkey,
)
from nodeapp.store.reports import StoreReports
from nodeapp.store.schema import MIGRATIONS, SCHEMA_VERSION, split_sql

DURABILITY_LEVELS = {"normal": "NORMAL", "full": "FULL"}
BUSY_TIMEOUT_MS = 10_000
WAL_CHECKPOINT_PAGES = 10_000

CACHE_KIB = 64 * 1024
MMAP_BYTES = 1 << 30

# Python 3.11's sqlite3 looks for an adapter for every bytes parameter it binds, and a miss
# builds and discards an AttributeError (~0.4 us). Hashes, action bytes, signatures and entries
# are all bytes: about six per stored record. Registering bytes as its own adapter (``bytes(b)``
# returns ``b`` itself) turns the miss into a hit, with the same value bound.
sqlite3.register_adapter(bytes, bytes)

# kinds whose storing also writes a registration row / a link index row
_REGISTERING, _LINKING = (Update, Delete), (CreateLink, DeleteLink)
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE")}
_VALID = Status.VALID  # read once: through its class, ~70 ns a time in Python 3.11


class _Transaction:
    """``with``: one SQLite transaction, committed on success and rolled back on any error."""

    def __init__(self, db: sqlite3.Connection, agent_ids: dict[bytes, int], mode: str) -> None:
        self.db, self.agent_ids, self.begin = db, agent_ids, _BEGIN[mode]

    def __enter__(self) -> None:
        self.db.execute(self.begin)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            # SQLite has already rolled back after some errors (a full disk, an I/O error):
            # a second ROLLBACK would raise and hide the error that matters
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            # ids handed out inside the rolled-back transaction may be reused by SQLite
            self.agent_ids.clear()


# compiled (nodeapp/build.py), a class admits subclasses written in Python only when told: tests
# subclass the store to make races happen on cue
@mypyc_attr(allow_interpreted_subclasses=True)
class SqliteStore(StoreReports):
    """The store of one node. Not thread-safe: one instance per thread (the file is shared)."""

    def __init__(self, path: Path, *, durability: object = "normal") -> None:
        # config.json gives durability: anything may be there
        if type(durability) is not str or durability not in DURABILITY_LEVELS:
            raise UsageError(f"durability must be one of {', '.join(DURABILITY_LEVELS)}")
        self.path = Path(path)
        self.durability = durability
        self._agent_ids: dict[bytes, int] = {}
        if not self.path.exists():
            # private entries live here: owner-only, whatever the umask (SQLite gives the WAL
            # and shared-memory files the mode of the database file)
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as exc:
                raise StoreUnavailable(f"cannot create {self.path}: {exc.strerror}") from exc
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       timeout=BUSY_TIMEOUT_MS / 1000)
            self._configure()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupted(f"{self.path} is not a usable node store: {exc}") from exc

    # --- lifecycle ---------------------------------------------------------------------

    def _configure(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={DURABILITY_LEVELS[self.durability]}")
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        db.execute("PRAGMA temp_store=MEMORY")
        # checkpoint every ~40 MB of WAL instead of 4 MB: pages rewritten by many commits
        # (index interiors) are copied back once, not every few batches
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {version}; this program knows up to "
                f"{SCHEMA_VERSION}: upgrade nodeapp"
            )
        for index in range(version, SCHEMA_VERSION):
            with self._transaction():
                # another process may have migrated since we looked: read again under the lock
                if self._db.execute("PRAGMA user_version").fetchone()[0] <= index:
                    self._apply(index)

    def _apply(self, index: int) -> None:
        migration = MIGRATIONS[index]
        if callable(migration):
            migration(self._db)
        else:
            for statement in split_sql(migration):
                self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version={index + 1}")

    def close(self) -> None:
        """Close the connection (checkpoints the WAL when it is the last one)."""
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self, mode: str = "IMMEDIATE") -> _Transaction:
        return _Transaction(self._db, self._agent_ids, mode)

    # --- meta --------------------------------------------------------------------------

    def set_meta(self, key: str, value: bytes) -> None:
        """Store a small named value (DNA manifest, agent key...)."""
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def meta_items(self, prefix: str) -> list[tuple[str, bytes]]:
        """Named values whose name starts with ``prefix``."""
        return self._db.execute("SELECT key, value FROM meta WHERE key >= ? AND key < ? "
                                "ORDER BY key", (prefix, prefix + "\uffff")).fetchall()

    def get_meta(self, key: str) -> bytes | None:
        """A named value, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # --- agents ------------------------------------------------------------------------

    def _agent_id(self, pubkey: bytes) -> int:
        found = self._agent_ids.get(pubkey)
        if found is not None:
            return found
        row = self._db.execute("SELECT id FROM agent WHERE pubkey = ?", (pubkey,)).fetchone()
        if row is None:
            row = self._db.execute(
                "INSERT INTO agent (pubkey) VALUES (?) RETURNING id", (pubkey,)
            ).fetchone()
        self._agent_ids[pubkey] = row[0]
        return row[0]

    def _known_agent_id(self, pubkey: bytes) -> int | None:
        found = self._agent_ids.get(pubkey)
        if found is None:
            row = self._db.execute("SELECT id FROM agent WHERE pubkey = ?", (pubkey,)).fetchone()
            found = row[0] if row else None
        return found

    # --- writes ------------------------------------------------------------------------

    def authored_by_others(self, agent: bytes) -> bool:
        """Whether this store holds chain actions written here by an agent other than
        ``agent`` (a home whose keystore was swapped for another agent's)."""
        return self._db.execute(
            "SELECT 1 FROM action JOIN agent ON agent.id = action.author_id "
            "WHERE action.authored = 1 AND agent.pubkey != ? LIMIT 1", (agent,)
        ).fetchone() is not None

    def chain_head(self, author: bytes) -> ChainHead | None:
        """Head of ``author``'s chain as this node committed it (own chain only)."""
        author_id = self._known_agent_id(author)
        return None if author_id is None else self._own_head(author_id)

    def _own_head(self, author_id: int) -> ChainHead | None:
        row = self._db.execute(
            "SELECT seq, hash FROM action WHERE author_id = ? AND authored = 1 "
            "ORDER BY seq DESC LIMIT 1", (author_id,)).fetchone()
        return ChainHead(row[0], row[1]) if row else None

    def commit_own(self, author: bytes, records: Sequence[StagedRecord],
                   expected_head: ChainHead | None) -> None:
        """Append our own records atomically if the head is still ``expected_head``.

        Raises ChainHeadMoved (nothing written) when another writer got there first. The
        check and the insert share one write transaction, which SQLite grants to one
        connection at a time, so two writers can never both extend the same head.
        """
        if not records:
            return
        with self._transaction():
            # one statement, once per zome call: the head, the next free id and, for the usual
            # call that writes one entry, whether that entry is held already (stored once)
            entries = [r.signed.action.entry_hash_or_none for r in records if r.entry is not None]
            one = entries[0] if len(entries) == 1 else None
            row = self._db.execute(
                "SELECT seq, hash, (SELECT max(id) FROM action) + 1, (SELECT 1 FROM action "
                "WHERE entry_hkey = ?2 AND entry_hash = ?3 AND entry IS NOT NULL LIMIT 1) "
                "FROM action WHERE author_id = ?1 AND authored = 1 ORDER BY seq DESC LIMIT 1",
                (self._agent_id(author), None if one is None else hkey(one), one)).fetchone()
            if row is None:  # no chain yet: this is the genesis, which writes no entry
                head, next_id, held_entries = None, None, None
            else:
                head, next_id = ChainHead(row[0], row[1]), row[2]
                held_entries = None if one is None else ({one} if row[3] else set())
            if head != expected_head:
                raise ChainHeadMoved("the chain head moved while the call ran")
            self._insert_records(records, authored=True, next_id=next_id,
                                 held_entries=held_entries)

    def store_received(self, records: Sequence[StagedRecord],
                       not_held_at: WriteMarker | None = None) -> int:
        """Store records received from peers (already validated to ``status``) in one
        transaction; actions already held are skipped. Returns how many were new.

        ``not_held_at``: the caller found none of ``records`` held when this store's
        :meth:`write_marker` returned this. If no row was written since, that is still true and
        is not asked again (one index probe per record saved); otherwise each is looked up
        here. The hash column is not unique, so a caller that passes records it did not look
        up (or a marker from another store) would store them twice."""
        with self._transaction():
            fresh: Sequence[StagedRecord] = records
            if not_held_at is None or self.write_marker() != not_held_at:
                held = self.held_masks([r.signed.hash for r in records])
                fresh = [r for r in records if r.signed.hash not in held]
            self._insert_records(fresh, authored=False)
        return len(fresh)

    def write_marker(self) -> WriteMarker:
        """A value that changes whenever a row is inserted, updated or deleted in the store, by
        this connection (its count of rows changed) or by any other (SQLite's data_version).
        Read it before reading what a later write depends on; an equal marker from this store
        later means that read still holds."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        return WriteMarker(id(self._db), version, self._db.total_changes)

    def _lookup_many(self, hashes: Sequence[bytes], column: str = "id", *,
                     entries: bool = False) -> dict[bytes, int]:
        """hash -> an integer column of the action row (``id`` or ``ops``) for each of
        ``hashes`` held, one query per 500; with ``entries``, the hashes are entry hashes and
        the row is the one that holds the entry's bytes."""
        key, hash_column, held = ("entry_hkey", "entry_hash", " AND entry IS NOT NULL"
                                  ) if entries else ("hkey", "hash", "")
        found: dict[bytes, int] = {}
        key_of = HKEY_STRUCT.unpack_from  # hkey() inlined: called for every record received
        for offset in range(0, len(hashes), 500):
            chunk = hashes[offset:offset + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {hash_column}, {column} FROM action WHERE {key} IN ({marks}){held}",
                [key_of(h)[0] for h in chunk],
            ).fetchall()
            wanted = set(chunk)
            found.update((h, value) for h, value in rows if h in wanted)
        return found

    def held_masks(self, hashes: Sequence[bytes]) -> dict[bytes, int]:
        """For each of ``hashes`` held here, the bit set of its ops held."""
        return self._lookup_many(hashes, column="ops")

    def hold_more(self, updates: Sequence[tuple[SignedAction, int, bytes | None]]) -> None:
        """Actions already held that now hold more ops (an arc grew, a late publish, a
        record fetched by a zome call): their new op bit sets and, where an update brings
        the entry the action was stored without, that entry. One transaction."""
        if not updates:
            return
        with self._transaction():
            entries = {s.action.entry_hash_or_none: (s, e) for s, _m, e in updates
                       if e is not None and s.action.entry_hash_or_none is not None}
            held_entries = self._lookup_many(list(entries), entries=True) if entries else {}
            for signed, mask, _entry in updates:
                self.set_held_mask(signed.hash, mask)
            rows = [(hkey(entry_hash), entry_hash, entry, hkey(signed.hash), signed.hash)
                    for entry_hash, (signed, entry) in entries.items()
                    if entry_hash not in held_entries]
            self._db.executemany("UPDATE action SET entry_hkey = ?, entry_hash = ?, entry = ? "
                                 "WHERE hkey = ? AND hash = ?", rows)

    def set_held_mask(self, action_hash: bytes, mask: int) -> None:
        """Record that more ops of a held action are now held (an arc grew, a late publish)."""
        self._db.execute("UPDATE action SET ops = ? WHERE hkey = ? AND hash = ?",
                         (mask, hkey(action_hash), action_hash))

    def add_receipts(self, receipts: Sequence[tuple[bytes, int, bytes]]) -> None:
        """Record (action hash, op type, validator) receipts for our own ops."""
        ids = self._lookup_many(list(dict.fromkeys(h for h, _, _ in receipts)))
        rows = [(ids[h], op_type, validator) for h, op_type, validator in receipts if h in ids]
        self._db.executemany("INSERT OR IGNORE INTO receipt (action_id, op_type, validator) "
                             "VALUES (?, ?, ?)", rows)

    def authored_receipts(self, author: bytes
                          ) -> Iterator[tuple[SignedAction, dict[int, set[bytes]]]]:
        """Each valid action we authored, with the validators that receipted each op type."""
        author_id = self._known_agent_id(author)
        if author_id is None:
            return
        receipts: dict[int, dict[int, set[bytes]]] = {}
        for action_id, op_type, validator in self._db.execute(
                "SELECT r.action_id, r.op_type, r.validator FROM receipt r"):
            receipts.setdefault(action_id, {}).setdefault(op_type, set()).add(validator)
        rows = self._db.execute(
            "SELECT id, action_bytes, signature, hash FROM action WHERE author_id = ? AND "
            "authored = 1 AND status = ? ORDER BY seq", (author_id, int(Status.VALID)))
        for action_id, action_bytes, signature, stored_hash in rows:
            yield self._decode(action_bytes, signature, stored_hash), receipts.get(action_id, {})

    def set_status(self, action_hash: bytes, status: Status) -> None:
        """Change a held action's validation status (a warrant proved it invalid)."""
        self._db.execute("UPDATE action SET status = ? WHERE hkey = ? AND hash = ?",
                         (int(status), hkey(action_hash), action_hash))

    def forks_among(self, actions: Sequence[SignedAction]) -> list[tuple[bytes, bytes]]:
        """(held hash, new hash) for each action that shares author and seq with another valid
        action held here: the evidence of a chain fork."""
        by_author: dict[bytes, list[SignedAction]] = {}
        for signed in actions:
            by_author.setdefault(signed.action.author, []).append(signed)
        forks: list[tuple[bytes, bytes]] = []
        for author, mine in by_author.items():  # one range query per author, not per action
            seqs = [s.action.seq for s in mine]
            # SQLite finds the seqs held more than once; only those rows come back to Python
            rows = self._db.execute(
                "SELECT seq, hash FROM action WHERE author_id = ?1 AND status = ?4 AND seq IN ("
                "SELECT seq FROM action WHERE author_id = ?1 AND seq BETWEEN ?2 AND ?3 "
                "AND status = ?4 GROUP BY seq HAVING count(*) > 1)",
                (self._known_agent_id(author), min(seqs), max(seqs), int(Status.VALID)),
            ).fetchall()
            held: dict[int, list[bytes]] = {}
            for seq, action_hash in rows:
                held.setdefault(seq, []).append(action_hash)
            forks.extend((other, s.hash) for s in mine for other in held.get(s.action.seq, ())
                         if other != s.hash)
        return forks

    def _insert_records(self, records: Sequence[StagedRecord], authored: bool,
                        next_id: int | None = None,
                        held_entries: Container[bytes] | None = None) -> None:
        """Insert in bulk inside the caller's transaction. Ids are assigned here so actions,
        entries and ops each go in one ``executemany``. ``next_id`` and ``held_entries`` (which
        of the records' entries are stored already) are read here unless the caller has."""
        if not records:
            return
        db = self._db
        flag = 1 if authored else 0
        if next_id is None:
            next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM action").fetchone()[0]
        actions: list[tuple[Any, ...]] = []
        registrations: list[tuple[bytes, int, int]] = []
        linked: list[tuple[SignedAction, int]] = []
        # the same public entry written twice (two authors, or an update back) is stored once,
        # in the row of the first writer: one lookup for the batch (a NOT EXISTS per inserted
        # row measured ~5 us slower per entry). A private entry stays in its own action's row
        # and out of the entry-hash index, so nothing that looks entries up by hash (reads,
        # answers to peers, this dedup) can ever reach it; see entry_of.
        first_writer: dict[bytes, StagedRecord] = {}
        for record in records:
            entry_hash = record.signed.action.entry_hash_or_none
            if record.entry is not None and entry_hash is not None and (
                    not writes_private_entry(record.signed.action)):
                first_writer.setdefault(entry_hash, record)
        if held_entries is None:
            held_entries = (self._lookup_many(list(first_writer), entries=True)
                            if first_writer else {})
        known_ids, agent_id = self._agent_ids, self._agent_id
        key_of = HKEY_STRUCT.unpack_from  # hkey() inlined: this loop runs once per record stored
        for action_id, record in enumerate(records, next_id):
            signed = record.signed
            action = signed.action
            held = record.held_ops
            author_id = known_ids.get(action.author) or agent_id(action.author)
            entry_hash = action.entry_hash_or_none
            if entry_hash is not None and first_writer.get(entry_hash) is record and (
                entry_hash not in held_entries
            ):
                entry_key, entry = key_of(entry_hash)[0], record.entry
            elif record.entry is not None and writes_private_entry(action):
                entry_key, entry = None, record.entry  # kept, but not findable by its hash
            else:
                entry_key = entry_hash = entry = None
            # enums bound as plain ints: sqlite3 would look for an adapter for each
            actions.append((action_id, key_of(signed.hash)[0], signed.hash, author_id,
                            action.seq, action.prev, action.timestamp_us, int(action.KIND),
                            signed.action_bytes, signed.signature, int(record.status), flag,
                            op_mask_for(action) if held is None else op_mask(held),
                            entry_key, entry_hash, entry))
            if isinstance(action, _REGISTERING):
                registrations.extend((basis_of(t, action, signed.hash), int(t), action_id)
                                     for t in record.op_types() if t in REGISTRATION_OPS)
            elif record.status == _VALID and isinstance(action, _LINKING):
                linked.append((signed, action_id))
        db.executemany(
            "INSERT INTO action (id, hkey, hash, author_id, seq, prev, timestamp_us, kind, "
            "action_bytes, signature, status, authored, ops, entry_hkey, entry_hash, entry) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", actions)
        if registrations:
            db.executemany(
                "INSERT INTO registration (basis, op_type, action_id) VALUES (?, ?, ?)",
                registrations)
        for signed, action_id in linked:
            self._index_link(signed, action_id)

    def _index_link(self, signed: SignedAction, action_id: int) -> None:
        action = signed.action
        if isinstance(action, CreateLink):
            self._db.execute(
                "INSERT INTO link (base, zome_index, link_type, tag, target, create_action_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (action.base, action.zome_index, action.link_type_index, action.tag,
                 action.target, action_id),
            )
        elif isinstance(action, DeleteLink):
            created = self._action_id(action.link_add_address)
            if created is not None:
                self._db.execute(
                    "UPDATE link SET deleted_by = ? WHERE create_action_id = ?",
                    (signed.hash, created),
                )

    # --- reads -------------------------------------------------------------------------

    def _action_id(self, action_hash: bytes) -> int | None:
        row = self._db.execute(
            "SELECT id FROM action WHERE hkey = ? AND hash = ?", (hkey(action_hash), action_hash)
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def _decode(action_bytes: bytes, signature: bytes, stored_hash: bytes) -> SignedAction:
        try:
            signed = signed_action_from_parts(action_bytes, signature)
        except MalformedData as exc:
            raise StoreCorrupted(f"a stored action no longer decodes: {exc}") from exc
        if signed.hash != stored_hash:
            raise StoreCorrupted("a stored action's bytes do not match its hash")
        return signed

    def get_action(self, action_hash: bytes) -> tuple[SignedAction, Status] | None:
        """An action by hash with its validation status, or None."""
        row = self._db.execute(
            "SELECT action_bytes, signature, status FROM action WHERE hkey = ? AND hash = ?",
            (hkey(action_hash), action_hash),
        ).fetchone()
        if row is None:
            return None
        return self._decode(row[0], row[1], action_hash), Status(row[2])

    def all_actions(self) -> Iterator[tuple[SignedAction, Status, int]]:
        """Every action held, with its status and held-op bit set, in storage order."""
        rows = self._db.execute("SELECT action_bytes, signature, status, hash, ops FROM action "
                                "ORDER BY id")
        for action_bytes, signature, status, stored_hash, ops in rows:
            yield self._decode(action_bytes, signature, stored_hash), Status(status), ops

    def entry_of(self, signed: SignedAction, *, shared: bool = False) -> bytes | None:
        """The entry an action wrote, as held here: a public one from whichever row holds
        its bytes, a private one only from the action's own row (its author's node). With
        ``shared`` (anything sent to peers) a private entry is never given."""
        entry_hash = signed.action.entry_hash_or_none
        if entry_hash is None:
            return None
        if not writes_private_entry(signed.action):
            return self.get_entry(entry_hash)
        if shared:
            return None
        row = self._db.execute("SELECT entry FROM action WHERE hkey = ? AND hash = ?",
                               (hkey(signed.hash), signed.hash)).fetchone()
        return row[0] if row else None

    def get_entry(self, entry_hash: bytes) -> bytes | None:
        """Public entry bytes by hash, or None (private entries are not found by hash)."""
        row = self._db.execute(
            "SELECT entry FROM action WHERE entry_hkey = ? AND entry_hash = ? "
            "AND entry IS NOT NULL", (hkey(entry_hash), entry_hash)
        ).fetchone()
        return row[0] if row else None

    def first_action_for_entry(self, entry_hash: bytes) -> SignedAction | None:
        """The first action held that wrote this entry, if it is valid."""
        row = self._db.execute(
            "SELECT action_bytes, signature, status, hash FROM action WHERE entry_hkey = ? "
            "AND entry_hash = ? AND entry IS NOT NULL",
            (hkey(entry_hash), entry_hash),
        ).fetchone()
        if row is None or row[2] != Status.VALID:
            return None
        return self._decode(row[0], row[1], row[3])

    def chain(self, author: bytes, *, start_seq: int = 0, end_seq: int | None = None,
              limit: int | None = None) -> Iterator[tuple[SignedAction, Status]]:
        """``author``'s actions held here, in seq order (forks show as repeated seqs)."""
        author_id = self._known_agent_id(author)
        if author_id is None:
            return
        sql = ("SELECT action_bytes, signature, status, hash FROM action WHERE author_id = ? "
               "AND seq >= ? AND seq <= ? ORDER BY seq, hash")
        params: list[Any] = [author_id, start_seq, end_seq if end_seq is not None else 2**32]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        for action_bytes, signature, status, stored_hash in self._db.execute(sql, params):
            yield self._decode(action_bytes, signature, stored_hash), Status(status)

    def get_links(self, base: bytes, zome_index: int, link_type: int,
                  tag_prefix: bytes = b"") -> list[StoredLink]:
        """Live (not deleted) valid links from ``base`` of one type, oldest first."""
        rows = self._db.execute(
            "SELECT l.base, l.target, l.zome_index, l.link_type, l.tag, a.hash, g.pubkey, "
            "a.timestamp_us FROM link l JOIN action a ON a.id = l.create_action_id "
            "JOIN agent g ON g.id = a.author_id WHERE l.base = ? AND l.zome_index = ? "
            "AND l.link_type = ? AND l.deleted_by IS NULL ORDER BY a.timestamp_us, a.id",
            (base, zome_index, link_type),
        ).fetchall()
        return [StoredLink(*row) for row in rows if row[4].startswith(tag_prefix)]

    def is_link_deleted(self, create_link_hash: bytes) -> bool:
        """Whether a DeleteLink for this CreateLink is held."""
        row = self._db.execute(
            "SELECT l.deleted_by FROM link l JOIN action a ON a.id = l.create_action_id "
            "WHERE a.hkey = ? AND a.hash = ?", (hkey(create_link_hash), create_link_hash)
        ).fetchone()
        return bool(row and row[0] is not None)

    def deletes_of(self, action_hash: bytes) -> list[bytes]:
        """Hashes of valid Delete actions that delete ``action_hash``."""
        return self.registrations(b"\x01" + action_hash, OpType.REGISTER_DELETED_BY)

    def registrations(self, basis: bytes, op_type: int) -> list[bytes]:
        """Hashes of valid actions registered against ``basis`` (a tagged hash) by an
        update/delete registration op of ``op_type``."""
        rows = self._db.execute(
            "SELECT a.hash FROM registration r JOIN action a ON a.id = r.action_id "
            "WHERE r.basis = ? AND r.op_type = ? AND a.status = ?",
            (basis, int(op_type), int(Status.VALID)),
        ).fetchall()
        return [r[0] for r in rows]
