"""Networking: the transport interface and its py-libp2p implementation.

``open_host(seed, listen)`` runs a libp2p host (Noise + yamux only) for an agent; the node talks
to it through the :class:`Transport` interface, so the simulator can swap in another one.
Request/response (and one-way message streams: ``send`` / ``set_message_handler``) run over
length-prefixed frames (:func:`encode_frame`, :func:`read_frame`).
"""

from nodeapp.net._errors import (
    BadAddress,
    FrameLimitError,
    FrameTooLarge,
    HostClosed,
    ListenFailed,
    NotAnAgent,
    NotConnected,
    PeerClosed,
    PeerUnreachable,
    TruncatedFrame,
    UnsupportedProtocol,
)
from nodeapp.net._frames import (
    FRAME_BYTES_LIMIT,
    HEADER_BYTES,
    FrameReader,
    decode_header,
    encode_frame,
    read_frame,
)
from nodeapp.net._transport import Host, open_host
from nodeapp.net.interface import Connection, Handler, MessageHandler, Transport

__all__ = [
    "FRAME_BYTES_LIMIT",
    "HEADER_BYTES",
    "BadAddress",
    "Connection",
    "FrameLimitError",
    "FrameReader",
    "FrameTooLarge",
    "Handler",
    "Host",
    "HostClosed",
    "ListenFailed",
    "MessageHandler",
    "NotAnAgent",
    "NotConnected",
    "PeerClosed",
    "PeerUnreachable",
    "Transport",
    "TruncatedFrame",
    "UnsupportedProtocol",
    "decode_header",
    "encode_frame",
    "open_host",
    "read_frame",
]
