"""Source-chain actions: the Holochain action set, signed by their author.

Rules:
* An action is a CBOR array ``[kind, author, seq, prev, timestamp_us, *kind_fields]``: positional,
  so it is small and decodes fast. ``prev`` is None only for the ``Dna`` action at seq 0.
* The action hash is blake2b-256 of the action bytes; the signature is Ed25519 by ``author`` over
  the same bytes. A signed action travels as ``[action_bytes, signature]`` and both are kept as
  received, so hashing never needs a re-encode.
* Actions never carry entry content, only its hash; entries travel beside them.
* Decoding checks every field's type and size; shape errors are :class:`MalformedData`.
  Whether the action is *valid* is :mod:`nodeapp._core.sys_validation`'s job.
"""

from __future__ import annotations

import operator
from enum import IntEnum
from typing import Any, ClassVar, NamedTuple, Self

from nodeapp._core.canonical import decode_hashed, decode_shallow, encode_flat
from nodeapp._core.hashing import HASH_BYTES, HASH_CLASSES, HashKind, blake2b_256
from nodeapp._core.limits import ACTION_BYTES_MAX, MEMBRANE_PROOF_BYTES_MAX
from nodeapp.errors import MalformedData

SIGNATURE_BYTES = 64
_U32_MAX = 2**32 - 1
_I64_MAX = 2**63 - 1


class ActionKind(IntEnum):
    """The action kinds, in Holochain's vocabulary."""

    DNA = 0
    AGENT_VALIDATION_PKG = 1
    INIT_ZOMES_COMPLETE = 2
    CREATE = 3
    UPDATE = 4
    DELETE = 5
    CREATE_LINK = 6
    DELETE_LINK = 7
    CLOSE_CHAIN = 8
    OPEN_CHAIN = 9


class Visibility(IntEnum):
    """Public entries are published; private ones never leave their author's node."""

    PUBLIC = 0
    PRIVATE = 1


# --- field checkers: each returns the value or raises MalformedData -----------------------


def _hash32(v: Any) -> bytes:
    if type(v) is not bytes or len(v) != HASH_BYTES:
        raise MalformedData("expected a 32-byte hash")
    return v


def _tagged_hash(v: Any) -> bytes:
    if type(v) is not bytes or len(v) != HASH_BYTES + 1 or v[0] not in HASH_CLASSES:
        raise MalformedData("expected a kind-tagged 33-byte hash")
    return v


def _u32(v: Any) -> int:
    if type(v) is not int or not 0 <= v <= _U32_MAX:
        raise MalformedData("expected an unsigned 32-bit integer")
    return v


_VISIBILITIES = (Visibility.PUBLIC, Visibility.PRIVATE)


def _visibility(v: Any) -> Visibility:
    if type(v) not in (int, Visibility) or not 0 <= v <= 1:  # never a bool
        raise MalformedData("expected visibility 0 (public) or 1 (private)")
    return _VISIBILITIES[v]


def _tag(v: Any) -> bytes:
    # the size rule (LINK_TAG_BYTES_MAX) is a system-validation rule, not a decoding one: a
    # signed action with an oversized tag is a broken rule its author can be warranted for
    # (ACTION_BYTES_MAX bounds what decoding takes)
    if type(v) is not bytes:
        raise MalformedData("a link tag must be a byte string")
    return v


_MIGRATION_TAGS = (HashKind.DNA, HashKind.AGENT)


def _migration_target(v: Any) -> bytes:
    if type(v) is not bytes or len(v) != HASH_BYTES + 1 or v[0] not in _MIGRATION_TAGS:
        raise MalformedData("a migration target is a tagged DNA hash or agent key")
    return v


def _migration_target_or_none(v: Any) -> bytes | None:
    return None if v is None else _migration_target(v)


def _membrane_proof(v: Any) -> bytes | None:
    if v is not None and (type(v) is not bytes or len(v) > MEMBRANE_PROOF_BYTES_MAX):
        raise MalformedData(f"membrane proof must be bytes of at most {MEMBRANE_PROOF_BYTES_MAX}")
    return v


# --- actions ------------------------------------------------------------------------------


def _field_at(index: int) -> Any:
    # a C-level read of one tuple position: as fast as a slot, and read-only
    return property(operator.itemgetter(index))


class Action(tuple):
    """Fields every action has. Subclasses set KIND and CHECKS and declare their own fields.

    An action *is* its positional form: a tuple ``(kind, author, seq, prev, timestamp_us,
    *own fields)`` with a read-only name for each position. Being a tuple makes it immutable,
    and cheap to build from the decoded CBOR array: a received action is checked field by
    field, then becomes an action in one step (a frozen dataclass sets each field through a
    Python-level call, which cost more than all the checks together).
    """

    __slots__ = ()
    KIND: ClassVar[ActionKind]
    CHECKS: ClassVar[tuple[Any, ...]] = ()  # one shape check per own field, in order
    OWN_FIELDS: ClassVar[tuple[str, ...]] = ()  # filled in from the subclass's annotations

    author: bytes
    seq: int
    prev: bytes | None
    timestamp_us: int

    def __new__(cls, author: bytes, seq: int, prev: bytes | None, timestamp_us: int,
                *own: Any, **named: Any) -> Self:
        if named:  # own fields by name, after any given by position
            rest = cls.OWN_FIELDS[len(own):]
            if set(named) != set(rest):
                raise TypeError(f"{cls.__name__} needs {', '.join(rest) or 'no more fields'}; "
                                f"got {', '.join(named)}")
            own = (*own, *(named[name] for name in rest))
        if len(own) != len(cls.OWN_FIELDS):
            raise TypeError(f"{cls.__name__} takes {4 + len(cls.OWN_FIELDS)} fields: author, "
                            f"seq, prev, timestamp_us, {', '.join(cls.OWN_FIELDS)}")
        return tuple.__new__(cls, (cls.KIND, author, seq, prev, timestamp_us, *own))

    def __init_subclass__(cls) -> None:
        # each field a subclass declares (in order) reads the next tuple position
        declared = [name for name, kind in cls.__dict__.get("__annotations__", {}).items()
                    if "ClassVar" not in str(kind)]
        if len(declared) != len(cls.CHECKS):
            raise TypeError(f"{cls.__name__} declares {len(declared)} fields and "
                            f"{len(cls.CHECKS)} checks: each field needs its check")
        for offset, name in enumerate(declared):
            setattr(cls, name, _field_at(_COMMON_FIELDS + offset))
        cls.OWN_FIELDS = tuple(declared)

    def __repr__(self) -> str:
        names = ("author", "seq", "prev", "timestamp_us", *self.OWN_FIELDS)
        fields = ", ".join(f"{n}={v!r}" for n, v in zip(names, self[1:], strict=True))
        return f"{type(self).__name__}({fields})"

    def to_list(self) -> list[Any]:
        """The positional CBOR form."""
        return list(self)

    def to_bytes(self) -> bytes:
        """The bytes that are signed and hashed."""
        return encode_flat(list(self))

    @property
    def entry_hash_or_none(self) -> bytes | None:
        """The entry this action writes, if it writes one."""
        return None


_COMMON_FIELDS = 5  # kind, author, seq, prev, timestamp_us
for _index, _name in enumerate(("author", "seq", "prev", "timestamp_us"), start=1):
    setattr(Action, _name, _field_at(_index))


class Dna(Action):
    """seq 0: binds the chain to one DNA."""

    __slots__ = ()
    KIND = ActionKind.DNA
    CHECKS = (_hash32,)
    dna_hash: bytes


class AgentValidationPkg(Action):
    """seq 1: carries the membrane proof (an invite) that admits the agent to the network."""

    __slots__ = ()
    KIND = ActionKind.AGENT_VALIDATION_PKG
    CHECKS = (_membrane_proof,)
    membrane_proof: bytes | None


class InitZomesComplete(Action):
    """seq 2: genesis is over; zome calls may write from here on."""

    __slots__ = ()
    KIND = ActionKind.INIT_ZOMES_COMPLETE


class Create(Action):
    """Writes a new entry of a DNA-declared type."""

    __slots__ = ()
    KIND = ActionKind.CREATE
    CHECKS = (_u32, _u32, _visibility, _hash32)
    zome_index: int
    entry_type_index: int
    visibility: Visibility
    entry_hash: bytes
    entry_hash_or_none = _field_at(8)  # type: ignore[assignment]


class Update(Action):
    """Writes a new version of an entry, pointing at the action and entry it replaces."""

    __slots__ = ()
    KIND = ActionKind.UPDATE
    CHECKS = (_u32, _u32, _visibility, _hash32, _hash32, _hash32)
    zome_index: int
    entry_type_index: int
    visibility: Visibility
    entry_hash: bytes
    original_action: bytes
    original_entry: bytes
    entry_hash_or_none = _field_at(8)  # type: ignore[assignment]


# read once: an enum member read through its class costs ~70 ns in Python 3.11, and this test
# runs twice for every record stored
_PRIVATE = Visibility.PRIVATE
# the kinds that write an entry, for isinstance (a tuple: faster than a union built per call)
ENTRY_ACTIONS = (Create, Update)


def writes_private_entry(action: Action) -> bool:
    """Whether ``action`` is a Create or Update of a private entry (which never leaves its
    author's node)."""
    return isinstance(action, ENTRY_ACTIONS) and action.visibility == _PRIVATE


class Delete(Action):
    """Marks a Create or Update as deleted."""

    __slots__ = ()
    KIND = ActionKind.DELETE
    CHECKS = (_hash32, _hash32)
    deletes_action: bytes
    deletes_entry: bytes


class CreateLink(Action):
    """A typed, tagged link from a base hash to a target hash (any kinds)."""

    __slots__ = ()
    KIND = ActionKind.CREATE_LINK
    CHECKS = (_tagged_hash, _tagged_hash, _u32, _u32, _tag)
    base: bytes
    target: bytes
    zome_index: int
    link_type_index: int
    tag: bytes


class DeleteLink(Action):
    """Removes the link that ``link_add_address`` created."""

    __slots__ = ()
    KIND = ActionKind.DELETE_LINK
    CHECKS = (_tagged_hash, _hash32)
    base: bytes
    link_add_address: bytes


class CloseChain(Action):
    """The chain's last action: the agent leaves this DNA, for a new DNA version or a new key
    (``new_target``, a tagged DNA hash or agent key) or for good (None). Nothing may follow."""

    __slots__ = ()
    KIND = ActionKind.CLOSE_CHAIN
    CHECKS = (_migration_target_or_none,)
    new_target: bytes | None


class OpenChain(Action):
    """The first action after genesis of a chain that continues a closed one: names the DNA or
    agent it came from and the hash of that chain's CloseChain."""

    __slots__ = ()
    KIND = ActionKind.OPEN_CHAIN
    CHECKS = (_migration_target, _hash32)
    prev_target: bytes
    close_hash: bytes


ACTION_CLASSES: dict[int, type[Action]] = {
    cls.KIND: cls for cls in (Dna, AgentValidationPkg, InitZomesComplete, Create, Update, Delete,
                              CreateLink, DeleteLink, CloseChain, OpenChain)
}


_KIND_TYPES = (int, ActionKind)


def action_from_list(items: Any) -> Action:
    """Build an action from its positional form, checking every field's shape."""
    if type(items) is not list or len(items) < _COMMON_FIELDS:
        raise MalformedData("an action is a CBOR array of at least 5 fields")
    kind, author, seq, prev, timestamp_us = items[:_COMMON_FIELDS]
    cls = ACTION_CLASSES.get(kind) if type(kind) in _KIND_TYPES else None  # never a bool
    if cls is None:
        raise MalformedData(f"unknown action kind {kind!r}")
    checks = cls.CHECKS
    if len(items) != _COMMON_FIELDS + len(checks):
        raise MalformedData(f"{cls.__name__} must have {_COMMON_FIELDS + len(checks)} fields")
    if type(author) is not bytes or len(author) != HASH_BYTES:
        raise MalformedData("author must be a 32-byte public key")
    if type(seq) is not int or not 0 <= seq <= _U32_MAX:
        raise MalformedData("seq must be an unsigned 32-bit integer")
    if prev is not None and (type(prev) is not bytes or len(prev) != HASH_BYTES):
        raise MalformedData("prev must be a 32-byte hash or null")
    if type(timestamp_us) is not int or not 0 <= timestamp_us <= _I64_MAX:
        raise MalformedData("timestamp must be a non-negative 64-bit integer of microseconds")
    items[0] = cls.KIND
    for position, check in enumerate(checks, _COMMON_FIELDS):
        items[position] = check(items[position])
    return tuple.__new__(cls, items)


def decode_action(data: bytes) -> Action:
    """Decode action bytes as received (not yet validated)."""
    return action_from_list(decode_hashed(data, size_max=ACTION_BYTES_MAX))


class SignedAction(NamedTuple):
    """An action with its signature, and the exact bytes both were made from. A named tuple:
    immutable, and built without a Python-level call per field (one per received record)."""

    action: Action
    action_bytes: bytes
    signature: bytes
    hash: bytes

    def to_bytes(self) -> bytes:
        """Wire form: ``[action_bytes, signature]``."""
        return encode_flat([self.action_bytes, self.signature])


def signed_action_from_parts(action_bytes: bytes, signature: bytes) -> SignedAction:
    """Decode a received (action bytes, signature) pair; the hash is of the bytes as received."""
    if type(signature) is not bytes or len(signature) != SIGNATURE_BYTES:
        raise MalformedData("signature must be 64 bytes")
    if type(action_bytes) is not bytes:
        raise MalformedData("action must be a byte string")
    return SignedAction(decode_action(action_bytes), action_bytes, signature,
                        blake2b_256(action_bytes))


def decode_signed_action(data: bytes) -> SignedAction:
    """Decode the wire form produced by :meth:`SignedAction.to_bytes`."""
    outer = decode_shallow(data, size_max=ACTION_BYTES_MAX + SIGNATURE_BYTES + 16)
    if type(outer) is not list or len(outer) != 2:
        raise MalformedData("a signed action is a CBOR array [action_bytes, signature]")
    return signed_action_from_parts(outer[0], outer[1])


def sign_action(action: Action, sign: Any) -> SignedAction:
    """Encode and sign ``action``; ``sign(bytes) -> 64-byte signature`` is the agent's signer."""
    data = action.to_bytes()
    return SignedAction(action, data, sign(data), blake2b_256(data))
