"""Invites on disk and on the command line: stewards create them, new members join with them.

The rules live in :mod:`nodeapp._core.membrane`; this module brings the key, the clock and the
randomness to them and writes the home. Joining checks everything it can (the code, the DNA, the
invite's signature, authority and expiry, the passphrase) before it writes anything, and leaves
the home as it found it when genesis fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from dna import LoadedDna, load_dna
from nodeapp._core.dna import DnaManifest, manifest_from_bytes
from nodeapp._core.membrane import (
    BOOTSTRAP_ADDRS_MAX,
    INVITE_ID_BYTES,
    INVITE_USES_MAX,
    Invite,
    MembraneError,
    check_invite,
    invite_code,
    invite_to_bytes,
    make_invite,
    may_invite,
    parse_invite_code,
)
from nodeapp.conductor import make_signer
from nodeapp.errors import HomeError, InvalidHash, MalformedData, UsageError
from nodeapp.home import NodeHome
from nodeapp.keystore import read_keystore
from nodeapp.peer_addresses import check_peer_address

INVITE_EXPIRES_MAX_S = 366 * 24 * 3600
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]{1,9})([smhd])")


class NotAnInviter(UsageError):
    """Raised when an agent that the network's DNA does not authorise to invite (not a steward)
    asks to create an invite."""


def parse_expires(text: str) -> int:
    """Seconds from ``<n>[smhd]`` (``30m``, ``12h``, ``7d``); at least 1 s, at most 366 days."""
    found = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise UsageError(f"--expires {text!r}: give a number and a unit s, m, h or d "
                         "(e.g. 7d, 12h, 30m)")
    seconds = int(found[1]) * _UNIT_S[found[2]]
    if not 1 <= seconds <= INVITE_EXPIRES_MAX_S:
        raise UsageError(f"--expires {text!r}: must be between 1s and 366d")
    return seconds


def check_bootstrap(addrs: Sequence[str]) -> tuple[str, ...]:
    """Bootstrap peers as an invite carries them: at most 8 addresses another node can dial,
    each ending in /p2p/<peer id>."""
    if len(addrs) > BOOTSTRAP_ADDRS_MAX:
        raise UsageError(f"at most {BOOTSTRAP_ADDRS_MAX} bootstrap addresses fit in an invite")
    # the same address twice would only be dialled twice
    return tuple(dict.fromkeys(check_peer_address(addr, "bootstrap address") for addr in addrs))


def _stewards(manifest: DnaManifest) -> tuple[bytes, ...]:
    return tuple(s.raw for s in manifest.stewards)


def require_inviter(home: NodeHome) -> DnaManifest:
    """The home's network, if its agent may invite into it; needs no passphrase."""
    home.require()
    manifest = home.manifest()
    if manifest is None:
        raise HomeError("this node is in no network yet: run `nodeapp network create` first")
    if not may_invite(home.public_key(), _stewards(manifest)):
        raise NotAnInviter(f"only a steward of {manifest.name!r} can create invites, and this "
                           "agent is not one: ask a steward for an invite to pass on")
    return manifest


def create_invite(home: NodeHome | Path, passphrase: str | None, uses: int, expires_in_s: int,
                  bootstrap: Sequence[str], now_us: int,
                  rng: Callable[[int], bytes] = os.urandom) -> str:
    """Sign an invite into the home's network, valid for ``uses`` agents until ``now_us`` plus
    ``expires_in_s``; returns its printable code."""
    home = home if isinstance(home, NodeHome) else NodeHome(Path(home))
    manifest = require_inviter(home)
    if type(uses) is not int or not 1 <= uses <= INVITE_USES_MAX:
        raise UsageError(f"--uses must be 1 to {INVITE_USES_MAX}")
    if type(expires_in_s) is not int or not 1 <= expires_in_s <= INVITE_EXPIRES_MAX_S:
        raise UsageError("an invite expires between 1 s and 366 days from now")
    addrs = check_bootstrap(bootstrap)
    key = read_keystore(home.keystore_path, passphrase)
    invite_id = rng(INVITE_ID_BYTES)
    if type(invite_id) is not bytes or len(invite_id) != INVITE_ID_BYTES:
        raise UsageError(f"the random source must give {INVITE_ID_BYTES} bytes")
    invite = make_invite(dna_manifest=manifest.to_bytes(), inviter=key.public_key,
                         invite_id=invite_id, expires_us=now_us + expires_in_s * 1_000_000,
                         uses_max=uses, bootstrap=addrs, sign=make_signer(key))
    return invite_code(invite)


def check_join(home: NodeHome | Path, code: str, now_us: int
               ) -> tuple[Invite, DnaManifest, LoadedDna]:
    """Everything joining checks before it needs the key or writes anything: the home is free,
    the code parses, the invite admits this agent at ``now_us``, the DNA's code is installed."""
    home = home if isinstance(home, NodeHome) else NodeHome(Path(home))
    home.require()
    if home.joined():  # a dna.cbor without genesis is a join that did not finish: go on
        raise HomeError(f"{home.path} already belongs to a network; a home joins only one "
                        "(use a new home for another network)")
    invite = parse_invite_code(code)
    try:
        manifest = manifest_from_bytes(invite.dna_manifest)
        stewards = _stewards(manifest)
    except (MalformedData, InvalidHash) as exc:
        raise MembraneError("invite_format", f"the invite's DNA manifest is invalid: {exc}"
                            ) from exc
    agent = home.public_key()
    check_invite(invite, joining=agent, at_us=now_us, dna_hash=manifest.hash.raw,
                 stewards=stewards)
    return invite, manifest, load_dna(manifest)


def join_network(home: NodeHome | Path, passphrase: str | None, code: str,
                 now_us: int) -> DnaManifest:
    """Join the network an invite code names: write dna.cbor and the invite's bootstrap peers
    into config.json, then, last, the genesis (dated ``now_us``) with the invite as membrane
    proof. A crash before the genesis leaves a home where joining can simply be run again."""
    home = home if isinstance(home, NodeHome) else NodeHome(Path(home))
    invite, manifest, dna = check_join(home, code, now_us)
    key = read_keystore(home.keystore_path, passphrase)
    home.set_bootstrap(invite.bootstrap)
    # the genesis is dated now_us, the time the invite was just checked at
    home.start_chain(dna, key, membrane_proof=invite_to_bytes(invite), clock_us=lambda: now_us)
    return manifest
