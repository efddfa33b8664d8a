"""System validation: the rules every action obeys whatever zome wrote it.

Checked here, in this order, each failure a :class:`SysValidationError` naming its rule:
``signature`` (Ed25519 by the author over the action bytes as received), ``genesis`` (Dna at
seq 0, AgentValidationPkg at 1, InitZomesComplete at 2, nowhere else), ``open_chain`` (an
OpenChain only at seq 3, right after genesis), ``dna_hash`` (the Dna action names this network),
``author`` / ``seq`` / ``prev_action`` / ``timestamp`` (the action follows its prev: same author,
seq + 1, prev hash matches, timestamp not earlier), ``closed_chain`` (nothing follows a
CloseChain), ``clock`` (not
more than the allowed drift in the future of the receiver's clock, when one is given),
``entry_type`` / ``link_type`` (declared by the DNA, with the declared visibility),
``entry_hash`` and ``entry_size`` (the entry bytes hash to what the action says, at most 1 MiB),
``private_entry`` (a private entry was offered by a peer) and ``link_tag_size``; and on an
AgentValidationPkg the membrane rules (:func:`nodeapp._core.membrane.check_membrane_proof`, each
failure a ``MembraneError``, a subclass, naming one of ``MEMBRANE_RULES``).
App validation (the integrity zomes) runs after, and only on actions that pass all of these.
"""

from __future__ import annotations

from dataclasses import dataclass

from nacl._sodium import ffi as _sodium_ffi
from nacl._sodium import lib as _sodium_lib

from nodeapp._core.actions import (
    ENTRY_ACTIONS,
    SIGNATURE_BYTES,
    Action,
    ActionKind,
    CreateLink,
    SignedAction,
    Visibility,
    writes_private_entry,
)
from nodeapp._core.hashing import blake2b_256
from nodeapp._core.limits import (
    ACTION_BYTES_MAX,
    CLOCK_DRIFT_MAX_US,
    ENTRY_BYTES_MAX,
    LINK_TAG_BYTES_MAX,
)
from nodeapp._core.membrane import check_membrane_proof
from nodeapp.errors import SysValidationError

RULES = (
    "signature", "genesis", "open_chain", "dna_hash", "author", "seq", "prev_action",
    "timestamp", "closed_chain", "clock", "entry_type", "link_type", "entry_hash", "entry_size",
    "private_entry", "link_tag_size",
)
OPEN_CHAIN_SEQ = 3  # a chain that continues a closed one says so before anything else

_GENESIS_KIND_AT = {
    0: ActionKind.DNA,
    1: ActionKind.AGENT_VALIDATION_PKG,
    2: ActionKind.INIT_ZOMES_COMPLETE,
}
_GENESIS_KINDS = frozenset(_GENESIS_KIND_AT.values())
# an enum member read through its class costs ~70 ns in Python 3.11 (the lookup goes through
# the enum's metaclass); these rules run for every record received, so the members they
# compare with are read once, here
_DNA, _AVP = ActionKind.DNA, ActionKind.AGENT_VALIDATION_PKG
_OPEN_CHAIN, _CLOSE_CHAIN = ActionKind.OPEN_CHAIN, ActionKind.CLOSE_CHAIN


@dataclass(frozen=True)
class DnaTypes:
    """What system validation needs to know of a DNA: its hash and declared types."""

    dna_hash: bytes
    entry_visibility: tuple[tuple[Visibility, ...], ...]  # [zome][entry type]
    link_type_counts: tuple[int, ...]  # [zome]
    stewards: tuple[bytes, ...] = ()  # agent keys; none named means an open membrane


# libsodium's crypto_sign_open through PyNaCl's own cffi module, into one reused output
# buffer: the same check as nacl.bindings.crypto_sign_open without allocating and copying out
# the opened message, which is ~10 us of the ~100 us a verify costs here. The buffer's content
# is never read, so threads that happen to share it cannot affect a result (the return code).
_OPENED_BYTES_MAX = ACTION_BYTES_MAX + SIGNATURE_BYTES
_OPENED = _sodium_ffi.new("unsigned char[]", _OPENED_BYTES_MAX)


def signature_ok(signed: SignedAction) -> bool:
    """Whether the signature verifies for the author over the bytes as received."""
    signed_message = signed.signature + signed.action_bytes
    author = signed.action.author
    if len(signed_message) > _OPENED_BYTES_MAX or len(author) != 32:
        return False
    return _sodium_lib.crypto_sign_open(_OPENED, _sodium_ffi.NULL, signed_message,
                                        len(signed_message), author) == 0


def verify_signature(signed: SignedAction) -> None:
    """Ed25519 check of the signature over the bytes as received; SysValidationError if not."""
    if not signature_ok(signed):
        raise SignatureInvalid()


class SignatureInvalid(SysValidationError):
    """Raised when an action's signature does not verify for its author."""

    def __init__(self) -> None:
        super().__init__("signature", "signature does not verify for the author")


def check_position(action: Action) -> None:
    """What the action's own seq says about it: genesis kinds at 0-2 only, prev iff seq > 0."""
    expected_kind = _GENESIS_KIND_AT.get(action.seq)
    if expected_kind is not None and action.KIND != expected_kind:
        raise SysValidationError("genesis", f"seq {action.seq} must be {expected_kind.name}")
    if expected_kind is None and action.KIND in _GENESIS_KINDS:
        raise SysValidationError("genesis", f"{action.KIND.name} only belongs in genesis")
    if action.KIND == _OPEN_CHAIN and action.seq != OPEN_CHAIN_SEQ:
        raise SysValidationError("open_chain", f"OpenChain belongs at seq {OPEN_CHAIN_SEQ}, "
                                 "right after genesis")
    if action.seq == 0 and action.prev is not None:
        raise SysValidationError("prev_action", "the Dna action has no prev")
    if action.seq > 0 and action.prev is None:
        raise SysValidationError("prev_action", "only the Dna action may lack a prev")


def check_against_prev(action: Action, action_hash: bytes, prev: Action | None,
                       prev_hash: bytes | None) -> None:
    """The chain rules between an action and the action before it (None at seq 0)."""
    check_position(action)
    if action.seq == 0:
        return
    if prev is None or prev_hash is None:
        raise SysValidationError("prev_action", "prev action is not given")
    if prev_hash != action.prev:
        raise SysValidationError("prev_action", "prev hash does not match the previous action")
    if prev.author != action.author:
        raise SysValidationError("author", "prev action has another author")
    if action.seq != prev.seq + 1:
        raise SysValidationError("seq", f"seq {action.seq} does not follow {prev.seq}")
    if action.timestamp_us < prev.timestamp_us:
        raise SysValidationError("timestamp", "timestamp is earlier than the previous action's")
    if prev.KIND == _CLOSE_CHAIN:
        raise SysValidationError("closed_chain", "the chain was closed by the previous action")


def check_types(action: Action, dna: DnaTypes) -> None:
    """Entry and link types are declared by the DNA; the Dna action names this DNA."""
    if action.KIND == _DNA:
        if action.dna_hash != dna.dna_hash:  # type: ignore[attr-defined]
            raise SysValidationError("dna_hash", "chain belongs to another DNA")
    elif action.KIND == _AVP:
        proof = action.membrane_proof  # type: ignore[attr-defined]
        check_membrane_proof(proof, author=action.author, avp_timestamp_us=action.timestamp_us,
                             dna_hash=dna.dna_hash, stewards=dna.stewards)
    elif isinstance(action, ENTRY_ACTIONS):
        zomes = dna.entry_visibility
        if action.zome_index >= len(zomes) or action.entry_type_index >= len(
            zomes[action.zome_index]
        ):
            raise SysValidationError("entry_type", "entry type is not declared by the DNA")
        declared = zomes[action.zome_index][action.entry_type_index]
        if action.visibility != declared:
            raise SysValidationError("entry_type", f"entry type is declared {declared.name}")
    elif isinstance(action, CreateLink):
        if action.zome_index >= len(dna.link_type_counts) or (
            action.link_type_index >= dna.link_type_counts[action.zome_index]
        ):
            raise SysValidationError("link_type", "link type is not declared by the DNA")
        check_tag_size(len(action.tag))


def check_tag_size(size: int) -> None:
    """Link tags are at most LINK_TAG_BYTES_MAX bytes."""
    if size > LINK_TAG_BYTES_MAX:
        raise SysValidationError("link_tag_size", f"link tag is {size} bytes; the limit is "
                                                  f"{LINK_TAG_BYTES_MAX}")


def check_entry_size(size: int) -> None:
    """Entries are at most ENTRY_BYTES_MAX bytes."""
    if size > ENTRY_BYTES_MAX:
        raise SysValidationError("entry_size", f"entry is {size} bytes; the limit is "
                                               f"{ENTRY_BYTES_MAX} (1 MiB)")


def check_entry(action: Action, entry: bytes | None, *, received: bool) -> None:
    """The entry beside a Create/Update: size, hash and, from a peer, visibility."""
    expected = action.entry_hash_or_none
    if expected is None:
        if entry is not None:
            raise SysValidationError("entry_hash", f"{action.KIND.name} carries no entry")
        return
    if entry is None:
        return  # an action may travel without its entry (e.g. RegisterAgentActivity)
    if received and writes_private_entry(action):
        raise SysValidationError("private_entry", "a private entry must never leave its node")
    check_entry_size(len(entry))
    if blake2b_256(entry) != expected:
        raise SysValidationError("entry_hash", "entry bytes do not hash to the action's entry hash")


def check_clock(action: Action, now_us: int) -> None:
    """Refuse actions dated too far in the receiver's future."""
    if action.timestamp_us > now_us + CLOCK_DRIFT_MAX_US:
        raise SysValidationError("clock", "timestamp is too far in the future")


def sys_validate(
    signed: SignedAction,
    *,
    prev: SignedAction | None,
    entry: bytes | None,
    dna: DnaTypes,
    received: bool,
    now_us: int | None = None,
    verify: bool = True,
    prev_required: bool = True,
) -> None:
    """All system rules for one action. ``verify=False`` only for actions this node just signed.

    ``prev_required=False`` is for authorities that do not hold the author's chain (StoreRecord,
    StoreEntry, registrations): they check the action's own position, and leave the chain rules
    to the agent-activity authorities, which hold the chain.
    """
    if verify:
        verify_signature(signed)
    action = signed.action
    if prev is None and not prev_required:
        check_position(action)
    else:
        check_against_prev(action, signed.hash, prev.action if prev else None,
                           prev.hash if prev else None)
    check_types(action, dna)
    check_entry(action, entry, received=received)
    if now_us is not None:
        check_clock(action, now_us)
