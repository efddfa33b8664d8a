"""How an agent key is named outside the ledger: its libp2p peer ID.

The agent's Ed25519 key is also its libp2p identity, so the peer ID is computed from the public
key the way libp2p does (identity multihash of the protobuf-encoded key), without importing the
whole networking stack for a status line; ``tests/core`` checks it against libp2p's own.
"""

from __future__ import annotations

import base58

from nodeapp.errors import InvalidHash

# identity multihash (0x00, length 36) of protobuf PublicKey{Type: Ed25519 (1), Data: 32 bytes}
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])


def peer_id_of(public_key: bytes) -> str:
    """The base58 libp2p peer ID of an Ed25519 public key."""
    if len(public_key) != 32:
        raise InvalidHash("an Ed25519 public key is 32 bytes")
    return base58.b58encode(_PEER_ID_PREFIX + public_key).decode()


def public_key_of_peer_id(peer_id: str) -> bytes:
    """Recover the agent key from a peer ID (only Ed25519 identity peer IDs qualify)."""
    try:
        raw = base58.b58decode(peer_id)
    except ValueError as exc:
        raise InvalidHash(f"{peer_id!r} is not base58") from exc
    if len(raw) != len(_PEER_ID_PREFIX) + 32 or not raw.startswith(_PEER_ID_PREFIX):
        raise InvalidHash(f"{peer_id!r} is not an Ed25519 identity peer ID")
    return raw[len(_PEER_ID_PREFIX):]
