"""Storage adapter: the node's SQLite file."""

from nodeapp.store.failures import store_failure
from nodeapp.store.records import ChainHead, StagedRecord, Status, StoredLink, hkey
from nodeapp.store.sqlite_store import SqliteStore

__all__ = ["ChainHead", "SqliteStore", "StagedRecord", "Status", "StoredLink", "hkey",
           "store_failure"]
