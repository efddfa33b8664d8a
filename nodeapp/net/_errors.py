"""Errors raised by the transport adapter.

They hang off :mod:`nodeapp.errors`: what a peer did wrong is a :class:`RemoteError`, what the
local caller asked for wrongly is a :class:`UsageError`.
"""

from __future__ import annotations

# BadAddress is defined with the other usage errors (invites raise it without importing libp2p)
# and re-exported here with the transport's errors
from nodeapp.errors import BadAddress, MalformedData, RemoteError, UsageError  # noqa: F401


class FrameTooLarge(MalformedData):
    """Raised when a received frame announces more bytes than the reader's limit allows.
    Nothing of the frame's body has been read when this is raised."""


class TruncatedFrame(MalformedData):
    """Raised when a stream ends in the middle of a frame (header or body)."""


class PeerClosed(RemoteError):
    """Raised when the peer closes or resets a stream before a whole frame arrived, for
    example because its handler chose not to answer or refused the request."""


class PeerUnreachable(RemoteError):
    """Raised when no authenticated connection to a peer can be made: nothing listens at
    the address, the handshake failed, or the peer there is not the one named."""


class UnsupportedProtocol(RemoteError):
    """Raised when the peer does not serve the requested protocol."""


class NotAnAgent(RemoteError):
    """Raised when a peer's identity key is not Ed25519, so it cannot be an agent."""


class ListenFailed(UsageError):
    """Raised when the host cannot listen on one of the requested addresses (port in use,
    address not local, transport not supported)."""


class FrameLimitError(UsageError):
    """Raised when a local caller passes a payload larger than its own limit, or a limit
    that a 4-byte length prefix cannot express."""


class NotConnected(UsageError):
    """Raised when an operation needs a live connection to a peer and there is none."""


class HostClosed(UsageError):
    """Raised when a host is used after its ``open_host`` context has exited."""
