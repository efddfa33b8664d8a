"""The conductor: runs zome calls and judges received data, for one agent in one DNA.

A zome call: parse the typed input -> run the coordinator function against a scratch space ->
validate every staged action exactly as peers will (system, then app) -> commit all of them in one
transaction with a compare-and-swap on the chain head -> (later) publish their ops. If another
writer moved the head meanwhile, the call is run again from the new head, a bounded number of
times. A call that fails at any step writes nothing.

Received records take the same validation path, in batches, and are stored with their status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nacl.bindings import crypto_sign
from pydantic import ValidationError as PydanticValidationError

from dna.loader import LoadedDna
from nodeapp._core.actions import (
    AgentValidationPkg,
    Dna,
    InitZomesComplete,
    SignedAction,
    sign_action,
    signed_action_from_parts,
)
from nodeapp._core.app_validation import app_validate
from nodeapp._core.hashing import blake2b_256
from nodeapp._core.integrity import Invalid, Unresolved, Valid
from nodeapp._core.ops import OpType, op_mask, op_types_and_mask, op_types_for
from nodeapp._core.sys_validation import (
    SignatureInvalid,
    signature_ok,
    sys_validate,
    verify_signature,
)
from nodeapp.coordinator import Coordinator, ZomeFunction, to_jsonable
from nodeapp.errors import (
    AppValidationError,
    ChainHeadMoved,
    MalformedData,
    NodeError,
    SysValidationError,
    UnresolvedDependencies,
    ZomeCallError,
)
from nodeapp.gc_pause import collector_paused
from nodeapp.keystore import AgentKey
from nodeapp.network_view import NetworkReadsNeeded, NetworkView
from nodeapp.store import ChainHead, SqliteStore, StagedRecord, Status
from nodeapp.zome_api import LocalContext, Scratch, ZomeApi

CALL_ATTEMPTS_MAX = 8

# read once: an enum member read through its class costs ~70 ns in Python 3.11, and ingest
# reads these for every record received
_ACTIVITY = OpType.REGISTER_AGENT_ACTIVITY
_VALID = Status.VALID
_RECORD_TYPES = (list, tuple)  # what a received record may be (isinstance: faster than a union)


def wall_clock_us() -> int:
    """Microseconds since the Unix epoch."""
    return time.time_ns() // 1000


def make_signer(key: AgentKey) -> Callable[[bytes], bytes]:
    """A fast detached Ed25519 signer for the agent's key."""
    secret = key.signing_key._signing_key  # the 64-byte libsodium secret key

    def sign(data: bytes) -> bytes:
        return crypto_sign(data, secret)[:64]

    return sign


@dataclass
class IngestReport:
    """What happened to a batch of received records."""

    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[bytes | None, str]] = field(default_factory=list)
    unresolved: list[tuple[bytes, tuple[bytes, ...]]] = field(default_factory=list)
    stored_hashes: list[bytes] = field(default_factory=list)
    duplicate_hashes: list[bytes] = field(default_factory=list)
    # every action named above (stored, more ops, duplicate), decoded, with the op bit set
    # held for it now: callers need not read back what was just written
    held: dict[bytes, tuple[SignedAction, int]] = field(default_factory=dict)
    more_ops: list[tuple[bytes, int]] = field(default_factory=list)
    forks: list[tuple[bytes, bytes]] = field(default_factory=list)  # (held, new) same seq


class Conductor:
    """One agent running one DNA over one store."""

    def __init__(self, store: SqliteStore, dna: LoadedDna, key: AgentKey,
                 clock_us: Callable[[], int] = wall_clock_us) -> None:
        self.store, self.dna, self.key = store, dna, key
        self.agent = key.public_key
        self.clock_us = clock_us
        self._sign = make_signer(key)
        self._zome_names = tuple(zome.name for zome in dna.zomes)
        self._zome_indexes = {name: index for index, name in enumerate(self._zome_names)}
        # our chain head as last seen; a stale cache is caught by the commit's compare-and-swap
        self._head: tuple[ChainHead, SignedAction] | None = None

    def _load_head(self) -> tuple[ChainHead, SignedAction] | None:
        if self._head is None:
            head = self.store.chain_head(self.agent)
            found = self.store.get_action(head.hash) if head else None
            if head is not None and found is not None:
                self._head = (head, found[0])
        return self._head

    def _commit(self, scratch: Scratch) -> None:
        try:
            self.store.commit_own(self.agent, scratch.records, scratch.initial_head)
        except ChainHeadMoved:
            self._head = None
            raise
        last = scratch.records[-1].signed
        self._head = (ChainHead(last.action.seq, last.hash), last)

    def sign(self, data: bytes) -> bytes:
        """The agent's detached signature over ``data`` (receipts, warrants, invites)."""
        return self._sign(data)

    # --- genesis -----------------------------------------------------------------------

    @property
    def has_genesis(self) -> bool:
        """Whether this agent's chain exists."""
        return self.store.chain_head(self.agent) is not None

    def genesis(self, membrane_proof: bytes | None = None) -> None:
        """Write Dna, AgentValidationPkg (with the membrane proof) and InitZomesComplete."""
        if self.has_genesis:
            raise ZomeCallError("this agent's chain already has its genesis")
        now = self.clock_us()
        scratch = Scratch(None, now)
        builders = (
            lambda prev: Dna(self.agent, 0, None, now, self.dna.hash),
            lambda prev: AgentValidationPkg(self.agent, 1, prev, now, membrane_proof),
            lambda prev: InitZomesComplete(self.agent, 2, prev, now),
        )
        prev: bytes | None = None
        for build in builders:
            signed = sign_action(build(prev), self._sign)
            scratch.add(StagedRecord(signed, None))
            prev = signed.hash
        self._validate_staged(scratch, None)
        self._commit(scratch)

    # --- zome calls --------------------------------------------------------------------

    def coordinator(self, zome: str) -> Coordinator:
        """The coordinator of a zome in this DNA."""
        module = self.dna.coordinators.get(zome)
        if module is None:
            known = ", ".join(sorted(self.dna.coordinators)) or "none"
            raise ZomeCallError(f"no zome named {zome!r} in this DNA (it has: {known})")
        return module.COORDINATOR

    def call(self, zome: str, fn: str, payload: Any = None, *, caller: bytes | None = None,
             view: NetworkView | None = None) -> Any:
        """Run a zome function and commit what it wrote; returns its output as given.

        ``caller`` is the agent a remote call came from (authenticated by the transport); only
        functions registered with ``remote`` take such calls, and they may not write. With a
        ``view`` (a running node), reads the store cannot answer are noted there; if any were,
        nothing is committed and NetworkReadsNeeded is raised (see :mod:`nodeapp.network_view`).
        """
        function = self.coordinator(zome).get(fn)
        remote = caller is not None and caller != self.agent
        if remote and not function.remote:
            raise ZomeCallError(f"{zome}.{fn} is not open to calls from other agents")
        parsed = function.parse_input(payload)
        zome_index = self._zome_indexes[zome]  # known: coordinator() found it
        for _attempt in range(CALL_ATTEMPTS_MAX):
            loaded = self._load_head()
            if loaded is None:
                raise ZomeCallError("the chain has no genesis yet: create or join a network first")
            head, head_action = loaded
            scratch = Scratch(head, head_action.action.timestamp_us)
            api = ZomeApi(zome=self.dna.zomes[zome_index], zome_index=zome_index,
                          agent=self.agent, sign=self._sign, now_us=self.clock_us(),
                          store=self.store, scratch=scratch, all_zomes=self.dna.zomes,
                          dna_properties=self.dna.manifest.properties, caller=caller,
                          view=view)
            try:
                output = self._run_function(zome, function, api, parsed)
                if view is not None and view.wants:
                    raise NetworkReadsNeeded()
                if not scratch.records:
                    return output
                if remote:
                    raise ZomeCallError(f"{zome}.{fn} tried to write during a call from "
                                        "another agent; remote calls are read-only")
                self._validate_staged(scratch, head_action, view)
            except NodeError:
                if view is not None and view.wants:  # it may have failed for want of data
                    raise NetworkReadsNeeded() from None
                raise
            try:
                self._commit(scratch)
            except ChainHeadMoved:
                continue
            return output
        raise ChainHeadMoved(f"gave up after {CALL_ATTEMPTS_MAX} attempts: the chain kept moving")

    @staticmethod
    def _run_function(zome: str, function: ZomeFunction, api: ZomeApi, parsed: Any) -> Any:
        """Run coordinator code; its failures become one typed error naming the function."""
        try:
            if function.input_model is None:
                return function.fn(api)
            return function.fn(api, parsed)
        except NodeError:
            raise
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ZomeCallError(f"{zome}.{function.name}: {exc.title}.{where}: {first['msg']}"
                                ) from exc
        except Exception as exc:  # noqa: BLE001 - coordinator code is the zome author's
            raise ZomeCallError(f"{zome}.{function.name} failed: {type(exc).__name__}: {exc}"
                                ) from exc

    def call_json(self, zome: str, fn: str, payload: Any = None, *,
                  caller: bytes | None = None, view: NetworkView | None = None) -> Any:
        """Like :meth:`call`, with the output as plain JSON data."""
        return to_jsonable(self.call(zome, fn, payload, caller=caller, view=view))

    def _validate_staged(self, scratch: Scratch, prev: SignedAction | None,
                         view: NetworkView | None = None) -> None:
        """Own writes get the validation peers will run (our own signatures need no check);
        dependencies they cite that are not held are wanted from the network, given a view."""
        ctx = self._context(scratch)
        for record in scratch.records:
            sys_validate(record.signed, prev=prev, entry=record.entry, dna=self.dna.types,
                         received=False, verify=False)
            result = app_validate(record.op_types(), record.signed, record.entry,
                                  self.dna.zomes, ctx)
            if isinstance(result, Invalid):
                raise AppValidationError("app", result.reason)
            if isinstance(result, Unresolved):
                if view is not None:
                    for dep in result.deps:
                        view.want_record(dep)
                raise UnresolvedDependencies([d.hex()[:16] for d in result.deps])
            prev = record.signed

    # --- received data -----------------------------------------------------------------

    # items are typed as received: each is checked below, one bad item spoils no other
    def ingest(self, items: Sequence[object],
               held_ops: Callable[[SignedAction], tuple[OpType, ...]] | None = None,
               *, all_or_nothing: bool = False) -> IngestReport:
        """Validate received (action bytes, signature, entry bytes or None) triples, as a frame
        carries them, and store the valid ones in one transaction.

        ``held_ops(action)`` says which of an action's ops this node keeps (the ones it is an
        authority for); by default all of them. Only agent-activity authorities need the
        author's previous action and check the chain rules; the others check the action's
        own position. Invalid and undecodable items are reported, never stored; items whose
        dependencies are missing are reported unresolved. With ``all_or_nothing`` one such item
        keeps the whole batch out (a newcomer's genesis is admitted whole or not at all).
        """
        report = IngestReport()
        decoded: list[tuple[SignedAction, bytes | None]] = []
        with collector_paused():  # decoding allocates as much as judging (see gc_pause)
            for item in items:
                try:
                    if not isinstance(item, _RECORD_TYPES) or len(item) != 3:
                        raise MalformedData("a record is [action_bytes, signature, entry or null]")
                    action_bytes, signature, entry = item
                    if entry is not None and type(entry) is not bytes:
                        raise MalformedData("an entry must be a byte string or null")
                    decoded.append((signed_action_from_parts(action_bytes, signature), entry))
                except MalformedData as exc:
                    report.rejected.append((None, f"malformed: {exc}"))
            return self._judge_and_store(decoded, held_ops, all_or_nothing, report)

    def ingest_decoded(self, decoded: list[tuple[SignedAction, bytes | None]],
                       held_ops: Callable[[SignedAction], tuple[OpType, ...]] | None = None,
                       *, all_or_nothing: bool = False) -> IngestReport:
        """:meth:`ingest` for records the caller has already decoded (and, being a network
        layer, filtered): decoding is not done twice on the receive path."""
        with collector_paused():  # a batch's objects die with it (see gc_pause)
            return self._judge_and_store(decoded, held_ops, all_or_nothing, IngestReport())

    def _judge_and_store(self, decoded: list[tuple[SignedAction, bytes | None]],
                         held_ops: Callable[[SignedAction], tuple[OpType, ...]] | None,
                         all_or_nothing: bool, report: IngestReport) -> IngestReport:
        """Validate decoded records and store the valid ones (see :meth:`ingest`)."""
        batch = Scratch(None, 0)
        ctx = self._context(batch)
        now = self.clock_us()
        decoded = list(decoded)
        # in seq order (stable), so every prev inside the batch is judged before what follows it
        decoded.sort(key=lambda item: item[0].action.seq)
        marker = self.store.write_marker()  # before the read that store_received relies on
        held = self.store.held_masks([signed.hash for signed, _ in decoded])
        types, zomes = self.dna.types, self.dna.zomes
        forged = self._forged_among(decoded, held)
        more_entries: dict[bytes, bytes] = {}  # entries of actions held without them
        chained: list[SignedAction] = []  # staged, and held as part of the author's chain
        for signed, entry in decoded:
            if held_ops is None:
                ops, mask = op_types_and_mask(signed.action)
            else:
                ops = held_ops(signed)
                mask = op_mask(ops)
            stored_mask = held.get(signed.hash)
            if batch.find(signed.hash) is not None or (
                stored_mask is not None and mask & ~stored_mask == 0
            ):
                report.duplicates += 1
                report.duplicate_hashes.append(signed.hash)
                report.held.setdefault(signed.hash, (signed, stored_mask or mask))
                continue
            needs_chain = _ACTIVITY in ops
            prev_hash = signed.action.prev
            prev = None if prev_hash is None else self._find_prev(prev_hash, batch)
            waits = needs_chain and prev_hash is not None and prev is None
            try:
                if signed.hash in forged:
                    raise SignatureInvalid()
                # a record that waits for its prev is first held to every rule the prev is not
                # needed for: nothing forged or oversize is kept waiting (callers park it)
                sys_validate(signed, prev=prev, entry=entry, dna=types, received=True, now_us=now,
                             prev_required=needs_chain and not waits, verify=False)
            except SysValidationError as exc:
                report.rejected.append((signed.hash, str(exc)))
                continue
            if waits and prev_hash is not None:  # (waits implies it: said again for mypy)
                report.unresolved.append((signed.hash, (prev_hash,)))
                continue
            result = app_validate(ops, signed, entry, zomes, ctx)
            if type(result) is Valid:
                if stored_mask is not None:
                    report.more_ops.append((signed.hash, mask | stored_mask))
                    report.held[signed.hash] = (signed, mask | stored_mask)
                    if entry is not None:
                        more_entries[signed.hash] = entry
                else:
                    batch.add(StagedRecord(signed, entry, _VALID, ops))
                    report.held[signed.hash] = (signed, mask)
                    if needs_chain:
                        chained.append(signed)
            elif isinstance(result, Invalid):
                report.rejected.append((signed.hash, f"app: {result.reason}"))
            elif isinstance(result, Unresolved):
                report.unresolved.append((signed.hash, result.deps))
        if all_or_nothing and (report.rejected or report.unresolved):
            return report
        report.stored = self.store.store_received(batch.records, not_held_at=marker)
        self.store.hold_more([(report.held[h][0], mask, more_entries.get(h))
                              for h, mask in report.more_ops])
        report.stored_hashes = [r.signed.hash for r in batch.records]
        report.forks = self.store.forks_among(chained)
        return report

    @staticmethod
    def _forged_among(decoded: list[tuple[SignedAction, bytes | None]],
                      held: dict[bytes, int]) -> set[bytes]:
        """Hashes of the records whose signature does not verify, among those not held yet.

        All signatures of a batch are checked here, back to back, before anything else is
        judged: a tight loop keeps libsodium's tables in the CPU caches, which saves ~10% of a
        verify compared with one verify between each record's other checks."""
        forged = set()
        seen = set()
        for signed, _entry in decoded:
            if signed.hash in held or signed.hash in seen:
                continue  # held already (checked when stored) or checked just now
            seen.add(signed.hash)
            if not signature_ok(signed):
                forged.add(signed.hash)
        return forged

    def proves_misbehaviour(self, kind: int, agent: bytes,
                            proof: Sequence[tuple[bytes, bytes, bytes | None]]) -> bool:
        """Whether a warrant's proof holds here and now (see :meth:`judge_proof`)."""
        return self.judge_proof(kind, agent, proof) is True

    def judge_proof(self, kind: int, agent: bytes,
                    proof: Sequence[tuple[bytes, bytes, bytes | None]]) -> bool | Unresolved:
        """Whether a warrant's proof holds: re-run the deterministic checks on it. Unresolved
        when the invalid record cites data not held here yet (fetch it, then judge again).

        kind 0 (invalid op): one record by ``agent`` that fails validation here, optionally
        followed by the record it names as its prev (for the chain rules: seq, timestamp,
        closed_chain). kind 1 (chain fork): two different records by ``agent`` at one
        seq. Records that do not verify as the agent's own prove nothing.
        """
        try:
            signed = [signed_action_from_parts(a, s) for a, s, _ in proof]
            for one in signed:
                verify_signature(one)
        except (MalformedData, SysValidationError):
            return False
        if any(one.action.author != agent for one in signed):
            return False
        if kind == 1:
            return (len(signed) == 2 and signed[0].hash != signed[1].hash
                    and signed[0].action.seq == signed[1].action.seq)
        if kind != 0 or not 1 <= len(signed) <= 2:
            return False
        prev = signed[1] if len(signed) == 2 else None
        if prev is not None and prev.hash != signed[0].action.prev:
            # only the record it names as its prev: any other of the agent's records would
            # "break" the prev rule, and convict an honest agent
            return False
        entry = proof[0][2]
        if entry is not None and (signed[0].action.entry_hash_or_none is None or
                                  blake2b_256(entry) != signed[0].action.entry_hash_or_none):
            # the author signed an entry hash, not these bytes: anyone can attach junk to an
            # honest record, which would then "fail" the entry_hash rule
            return False
        try:
            # received=False: a private entry shown here says that someone has its bytes (a
            # guess of a short text will do), not that its author broke a rule
            sys_validate(signed[0], prev=prev, entry=entry, dna=self.dna.types, received=False,
                         verify=False, prev_required=prev is not None)
        except SysValidationError:
            return True
        ctx = self._context(Scratch(None, 0))
        result = app_validate(op_types_for(signed[0].action), signed[0], entry, self.dna.zomes,
                              ctx)
        return result if isinstance(result, Unresolved) else isinstance(result, Invalid)

    def _context(self, scratch: Scratch) -> LocalContext:
        """What ``validate`` may read: the scratch, then the store."""
        return LocalContext(self.store, scratch, self.dna.manifest.properties,
                            self._zome_names)

    def _find_prev(self, prev_hash: bytes, batch: Scratch) -> SignedAction | None:
        staged = batch.find(prev_hash)
        if staged is not None:
            return staged.signed
        found = self.store.get_action(prev_hash)
        return found[0] if found and found[1] == _VALID else None
