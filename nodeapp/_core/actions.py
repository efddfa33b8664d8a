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

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar

from nodeapp._core.canonical import decode_hashed, decode_shallow, encode_flat
from nodeapp._core.hashing import HASH_BYTES, HASH_CLASSES, blake2b_256
from nodeapp._core.limits import ACTION_BYTES_MAX, LINK_TAG_BYTES_MAX, MEMBRANE_PROOF_BYTES_MAX
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
    if type(v) is not int or not 0 <= v <= 1:
        raise MalformedData("expected visibility 0 (public) or 1 (private)")
    return _VISIBILITIES[v]


def _tag(v: Any) -> bytes:
    if type(v) is not bytes or len(v) > LINK_TAG_BYTES_MAX:
        raise MalformedData(f"link tag must be bytes of at most {LINK_TAG_BYTES_MAX}")
    return v


def _membrane_proof(v: Any) -> bytes | None:
    if v is not None and (type(v) is not bytes or len(v) > MEMBRANE_PROOF_BYTES_MAX):
        raise MalformedData(f"membrane proof must be bytes of at most {MEMBRANE_PROOF_BYTES_MAX}")
    return v


# --- actions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """Fields every action has. Subclasses add their own and set KIND and CHECKS."""

    author: bytes
    seq: int
    prev: bytes | None
    timestamp_us: int

    KIND: ClassVar[ActionKind]
    CHECKS: ClassVar[tuple[Any, ...]] = ()
    _OWN_FIELDS: ClassVar[tuple[str, ...]] = ()

    def to_list(self) -> list[Any]:
        """The positional CBOR form."""
        return [self.KIND, self.author, self.seq, self.prev, self.timestamp_us] + [
            getattr(self, name) for name in self._OWN_FIELDS
        ]

    def to_bytes(self) -> bytes:
        """The bytes that are signed and hashed."""
        return encode_flat(self.to_list())

    @property
    def entry_hash_or_none(self) -> bytes | None:
        """The entry this action writes, if it writes one."""
        return None


@dataclass(frozen=True, slots=True)
class Dna(Action):
    """seq 0: binds the chain to one DNA."""

    dna_hash: bytes
    KIND = ActionKind.DNA
    CHECKS = (_hash32,)


@dataclass(frozen=True, slots=True)
class AgentValidationPkg(Action):
    """seq 1: carries the membrane proof (an invite) that admits the agent to the network."""

    membrane_proof: bytes | None
    KIND = ActionKind.AGENT_VALIDATION_PKG
    CHECKS = (_membrane_proof,)


@dataclass(frozen=True, slots=True)
class InitZomesComplete(Action):
    """seq 2: genesis is over; zome calls may write from here on."""

    KIND = ActionKind.INIT_ZOMES_COMPLETE


@dataclass(frozen=True, slots=True)
class Create(Action):
    """Writes a new entry of a DNA-declared type."""

    zome_index: int
    entry_type_index: int
    visibility: Visibility
    entry_hash: bytes
    KIND = ActionKind.CREATE
    CHECKS = (_u32, _u32, _visibility, _hash32)

    @property
    def entry_hash_or_none(self) -> bytes | None:
        return self.entry_hash


@dataclass(frozen=True, slots=True)
class Update(Action):
    """Writes a new version of an entry, pointing at the action and entry it replaces."""

    zome_index: int
    entry_type_index: int
    visibility: Visibility
    entry_hash: bytes
    original_action: bytes
    original_entry: bytes
    KIND = ActionKind.UPDATE
    CHECKS = (_u32, _u32, _visibility, _hash32, _hash32, _hash32)

    @property
    def entry_hash_or_none(self) -> bytes | None:
        return self.entry_hash


@dataclass(frozen=True, slots=True)
class Delete(Action):
    """Marks a Create or Update as deleted."""

    deletes_action: bytes
    deletes_entry: bytes
    KIND = ActionKind.DELETE
    CHECKS = (_hash32, _hash32)


@dataclass(frozen=True, slots=True)
class CreateLink(Action):
    """A typed, tagged link from a base hash to a target hash (any kinds)."""

    base: bytes
    target: bytes
    zome_index: int
    link_type_index: int
    tag: bytes
    KIND = ActionKind.CREATE_LINK
    CHECKS = (_tagged_hash, _tagged_hash, _u32, _u32, _tag)


@dataclass(frozen=True, slots=True)
class DeleteLink(Action):
    """Removes the link that ``link_add_address`` created."""

    base: bytes
    link_add_address: bytes
    KIND = ActionKind.DELETE_LINK
    CHECKS = (_tagged_hash, _hash32)


ACTION_CLASSES: dict[int, type[Action]] = {}
for _cls in (Dna, AgentValidationPkg, InitZomesComplete, Create, Update, Delete, CreateLink,
             DeleteLink):
    _cls._OWN_FIELDS = tuple(f.name for f in fields(_cls))[4:]
    ACTION_CLASSES[_cls.KIND] = _cls


def action_from_list(items: Any) -> Action:
    """Build an action from its positional form, checking every field's shape."""
    if type(items) is not list or len(items) < 5:
        raise MalformedData("an action is a CBOR array of at least 5 fields")
    kind, author, seq, prev, timestamp_us = items[:5]
    cls = ACTION_CLASSES.get(kind) if type(kind) is int else None
    if cls is None:
        raise MalformedData(f"unknown action kind {kind!r}")
    if len(items) != 5 + len(cls.CHECKS):
        raise MalformedData(f"{cls.__name__} must have {5 + len(cls.CHECKS)} fields")
    if type(author) is not bytes or len(author) != HASH_BYTES:
        raise MalformedData("author must be a 32-byte public key")
    if type(seq) is not int or not 0 <= seq <= _U32_MAX:
        raise MalformedData("seq must be an unsigned 32-bit integer")
    if prev is not None and (type(prev) is not bytes or len(prev) != HASH_BYTES):
        raise MalformedData("prev must be a 32-byte hash or null")
    if type(timestamp_us) is not int or not 0 <= timestamp_us <= _I64_MAX:
        raise MalformedData("timestamp must be a non-negative 64-bit integer of microseconds")
    # lengths were compared above, so a plain zip cannot drop a field
    return cls(author, seq, prev, timestamp_us,
               *[check(value) for check, value in zip(cls.CHECKS, items[5:])])  # noqa: B905


def decode_action(data: bytes) -> Action:
    """Decode action bytes as received (not yet validated)."""
    return action_from_list(decode_hashed(data, size_max=ACTION_BYTES_MAX))


@dataclass(frozen=True, slots=True)
class SignedAction:
    """An action with its signature, and the exact bytes both were made from."""

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
