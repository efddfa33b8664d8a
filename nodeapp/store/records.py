"""What the store takes and gives besides actions: staged records, statuses, chain heads,
links, and the integer key its hash indexes use."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from nodeapp._core.actions import SignedAction
from nodeapp._core.ops import OpType, op_types_for


class Status(IntEnum):
    """Validation status of a stored action or op."""

    PENDING = 0
    VALID = 1
    REJECTED = 2
    ABANDONED = 3


class StagedRecord(NamedTuple):
    """One action ready to be written, with its entry; ``held_ops`` are the ops of it this node
    holds (None: every op the action yields, as for our own actions)."""

    signed: SignedAction
    entry: bytes | None
    status: Status = Status.VALID
    held_ops: tuple[OpType, ...] | None = None

    def op_types(self) -> tuple[OpType, ...]:
        """The ops held."""
        return op_types_for(self.signed.action) if self.held_ops is None else self.held_ops


class ChainHead(NamedTuple):
    """The last action of a chain (a named tuple: one is made per zome call)."""

    seq: int
    hash: bytes


class WriteMarker(NamedTuple):
    """What :meth:`SqliteStore.write_marker` returns: equal markers from one store mean no row
    was inserted, updated or deleted in between."""

    connection: int  # which connection took it: the other two only compare within one
    data_version: int  # changes when another connection commits
    own_changes: int  # rows this connection has inserted, updated or deleted since it opened


@dataclass(frozen=True)
class StoredLink:
    """A link as ``get_links`` returns it."""

    base: bytes
    target: bytes
    zome_index: int
    link_type: int
    tag: bytes
    create_action: bytes
    author: bytes
    timestamp_us: int


HKEY_STRUCT = struct.Struct(">q")


def hkey(h: bytes) -> int:
    """Index key of a hash: its first 8 bytes as a signed 64-bit integer."""
    return HKEY_STRUCT.unpack_from(h)[0]
