"""Person zome functions: public profiles, private data and the grants that share it."""

from __future__ import annotations

from typing import get_args

from pydantic import BaseModel, Field

from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.person._shared import COORDINATOR, ActionRef, AgentRef, Input, newest_target, relink
from zomes.person.integrity import (
    ALL_PERSONS_ANCHOR,
    GRANT_US_MAX,
    AgentKeyStr,
    Person,
    PrivateDataGrant,
    PrivateField,
    PrivatePersonData,
    agent_raw,
    grant_expiry_problem,
)

DAY_US = 24 * 3600 * 1_000_000
PRIVATE_FIELDS: tuple[str, ...] = get_args(PrivateField)


class PersonOutput(BaseModel):
    """A profile as read back: its newest version."""

    agent: str
    action: str
    name: str
    avatar_url: str | None
    bio: str | None


class GrantInput(Input):
    """Let ``grantee`` read ``fields`` of my private data for ``days`` days (1-30)."""

    grantee: AgentKeyStr
    fields: tuple[PrivateField, ...] = Field(min_length=1, max_length=len(PRIVATE_FIELDS))
    days: int = Field(default=7, ge=1, le=GRANT_US_MAX // DAY_US)
    context: str = Field(default="", max_length=200)


class PrivateDataRequest(Input):
    """Which fields a grantee asks for (None: all it was granted)."""

    fields: tuple[PrivateField, ...] | None = None


class GrantedData(BaseModel):
    """The private data fields a grantee may read, and until when."""

    owner: str
    fields: dict[str, str | None]
    expires_at_us: int


# --- profiles ------------------------------------------------------------------------------


def _my_profile(api: ZomeApi) -> ActionHash | None:
    return newest_target(api, api.agent, "AgentToPerson")


@COORDINATOR.function
def create_person(api: ZomeApi, person: Person) -> ActionHash:
    """Write my public profile (one per agent) and index it."""
    if _my_profile(api) is not None:
        raise ZomeCallError("you already have a profile: use update_person")
    created = api.create_entry(person)
    api.create_link(ALL_PERSONS_ANCHOR, created, "AllPersons")
    api.create_link(api.agent, created, "AgentToPerson")
    return created


@COORDINATOR.function
def update_person(api: ZomeApi, person: Person) -> ActionHash:
    """Write a new version of my profile."""
    current = _my_profile(api)
    if current is None:
        raise ZomeCallError("you have no profile yet: use create_person")
    updated = api.update_entry(current, person)
    relink(api, api.agent, current, updated, "AgentToPerson")
    return updated


@COORDINATOR.function
def get_person_profile(api: ZomeApi, ref: AgentRef) -> PersonOutput | None:
    """An agent's profile (newest version), or None if it has none held here."""
    agent = AgentPubKey.parse(ref.agent)
    current = newest_target(api, agent, "AgentToPerson")
    person = None if current is None else api.get_entry(current, Person)
    if current is None or person is None:
        return None
    return PersonOutput(agent=ref.agent, action=str(current), **person.model_dump())


@COORDINATOR.function
def get_all_persons(api: ZomeApi) -> list[PersonOutput]:
    """Every profile held here, newest versions, in order of creation."""
    out = []
    for link in api.get_links(ALL_PERSONS_ANCHOR, "AllPersons"):
        found = get_person_profile(api, AgentRef(agent=str(link.author)))
        if found is not None:
            out.append(found)
    return out


# --- private data --------------------------------------------------------------------------


@COORDINATOR.function
def store_private_person_data(api: ZomeApi, data: PrivatePersonData) -> ActionHash:
    """Write my private data (on this node only); the newest version is the one shared."""
    return api.create_entry(data)


def _my_private_data(api: ZomeApi) -> PrivatePersonData | None:
    records = api.query("PrivatePersonData")
    if not records:
        return None
    return api.get_entry(ActionHash(records[-1].signed.hash), PrivatePersonData)


@COORDINATOR.function
def get_my_private_person_data(api: ZomeApi) -> PrivatePersonData | None:
    """My newest private data."""
    return _my_private_data(api)


@COORDINATOR.function
def grant_private_data_access(api: ZomeApi, grant: GrantInput) -> ActionHash:
    """Let another agent read some fields of my private data for up to 30 days."""
    if agent_raw(grant.grantee) == api.agent.raw:
        raise ZomeCallError("a grant names another agent; you can read your own data")
    return api.create_entry(PrivateDataGrant(
        grantee=grant.grantee, fields=grant.fields, context=grant.context,
        expires_at_us=api.now_us + grant.days * DAY_US))


@COORDINATOR.function
def revoke_private_data_access(api: ZomeApi, ref: ActionRef) -> ActionHash:
    """Revoke one of my grants (delete it)."""
    grant = ActionHash.parse(ref.action)
    if api.get_entry(grant, PrivateDataGrant) is None:
        raise ZomeCallError(f"{grant} is not one of your grants")
    if api.is_deleted(grant):
        raise ZomeCallError(f"{grant} is already revoked")
    return api.delete_entry(grant)


def _live_grants(api: ZomeApi, grantee: AgentPubKey) -> tuple[list[PrivateDataGrant], str]:
    """The grants to ``grantee`` that hold now, and why others do not (for the error)."""
    live, why = [], f"no grant names {grantee}"
    for record in api.query("PrivateDataGrant"):
        action = ActionHash(record.signed.hash)
        grant = api.get_entry(action, PrivateDataGrant)
        if grant is None or agent_raw(grant.grantee) != grantee.raw:
            continue
        # the 30-day rule is enforced here too: validate never sees a private entry
        broken = grant_expiry_problem(grant, record.signed.action.timestamp_us)
        if api.is_deleted(action):
            why = "the grant was revoked"
        elif broken is not None:
            why = broken.reason
        elif grant.expires_at_us <= api.now_us:
            why = "the grant has expired"
        else:
            live.append(grant)
    return live, why


@COORDINATOR.remote
def get_private_data_with_capability(api: ZomeApi, request: PrivateDataRequest) -> GrantedData:
    """Run on the data owner's node for ``api.caller``: the fields its live grants allow."""
    live, why = _live_grants(api, api.caller)
    if not live:
        raise ZomeCallError(f"access refused: {why}")
    granted = {f for grant in live for f in grant.fields}
    wanted = set(request.fields) if request.fields is not None else granted
    if not wanted <= granted:
        raise ZomeCallError("access refused: not granted: " + ", ".join(sorted(wanted - granted)))
    data = _my_private_data(api)
    if data is None:
        raise ZomeCallError("access refused: this agent has stored no private data")
    values = data.model_dump()
    return GrantedData(owner=str(api.agent), fields={f: values[f] for f in sorted(wanted)},
                       expires_at_us=max(g.expires_at_us for g in live))
