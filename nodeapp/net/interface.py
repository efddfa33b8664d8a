"""The transport the node's protocol core talks to, as an interface.

Production uses :func:`nodeapp.net.open_host` (py-libp2p); the simulator and tests can put any
other implementation behind the same methods. Rules every implementation keeps:

* Peers are named by their printable peer ID (``nodeapp.identity.peer_id_of``), and the peer ID
  a handler is given is the *authenticated* one, never one the remote merely claims.
* Payloads are opaque bytes carried in frames (:mod:`nodeapp.net._frames`); every read names
  its own limit in bytes.
* No method takes a timeout: callers bound calls with ``trio.move_on_after``/``fail_after``.
* Peer misbehaviour raises a :class:`~nodeapp.errors.RemoteError`; a handler's failure is
  logged and never stops the transport.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

Handler = Callable[[str, bytes], Awaitable[bytes | None]]
"""A request handler: ``(authenticated remote peer id, request payload) -> response payload``,
or ``None`` to close the stream without answering."""

MessageHandler = Callable[[str, bytes], Awaitable[None]]
"""A one-way message handler: ``(authenticated remote peer id, message payload) -> None``."""


class Connection(ABC):
    """A live, authenticated link to one peer, as seen from this node."""

    @property
    @abstractmethod
    def peer_id(self) -> str:
        """The remote peer's ID, as authenticated by the handshake."""

    @property
    @abstractmethod
    def remote_public_key(self) -> bytes:
        """The remote agent's 32-byte Ed25519 public key."""

    @abstractmethod
    async def request(self, protocol: str, frame: bytes, *, response_bytes_max: int) -> bytes:
        """Send one request frame on ``protocol`` and return the response payload.
        Same errors as :meth:`Transport.request`."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection to this peer. Idempotent; in-flight requests fail."""


class Transport(ABC):
    """One node's endpoint: its identity, its listeners, its handlers, its connections."""

    @property
    @abstractmethod
    def peer_id(self) -> str:
        """This node's peer ID."""

    @property
    @abstractmethod
    def listen_addrs(self) -> list[str]:
        """The bound addresses, each ending in ``/p2p/<peer id>``, in no particular order.
        A wildcard listen address (``0.0.0.0``) is reported as such."""

    @abstractmethod
    async def connect(self, addr: str) -> str:
        """Make sure there is an authenticated connection to the peer at ``addr`` (which must
        name the peer) and return its peer ID. Raises ``PeerUnreachable`` if no connection
        to that peer can be made, ``BadAddress`` if ``addr`` does not parse."""

    @abstractmethod
    def set_handler(self, protocol: str, handler: Handler, *, request_bytes_max: int) -> None:
        """Serve ``protocol`` with ``handler``; a request over ``request_bytes_max`` is refused
        (logged, stream reset) before its body is read. Replaces an earlier handler."""

    @abstractmethod
    def remove_handler(self, protocol: str) -> None:
        """Stop serving ``protocol``; new streams for it are refused. Idempotent."""

    @abstractmethod
    async def request(self, peer_id: str, protocol: str, frame: bytes, *,
                      response_bytes_max: int) -> bytes:
        """Send one request frame to ``peer_id`` on ``protocol`` and return the response
        payload. Dials the peer if needed. Raises ``PeerUnreachable``,
        ``UnsupportedProtocol``, ``PeerClosed`` (no answer, or the peer refused the request),
        ``FrameTooLarge`` (response over ``response_bytes_max``) or ``TruncatedFrame``."""

    @abstractmethod
    def set_message_handler(self, protocol: str, handler: MessageHandler, *,
                            frame_bytes_max: int) -> None:
        """Serve ``protocol`` as one-way message streams: each stream carries frames in order
        until it ends, and ``handler`` is called for each. A frame over ``frame_bytes_max``,
        a malformed one, or a handler that raises resets that stream (logged in one line);
        the transport keeps serving. Replaces an earlier handler."""

    @abstractmethod
    async def send(self, peer_id: str, protocol: str, frame: bytes) -> None:
        """Write one message frame to ``peer_id`` on ``protocol`` over a long-lived stream
        (opened on first use, reopened once if it failed); frames to one peer and protocol
        arrive in order. Nothing is read back: returning means written, not delivered. Raises
        ``PeerUnreachable``, ``UnsupportedProtocol`` or ``PeerClosed``."""

    @abstractmethod
    def connected_peers(self) -> list[str]:
        """Peer IDs with at least one live connection, in no particular order."""

    @abstractmethod
    def remote_public_key(self, peer_id: str) -> bytes:
        """The 32-byte Ed25519 public key of ``peer_id`` (which the handshake proved the peer
        holds). Raises ``NotAnAgent`` if the peer's key is not Ed25519."""

    @abstractmethod
    def connection(self, peer_id: str) -> Connection:
        """A handle on the live connection to ``peer_id``; ``NotConnected`` if there is
        none."""

    @abstractmethod
    async def disconnect(self, peer_id: str) -> None:
        """Close every connection to ``peer_id``. Idempotent."""
