"""Whole-store reads for reports and the bulk audit: columns for the audit kernel, row counts
and size on disk. A mixin of :class:`~nodeapp.store.SqliteStore`, kept apart from the
per-record reads and writes."""

from __future__ import annotations

import sqlite3
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from nodeapp._core.actions import ActionKind
from nodeapp._core.ops import OpType
from nodeapp.errors import StoreCorrupted
from nodeapp.store.failures import store_damaged

HASH_BYTES = 32

# What audit_columns reads of each action row, in the order of its SELECT: (column, the SQL test
# of a damaged value, what a sound value is). A NULL prev is a chain's first action (and reads
# as 32 zero bytes); every other value must be there.
_INTEGER, _HASH = "an integer", f"a {HASH_BYTES}-byte blob"
_AUDITED = (
    ("author_id", "typeof(author_id) != 'integer'", _INTEGER),
    ("seq", "typeof(seq) != 'integer' OR seq < 0", "a non-negative integer"),
    ("prev", f"prev IS NOT NULL AND (typeof(prev) != 'blob' OR length(prev) != {HASH_BYTES})",
     f"NULL or {_HASH}"),
    ("hash", f"typeof(hash) != 'blob' OR length(hash) != {HASH_BYTES}", _HASH),
    ("timestamp_us", "typeof(timestamp_us) != 'integer'", _INTEGER),
    ("kind", "typeof(kind) != 'integer'", _INTEGER),
)
_AUDIT_SELECT = (f"SELECT author_id, seq, coalesce(prev, zeroblob({HASH_BYTES})), hash, "
                 "timestamp_us, kind FROM action ORDER BY author_id, seq")
# one scan that counts the damaged values of every audited column and finds the first of each
_DAMAGE_CENSUS = "SELECT " + ", ".join(
    f"count(CASE WHEN {test} THEN 1 END), min(CASE WHEN {test} THEN id END)"
    for _, test, _ in _AUDITED) + " FROM action"


def _damaged(problems: list[str]) -> StoreCorrupted:
    return store_damaged("; ".join(problems))


def _plural(count: int, one: str) -> str:
    return f"{count} {one}{'s' * (count != 1)}"


def _describe(value: object) -> str:
    """A stored value as a person repairing the file would want to see it (kept short)."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"a {len(value)}-byte blob"
    if isinstance(value, str):
        return f"the text {value[:20]!r}{'...' * (len(value) > 20)}"
    return repr(value)


def _ints(values: list[Any], n: int) -> np.ndarray | None:
    """``values`` as int64, or None if one is not an int. SQLite gives int, float, str, bytes
    or None; an integer beyond int64 is stored as a float. One pass in C, no per-row Python."""
    if n and set(map(type, values)) != {int}:
        return None
    return np.fromiter(values, dtype=np.int64, count=n)


def _hashes(values: list[Any], n: int) -> np.ndarray | None:
    """``values`` as an (n, 32) uint8 array, or None if one is not a 32-byte blob."""
    try:
        if n and set(map(len, values)) != {HASH_BYTES}:
            return None
        joined = b"".join(values)
    except TypeError:  # a number or NULL has no length; text has one, but does not join
        return None
    return np.frombuffer(joined, dtype=np.uint8).reshape(n, HASH_BYTES)


class StoreReports:
    """Reports over everything a store holds (``_db`` and ``path`` are the store's)."""

    _db: sqlite3.Connection
    path: Path

    def audit_columns(self) -> dict[str, np.ndarray]:
        """Every held action's header as columns sorted by (author, seq), for the audit kernel.

        ``author_id`` is remapped to dense 0..A-1; ``authors`` gives the public key of each;
        ``closes`` marks the CloseChain actions. Raises StoreCorrupted, naming the column and
        what is wrong, when a value read is not what the node writes there (a wrong type or
        length, a negative seq, an author_id that names no agent, an agent key not 32 bytes).
        Reads only; the checks are whole-column passes, not Python per row.
        """
        rows = self._db.execute(_AUDIT_SELECT).fetchall()
        n = len(rows)
        columns = [list(map(itemgetter(i), rows)) for i in range(len(_AUDITED))]
        del rows
        raw_ids, seq, timestamp, kind = (_ints(columns[i], n) for i in (0, 1, 4, 5))
        prev_hash, own_hash = _hashes(columns[2], n), _hashes(columns[3], n)
        del columns
        if (raw_ids is None or seq is None or timestamp is None or kind is None
                or prev_hash is None or own_hash is None or (n and seq.min() < 0)):
            raise self._audit_damage()
        unique_ids, dense = np.unique(raw_ids, return_inverse=True)
        pubkeys = dict(self._db.execute("SELECT id, pubkey FROM agent").fetchall())
        authors = [pubkeys.get(author_id) for author_id in unique_ids.tolist()]
        if not all(type(k) is bytes and len(k) == HASH_BYTES for k in authors):
            raise self._author_damage(unique_ids.tolist(), authors)
        return {
            "author_id": dense.reshape(n).astype(np.int64),
            "seq": seq,
            "prev_hash": prev_hash,
            "own_hash": own_hash,
            "timestamp": timestamp,
            "closes": kind == int(ActionKind.CLOSE_CHAIN),
            "authors": np.array(authors, dtype=object),
        }

    def _audit_damage(self) -> StoreCorrupted:
        """The error for action rows audit_columns could not take: which columns, how many
        rows, and the first bad value of each (by row id, for whoever repairs the file)."""
        census = self._db.execute(_DAMAGE_CENSUS).fetchone()
        problems = []
        for index, (column, _, sound) in enumerate(_AUDITED):
            count, first_id = census[2 * index], census[2 * index + 1]
            if count:
                value = self._db.execute(f"SELECT {column} FROM action WHERE id = ?",
                                         (first_id,)).fetchone()[0]
                problems.append(f"action.{column} is not {sound} in {_plural(count, 'row')} "
                                f"(the first, row id {first_id}, holds {_describe(value)})")
        # only if a writer changed the rows between the two reads
        return _damaged(problems or ["action rows hold values of the wrong type or size"])

    def _author_damage(self, author_ids: list[int], pubkeys: list[object]) -> StoreCorrupted:
        """The error for authors without a sound public key: an action's author_id that names
        no agent, or an agent whose key is not 32 bytes."""
        problems = []
        for author_id, pubkey in zip(author_ids, pubkeys, strict=True):
            if pubkey is None:
                count, first_id = self._db.execute(
                    "SELECT count(*), min(id) FROM action WHERE author_id = ?", (author_id,)
                ).fetchone()
                problems.append(f"action.author_id {author_id} names no agent, in "
                                f"{_plural(count, 'row')} (the first is row id {first_id})")
            elif type(pubkey) is not bytes or len(pubkey) != HASH_BYTES:
                problems.append(f"agent.pubkey of agent {author_id} is {_describe(pubkey)}, "
                                f"not a {HASH_BYTES}-byte key")
            if len(problems) == 3:  # enough to go on: the file needs restoring either way
                break
        return _damaged(problems)

    def counts(self) -> dict[str, int]:
        """Row counts for status reports."""
        out = {}
        for table in ("action", "link", "agent"):
            out[table] = self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        out["entry"] = self._db.execute(
            "SELECT count(*) FROM action WHERE entry IS NOT NULL").fetchone()[0]
        bits = " + ".join(f"((ops >> {t}) & 1)" for t in OpType)
        out["dht_op"] = self._db.execute(f"SELECT coalesce(sum({bits}), 0) FROM action"
                                         ).fetchone()[0]
        return out

    def size_bytes(self) -> int:
        """Bytes on disk: the database file plus its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total
