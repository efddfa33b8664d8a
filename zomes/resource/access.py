"""Intellectual property protection: a specification's private parts and who may read them.

Private parts are private entries: they never leave their author's node. A peer asks for them
with a remote call; the owner's node answers only when the specification's ``access`` rules
hold for the caller (facts ``reader.is_owner`` and ``reader.roles``, the roles the owner's node
holds evidence of). Without access rules only the owner reads them. Registered on the resource
coordinator by ``zomes.resource.coordinator``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.governance.calls import Input, author_of, read
from zomes.person.integrity import ActionHashStr, Role
from zomes.person.roles import role_evidence
from zomes.resource.models import (
    PRIVATE_CHARS_MAX,
    ResourceSpecification,
    RuleType,
    SpecificationPrivatePart,
)
from zomes.rules import FactValue, Verdict, evaluate, parse_rule


class PrivatePartInput(Input):
    """Protected content of one of my specifications."""

    specification: ActionHashStr
    content: str = Field(max_length=PRIVATE_CHARS_MAX)


class PrivatePartsRequest(Input):
    """Which specification's private parts to read."""

    specification: ActionHashStr


class PrivateParts(BaseModel):
    """The answer: the parts when the access rules hold, else why not."""

    granted: bool
    reason: str
    parts: list[str]


def store_specification_private_part(api: ZomeApi, part: PrivatePartInput) -> ActionHash:
    """Keep protected content of my specification on this node only."""
    spec = ActionHash.parse(part.specification)
    read(api, spec, ResourceSpecification, "ResourceSpecification")
    if author_of(api, spec) != api.agent:
        raise ZomeCallError("only a specification's author adds its private parts")
    return api.create_entry(SpecificationPrivatePart(specification=part.specification,
                                                     content=part.content))


def may_read(api: ZomeApi, spec: ResourceSpecification, owner: AgentPubKey,
             reader: AgentPubKey) -> Verdict:
    """Whether ``reader`` may read the private parts, by the specification's access rules."""
    rules = [r for r in spec.governance_rules if r.rule_type is RuleType.access]
    if not rules:
        return Verdict(reader == owner, "" if reader == owner else
                       "private_parts_readers: this specification's parts are its owner's only")
    person = api.zome("person")
    facts: dict[str, FactValue] = {"reader.is_owner": reader == owner,
             "reader.roles": frozenset(r.value for r in Role
                                       if role_evidence(person, reader, r)[0])}
    for rule in rules:
        verdict = evaluate(parse_rule(rule.rule_data), facts)
        if not verdict.holds:
            return verdict
    return Verdict(True)


def get_specification_private_parts(api: ZomeApi, request: PrivatePartsRequest
                                    ) -> PrivateParts:
    """Answer a peer (or my own call): the private parts, if the access rules let the caller
    read them."""
    action = ActionHash.parse(request.specification)
    spec = read(api, action, ResourceSpecification, "ResourceSpecification")
    verdict = may_read(api, spec, author_of(api, action), api.caller)
    if not verdict.holds:
        return PrivateParts(granted=False, reason=verdict.why, parts=[])
    parts = []
    for record in api.query("SpecificationPrivatePart"):
        part = api.get_entry(ActionHash(record.signed.hash), SpecificationPrivatePart)
        if part is not None and part.specification == request.specification:
            parts.append(part.content)
    return PrivateParts(granted=True, reason="the access rules hold", parts=parts)
