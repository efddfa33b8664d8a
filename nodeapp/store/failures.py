"""What a failure of SQLite, after the store opened, means for the node (opening checks the file
itself: :class:`~nodeapp.store.SqliteStore` raises StoreCorrupted there)."""

from __future__ import annotations

import sqlite3

from nodeapp.errors import StorageError, StoreCorrupted, StoreUnavailable


def store_failure(exc: sqlite3.DatabaseError) -> StorageError:
    """The node's error for a SQLite one: damage (the file cannot be trusted any more) or
    unavailability (locked, full, an I/O error: the step failed and may work again).
    The transaction it happened in is rolled back either way, so nothing is half-written."""
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(f"the node store could not be used: {exc}")
    return store_damaged(str(exc))


def store_damaged(detail: str) -> StoreCorrupted:
    """The error for damage found in the store, with what to do about it."""
    return StoreCorrupted(f"the node store is damaged ({detail}); nothing was changed. Restore "
                          "node.db from a backup, or make a new home and join the network again")
