"""Nondominium's governance rules written in the rule language, as rule data.

Each function returns data a specification can embed (``GovernanceRule.rule_data``); the
resource zome evaluates it over facts named in ``docs/nondominium.md``:
``to_state``/``from_state``, ``actor.roles``, ``receiver.roles``, ``commitment.accepted``,
``validators``, ``validators.<Role>``, ``stage_validations.<type>``, ``reader.roles``,
``reader.is_owner``.
"""

from __future__ import annotations

from typing import Any


def named(name: str, check: dict[str, Any]) -> dict[str, Any]:
    """``check`` reported under ``name`` when it fails."""
    return {"named": {"name": name, "check": check}}


def transition_requires_role(to_state: str, role: str) -> dict[str, Any]:
    """Only an agent holding ``role`` may move a resource to ``to_state``
    (e.g. only Repair may move it to Maintenance)."""
    return named("transition_requires_role", {"when": {
        "if": {"eq": {"fact": "to_state", "value": to_state}},
        "then": {"has_role": {"agent": "actor", "role": role}}}})


def custody_requires(role: str) -> dict[str, Any]:
    """A custody transfer needs a receiver holding ``role`` and an accepted commitment."""
    return named("custody_requires_role_and_commitment", {"all": [
        {"has_role": {"agent": "receiver", "role": role}},
        {"eq": {"fact": "commitment.accepted", "value": True}}]})


def validations_required(required: int, role: str | None = None) -> dict[str, Any]:
    """Activation needs ``required`` distinct validators (other than the creator), each holding
    ``role`` when given: with a scheme of 3 validators asked, 2 makes "2-of-3"."""
    fact = "validators" if role is None else f"validators.{role}"
    return named("validations_required", {"count_at_least": {"fact": fact, "n": required}})


def quality_validation_each_stage(validation_type: str = "quality") -> dict[str, Any]:
    """Every change of state (each production stage) needs an approved validation of
    ``validation_type`` for the stage the resource moves to."""
    return named("quality_validation_each_stage", {"when": {
        "if": {"eq": {"fact": "state_changes", "value": True}},
        "then": {"count_at_least": {"fact": f"stage_validations.{validation_type}", "n": 1}}}})


def private_parts_readers(*roles: str) -> dict[str, Any]:
    """Intellectual property protection: a specification's private parts may be read by its
    owner and by agents holding one of ``roles``."""
    return named("private_parts_readers", {"any": [
        {"eq": {"fact": "reader.is_owner", "value": True}},
        *({"has_role": {"agent": "reader", "role": role}} for role in roles)]})
