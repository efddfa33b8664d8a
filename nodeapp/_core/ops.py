"""DHT ops: how one action becomes the facts its authorities store.

Rules:
* Every action yields ``StoreRecord`` (basis: the action hash) and ``RegisterAgentActivity``
  (basis: the author, whose authorities therefore see forks).
* Create/Update of a *public* entry also yield ``StoreEntry`` (basis: the entry hash). Private
  entries yield no op that carries them: they never leave the author's node.
* Update, Delete, CreateLink and DeleteLink add the registrations Holochain uses, each at the
  basis where readers will look (the original, the deleted action, the link base).
* An op's identity is blake2b-256 of ``op_type (one byte) || action_hash``: one action never
  yields two ops of the same type, so that pair names the op.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from nodeapp._core.actions import (
    Action,
    Create,
    CreateLink,
    Delete,
    DeleteLink,
    Update,
    Visibility,
)
from nodeapp._core.hashing import HashKind, blake2b_256, location_of


class OpType(IntEnum):
    """The op kinds, in Holochain's vocabulary."""

    STORE_RECORD = 0
    STORE_ENTRY = 1
    REGISTER_AGENT_ACTIVITY = 2
    REGISTER_UPDATED_CONTENT = 3
    REGISTER_UPDATED_RECORD = 4
    REGISTER_DELETED_BY = 5
    REGISTER_DELETED_ENTRY_ACTION = 6
    REGISTER_ADD_LINK = 7
    REGISTER_REMOVE_LINK = 8


@dataclass(frozen=True, slots=True)
class OpRef:
    """An op's identity and where on the ring it lives; the data is the action (+ entry)."""

    op_type: OpType
    action_hash: bytes
    basis: bytes  # kind-tagged 33 bytes

    @property
    def hash(self) -> bytes:
        """The op's identity (computed on demand: storage keys ops by action and type)."""
        return op_hash(self.op_type, self.action_hash)

    @property
    def location(self) -> int:
        """Ring location of the op's basis: its authorities are the nodes covering it."""
        return location_of(self.basis[1:])


_OP_TYPE_BYTES = {t: bytes((t,)) for t in OpType}


def op_hash(op_type: OpType, action_hash: bytes) -> bytes:
    """Identity of an op."""
    return blake2b_256(_OP_TYPE_BYTES[op_type] + action_hash)


def _tag(kind: HashKind, raw: bytes) -> bytes:
    return bytes((kind,)) + raw


def ops_for_action(action: Action, action_hash: bytes) -> list[OpRef]:
    """All ops an action yields, StoreRecord first."""
    pairs: list[tuple[OpType, bytes]] = [
        (OpType.STORE_RECORD, _tag(HashKind.ACTION, action_hash)),
        (OpType.REGISTER_AGENT_ACTIVITY, _tag(HashKind.AGENT, action.author)),
    ]
    if isinstance(action, Create | Update) and action.visibility == Visibility.PUBLIC:
        pairs.append((OpType.STORE_ENTRY, _tag(HashKind.ENTRY, action.entry_hash)))
    if isinstance(action, Update):
        pairs.append((OpType.REGISTER_UPDATED_CONTENT, _tag(HashKind.ENTRY, action.original_entry)))
        pairs.append((OpType.REGISTER_UPDATED_RECORD, _tag(HashKind.ACTION, action.original_action)))
    elif isinstance(action, Delete):
        pairs.append((OpType.REGISTER_DELETED_BY, _tag(HashKind.ACTION, action.deletes_action)))
        pairs.append((OpType.REGISTER_DELETED_ENTRY_ACTION,
                      _tag(HashKind.ENTRY, action.deletes_entry)))
    elif isinstance(action, CreateLink):
        pairs.append((OpType.REGISTER_ADD_LINK, action.base))
    elif isinstance(action, DeleteLink):
        pairs.append((OpType.REGISTER_REMOVE_LINK, action.base))
    return [OpRef(t, action_hash, basis) for t, basis in pairs]
