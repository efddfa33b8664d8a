"""Addresses other nodes are told to dial: invite bootstrap peers and a node's announce addresses.

Both travel to other members, who can do nothing with an address this node's transport could not
use itself, so both pass one check: a host (IPv4, IPv6 or DNS name), a TCP port, and at the end
``/p2p/<peer id>`` naming whom the dialler will reach.
"""

from __future__ import annotations

from multiaddr import Multiaddr
from multiaddr.exceptions import Error as MultiaddrError

from nodeapp._core.membrane import BOOTSTRAP_ADDR_CHARS_MAX
from nodeapp._core.messages import ADDR_CHARS_MAX
from nodeapp.errors import BadAddress

# what both a HELLO frame and an invite carry per address
PEER_ADDR_CHARS_MAX = min(ADDR_CHARS_MAX, BOOTSTRAP_ADDR_CHARS_MAX)
_HOSTS = frozenset({"ip4", "ip6", "dns", "dns4", "dns6"})
_UNSPECIFIED = frozenset({"0.0.0.0", "::"})


_PARSE_ERRORS = (MultiaddrError, ValueError, TypeError, KeyError)


def _parse_error(shown: str, error: Exception) -> Exception:
    """The parser's complaint about the text the user typed (its messages quote the whole
    string, and a completed address holds more than was typed)."""
    try:
        Multiaddr(shown)
    except _PARSE_ERRORS as exc:
        return exc
    return error


def check_peer_address(addr: str, what: str, *, as_given: str | None = None) -> str:
    """``addr`` if another node could dial it; BadAddress saying what is wrong if not.
    ``what`` names the address in the message ("bootstrap address", "announce address");
    ``as_given`` is the text the user typed, quoted instead when ``addr`` was completed."""
    shown = addr if as_given is None else as_given
    if not addr.startswith("/") or len(addr) > PEER_ADDR_CHARS_MAX:
        raise BadAddress(f"{what} {shown[:40]!r} must be a multiaddr starting with '/' of at "
                         f"most {PEER_ADDR_CHARS_MAX} characters")
    try:
        maddr = Multiaddr(addr)
        protocols = [p.name for p in maddr.protocols()]
    except _PARSE_ERRORS as exc:
        raise BadAddress(f"{what} {shown!r} is not a multiaddr: {_parse_error(shown, exc)}"
                         ) from None
    if len(protocols) < 2 or protocols[0] not in _HOSTS or protocols[1] != "tcp":
        raise BadAddress(f"{what} {shown!r} must be /ip4, /ip6 or /dns, then /tcp/<port>: this "
                         "node dials TCP only")
    if maddr.value_for_protocol(protocols[0]) in _UNSPECIFIED or (
            maddr.value_for_protocol("tcp") == "0"):
        raise BadAddress(f"{what} {shown!r} names no one to dial (0.0.0.0, :: or port 0 are for "
                         "listening): give this machine's address and its node's port")
    if protocols[-1] != "p2p":
        raise BadAddress(f"{what} {shown!r} must end with /p2p/<peer id>, so the node that dials "
                         "it can check whom it reached")
    return addr
