"""Person zome functions: roles, promotion requests and their approval.

The coordinator finds the evidence each PersonRole must cite (see the integrity module); it
refuses early with a friendly message what validation would refuse anyway."""

from __future__ import annotations

from pydantic import BaseModel, Field

from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.person._shared import COORDINATOR, ActionRef, AgentRef, Input, author_of, read
from zomes.person.integrity import (
    PROMOTION_REQUESTS_ANCHOR,
    ActionHashStr,
    AgentKeyStr,
    PersonRole,
    Role,
    RolePromotionRequest,
    agent_raw,
    is_steward,
    role_implies,
)


class AssignRoleInput(Input):
    """Give ``role`` to ``agent``; ``request`` cites the promotion request it approves."""

    agent: AgentKeyStr
    role: Role
    request: ActionHashStr | None = None


class RoleQuery(Input):
    """Does ``agent`` hold ``role``?"""

    agent: AgentKeyStr
    role: Role


class PromotionRequestInput(Input):
    """Ask to be given ``role``."""

    role: Role = Role.AccountableAgent
    justification: str = Field(default="", max_length=2000)


class RoleOutput(BaseModel):
    """One role an agent was given, and by whom."""

    action: str
    role: str
    assigned_by: str


def roles_of(api: ZomeApi, agent: AgentPubKey) -> list[tuple[ActionHash, PersonRole]]:
    """Valid PersonRoles held here that give a role to ``agent``."""
    out = []
    for link in api.get_links(agent, "AgentToRoles"):
        if isinstance(link.target, ActionHash):
            given = api.get_entry(link.target, PersonRole)
            if given is not None and agent_raw(given.agent) == agent.raw:
                out.append((link.target, given))
    return out


def role_evidence(api: ZomeApi, agent: AgentPubKey, role: Role) -> tuple[bool, str | None]:
    """(holds, evidence): whether ``agent`` holds ``role`` as far as this node sees, and the
    PersonRole to cite (None when no evidence is needed)."""
    if role is Role.SimpleAgent:
        return True, None
    if is_steward(api.dna_properties, agent.raw) and role_implies(
            Role.PrimaryAccountableAgent, role):
        return True, None
    for action, given in roles_of(api, agent):
        if role_implies(given.role, role):
            return True, str(action)
    return False, None


def _need(api: ZomeApi, agent: AgentPubKey, role: Role, who: str) -> str | None:
    holds, evidence = role_evidence(api, agent, role)
    if not holds:
        raise ZomeCallError(f"{who} must hold {role} (no evidence of it is held here)")
    return evidence


def _assign(api: ZomeApi, agent: AgentPubKey, role: Role, request: str | None) -> ActionHash:
    if agent == api.agent:
        raise ZomeCallError("nobody may give a role to themselves")
    if role is Role.SimpleAgent:
        raise ZomeCallError("every member holds SimpleAgent already")
    receiver_evidence = None
    if role is Role.AccountableAgent:
        if request is None:
            raise ZomeCallError("AccountableAgent is given by approving the agent's promotion "
                                "request (approve_role_promotion)")
        assigner = _need(api, api.agent, Role.AccountableAgent, "the approver")
    else:
        assigner = _need(api, api.agent, Role.PrimaryAccountableAgent, "the assigner")
        receiver_evidence = _need(api, agent, Role.AccountableAgent, "the receiver")
    created = api.create_entry(PersonRole(
        agent=str(agent), role=role, assigner_evidence=assigner,
        receiver_evidence=receiver_evidence, request=request))
    api.create_link(agent, created, "AgentToRoles")
    return created


@COORDINATOR.function
def assign_person_role(api: ZomeApi, assign: AssignRoleInput) -> ActionHash:
    """Give a role to another agent, citing the evidence the rules need."""
    return _assign(api, AgentPubKey.parse(assign.agent), assign.role, assign.request)


@COORDINATOR.function
def has_person_role_capability(api: ZomeApi, query: RoleQuery) -> bool:
    """Whether an agent holds a role, as far as this node sees."""
    return role_evidence(api, AgentPubKey.parse(query.agent), query.role)[0]


@COORDINATOR.function
def get_person_roles(api: ZomeApi, ref: AgentRef) -> list[RoleOutput]:
    """The roles given to an agent, oldest first (stewardship is not listed)."""
    return [RoleOutput(action=str(action), role=given.role,
                       assigned_by=str(author_of(api, action)))
            for action, given in roles_of(api, AgentPubKey.parse(ref.agent))]


@COORDINATOR.function
def request_role_promotion(api: ZomeApi, request: PromotionRequestInput) -> ActionHash:
    """Ask to be given a role; an approver finds the request through its anchor."""
    if role_evidence(api, api.agent, request.role)[0]:
        raise ZomeCallError(f"you already hold {request.role}")
    created = api.create_entry(RolePromotionRequest(role=request.role,
                                                    justification=request.justification))
    api.create_link(PROMOTION_REQUESTS_ANCHOR, created, "PromotionRequests")
    return created


@COORDINATOR.function
def approve_role_promotion(api: ZomeApi, ref: ActionRef) -> ActionHash:
    """Approve a promotion request: give its author the role it asked for."""
    action = ActionHash.parse(ref.action)
    request = read(api, action, RolePromotionRequest, "RolePromotionRequest")
    requester = author_of(api, action)
    if role_evidence(api, requester, request.role)[0]:
        raise ZomeCallError(f"{requester} already holds {request.role}")
    return _assign(api, requester, request.role, str(action))


@COORDINATOR.function
def promote_agent_to_accountable(api: ZomeApi, ref: AgentRef) -> ActionHash:
    """Approve an agent's newest request to become an AccountableAgent."""
    agent = AgentPubKey.parse(ref.agent)
    for link in reversed(api.get_links(PROMOTION_REQUESTS_ANCHOR, "PromotionRequests")):
        if link.author != agent or not isinstance(link.target, ActionHash):
            continue
        request = api.get_entry(link.target, RolePromotionRequest)
        if request is not None and request.role is Role.AccountableAgent:
            return approve_role_promotion(api, ActionRef(action=str(link.target)))
    raise ZomeCallError(f"{agent} has not asked to become an AccountableAgent "
                        "(request_role_promotion)")

