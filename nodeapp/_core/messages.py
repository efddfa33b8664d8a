"""The node-to-node protocol's messages and their frames.

Rules:
* A frame is the canonical CBOR array ``[version, dna_hash, kind, *fields]``. A frame for another
  DNA or protocol version is refused before its fields are looked at.
* Records travel as ``[action_bytes, signature, entry_or_null]``, many per frame; bytes are kept
  as received and hashed once by the receiver.
* Every list has a count limit and the whole frame a size limit; decoding checks each field's
  type. Anything else is :class:`MalformedData` and the frame is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from nodeapp._core.canonical import decode_shallow, encode_flat
from nodeapp.errors import MalformedData

PROTOCOL_VERSION = 1
FRAME_BYTES_MAX = 8 * 1024 * 1024
RECORDS_PER_FRAME_MAX = 2_000
IDS_PER_FRAME_MAX = 50_000
ADDRS_MAX = 8
ADDR_CHARS_MAX = 256

Record = tuple[bytes, bytes, bytes | None]


class Kind(IntEnum):
    """Message kinds."""

    HELLO = 0  # my genesis records: admit me
    WELCOME = 1  # you are admitted; here are the members I know
    REFUSED = 2  # you are not (reason)
    PUBLISH = 3  # records whose ops you are an authority for
    RECEIPTS = 4  # signed validation receipts for ops you published
    SYNC_OFFER = 5  # IBLT of the ops I hold in a region
    SYNC_REPLY = 6  # what each side lacks, or "retry with a bigger table"
    FETCH = 7  # send me these ops
    RECORDS = 8  # records answering a fetch or a sync
    WARRANT = 9  # proof that an agent broke the rules
    GET = 10  # a record by action or entry hash, or a member's genesis by agent key
    GOT = 11  # records answering GET, GET_LINKS or GET_ACTIVITY
    GET_LINKS = 12  # live links of one type from a base
    GET_ACTIVITY = 13  # an agent's chain of actions (no entries), from a seq on
    CALL = 14  # run a remote-callable zome function on the receiver's node
    CALLED = 15  # its output, or why it failed


@dataclass(frozen=True)
class Hello:
    genesis: tuple[Record, ...]
    addrs: tuple[str, ...] = ()  # where the sender listens (multiaddrs); empty in simulation


@dataclass(frozen=True)
class Welcome:
    members: tuple[bytes, ...]
    addrs: tuple[tuple[str, ...], ...] = ()  # per member, where it was last heard to listen


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Publish:
    records: tuple[Record, ...]


@dataclass(frozen=True)
class Receipts:
    """Validation receipts from one validator: (op hash, verdict 1 valid / 2 rejected) pairs
    under one signature over :func:`receipts_signed_bytes` (one verify per message, not per op).
    """

    validator: bytes
    items: tuple[tuple[bytes, int], ...]
    signature: bytes


def receipts_signed_bytes(validator: bytes, items: tuple[tuple[bytes, int], ...]) -> bytes:
    """What a validator signs for a batch of receipts."""
    return encode_flat([b"nodeapp-receipts/1", validator, [list(i) for i in items]])


@dataclass(frozen=True)
class SyncOffer:
    session: int
    region: tuple[tuple[int, int], ...]
    seed: int
    table: bytes
    # only op ids whose top ``id_prefix[1]`` bits equal ``id_prefix[0]`` (many ops can share
    # one location, e.g. an agent's whole activity, so location alone cannot always split)
    id_prefix: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class SyncReply:
    session: int
    retry_cells: int  # > 0: the table was too small, offer again with this many cells
    want: tuple[int, ...]  # op ids the offerer holds and the replier lacks
    records: tuple[Record, ...]  # records of ops the replier holds and the offerer lacks


@dataclass(frozen=True)
class Fetch:
    op_ids: tuple[int, ...]


@dataclass(frozen=True)
class Records:
    records: tuple[Record, ...]


@dataclass(frozen=True)
class Warrant:
    """``kind`` 0 = invalid op (proof: the record), 1 = chain fork (proof: two records)."""

    kind: int
    agent: bytes
    proof: tuple[Record, ...]
    issuer: bytes
    signature: bytes


@dataclass(frozen=True)
class Get:
    action_hash: bytes


@dataclass(frozen=True)
class Got:
    records: tuple[Record, ...]


@dataclass(frozen=True)
class GetLinks:
    base: bytes  # a tagged hash (kind byte + 32)
    zome_index: int
    link_type: int
    tag_prefix: bytes = b""


@dataclass(frozen=True)
class GetActivity:
    agent: bytes
    start_seq: int = 0  # a long chain is read a frame at a time


@dataclass(frozen=True)
class Call:
    zome: str
    fn: str
    payload: bytes  # canonical CBOR of the JSON-like input


@dataclass(frozen=True)
class Called:
    ok: bool
    value: bytes  # canonical CBOR of the output when ok, else the error as UTF-8 text


Message = (Hello | Welcome | Refused | Publish | Receipts | SyncOffer | SyncReply | Fetch
           | Records | Warrant | Get | Got | GetLinks | GetActivity | Call | Called)
QUERIES = (Get, GetLinks, GetActivity, Call)  # asked on a request stream, answered on it
_KIND_OF = {Hello: Kind.HELLO, Welcome: Kind.WELCOME, Refused: Kind.REFUSED,
            Publish: Kind.PUBLISH, Receipts: Kind.RECEIPTS, SyncOffer: Kind.SYNC_OFFER,
            SyncReply: Kind.SYNC_REPLY, Fetch: Kind.FETCH, Records: Kind.RECORDS,
            Warrant: Kind.WARRANT, Get: Kind.GET, Got: Kind.GOT, GetLinks: Kind.GET_LINKS,
            GetActivity: Kind.GET_ACTIVITY, Call: Kind.CALL, Called: Kind.CALLED}
NAME_CHARS_MAX = 64  # a zome or function name


# --- field checks --------------------------------------------------------------------------


def _bytes(v: Any, size: int | None = None, size_max: int = FRAME_BYTES_MAX) -> bytes:
    if type(v) is not bytes or (size is not None and len(v) != size) or len(v) > size_max:
        raise MalformedData("expected a byte string" + (f" of {size} bytes" if size else ""))
    return v


def _int(v: Any, low: int = 0, high: int = 2**64 - 1) -> int:
    if type(v) is not int or not low <= v <= high:
        raise MalformedData(f"expected an integer in [{low}, {high}]")
    return v


def _list(v: Any, count_max: int) -> list[Any]:
    if type(v) is not list or len(v) > count_max:
        raise MalformedData(f"expected a list of at most {count_max} items")
    return v


def _record(v: Any) -> Record:
    items = _list(v, 3)
    if len(items) != 3:
        raise MalformedData("a record is [action_bytes, signature, entry or null]")
    entry = items[2]
    if entry is not None:
        _bytes(entry)
    return (_bytes(items[0]), _bytes(items[1], 64), entry)


def _records(v: Any) -> tuple[Record, ...]:
    return tuple(_record(r) for r in _list(v, RECORDS_PER_FRAME_MAX))


def _addrs(v: Any) -> tuple[str, ...]:
    items = _list(v, ADDRS_MAX)
    if any(type(a) is not str or not a.startswith("/") or len(a) > ADDR_CHARS_MAX for a in items):
        raise MalformedData(f"addresses are multiaddr strings of at most {ADDR_CHARS_MAX} chars")
    return tuple(items)


def _region(v: Any) -> tuple[tuple[int, int], ...]:
    pieces = []
    for piece in _list(v, 4):
        items = _list(piece, 2)
        if len(items) != 2:
            raise MalformedData("a region piece is [start, length]")
        pieces.append((_int(items[0], 0, 2**32 - 1), _int(items[1], 1, 2**32)))
    return tuple(pieces)


# --- encode / decode --------------------------------------------------------------------


def _fields(message: Message) -> list[Any]:
    if isinstance(message, Hello):
        return [[list(r) for r in message.genesis], list(message.addrs)]
    if isinstance(message, Publish | Records | Got):
        return [[list(r) for r in message.records]]
    if isinstance(message, Welcome):
        return [list(message.members), [list(a) for a in message.addrs]]
    if isinstance(message, Refused):
        return [message.reason]
    if isinstance(message, Receipts):
        return [message.validator, [list(i) for i in message.items], message.signature]
    if isinstance(message, SyncOffer):
        return [message.session, [list(p) for p in message.region], message.seed, message.table,
                list(message.id_prefix)]
    if isinstance(message, SyncReply):
        return [message.session, message.retry_cells, list(message.want),
                [list(r) for r in message.records]]
    if isinstance(message, Fetch):
        return [list(message.op_ids)]
    if isinstance(message, Warrant):
        return [message.kind, message.agent, [list(r) for r in message.proof], message.issuer,
                message.signature]
    if isinstance(message, GetLinks):
        return [message.base, message.zome_index, message.link_type, message.tag_prefix]
    if isinstance(message, GetActivity):
        return [message.agent, message.start_seq]
    if isinstance(message, Call):
        return [message.zome, message.fn, message.payload]
    if isinstance(message, Called):
        return [message.ok, message.value]
    return [message.action_hash]


def encode_message(dna_hash: bytes, message: Message) -> bytes:
    """One frame."""
    frame = encode_flat([PROTOCOL_VERSION, dna_hash, int(_KIND_OF[type(message)]),
                         *_fields(message)])
    if len(frame) > FRAME_BYTES_MAX:
        raise MalformedData(f"frame of {len(frame)} bytes is over {FRAME_BYTES_MAX}")
    return frame


def decode_message(dna_hash: bytes, frame: bytes) -> Message:
    """Decode one frame from a peer; anything unexpected is MalformedData."""
    items = decode_shallow(frame, size_max=FRAME_BYTES_MAX)
    if type(items) is not list or len(items) < 3:
        raise MalformedData("a frame is [version, dna_hash, kind, ...]")
    if items[0] != PROTOCOL_VERSION:
        raise MalformedData(f"protocol version {items[0]!r} is not {PROTOCOL_VERSION}")
    if items[1] != dna_hash:
        raise MalformedData("frame is for another DNA")
    kind, fields = items[2], items[3:]
    try:
        return _decode_fields(Kind(kind), fields)
    except (ValueError, TypeError) as exc:
        raise MalformedData(f"bad frame of kind {kind!r}: {exc}") from exc


def _decode_fields(kind: Kind, f: list[Any]) -> Message:
    expected = {Kind.HELLO: 2, Kind.WELCOME: 2, Kind.REFUSED: 1, Kind.PUBLISH: 1,
                Kind.RECEIPTS: 3, Kind.SYNC_OFFER: 5, Kind.SYNC_REPLY: 4, Kind.FETCH: 1,
                Kind.RECORDS: 1, Kind.WARRANT: 5, Kind.GET: 1, Kind.GOT: 1,
                Kind.GET_LINKS: 4, Kind.GET_ACTIVITY: 2, Kind.CALL: 3, Kind.CALLED: 2}[kind]
    if len(f) != expected:
        raise MalformedData(f"{kind.name} has {expected} fields, not {len(f)}")
    if kind == Kind.HELLO:
        return Hello(_records(f[0]), _addrs(f[1]))
    if kind == Kind.WELCOME:
        members = tuple(_bytes(a, 32) for a in _list(f[0], IDS_PER_FRAME_MAX))
        addrs = tuple(_addrs(a) for a in _list(f[1], IDS_PER_FRAME_MAX))
        if addrs and len(addrs) != len(members):
            raise MalformedData("WELCOME has addresses for some members but not all")
        return Welcome(members, addrs)
    if kind == Kind.REFUSED:
        if type(f[0]) is not str or len(f[0]) > 1000:
            raise MalformedData("a refusal reason is a short string")
        return Refused(f[0])
    if kind in (Kind.PUBLISH, Kind.RECORDS, Kind.GOT):
        records = _records(f[0])
        if kind == Kind.PUBLISH:
            return Publish(records)
        return Records(records) if kind == Kind.RECORDS else Got(records)
    if kind == Kind.RECEIPTS:
        items = []
        for item in _list(f[1], IDS_PER_FRAME_MAX):
            pair = _list(item, 2)
            if len(pair) != 2:
                raise MalformedData("a receipt is [op_hash, verdict]")
            items.append((_bytes(pair[0], 32), _int(pair[1], 1, 2)))
        return Receipts(_bytes(f[0], 32), tuple(items), _bytes(f[2], 64))
    if kind == Kind.SYNC_OFFER:
        prefix = _list(f[4], 2)
        if len(prefix) != 2:
            raise MalformedData("an id prefix is [value, bits]")
        bits = _int(prefix[1], 0, 64)
        return SyncOffer(_int(f[0]), _region(f[1]), _int(f[2]), _bytes(f[3]),
                         (_int(prefix[0], 0, (1 << bits) - 1), bits))
    if kind == Kind.SYNC_REPLY:
        return SyncReply(_int(f[0]), _int(f[1], 0, 2**32),
                         tuple(_int(i) for i in _list(f[2], IDS_PER_FRAME_MAX)), _records(f[3]))
    if kind == Kind.FETCH:
        return Fetch(tuple(_int(i) for i in _list(f[0], IDS_PER_FRAME_MAX)))
    if kind == Kind.WARRANT:
        return Warrant(_int(f[0], 0, 1), _bytes(f[1], 32), _records(f[2]), _bytes(f[3], 32),
                       _bytes(f[4], 64))
    if kind == Kind.GET_LINKS:
        return GetLinks(_bytes(f[0], 33), _int(f[1], 0, 255), _int(f[2], 0, 255),
                        _bytes(f[3], size_max=1024))
    if kind == Kind.GET_ACTIVITY:
        return GetActivity(_bytes(f[0], 32), _int(f[1], 0, 2**32 - 1))
    if kind == Kind.CALL:
        return Call(_name(f[0]), _name(f[1]), _bytes(f[2]))
    if kind == Kind.CALLED:
        if type(f[0]) is not bool:
            raise MalformedData("CALLED's first field is true or false")
        return Called(f[0], _bytes(f[1]))
    return Get(_bytes(f[0], 32))


def _name(v: Any) -> str:
    if type(v) is not str or not 0 < len(v) <= NAME_CHARS_MAX:
        raise MalformedData(f"a zome or function name is 1-{NAME_CHARS_MAX} characters")
    return v
