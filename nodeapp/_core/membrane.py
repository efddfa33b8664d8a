"""The membrane: who may write a chain in a network, decided the same way by every peer.

Rules:
* An invite names the network (its DNA hash, and the manifest itself so that the joiner can do
  genesis offline), the inviter, a random 16-byte id, an expiry, how many agents may use it and
  where to find peers. The inviter signs (Ed25519) the canonical CBOR array
  ``["nodeapp-invite/1", dna_manifest, dna_hash, inviter, invite_id, expires_us, uses_max,
  bootstrap]``; the invite travels as that array with the signature appended, and only that
  canonical form is accepted, so one invite has exactly one byte form.
* A joining agent puts the invite bytes in its AgentValidationPkg (seq 1) as membrane proof.
  :func:`check_membrane_proof` is what every peer runs on that action. A steward may write its
  genesis without a proof. Anyone else needs an invite that, in this order: decodes
  (``invite_format``), is for this DNA and carries the manifest that hashes to it
  (``invite_dna``), is signed by its inviter (``invite_signature``), is not the agent's own and
  comes from a steward or an agent that ``is_authorised`` (``invite_authority``), and had not
  expired at the AVP action's own timestamp (``invite_expired``; valid up to and including
  ``expires_us``). A missing proof is ``membrane_missing``.
* Every rule above depends only on the action and the DNA, so every honest peer reaches the
  same verdict. How many agents used an invite depends on what a node has seen of the DHT, so
  it is not a validation rule: :func:`count_allows` is for the network layer (``invite_used_up``).
* A DNA that names no stewards and no authorisation hook has an open membrane: every proof, or
  none, is accepted. The DNA hash covers the stewards, so nobody can strip them from a network.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from nodeapp._core.canonical import decode, encode
from nodeapp._core.hashing import HASH_BYTES, blake2b_256
from nodeapp._core.limits import MEMBRANE_PROOF_BYTES_MAX
from nodeapp.errors import MalformedData, SysValidationError

INVITE_TAG = "nodeapp-invite/1"
INVITE_CODE_PREFIX = "nodeapp-invite1."
INVITE_ID_BYTES = 16
INVITE_USES_MAX = 10_000
BOOTSTRAP_ADDRS_MAX = 8
BOOTSTRAP_ADDR_CHARS_MAX = 256
SIGNATURE_BYTES = 64
# an invite travels as a membrane proof, so it is never larger than one
INVITE_BYTES_MAX = MEMBRANE_PROOF_BYTES_MAX
_INVITE_CODE_CHARS_MAX = len(INVITE_CODE_PREFIX) + (INVITE_BYTES_MAX * 4 + 2) // 3
_I64_MAX = 2**63 - 1
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

MEMBRANE_RULES = (
    "invite_format", "invite_dna", "invite_signature", "invite_authority", "invite_expired",
    "invite_used_up", "membrane_missing",
)


class MembraneError(SysValidationError):
    """Raised when an invite or a membrane proof is refused: by :func:`check_membrane_proof`
    (so by system validation of an AgentValidationPkg), when an invite or invite code does not
    decode, or when the network layer finds an invite used up. ``rule`` is one of
    :data:`MEMBRANE_RULES`."""


@dataclass(frozen=True)
class Invite:
    """A signed invitation into one network. Build with :func:`make_invite`."""

    dna_manifest: bytes
    dna_hash: bytes
    inviter: bytes
    invite_id: bytes
    expires_us: int
    uses_max: int
    bootstrap: tuple[str, ...]
    signature: bytes

    @property
    def key(self) -> bytes:
        """What identifies the invite when counting its uses: inviter and invite id."""
        return self.inviter + self.invite_id

    def signed_bytes(self) -> bytes:
        """The bytes the inviter signs: the domain tag and every other field."""
        return encode([INVITE_TAG, self.dna_manifest, self.dna_hash, self.inviter,
                       self.invite_id, self.expires_us, self.uses_max, list(self.bootstrap)])


# --- shape --------------------------------------------------------------------------------


def _format_error(detail: str) -> MembraneError:
    return MembraneError("invite_format", detail)


def _is_bootstrap_addr(addr: Any) -> bool:
    # shape only: that it parses as a multiaddr is the network layer's to check
    return (type(addr) is str and 0 < len(addr) <= BOOTSTRAP_ADDR_CHARS_MAX
            and addr.startswith("/") and addr.isascii() and addr.isprintable()
            and " " not in addr)


def _check_shape(dna_manifest: Any, dna_hash: Any, inviter: Any, invite_id: Any,
                 expires_us: Any, uses_max: Any, bootstrap: Any, signature: Any) -> None:
    if type(dna_manifest) is not bytes or not dna_manifest:
        raise _format_error("the DNA manifest must be non-empty bytes")
    if type(dna_hash) is not bytes or len(dna_hash) != HASH_BYTES:
        raise _format_error("the DNA hash must be 32 bytes")
    if type(inviter) is not bytes or len(inviter) != HASH_BYTES:
        raise _format_error("the inviter must be a 32-byte agent key")
    if type(invite_id) is not bytes or len(invite_id) != INVITE_ID_BYTES:
        raise _format_error(f"the invite id must be {INVITE_ID_BYTES} bytes")
    if type(expires_us) is not int or not 0 <= expires_us <= _I64_MAX:
        raise _format_error("the expiry must be a non-negative 64-bit integer of microseconds")
    if type(uses_max) is not int or not 1 <= uses_max <= INVITE_USES_MAX:
        raise _format_error(f"the number of uses must be 1 to {INVITE_USES_MAX}")
    if type(bootstrap) not in (list, tuple) or len(bootstrap) > BOOTSTRAP_ADDRS_MAX:
        raise _format_error(f"at most {BOOTSTRAP_ADDRS_MAX} bootstrap addresses")
    for addr in bootstrap:
        if not _is_bootstrap_addr(addr):
            raise _format_error(
                f"a bootstrap address is a multiaddr ('/...', printable ASCII, no spaces) of at "
                f"most {BOOTSTRAP_ADDR_CHARS_MAX} characters")
    if type(signature) is not bytes or len(signature) != SIGNATURE_BYTES:
        raise _format_error(f"the signature must be {SIGNATURE_BYTES} bytes")


def make_invite(*, dna_manifest: bytes, inviter: bytes, invite_id: bytes, expires_us: int,
                uses_max: int, bootstrap: Sequence[str], sign: Callable[[bytes], bytes]
                ) -> Invite:
    """Build and sign an invite. ``dna_manifest`` is the network's canonical manifest bytes (the
    DNA hash is taken over them); ``sign(bytes) -> 64-byte signature`` is the inviter's signer;
    ``invite_id`` is 16 random bytes chosen by the caller."""
    dna_hash = blake2b_256(dna_manifest) if type(dna_manifest) is bytes else b""
    # anything but a list or tuple is refused by _check_shape, so Invite gets a tuple
    addrs = cast(tuple[str, ...],
                 tuple(bootstrap) if isinstance(bootstrap, list | tuple) else bootstrap)
    _check_shape(dna_manifest, dna_hash, inviter, invite_id, expires_us, uses_max, addrs,
                 bytes(SIGNATURE_BYTES))
    unsigned = Invite(dna_manifest, dna_hash, inviter, invite_id, expires_us, uses_max, addrs,
                      b"")
    signature = sign(unsigned.signed_bytes())
    if type(signature) is not bytes or len(signature) != SIGNATURE_BYTES:
        raise _format_error(f"the signer must return {SIGNATURE_BYTES} bytes")
    invite = Invite(dna_manifest, dna_hash, inviter, invite_id, expires_us, uses_max, addrs,
                    signature)
    size = len(invite_to_bytes(invite))
    if size > INVITE_BYTES_MAX:
        raise _format_error(f"the invite would be {size} bytes, over the {INVITE_BYTES_MAX} a "
                            "membrane proof may hold (is the DNA manifest that large?)")
    return invite


def invite_to_bytes(invite: Invite) -> bytes:
    """The canonical CBOR form: the signed array with the signature appended."""
    return encode([INVITE_TAG, invite.dna_manifest, invite.dna_hash, invite.inviter,
                   invite.invite_id, invite.expires_us, invite.uses_max, list(invite.bootstrap),
                   invite.signature])


def invite_from_bytes(data: bytes) -> Invite:
    """Decode invite bytes from a person or a peer; every failure is ``invite_format``.
    Nothing but the shape is checked: whether it admits anyone is :func:`check_invite`'s job."""
    try:
        value = decode(data, size_max=INVITE_BYTES_MAX)
    except MalformedData as exc:
        raise _format_error(f"not an invite: {exc}") from exc
    if type(value) is not list or len(value) != 9 or value[0] != INVITE_TAG:
        raise _format_error(f"not an invite: expected a {INVITE_TAG} array of 9 fields")
    _tag, manifest, dna_hash, inviter, invite_id, expires_us, uses_max, bootstrap, sig = value
    _check_shape(manifest, dna_hash, inviter, invite_id, expires_us, uses_max, bootstrap, sig)
    invite = Invite(manifest, dna_hash, inviter, invite_id, expires_us, uses_max,
                    tuple(bootstrap), sig)
    if invite_to_bytes(invite) != data:
        raise _format_error("the invite bytes are not in canonical form")
    return invite


def invite_code(invite: Invite) -> str:
    """The printable form a person passes on: ``nodeapp-invite1.`` + unpadded base64url."""
    body = base64.urlsafe_b64encode(invite_to_bytes(invite)).rstrip(b"=").decode("ascii")
    return INVITE_CODE_PREFIX + body


def parse_invite_code(text: str) -> Invite:
    """Parse an invite code as pasted (whitespace anywhere, e.g. line breaks, is ignored)."""
    if not isinstance(text, str):
        raise _format_error(f"an invite code is text, not {type(text).__name__}")
    code = "".join(text.split())
    if not code.startswith(INVITE_CODE_PREFIX):
        raise _format_error(f"not an invite code: it must start with {INVITE_CODE_PREFIX!r}")
    if len(code) > _INVITE_CODE_CHARS_MAX:
        raise _format_error(f"the invite code is too long ({len(code)} characters)")
    body = code[len(INVITE_CODE_PREFIX):]
    if not _B64URL.fullmatch(body) or len(body) % 4 == 1:
        raise _format_error("the invite code is damaged: not base64url after the prefix "
                            "(was it cut short or mistyped?)")
    try:
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _format_error("the invite code is damaged: not base64url") from exc
    try:
        invite = invite_from_bytes(data)
    except MembraneError as exc:
        raise _format_error(f"the invite code is damaged ({exc.detail})") from exc
    if invite_code(invite) != code:
        raise _format_error("the invite code is damaged: not in canonical base64url")
    return invite


# --- rules --------------------------------------------------------------------------------


def may_invite(agent: bytes, stewards: Sequence[bytes],
               is_authorised: Callable[[bytes], bool] | None = None) -> bool:
    """Whether the DNA lets ``agent`` admit members: a steward, or authorised by the hook
    (roles named by the DNA plug in there)."""
    return agent in stewards or (is_authorised is not None and bool(is_authorised(agent)))


def _signature_verifies(invite: Invite) -> bool:
    try:
        crypto_sign_open(invite.signature + invite.signed_bytes(), invite.inviter)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


def check_invite(invite: Invite, *, joining: bytes, at_us: int, dna_hash: bytes,
                 stewards: Sequence[bytes],
                 is_authorised: Callable[[bytes], bool] | None = None) -> None:
    """The deterministic rules for one decoded invite used by ``joining`` at time ``at_us``
    (the AgentValidationPkg's own timestamp). Raises :class:`MembraneError`."""
    if invite.dna_hash != dna_hash:
        raise MembraneError("invite_dna", "the invite is for another network")
    if blake2b_256(invite.dna_manifest) != invite.dna_hash:
        raise MembraneError("invite_dna", "the invite's DNA manifest does not hash to its DNA hash")
    if not _signature_verifies(invite):
        raise MembraneError("invite_signature", "the invite's signature does not verify for its "
                                                "inviter (altered or forged)")
    if invite.inviter == joining:
        raise MembraneError("invite_authority", "an agent may not invite itself")
    if not may_invite(invite.inviter, stewards, is_authorised):
        raise MembraneError("invite_authority",
                            "the inviter is not a steward of this network nor authorised to invite")
    if at_us > invite.expires_us:
        raise MembraneError("invite_expired",
                            f"the invite expired {(at_us - invite.expires_us) / 1e6:.1f} s before "
                            "it was used")


def check_membrane_proof(proof: bytes | None, *, author: bytes, avp_timestamp_us: int,
                         dna_hash: bytes, stewards: Sequence[bytes],
                         is_authorised: Callable[[bytes], bool] | None = None) -> None:
    """What every peer checks on an AgentValidationPkg: the author is a steward, or its membrane
    proof is an invite that admits it (see the module rules). Raises :class:`MembraneError`."""
    if not stewards and is_authorised is None:
        return  # open membrane: the DNA names nobody who could admit anyone
    if proof is None:
        if author in stewards:
            return
        raise MembraneError("membrane_missing",
                            "only a steward may join without an invite as membrane proof")
    invite = invite_from_bytes(proof)
    check_invite(invite, joining=author, at_us=avp_timestamp_us, dna_hash=dna_hash,
                 stewards=stewards, is_authorised=is_authorised)


def count_allows(invite: Invite, agents_seen_using_it: set[bytes], joining: bytes) -> bool:
    """Whether ``joining`` may use ``invite`` given the agents already seen using it (every agent
    whose valid AgentValidationPkg carries an invite with the same :attr:`Invite.key`).

    Not a validation rule: what a node has seen depends on the node, so two agents joining at
    once with a one-use invite may both get in, and nodes may disagree for a while. The network
    layer calls this where it decides whom to serve, and refuses with
    ``MembraneError("invite_used_up", ...)`` when it returns False. An agent already counted is
    always allowed (seeing its chain again must not lock it out).
    """
    if joining in agents_seen_using_it:
        return True
    return len(agents_seen_using_it) < invite.uses_max
