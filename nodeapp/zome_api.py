"""What a coordinator function can do: write to its agent's chain and read what is held.

Writes are staged in a :class:`Scratch`; nothing reaches the store until the conductor has
validated every staged action exactly as peers will and committed them together. Reads see the
scratch first, then the store, so a function sees its own earlier writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from nodeapp._core.actions import (
    Action,
    CloseChain,
    Create,
    CreateLink,
    Delete,
    DeleteLink,
    OpenChain,
    SignedAction,
    Update,
    Visibility,
    sign_action,
)
from nodeapp._core.hashing import (
    ActionHash,
    AgentPubKey,
    DnaHash,
    EntryHash,
    Hash,
    blake2b_256,
    from_tagged,
)
from nodeapp._core.integrity import (
    IntegrityZome,
    MissingDependency,
    Record,
    decode_entry,
    encode_entry,
)
from nodeapp._core.sys_validation import check_entry_size, check_tag_size
from nodeapp.errors import ZomeCallError
from nodeapp.network_view import NetworkView
from nodeapp.store import ChainHead, SqliteStore, StagedRecord, Status

M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", bound=Hash)


@dataclass
class Scratch:
    """A zome call's staged writes on top of the chain head it started from."""

    initial_head: ChainHead | None
    head_timestamp_us: int
    records: list[StagedRecord] = field(default_factory=list)
    _by_hash: dict[bytes, StagedRecord] = field(default_factory=dict)

    def add(self, record: StagedRecord) -> None:
        """Stage one more record."""
        self.records.append(record)
        self._by_hash[record.signed.hash] = record

    def head(self) -> tuple[int, bytes | None, int]:
        """(seq, hash, timestamp) of the newest action, staged or committed."""
        if self.records:
            last = self.records[-1].signed
            return last.action.seq, last.hash, last.action.timestamp_us
        if self.initial_head is None:
            return -1, None, self.head_timestamp_us
        return self.initial_head.seq, self.initial_head.hash, self.head_timestamp_us

    def find(self, action_hash: bytes) -> StagedRecord | None:
        """A staged record by action hash."""
        return self._by_hash.get(action_hash)


@dataclass(frozen=True)
class Link:
    """A link as coordinator code sees it."""

    base: Hash
    target: Hash
    tag: bytes
    author: AgentPubKey
    create_action: ActionHash
    timestamp_us: int


class LocalContext:
    """``must_get_*`` over the scratch and the local store (own writes, inline validation)."""

    def __init__(self, store: SqliteStore, scratch: Scratch, dna_properties: dict[str, Any],
                 zome_names: tuple[str, ...] = ()):
        self._store, self._scratch, self._props = store, scratch, dna_properties
        self._zome_names = zome_names

    @property
    def dna_properties(self) -> dict[str, Any]:
        return self._props

    @property
    def zome_names(self) -> tuple[str, ...]:
        return self._zome_names

    # hashes are taken as given and checked (_hash_bytes): a zome's mistake must be judged the
    # same way by every node, compiled build or not (docs/architecture.md)
    def must_get_action(self, action_hash: object) -> SignedAction:
        action_hash = _hash_bytes(action_hash, "must_get_action")
        staged = self._scratch.find(action_hash)
        if staged is not None:
            return staged.signed
        found = self._store.get_action(action_hash)
        if found is None or found[1] == Status.REJECTED:
            raise MissingDependency(action_hash)
        return found[0]

    def must_get_entry(self, entry_hash: object) -> bytes:
        entry_hash = _hash_bytes(entry_hash, "must_get_entry")
        for record in self._scratch.records:
            if record.signed.action.entry_hash_or_none == entry_hash and record.entry is not None:
                return record.entry
        found = self._store.get_entry(entry_hash)
        if found is None:
            raise MissingDependency(entry_hash)
        return found

    def must_get_valid_record(self, action_hash: object) -> Record:
        action_hash = _hash_bytes(action_hash, "must_get_valid_record")
        record = valid_record(self._store, self._scratch, action_hash)
        if record is None:
            raise MissingDependency(action_hash)
        if _lacks_public_entry(record):
            # held without its entry (say, as the author's activity): a rule that reads the
            # record must wait for the entry, not judge it as entry-less
            raise MissingDependency(record.signed.action.entry_hash_or_none)  # type: ignore[arg-type]
        return record

    def must_get_agent_activity(self, author: object, until_hash: object
                                ) -> Sequence[SignedAction]:
        author = _hash_bytes(author, "must_get_agent_activity")
        until_hash = _hash_bytes(until_hash, "must_get_agent_activity")
        chain = [s for s, _ in self._store.chain(author)]
        chain += [r.signed for r in self._scratch.records if r.signed.action.author == author]
        for index, signed in enumerate(chain):
            if signed.hash == until_hash:
                return chain[: index + 1]
        raise MissingDependency(until_hash)


class ZomeApi:
    """The functions a coordinator may call (the HDK of this node)."""

    def __init__(self, *, zome: IntegrityZome, zome_index: int, agent: bytes,
                 sign: Callable[[bytes], bytes], now_us: int, store: SqliteStore,
                 scratch: Scratch, all_zomes: Sequence[IntegrityZome],
                 dna_properties: dict[str, Any] | None = None,
                 caller: bytes | None = None, view: NetworkView | None = None) -> None:
        self._zome, self._zome_index = zome, zome_index
        self._sign, self._store, self._scratch = sign, store, scratch
        self._all_zomes = all_zomes
        self.agent = AgentPubKey(agent)
        self.now_us = now_us
        self.dna_properties: dict[str, Any] = dna_properties or {}
        # who asked: this agent for its own calls, a peer for a remote call
        self.caller = AgentPubKey(caller) if caller is not None else self.agent
        self._view = view  # None: reads are local only (no network, or a test)

    def zome(self, name: str) -> ZomeApi:
        """The same call's API writing through another zome of the DNA: one call may write
        entries of several zomes (say, a custody transfer and the event that records it), and
        they are validated and committed together."""
        for index, zome in enumerate(self._all_zomes):
            if zome.name == name:
                return ZomeApi(zome=zome, zome_index=index, agent=self.agent.raw,
                               sign=self._sign, now_us=self.now_us, store=self._store,
                               scratch=self._scratch, all_zomes=self._all_zomes,
                               dna_properties=self.dna_properties, caller=self.caller.raw,
                               view=self._view)
        raise ZomeCallError(f"this DNA has no zome named {name!r}")

    # --- writes ------------------------------------------------------------------------

    def _append(self, build: Callable[[int, bytes, int], Action], entry: bytes | None = None
                ) -> ActionHash:
        seq, prev, head_ts = self._scratch.head()
        if prev is None:
            raise ZomeCallError("the chain has no genesis yet: create or join a network first")
        # a clock that stepped back must not make our own action invalid
        signed = sign_action(build(seq + 1, prev, max(self.now_us, head_ts)), self._sign)
        self._scratch.add(StagedRecord(signed, entry))
        return ActionHash(signed.hash)

    def _entry_type(self, entry: BaseModel) -> tuple[int, Any]:
        for index, entry_def in enumerate(self._zome.entry_defs):
            if type(entry) is entry_def.model:
                return index, entry_def
        raise ZomeCallError(f"{type(entry).__name__} is not an entry type of {self._zome.name}")

    def _encode(self, entry: BaseModel) -> bytes:
        data = encode_entry(entry)
        check_entry_size(len(data))  # before it is hashed and signed
        return data

    def create_entry(self, entry: BaseModel) -> ActionHash:
        """Write a new entry of one of this zome's types."""
        index, entry_def = self._entry_type(entry)
        data = self._encode(entry)
        entry_hash = blake2b_256(data)
        return self._append(lambda seq, prev, ts: Create(
            self.agent.raw, seq, prev, ts, self._zome_index, index, entry_def.visibility,
            entry_hash), data)

    # hash parameters are typed Hash and their kind checked here (_expect), so a zome that
    # passes the wrong kind gets the same clear ZomeCallError from either build
    def update_entry(self, original: Hash, entry: BaseModel) -> ActionHash:
        """Write a new version of the entry ``original`` (an ActionHash) created."""
        original = _expect(original, ActionHash, "update_entry")
        old = self._must_get(original).action
        if not isinstance(old, Create | Update):
            raise ZomeCallError("only a Create or Update can be updated")
        index, entry_def = self._entry_type(entry)
        data = self._encode(entry)
        entry_hash = blake2b_256(data)
        return self._append(lambda seq, prev, ts: Update(
            self.agent.raw, seq, prev, ts, self._zome_index, index, entry_def.visibility,
            entry_hash, original.raw, old.entry_hash), data)

    def delete_entry(self, target: Hash) -> ActionHash:
        """Mark the Create or Update ``target`` (an ActionHash) as deleted."""
        target = _expect(target, ActionHash, "delete_entry")
        old = self._must_get(target).action
        if not isinstance(old, Create | Update):
            raise ZomeCallError("only a Create or Update can be deleted")
        return self._append(lambda seq, prev, ts: Delete(
            self.agent.raw, seq, prev, ts, target.raw, old.entry_hash))

    def create_link(self, base: Hash, target: Hash, link_type: str, tag: object = b""
                    ) -> ActionHash:
        """Link ``base`` to ``target`` with one of this zome's link types; ``tag`` is bytes."""
        type_index = self._link_type_index(link_type)
        base, target = _expect(base, Hash, "create_link"), _expect(target, Hash, "create_link")
        tag = _tag_bytes(tag, "create_link")
        check_tag_size(len(tag))
        return self._append(lambda seq, prev, ts: CreateLink(
            self.agent.raw, seq, prev, ts, base.tagged(), target.tagged(), self._zome_index,
            type_index, tag))

    def delete_link(self, create_link: Hash) -> ActionHash:
        """Remove the link the CreateLink ``create_link`` (an ActionHash) made."""
        create_link = _expect(create_link, ActionHash, "delete_link")
        old = self._must_get(create_link).action
        if not isinstance(old, CreateLink):
            raise ZomeCallError("only a CreateLink can be removed with delete_link")
        return self._append(lambda seq, prev, ts: DeleteLink(
            self.agent.raw, seq, prev, ts, old.base, create_link.raw))

    # targets are typed Hash: a hash of another kind gets the clear refusal below
    def close_chain(self, new_target: Hash | None = None) -> ActionHash:
        """Close this agent's chain in this DNA: nothing can be written after it. ``new_target``
        names where the agent goes on (a new DNA version, or a new key), if anywhere."""
        target = None if new_target is None else _migration_target(new_target, "moves on to")
        return self._append(lambda seq, prev, ts: CloseChain(self.agent.raw, seq, prev, ts,
                                                             target))

    def open_chain(self, prev_target: Hash, close_hash: Hash) -> ActionHash:
        """Say, as the first write after genesis, that this chain goes on from a closed one:
        the DNA or agent it came from and the hash of that chain's CloseChain."""
        target = _migration_target(prev_target, "goes on from")
        close_hash = _expect(close_hash, ActionHash, "open_chain")
        return self._append(lambda seq, prev, ts: OpenChain(self.agent.raw, seq, prev, ts,
                                                            target, close_hash.raw))

    def _link_type_index(self, link_type: str) -> int:
        try:
            return self._zome.link_type_index(link_type)
        except KeyError:
            raise ZomeCallError(f"{self._zome.name} has no link type {link_type!r}") from None

    # --- reads -------------------------------------------------------------------------

    def _must_get(self, action_hash: ActionHash) -> SignedAction:
        record = self.get(action_hash)
        if record is None:
            raise ZomeCallError(f"{action_hash} is not held by this node")
        return record.signed

    def get(self, target: Hash) -> Record | None:
        """The record of an action, or of the first action that wrote an entry (an ActionHash or
        an EntryHash); on a running node, from the network when this node does not hold it."""
        target = _expect(target, ActionHash | EntryHash, "get")
        found = self._get_local(target)
        if self._view is not None and (found is None or _lacks_public_entry(found)):
            self._view.want_record(target.raw)  # e.g. held as agent activity, without entry
        return found

    def _get_local(self, target: ActionHash | EntryHash) -> Record | None:
        if isinstance(target, EntryHash):
            for staged in self._scratch.records:
                if staged.signed.action.entry_hash_or_none == target.raw:
                    return Record(staged.signed, staged.entry)
            first = self._store.first_action_for_entry(target.raw)
            if first is None:
                return None
            return Record(first, self._store.get_entry(target.raw))
        return valid_record(self._store, self._scratch, target.raw)

    def get_entry(self, target: Hash, model: type[M]) -> M | None:
        """The entry an action (or the first action that wrote an entry) wrote, decoded into
        ``model``; None if not held."""
        record = self.get(target)
        if record is None or record.entry is None:
            return None
        action = record.signed.action
        for zome_index, zome in enumerate(self._all_zomes):
            for type_index, entry_def in enumerate(zome.entry_defs):
                if entry_def.model is model:
                    if not isinstance(action, Create | Update) or (
                        action.zome_index, action.entry_type_index) != (zome_index, type_index):
                        return None  # that action wrote another type of entry
                    return decode_entry(record.entry, entry_def)  # type: ignore[return-value]
        raise ZomeCallError(f"{model.__name__} is not an entry type of this DNA")

    def is_deleted(self, target: Hash) -> bool:
        """Whether a valid Delete of ``target`` (an ActionHash) is held (or staged)."""
        target = _expect(target, ActionHash, "is_deleted")
        staged = any(isinstance(r.signed.action, Delete) and
                     r.signed.action.deletes_action == target.raw for r in self._scratch.records)
        return staged or bool(self._store.deletes_of(target.raw))

    def get_links(self, base: Hash, link_type: str, tag_prefix: object = b"") -> list[Link]:
        """Live links of one of this zome's types from ``base``, oldest first; on a running
        node that is not an authority for ``base``, the authorities' links too."""
        type_index = self._link_type_index(link_type)
        base = _expect(base, Hash, "get_links")
        tag_prefix = _tag_bytes(tag_prefix, "get_links")
        tagged = base.tagged()
        view = self._view
        if view is not None and not view.is_authority(base.location):
            view.want_links((tagged, self._zome_index, type_index, tag_prefix))
        links = [Link(from_tagged(s.base), from_tagged(s.target), s.tag, AgentPubKey(s.author),
                      ActionHash(s.create_action), s.timestamp_us)
                 for s in self._store.get_links(tagged, self._zome_index, type_index, tag_prefix)]
        removed = set()
        for staged in self._scratch.records:
            action = staged.signed.action
            if (isinstance(action, CreateLink) and action.base == tagged
                    and action.zome_index == self._zome_index
                    and action.link_type_index == type_index and action.tag.startswith(tag_prefix)):
                links.append(Link(base, from_tagged(action.target), action.tag, self.agent,
                                  ActionHash(staged.signed.hash), action.timestamp_us))
            elif isinstance(action, DeleteLink):
                removed.add(action.link_add_address)
        return [link for link in links if link.create_action.raw not in removed]

    def get_agent_activity(self, agent: Hash) -> list[SignedAction]:
        """An agent's chain of actions (no entries), oldest first, as far as it is known; on
        a running node that is not one of the agent's activity authorities, theirs."""
        agent = _expect(agent, AgentPubKey, "get_agent_activity")
        view = self._view
        if view is not None and agent != self.agent and not view.is_authority(agent.location):
            view.want_activity(agent.raw)
        chain = [signed for signed, status in self._store.chain(agent.raw)
                 if status == Status.VALID]
        if agent == self.agent:
            chain += [r.signed for r in self._scratch.records]
        return chain

    def query(self, entry_type: str | None = None) -> list[Record]:
        """This agent's own chain (committed, then staged), optionally one entry type only."""
        records = []
        for signed, _status in self._store.chain(self.agent.raw):
            records.append(Record(signed, self._store.entry_of(signed)))
        records += [Record(r.signed, r.entry) for r in self._scratch.records]
        if entry_type is None:
            return records
        try:
            index = self._zome.entry_type_index(entry_type)
        except KeyError:
            raise ZomeCallError(f"{self._zome.name} has no entry type {entry_type!r}") from None
        return [r for r in records if isinstance(r.signed.action, Create | Update)
                and r.signed.action.zome_index == self._zome_index
                and r.signed.action.entry_type_index == index]


def valid_record(store: SqliteStore, scratch: Scratch, action_hash: bytes) -> Record | None:
    """A staged record, or a valid one held in the store (with its entry if held)."""
    staged = scratch.find(action_hash)
    if staged is not None:
        return Record(staged.signed, staged.entry)
    found = store.get_action(action_hash)
    if found is None or found[1] != Status.VALID:
        return None
    return Record(found[0], store.entry_of(found[0]))


def _lacks_public_entry(record: Record) -> bool:
    action = record.signed.action
    return (record.entry is None and isinstance(action, Create | Update)
            and action.visibility == Visibility.PUBLIC)


def _migration_target(target: Hash, how: str) -> bytes:
    """The tagged form of where a chain moves on to or comes from: a DNA or an agent only."""
    if not isinstance(target, DnaHash | AgentPubKey):
        raise ZomeCallError(f"a chain {how} a DNA hash or an agent key, not "
                            f"{type(target).__name__}")
    return target.tagged()



def _expect(value: object, kind: type[H] | UnionType, method: str) -> H:
    """``value`` if it is a hash of ``kind``; else a ZomeCallError naming what was given."""
    if not isinstance(value, kind):
        kinds = cast(tuple[type, ...], getattr(kind, "__args__", (kind,)))  # a union's members
        wanted = " or ".join(k.__name__ for k in kinds)
        raise ZomeCallError(f"{method} takes {_a(wanted)}, not {type(value).__name__}")
    return value  # type: ignore[return-value]  # isinstance narrowed it to kind


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "AEIOU" else f"a {noun}"


def _tag_bytes(tag: object, method: str) -> bytes:
    """A link tag is bytes: a str would be signed into the action and break every read of it."""
    if type(tag) is not bytes:
        raise ZomeCallError(f"{method} takes its tag as bytes, not {type(tag).__name__}")
    return tag


def _hash_bytes(value: object, method: str) -> bytes:
    """A raw 32-byte hash as validation reads take them; anything else is the zome's mistake,
    which its validate call is judged Invalid for (app_validation._call)."""
    if type(value) is not bytes or len(value) != 32:
        raise TypeError(f"{method} takes a hash as 32 bytes, not {type(value).__name__}"
                        + (f" of {len(value)}" if type(value) is bytes else ""))
    return value
