"""Integrity of the example notes zome.

Entry types: ``Note`` (public), ``PrivateNote`` (private). Link types: ``AuthorToNotes``.
Rules (checked by every peer, whatever coordinator wrote the entry):
* a note's title is 1-200 characters, its body at most 64 KiB of text;
* only a note's author may update or delete it, and an update must replace a Note;
* ``AuthorToNotes`` links start at their author's own agent key and point at an action;
* a link may only be deleted by the agent who created it.
System validation has already checked signatures, chain order, entry hashes and sizes, and that
entry and link types exist.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nodeapp._core.actions import Create, CreateLink, Delete, DeleteLink, Update, Visibility
from nodeapp._core.hashing import HashKind
from nodeapp._core.integrity import (
    VALID,
    EntryDef,
    IntegrityZome,
    Invalid,
    LinkDef,
    Op,
    ValidateContext,
    ValidateResult,
    deleted_by_link_creator,
)
from nodeapp._core.ops import OpType

TITLE_CHARS_MAX = 200
BODY_CHARS_MAX = 64 * 1024


class Note(BaseModel):
    """A public note."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str = Field(min_length=1, max_length=TITLE_CHARS_MAX)
    body: str = Field(default="", max_length=BODY_CHARS_MAX)


class PrivateNote(BaseModel):
    """A note that never leaves its author's node."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str = Field(max_length=BODY_CHARS_MAX)


def validate(op: Op, ctx: ValidateContext) -> ValidateResult:
    """The zome's rules; see the module docstring."""
    action = op.action  # only StoreRecord ops come here (see validated_ops): judged once
    if isinstance(action, Update):
        original = ctx.must_get_action(action.original_action).action
        if original.author != action.author:
            return Invalid("only the author of a note may update it")
        if not isinstance(original, Create | Update) or (
            original.entry_type_index != action.entry_type_index
            or original.zome_index != action.zome_index
        ):
            return Invalid("an update must replace an entry of the same type")
    elif isinstance(action, Delete):
        original = ctx.must_get_action(action.deletes_action).action
        if original.author != action.author:
            return Invalid("only the author of a note may delete it")
    elif isinstance(action, CreateLink):
        if action.base != bytes((HashKind.AGENT,)) + action.author:
            return Invalid("AuthorToNotes links must start at their author's agent key")
        if action.target[0] != HashKind.ACTION:
            return Invalid("AuthorToNotes links must point at an action")
    elif isinstance(action, DeleteLink) and not deleted_by_link_creator(ctx, action):
        return Invalid("only the link's creator may delete it")
    return VALID


ZOME = IntegrityZome(
    name="example",
    version="1.0.0",
    entry_defs=(
        EntryDef("Note", Note, Visibility.PUBLIC),
        EntryDef("PrivateNote", PrivateNote, Visibility.PRIVATE),
    ),
    link_defs=(LinkDef("AuthorToNotes"),),
    validate=validate,
    validated_ops=frozenset({OpType.STORE_RECORD}),
)
