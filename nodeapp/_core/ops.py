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


def basis_of(op_type: OpType, action: Action, action_hash: bytes) -> bytes:
    """Kind-tagged hash where an op of this type lives on the DHT."""
    if op_type == OpType.STORE_RECORD:
        return _tag(HashKind.ACTION, action_hash)
    if op_type == OpType.REGISTER_AGENT_ACTIVITY:
        return _tag(HashKind.AGENT, action.author)
    if op_type == OpType.STORE_ENTRY:
        return _tag(HashKind.ENTRY, action.entry_hash)  # type: ignore[attr-defined]
    if op_type == OpType.REGISTER_UPDATED_CONTENT:
        return _tag(HashKind.ENTRY, action.original_entry)  # type: ignore[attr-defined]
    if op_type == OpType.REGISTER_UPDATED_RECORD:
        return _tag(HashKind.ACTION, action.original_action)  # type: ignore[attr-defined]
    if op_type == OpType.REGISTER_DELETED_BY:
        return _tag(HashKind.ACTION, action.deletes_action)  # type: ignore[attr-defined]
    if op_type == OpType.REGISTER_DELETED_ENTRY_ACTION:
        return _tag(HashKind.ENTRY, action.deletes_entry)  # type: ignore[attr-defined]
    return action.base  # type: ignore[attr-defined]  # add / remove link: at the link base


_BASE = (OpType.STORE_RECORD, OpType.REGISTER_AGENT_ACTIVITY)
_EXTRA_BY_CLASS: dict[type, tuple[OpType, ...]] = {
    Update: (OpType.REGISTER_UPDATED_CONTENT, OpType.REGISTER_UPDATED_RECORD),
    Delete: (OpType.REGISTER_DELETED_BY, OpType.REGISTER_DELETED_ENTRY_ACTION),
    CreateLink: (OpType.REGISTER_ADD_LINK,),
    DeleteLink: (OpType.REGISTER_REMOVE_LINK,),
}
REGISTRATION_OPS = frozenset({
    OpType.REGISTER_UPDATED_CONTENT, OpType.REGISTER_UPDATED_RECORD,
    OpType.REGISTER_DELETED_BY, OpType.REGISTER_DELETED_ENTRY_ACTION,
})


def _compute_op_types(action: Action) -> tuple[OpType, ...]:
    types: tuple[OpType, ...] = _BASE
    if isinstance(action, Create | Update) and action.visibility == Visibility.PUBLIC:
        types = (*types, OpType.STORE_ENTRY)
    extra = _EXTRA_BY_CLASS.get(type(action))
    return (*types, *extra) if extra else types


def op_mask(op_types: tuple[OpType, ...]) -> int:
    """Bit set of op types (bit n = OpType n), as the store records which ops it holds."""
    mask = 0
    for op_type in op_types:
        mask |= 1 << op_type
    return mask


# which ops an action yields depends only on its kind and (for entries) visibility: each
# answer is computed once, as received records ask for it several times each
_OPS_OF: dict[object, tuple[tuple[OpType, ...], int]] = {}


def _ops_of(action: Action) -> tuple[tuple[OpType, ...], int]:
    cls = type(action)
    key = (cls, action.visibility) if cls is Create or cls is Update else cls  # type: ignore[attr-defined]
    found = _OPS_OF.get(key)
    if found is None:
        types = _compute_op_types(action)
        found = _OPS_OF[key] = (types, op_mask(types))
    return found


def op_types_and_mask(action: Action) -> tuple[tuple[OpType, ...], int]:
    """:func:`op_types_for` and :func:`op_mask_for` in one call."""
    return _ops_of(action)


def op_types_for(action: Action) -> tuple[OpType, ...]:
    """The op types an action yields, StoreRecord first."""
    return _ops_of(action)[0]


def op_mask_for(action: Action) -> int:
    """:func:`op_mask` of every op the action yields."""
    return _ops_of(action)[1]


def ops_for_action(action: Action, action_hash: bytes) -> list[OpRef]:
    """All ops an action yields, StoreRecord first."""
    return [OpRef(t, action_hash, basis_of(t, action, action_hash)) for t in op_types_for(action)]


OpPlacement = tuple[OpType, bytes, int]  # (op type, op hash, location of its basis)


def op_placements(action: Action, action_hash: bytes) -> tuple[OpPlacement, ...]:
    """Each op of an action with its hash and where it lives on the ring: what a node needs
    to decide which ops it holds, index them and receipt them."""
    return tuple((t, op_hash(t, action_hash), location_of(basis_of(t, action, action_hash)[1:]))
                 for t in op_types_for(action))
