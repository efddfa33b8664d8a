"""Whole-store reads for reports and the bulk audit: columns for the audit kernel, row counts
and size on disk. A mixin of :class:`~nodeapp.store.SqliteStore`, kept apart from the
per-record reads and writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from nodeapp._core.actions import ActionKind
from nodeapp._core.ops import OpType


class StoreReports:
    """Reports over everything a store holds (``_db`` and ``path`` are the store's)."""

    _db: sqlite3.Connection
    path: Path

    def audit_columns(self) -> dict[str, np.ndarray]:
        """Every held action's header as columns sorted by (author, seq), for the audit kernel.

        ``author_id`` is remapped to dense 0..A-1; ``authors`` gives the public key of each;
        ``closes`` marks the CloseChain actions.
        """
        rows = self._db.execute(
            "SELECT author_id, seq, coalesce(prev, zeroblob(32)), hash, timestamp_us, kind = ? "
            "FROM action ORDER BY author_id, seq", (int(ActionKind.CLOSE_CHAIN),)
        ).fetchall()
        n = len(rows)
        raw_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        unique_ids, dense = np.unique(raw_ids, return_inverse=True)
        pubkeys = dict(self._db.execute("SELECT id, pubkey FROM agent").fetchall())
        return {
            "author_id": dense.astype(np.int64),
            "seq": np.fromiter((r[1] for r in rows), dtype=np.int64, count=n),
            "prev_hash": np.frombuffer(b"".join(r[2] for r in rows), dtype=np.uint8).reshape(n, 32),
            "own_hash": np.frombuffer(b"".join(r[3] for r in rows), dtype=np.uint8).reshape(n, 32),
            "timestamp": np.fromiter((r[4] for r in rows), dtype=np.int64, count=n),
            "closes": np.fromiter((r[5] for r in rows), dtype=np.bool_, count=n),
            "authors": np.array([pubkeys[int(i)] for i in unique_ids], dtype=object),
        }

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
