"""The store's schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a file has had. Opening a file applies the
missing ones in one transaction each; a file from a newer program is refused, never guessed at.
Hashes are indexed through ``hkey``, their first 8 bytes as a signed integer: a small key keeps the
B-trees shallow and cache-resident, and lookups still compare the full hash (a peer can grind an
8-byte collision, so hkey is never unique on its own).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from nodeapp._core.actions import ActionKind, decode_action, writes_private_entry


def _unindex_private_entries(db: sqlite3.Connection) -> None:
    """5: a private entry stays in its action's row but leaves the entry-hash index, so
    nothing that looks an entry up by hash (reads, answers to peers, dedup) can reach it.
    Only our own rows can hold one: a received record that carries a private entry is
    refused (the private_entry rule)."""
    rows = db.execute("SELECT id, action_bytes FROM action WHERE authored = 1 AND entry IS NOT "
                      "NULL AND entry_hkey IS NOT NULL AND kind IN (?, ?)",
                      (int(ActionKind.CREATE), int(ActionKind.UPDATE))).fetchall()
    private = [(row_id,) for row_id, data in rows if writes_private_entry(decode_action(data))]
    db.executemany("UPDATE action SET entry_hkey = NULL WHERE id = ?", private)


# each a SQL script, or a function for what SQL alone cannot do (reading CBOR)
MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    # 1: chain, entries, held DHT ops with validation status, registrations, links, own head.
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
        action_bytes BLOB NOT NULL,
        signature BLOB NOT NULL,
        status INTEGER NOT NULL,
        authored INTEGER NOT NULL,
        ops INTEGER NOT NULL
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
    -- DHT ops held: every op is a view of one action, judged with it, so the action row
    -- records which ops this node holds (bit n = op type n) and their common status. Only
    -- registrations (updates and deletes of X) are looked up by their basis, so only they
    -- get rows of their own.
    CREATE TABLE registration (
        basis BLOB NOT NULL,
        op_type INTEGER NOT NULL,
        action_id INTEGER NOT NULL
    );
    CREATE INDEX registration_basis ON registration (basis, op_type);
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
    # 2: validation receipts for our own ops, so a restarted node knows what to publish again.
    """
    CREATE TABLE receipt (
        action_id INTEGER NOT NULL,
        op_type INTEGER NOT NULL,
        validator BLOB NOT NULL,
        PRIMARY KEY (action_id, op_type, validator)
    ) WITHOUT ROWID;
    """,
    # 3: our own chain's head is read from the action table. Writers are serialised by the
    # write transaction (BEGIN IMMEDIATE), and each checks the head it started from inside it,
    # so a head row and a unique index over our own (author, seq) guarded what that check
    # already guarantees, at the price of two more page writes on every commit.
    """
    DROP TABLE chain_head;
    DROP INDEX action_own_seq;
    """,
    # 4: an entry lives in the row of the first action held that wrote it, not in a table of
    # its own: one row less to insert and one page less to write for every entry stored. Its
    # hash is indexed only where its bytes are held, so the index still finds it once.
    """
    ALTER TABLE action ADD COLUMN entry_hkey INTEGER;
    ALTER TABLE action ADD COLUMN entry_hash BLOB;
    ALTER TABLE action ADD COLUMN entry BLOB;
    UPDATE action SET entry_hkey = e.hkey, entry_hash = e.hash, entry = e.bytes
        FROM entry e WHERE e.action_id = action.id;
    DROP TABLE entry;
    CREATE INDEX action_entry_hkey ON action (entry_hkey) WHERE entry IS NOT NULL;
    """,
    _unindex_private_entries,
)

SCHEMA_VERSION = len(MIGRATIONS)


def split_sql(script: str) -> list[str]:
    """Statements of a migration (executescript would commit our transaction early)."""
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("--"))
    return [statement.strip() for statement in code.split(";") if statement.strip()]
