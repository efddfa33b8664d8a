"""Callable functions of the example notes zome."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from nodeapp._core.hashing import ActionHash, AgentPubKey, parse_hash
from nodeapp.coordinator import Coordinator
from nodeapp.zome_api import ZomeApi
from zomes.example.integrity import ZOME, Note, PrivateNote

COORDINATOR = Coordinator(ZOME)


class CreateNoteInput(BaseModel):
    """A note to write; ``index_by_author`` also links it from the author's key."""

    model_config = ConfigDict(extra="forbid")
    title: str
    body: str = ""
    index_by_author: bool = True


class UpdateNoteInput(BaseModel):
    """A new version of a note."""

    model_config = ConfigDict(extra="forbid")
    original: str
    title: str
    body: str = ""


class NoteRef(BaseModel):
    """Names one note action."""

    model_config = ConfigDict(extra="forbid")
    note: str


class CloseChainInput(BaseModel):
    """Where the agent goes on, if anywhere: a printable DNA hash or agent key."""

    model_config = ConfigDict(extra="forbid")
    new_target: str | None = None


class OpenChainInput(BaseModel):
    """Where this chain comes from: a printable DNA hash or agent key, and the CloseChain
    action that ended the chain there."""

    model_config = ConfigDict(extra="forbid")
    prev_target: str
    close_hash: str


class AgentRef(BaseModel):
    """Names one agent."""

    model_config = ConfigDict(extra="forbid")
    agent: str


class PrivateNoteInput(BaseModel):
    """Text for a private note."""

    model_config = ConfigDict(extra="forbid")
    text: str


class NoteOutput(BaseModel):
    """A note as read back."""

    action: str
    author: str
    title: str
    body: str


@COORDINATOR.function
def create_note(api: ZomeApi, note: CreateNoteInput) -> ActionHash:
    """Write a public note."""
    created = api.create_entry(Note(title=note.title, body=note.body))
    if note.index_by_author:
        api.create_link(api.agent, created, "AuthorToNotes")
    return created


@COORDINATOR.function
def update_note(api: ZomeApi, update: UpdateNoteInput) -> ActionHash:
    """Write a new version of one of my notes."""
    return api.update_entry(ActionHash.parse(update.original),
                            Note(title=update.title, body=update.body))


@COORDINATOR.function
def delete_note(api: ZomeApi, ref: NoteRef) -> ActionHash:
    """Delete one of my notes."""
    return api.delete_entry(ActionHash.parse(ref.note))


@COORDINATOR.function
def get_note(api: ZomeApi, ref: NoteRef) -> NoteOutput | None:
    """A note by its action hash; None if unknown or deleted."""
    action = ActionHash.parse(ref.note)
    note = api.get_entry(action, Note)
    if note is None or api.is_deleted(action):
        return None
    record = api.get(action)
    assert record is not None
    return NoteOutput(action=str(action), author=str(AgentPubKey(record.signed.action.author)),
                      title=note.title, body=note.body)


@COORDINATOR.function
def notes_by_author(api: ZomeApi, ref: AgentRef) -> list[str]:
    """Action hashes of an author's indexed notes that are not deleted."""
    links = api.get_links(AgentPubKey.parse(ref.agent), "AuthorToNotes")
    return [str(link.target) for link in links
            if isinstance(link.target, ActionHash) and not api.is_deleted(link.target)]


@COORDINATOR.function
def save_private_note(api: ZomeApi, note: PrivateNoteInput) -> ActionHash:
    """Write a note that stays on this node."""
    return api.create_entry(PrivateNote(text=note.text))


@COORDINATOR.function
def my_private_notes(api: ZomeApi) -> list[str]:
    """Texts of my private notes, oldest first."""
    out = []
    for record in api.query("PrivateNote"):
        note = api.get_entry(ActionHash(record.signed.hash), PrivateNote)
        if note is not None:
            out.append(note.text)
    return out


@COORDINATOR.remote
def private_note_count(api: ZomeApi) -> int:
    """How many private notes I keep: a question any member may ask my node (``nodeapp call
    --to``); the notes themselves stay here."""
    return len(api.query("PrivateNote"))


@COORDINATOR.function
def chain_length_of(api: ZomeApi, ref: AgentRef) -> int:
    """How many actions an agent's chain holds, as its activity authorities know it."""
    return len(api.get_agent_activity(AgentPubKey.parse(ref.agent)))


@COORDINATOR.function
def close_chain(api: ZomeApi, where: CloseChainInput) -> ActionHash:
    """Close my chain in this network (nothing can be written after it)."""
    target = None if where.new_target is None else parse_hash(where.new_target)
    return api.close_chain(target)  # type: ignore[arg-type]  # the API refuses other kinds


@COORDINATOR.function
def open_chain(api: ZomeApi, where: OpenChainInput) -> ActionHash:
    """Say that my chain here goes on from one closed elsewhere (first write after genesis)."""
    return api.open_chain(parse_hash(where.prev_target),  # type: ignore[arg-type]
                          ActionHash.parse(where.close_hash))
