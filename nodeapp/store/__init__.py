"""Storage adapter: the node's SQLite file."""

from nodeapp.store.sqlite_store import (
    ChainHead,
    SqliteStore,
    StagedRecord,
    Status,
    StoredLink,
    hkey,
)

__all__ = ["ChainHead", "SqliteStore", "StagedRecord", "Status", "StoredLink", "hkey"]
