"""What the node protocol's parts share: outgoing messages, settings and small helpers."""

from __future__ import annotations

from dataclasses import dataclass

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

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
    parked_retry_us: int = 2_000_000  # every parked record is judged again this often
    dependency_retry_us: int = 2_000_000  # ask again for a missing dependency after this
    dependency_gets_max: int = 64  # GETs for missing dependencies per batch received
    members_digest_every_ticks: int = 10


def chunk_records(records: list[Record]) -> list[tuple[Record, ...]]:
    """Records split into frame-sized groups."""
    return [tuple(records[i:i + RECORDS_PER_FRAME_MAX])
            for i in range(0, len(records), RECORDS_PER_FRAME_MAX)]


def verify_detached(agent: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``agent``'s over ``message``."""
    try:
        crypto_sign_open(signature + message, agent)
    except (BadSignatureError, ValueError):
        return False
    return True
