"""Nondominium rules enforced by peers, with real nodes on 127.0.0.1 (replication factor 2, so
most nodes hold nothing of a given record and read it over the network):

* a promotion request and its approval travel: the steward approves a request it holds nothing
  of, and any node then sees the new role, reading role, links and evidence from authorities;
* the authorities of an entry that cites evidence it does not hold fetch that evidence and
  validate it before judging the entry;
* a node that bypasses its coordinator and gives itself a role is refused by the authorities,
  warranted and blocked by every honest node;
* so is a node that creates a resource directly in state Active (resource.created_pending):
  the authorities fetch the specification it cites before judging it;
* and a node that writes after closing its chain (system rule closed_chain).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio
from nodes import commit_unchecked, eventually, network, wait_until

from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp.errors import SysValidationError, ZomeCallError
from nodeapp.runtime import RunningNode
from nodeapp.store import Status
from zomes.example.integrity import Note
from zomes.person.integrity import PersonRole, Role
from zomes.resource.models import EconomicResource, ResourceState

PROPERTIES = {"replication_factor": 2}


def valid_at(node: RunningNode, action_hash: bytes) -> bool:
    found = node.conductor.store.get_action(action_hash)
    return found is not None and found[1] == Status.VALID


async def warranted_by_the_others(nodes: list[RunningNode], bad: RunningNode, bad_hash: bytes,
                                  seconds: float = 20.0) -> None:
    """Wait until every other node holds a warrant against ``bad`` and blocks it; none of
    them holds ``bad_hash`` as valid."""
    honest = [n for n in nodes if n is not bad]
    await wait_until("every honest node warrants and blocks the author", lambda: all(
        bad.agent in n.protocol.blocked and bad.agent in n.protocol.warrants for n in honest),
        seconds)
    for node in honest:
        assert not valid_at(node, bad_hash)


def warned_of(caplog: pytest.LogCaptureFixture, rule: str, agent: bytes) -> None:
    """The authorities that warranted said which rule was broken, and named the agent as
    every log line does (the start of its printable key, docs/operations.md)."""
    name = str(AgentPubKey(agent))[:20]
    said = [r.getMessage() for r in caplog.records if r.name == "nodeapp.net"]
    assert any("warranting" in m and name in m and rule in m for m in said), said


async def test_roles_travel_and_a_self_given_role_is_warranted(tmp_path: Path) -> None:
    with trio.fail_after(120):
        async with network(tmp_path, 6, PROPERTIES) as (_, nodes):
            steward, member, bad, *others = nodes
            member_key = str(AgentPubKey(member.agent))

            # the member asks to become accountable; the steward approves it, reading the
            # request from the network, and the approval cites the request as evidence
            request = ActionHash.parse(await member.zome_call(
                "person", "request_role_promotion", {"justification": "runs the CNC shop"}))
            await wait_until("the request reaches its authorities", lambda: sum(
                valid_at(n, request.raw) for n in nodes) >= 2)
            approvals: list[ActionHash] = []

            async def approved() -> bool:
                try:
                    approvals.append(ActionHash.parse(await steward.zome_call(
                        "person", "promote_agent_to_accountable", {"agent": member_key})))
                except ZomeCallError:  # the request's index link is not at its authorities yet
                    return False
                return True

            await eventually("the steward finds the request and approves it", approved)
            approval = approvals[0]
            holders = steward.protocol.ring.authorities(approval.location)
            await wait_until("the approval's authorities validated it (fetching the request "
                             "it cites where they lacked it)", lambda: all(
                                 valid_at(n, approval.raw) for n in nodes if n.agent in holders))

            # any node, whether or not it holds any of it, then sees the role (once the
            # role's index link has reached the authorities of the member's key)
            for node in others:
                async def sees_role(node: RunningNode = node) -> bool:
                    return await node.zome_call("person", "has_person_role_capability", {
                        "agent": member_key, "role": "AccountableAgent"}) is True

                await eventually("every node sees the member's new role", sees_role)
                assert await node.zome_call("person", "has_person_role_capability", {
                    "agent": member_key, "role": "Repair"}) is False

            # a modified node gives itself PrimaryAccountableAgent, bypassing its coordinator
            forged = PersonRole(agent=str(AgentPubKey(bad.agent)),
                                role=Role.PrimaryAccountableAgent)
            bad_hash, _ = commit_unchecked(bad, "person", "PersonRole", forged)
            await warranted_by_the_others(nodes, bad, bad_hash, seconds=60)
            # and nobody believes the role it gave itself
            assert await others[0].zome_call("person", "has_person_role_capability", {
                "agent": str(AgentPubKey(bad.agent)),
                "role": "PrimaryAccountableAgent"}) is False


async def test_a_resource_born_active_is_warranted(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodeapp.net")
    with trio.fail_after(60):
        async with network(tmp_path, 4, PROPERTIES) as (_, nodes):
            member, bad = nodes[1], nodes[2]
            spec = await member.zome_call("resource", "create_resource_specification", {
                "name": "sensor kit", "default_unit": "each"})
            await wait_until("the specification reaches its authorities", lambda: sum(
                valid_at(n, ActionHash.parse(spec).raw) for n in nodes) >= 2)
            # a modified node creates a resource directly in state Active, skipping the
            # k-of-n validation its activation needs; its authorities fetch the specification
            # it cites (written on another node) before judging it, and so does every node
            # that checks the warrant's proof without holding the specification
            born_active = EconomicResource(
                specification=spec, quantity=1, unit="each",
                custodian=str(AgentPubKey(bad.agent)), state=ResourceState.Active)
            bad_hash, _ = commit_unchecked(bad, "resource", "EconomicResource", born_active)
            await warranted_by_the_others(nodes, bad, bad_hash)
            warned_of(caplog, "resource.created_pending", bad.agent)


async def test_a_write_after_close_chain_is_warranted(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodeapp.net")
    with trio.fail_after(60):
        async with network(tmp_path, 3, PROPERTIES) as (_, nodes):
            bad = nodes[2]
            closed = ActionHash.parse(await bad.zome_call("example", "close_chain", {}))
            await wait_until("the CloseChain reaches its authorities", lambda: sum(
                valid_at(n, closed.raw) for n in nodes) >= 2)
            # its own node refuses to write after it; a modified node writes anyway
            with pytest.raises(SysValidationError, match="closed_chain"):
                await bad.zome_call("example", "create_note", {"title": "after the end"})
            late, _ = commit_unchecked(bad, "example", "Note", Note(title="after the end"))
            await warranted_by_the_others(nodes, bad, late)
            warned_of(caplog, "closed_chain", bad.agent)
