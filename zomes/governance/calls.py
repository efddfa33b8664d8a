"""Coordinator helpers shared by the resource and governance zomes: inputs, role claims, reads.

Coordinator checks here only make refusals friendly; integrity validation decides."""

from __future__ import annotations

from pydantic import Field

from nodeapp._core.hashing import ActionHash, Hash
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.governance.models import ROLE_CLAIMS_MAX, RoleClaim
from zomes.person._shared import Input, author_of, read
from zomes.person.integrity import ActionHashStr, Role
from zomes.person.roles import role_evidence

__all__ = ["Input", "ResourceRef", "RolesInput", "author_of", "claims_for", "newest_version",
           "read"]


class RolesInput(Input):
    """Roles the caller claims for this write; the node finds the evidence to cite."""

    roles: list[Role] = Field(default_factory=list, max_length=ROLE_CLAIMS_MAX)


class ResourceRef(Input):
    """Names a resource by its first Create (any version's hash is accepted where noted)."""

    resource: ActionHashStr


def claims_for(api: ZomeApi, roles: list[Role]) -> tuple[RoleClaim, ...]:
    """Role claims for this agent, citing the PersonRole evidence held here."""
    claims = []
    person = api.zome("person")  # role links are the person zome's
    for role in dict.fromkeys(roles):
        holds, evidence = role_evidence(person, api.agent, role)
        if not holds:
            raise ZomeCallError(f"this agent does not hold {role} (no PersonRole evidence of it "
                                "is held here)")
        claims.append(RoleClaim(role=role, evidence=evidence))
    return tuple(claims)


def newest_version(api: ZomeApi, origin: ActionHash, link_type: str) -> ActionHash:
    """The newest version of an entry whose versions are linked (``link_type``) from its first
    Create: the version no other version updates (the latest written if the chain forked)."""
    versions: dict[ActionHash, tuple[int, bytes | None]] = {}
    for link in api.get_links(origin, link_type):
        record = api.get(link.target) if isinstance(link.target, ActionHash) else None
        if record is not None:
            action = record.signed.action
            versions[link.target] = (action.timestamp_us,  # type: ignore[index]
                                     getattr(action, "original_action", None))
    replaced = {original for _, original in versions.values()}
    heads = [v for v in versions if v.raw not in replaced]
    return max(heads, key=lambda v: versions[v][0]) if heads else origin


def link_if(api: ZomeApi, base: Hash | None, target: ActionHash, link_type: str) -> None:
    """Index ``target`` from ``base`` when there is one."""
    if base is not None:
        api.create_link(base, target, link_type)
