"""What the node protocol's parts share: outgoing messages, settings and small helpers."""

from __future__ import annotations

from dataclasses import dataclass

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from nodeapp._core.hashing import HASH_BYTES, AgentPubKey
from nodeapp._core.messages import RECORDS_PER_FRAME_MAX, Message, Record


@dataclass(frozen=True)
class Outgoing:
    """A message for one peer (by agent key)."""

    peer: bytes
    message: Message


@dataclass
class ProtocolSettings:
    """Limits and intervals (units last)."""

    sync_interval_us: int = 1_000_000
    publish_retry_us: int = 1_000_000
    publish_backoff_max_us: int = 30_000_000
    neighbours_max: int = 8
    parked_max: int = 10_000
    parked_retry_us: int = 2_000_000  # a parked record is first judged again after this...
    parked_retry_max_us: int = 64_000_000  # ...then after twice as long each time, up to this
    parked_ttl_us: int = 600_000_000  # a record still waiting after this is dropped
    dependency_retry_us: int = 2_000_000  # ask again for a missing dependency after this
    dependency_gets_max: int = 64  # GETs for missing dependencies per batch received
    members_digest_every_ticks: int = 10
    # sync offers per peer, answered and made: a peer starts one sync with us per interval at
    # most; a big catch-up's bigger tables and halved regions (a hundred or more offers) go
    # past the burst and are deferred to the peer's next sync turns (anti_entropy.py)
    sync_offers_per_interval: int = 8
    sync_offer_burst: int = 64


# Record bytes in one outgoing frame. With a max-size record past this and a full frame of
# wanted ids (50,000, ~0.5 MB) beside them, a frame stays well under FRAME_BYTES_MAX (8 MiB).
FRAME_RECORD_BYTES_MAX = 2 * 1024 * 1024


def record_bytes(record: Record) -> int:
    """Bytes a record holds: its action, signature and entry."""
    return len(record[0]) + len(record[1]) + len(record[2] or b"")


def chunk_records(records: list[Record]) -> list[tuple[Record, ...]]:
    """Records in frame-sized groups: at most RECORDS_PER_FRAME_MAX records and, unless one
    record alone is bigger, FRAME_RECORD_BYTES_MAX bytes each."""
    frames: list[tuple[Record, ...]] = []
    group: list[Record] = []
    group_bytes = 0
    for record in records:
        size = record_bytes(record)
        if group and (len(group) >= RECORDS_PER_FRAME_MAX
                      or group_bytes + size > FRAME_RECORD_BYTES_MAX):
            frames.append(tuple(group))
            group, group_bytes = [], 0
        group.append(record)
        group_bytes += size
    if group:
        frames.append(tuple(group))
    return frames


def verify_detached(agent: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``agent``'s over ``message``."""
    try:
        crypto_sign_open(signature + message, agent)
    except (BadSignatureError, ValueError):
        return False
    return True


def agent_label(agent: bytes, peer_id: str | None = None) -> str:
    """How log lines name an agent: the first 20 characters of its printable key, the same in
    every line, so that one search finds all that a node logged about it; lines about a
    connection add its libp2p ``peer_id`` in brackets."""
    if type(agent) is not bytes or len(agent) != HASH_BYTES:  # a log line must never raise
        label = bytes(agent).hex()[:20]
    else:
        label = str(AgentPubKey(agent))[:20]
    return label if peer_id is None else f"{label} ({peer_id})"
