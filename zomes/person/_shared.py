"""What the person zome's function modules share: the coordinator, common inputs, lookups."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from nodeapp._core.hashing import ActionHash, AgentPubKey, Hash
from nodeapp.coordinator import Coordinator
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.person.integrity import ZOME, ActionHashStr, AgentKeyStr

COORDINATOR = Coordinator(ZOME)
M = TypeVar("M", bound=BaseModel)


class Input(BaseModel):
    """Base of the zome's inputs: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class AgentRef(Input):
    """Names one agent by its printable key."""

    agent: AgentKeyStr


class ActionRef(Input):
    """Names one action by its printable hash."""

    action: ActionHashStr


def read(api: ZomeApi, action: ActionHash | str, model: type[M], what: str) -> M:
    """The entry ``action`` wrote, as ``model``; ZomeCallError if it is not held or not one."""
    target = ActionHash.parse(action) if isinstance(action, str) else action
    found = api.get_entry(target, model)
    if found is None:
        raise ZomeCallError(f"{target} is not a {what} held by this node")
    return found


def author_of(api: ZomeApi, action: ActionHash) -> AgentPubKey:
    """Who wrote a held action."""
    record = api.get(action)
    if record is None:
        raise ZomeCallError(f"{action} is not held by this node")
    return AgentPubKey(record.signed.action.author)


def newest_target(api: ZomeApi, base: Hash, link_type: str) -> ActionHash | None:
    """The target of the newest live link of ``link_type`` from ``base``."""
    links = [link for link in api.get_links(base, link_type)
             if isinstance(link.target, ActionHash)]
    if not links:
        return None
    newest = max(links, key=lambda link: link.timestamp_us)
    assert isinstance(newest.target, ActionHash)
    return newest.target


def relink(api: ZomeApi, base: Hash, old: ActionHash, new: ActionHash, link_type: str) -> None:
    """Point ``base``'s ``link_type`` links that reach ``old`` at ``new`` instead: the index
    then names an entry's newest version (reads do not follow updates)."""
    for link in api.get_links(base, link_type):
        if link.target == old:
            api.delete_link(link.create_action)
    api.create_link(base, new, link_type)
