"""Typed, printable blake2b-256 hashes with a 32-bit DHT location.

Rules:
* A hash is 32 raw bytes plus a kind (agent, action, entry, DNA, op). The agent "hash" is the
  agent's Ed25519 public key itself, as in Holochain.
* The DHT location is the XOR of the hash's eight little-endian 32-bit words: cheap, and uniform
  because the hash is.
* The printable form is ``<prefix>_<base64url(raw || location as 4 big-endian bytes)>``; the four
  location bytes double as a checksum, so a mistyped hash is refused instead of misread.
* Hashes are always taken over bytes exactly as received or first encoded; nothing is re-encoded
  to be re-hashed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from enum import IntEnum
from typing import ClassVar, Self

from nodeapp.errors import InvalidHash

HASH_BYTES = 32


class HashKind(IntEnum):
    """What a hash names; the value is its one-byte tag where a field may hold any kind."""

    AGENT = 0
    ACTION = 1
    ENTRY = 2
    DNA = 3
    OP = 4
    EXTERNAL = 5


PREFIXES: dict[HashKind, str] = {
    HashKind.AGENT: "agent",
    HashKind.ACTION: "action",
    HashKind.ENTRY: "entry",
    HashKind.DNA: "dna",
    HashKind.OP: "op",
    HashKind.EXTERNAL: "ext",
}
_KIND_BY_PREFIX = {prefix: kind for kind, prefix in PREFIXES.items()}


def blake2b_256(data: bytes) -> bytes:
    """The one hash function of the ledger."""
    return hashlib.blake2b(data, digest_size=HASH_BYTES).digest()


_WORDS = struct.Struct("<8I")
_BODY = re.compile(r"[A-Za-z0-9_-]{48}")


def location_of(raw: bytes) -> int:
    """32-bit DHT ring location of a 32-byte hash."""
    a, b, c, d, e, f, g, h = _WORDS.unpack(raw)
    return a ^ b ^ c ^ d ^ e ^ f ^ g ^ h


class Hash:
    """A 32-byte hash of one kind. Subclasses fix the kind; compare and hash by (kind, raw)."""

    __slots__ = ("raw",)
    KIND: ClassVar[HashKind]

    def __init__(self, raw: object) -> None:
        if type(raw) is not bytes or len(raw) != HASH_BYTES:
            raise InvalidHash(f"{self.KIND.name.lower()} hash must be {HASH_BYTES} bytes")
        self.raw = raw

    @property
    def location(self) -> int:
        """Position on the 32-bit DHT ring."""
        return location_of(self.raw)

    def tagged(self) -> bytes:
        """33 bytes: kind tag then raw, for fields that may hold any kind (link base/target)."""
        return bytes((self.KIND,)) + self.raw

    def __str__(self) -> str:
        body = self.raw + self.location.to_bytes(4, "big")
        return f"{PREFIXES[self.KIND]}_{base64.urlsafe_b64encode(body).decode()}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hash) and other.KIND == self.KIND and other.raw == self.raw

    def __hash__(self) -> int:
        return hash((self.KIND, self.raw))

    @classmethod
    def parse(cls, text: object) -> Self:
        """Parse the printable form; the prefix must name this class's kind."""
        found = parse_hash(text)
        if not isinstance(found, cls):
            raise InvalidHash(f"expected a {PREFIXES[cls.KIND]} hash, got {str(text)[:12]!r}...")
        return found


class AgentPubKey(Hash):
    """An agent: its Ed25519 public key."""

    __slots__ = ()
    KIND = HashKind.AGENT


class ActionHash(Hash):
    """blake2b-256 of an action's bytes (without its signature)."""

    __slots__ = ()
    KIND = HashKind.ACTION


class EntryHash(Hash):
    """blake2b-256 of an entry's canonical bytes."""

    __slots__ = ()
    KIND = HashKind.ENTRY


class DnaHash(Hash):
    """blake2b-256 of a DNA manifest's canonical bytes."""

    __slots__ = ()
    KIND = HashKind.DNA


class OpHash(Hash):
    """blake2b-256 of a DHT op's identity (op type and action hash)."""

    __slots__ = ()
    KIND = HashKind.OP


class ExternalHash(Hash):
    """A hash from outside the ledger (e.g. a file's digest) used as a link base or target."""

    __slots__ = ()
    KIND = HashKind.EXTERNAL


HASH_CLASSES: dict[HashKind, type[Hash]] = {
    c.KIND: c for c in (AgentPubKey, ActionHash, EntryHash, DnaHash, OpHash, ExternalHash)
}


def parse_hash(text: object) -> Hash:
    """Parse any printable hash; raises InvalidHash naming what is wrong."""
    if not isinstance(text, str):
        raise InvalidHash(f"a printable hash is a string, not {type(text).__name__}")
    prefix, sep, body = text.partition("_")
    if not sep or prefix not in _KIND_BY_PREFIX:
        raise InvalidHash(f"{text[:16]!r} does not start with a known hash prefix")
    if not _BODY.fullmatch(body):
        # b64decode would skip stray characters and accept '+' and '/': one form per hash only
        raise InvalidHash(f"{text[:16]!r}... must be 48 base64url characters after the prefix")
    try:
        data = base64.urlsafe_b64decode(body.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidHash(f"{text[:16]!r}... is not valid base64url") from exc
    if len(data) != HASH_BYTES + 4:
        raise InvalidHash(f"{text[:16]!r}... has the wrong length")
    raw, loc = data[:HASH_BYTES], int.from_bytes(data[HASH_BYTES:], "big")
    if location_of(raw) != loc:
        raise InvalidHash(f"{text[:16]!r}... fails its checksum (mistyped?)")
    return HASH_CLASSES[_KIND_BY_PREFIX[prefix]](raw)


def from_tagged(data: bytes) -> Hash:
    """Inverse of :meth:`Hash.tagged`."""
    if len(data) != HASH_BYTES + 1 or data[0] not in HASH_CLASSES:
        raise InvalidHash("tagged hash must be one known kind byte and 32 bytes")
    return HASH_CLASSES[HashKind(data[0])](data[1:])
