"""Refuse a listen port that another process already listens on.

PITFALL shared-port: py-libp2p 0.8.1 sets SO_REUSEPORT on its TCP listeners, so a second node
told to listen on a port in use binds it too, and the kernel then splits incoming connections
between the two: peers dialing one node reach the other about half the time. A plain bind of
the same address (SO_REUSEADDR only, so a restart is not held up by TIME_WAIT connections)
fails while any socket listens there, whatever its options.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence

from multiaddr import Multiaddr

from nodeapp.net._errors import ListenFailed


def refuse_taken_ports(maddrs: Sequence[Multiaddr]) -> None:
    """ListenFailed if any ``/ip4|ip6/<host>/tcp/<port>`` (port not 0) is being listened on."""
    for maddr in maddrs:
        protocols = {p.name for p in maddr.protocols()}
        if "tcp" not in protocols or not protocols & {"ip4", "ip6"}:
            continue  # libp2p itself refuses what it cannot listen on
        port = int(maddr.value_for_protocol("tcp"))
        if port == 0:
            continue
        family, kind = ((socket.AF_INET, "ip4") if "ip4" in protocols
                        else (socket.AF_INET6, "ip6"))
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((maddr.value_for_protocol(kind), port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ListenFailed(f"cannot listen on {maddr}: port {port} is in use") from None
                # any other failure (address not local...) is libp2p's to report, as before
