"""The store's schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a file has had. Opening a file applies the
missing ones in one transaction each; a file from a newer program is refused, never guessed at.
Hashes are indexed through ``hkey``, their first 8 bytes as a signed integer: a small key keeps the
B-trees shallow and cache-resident, and lookups still compare the full hash (a peer can grind an
8-byte collision, so hkey is never unique on its own).
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: chain, entries, DHT ops with validation status, links, own chain head.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE agent (id INTEGER PRIMARY KEY, pubkey BLOB NOT NULL UNIQUE);
    CREATE TABLE action (
        id INTEGER PRIMARY KEY,
        hkey INTEGER NOT NULL,
        hash BLOB NOT NULL,
        author_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        prev BLOB,
        timestamp_us INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        entry_hash BLOB,
        action_bytes BLOB NOT NULL,
        signature BLOB NOT NULL,
        status INTEGER NOT NULL,
        authored INTEGER NOT NULL
    );
    CREATE INDEX action_hkey ON action (hkey);
    CREATE INDEX action_author_seq ON action (author_id, seq);
    -- two concurrent writers can never both extend our own chain at the same seq
    CREATE UNIQUE INDEX action_own_seq ON action (author_id, seq) WHERE authored = 1;
    -- action_id: the first action held that wrote this entry (get by entry hash needs no
    -- second index on action.entry_hash)
    CREATE TABLE entry (
        id INTEGER PRIMARY KEY,
        hkey INTEGER NOT NULL,
        hash BLOB NOT NULL,
        bytes BLOB NOT NULL,
        private INTEGER NOT NULL,
        action_id INTEGER NOT NULL
    );
    CREATE INDEX entry_hkey ON entry (hkey);
    CREATE TABLE chain_head (
        author_id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        hash BLOB NOT NULL
    );
    -- an op is named by (action, op type): rows append in action order, no random-key index.
    -- Its hash and basis follow from the action; basis is stored only for registrations, which
    -- are looked up by it.
    CREATE TABLE dht_op (
        action_id INTEGER NOT NULL,
        op_type INTEGER NOT NULL,
        basis BLOB,
        location INTEGER NOT NULL,
        status INTEGER NOT NULL,
        authored INTEGER NOT NULL,
        PRIMARY KEY (action_id, op_type)
    ) WITHOUT ROWID;
    -- registrations are looked up by what they register against (updates, deletes of X)
    CREATE INDEX dht_op_registration ON dht_op (basis, op_type) WHERE op_type IN (3, 4, 5, 6);
    CREATE TABLE link (
        id INTEGER PRIMARY KEY,
        base BLOB NOT NULL,
        zome_index INTEGER NOT NULL,
        link_type INTEGER NOT NULL,
        tag BLOB NOT NULL,
        target BLOB NOT NULL,
        create_action_id INTEGER NOT NULL,
        deleted_by BLOB
    );
    CREATE INDEX link_base ON link (base, zome_index, link_type);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
