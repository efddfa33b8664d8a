"""The governance rule language (zomes/rules): parsing, bounds, evaluation and explanations."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zomes.rules import (
    DEPTH_MAX,
    ITEMS_MAX,
    NODES_MAX,
    RuleError,
    describe,
    evaluate,
    library,
    parse_rule,
    to_data,
)

REPAIR = {"to_state": "Maintenance", "actor.roles": frozenset({"AccountableAgent", "Repair"})}


def check(rule: dict[str, Any], facts: dict[str, Any]) -> tuple[bool, str]:
    verdict = evaluate(parse_rule(rule), facts)
    return verdict.holds, verdict.why


# --- the rules Nondominium needs --------------------------------------------------------


def test_only_repair_may_move_to_maintenance() -> None:
    rule = library.transition_requires_role("Maintenance", "Repair")
    assert check(rule, REPAIR) == (True, "")
    holds, why = check(rule, {**REPAIR, "actor.roles": frozenset({"AccountableAgent"})})
    assert not holds
    assert why == ("transition_requires_role: when to_state == 'Maintenance': has_role(actor, "
                   "Repair) failed: actor.roles is {AccountableAgent}")
    # other transitions are not this rule's business
    assert check(rule, {"to_state": "Reserved", "actor.roles": frozenset()})[0]


def test_custody_needs_receiver_role_and_accepted_commitment() -> None:
    rule = library.custody_requires("Transport")
    ok = {"receiver.roles": frozenset({"Transport"}), "commitment.accepted": True}
    assert check(rule, ok)[0]
    holds, why = check(rule, {**ok, "commitment.accepted": False})
    assert not holds and why.startswith("custody_requires_role_and_commitment: "
                                        "commitment.accepted == True failed")
    holds, why = check(rule, {"commitment.accepted": True})
    assert not holds and "receiver.roles is unknown" in why


def test_two_of_three_validations() -> None:
    rule = library.validations_required(2, "AccountableAgent")
    assert check(rule, {"validators.AccountableAgent": frozenset({"a", "b"})})[0]
    holds, why = check(rule, {"validators.AccountableAgent": frozenset({"a"})})
    assert not holds
    assert why == ("validations_required: count(validators.AccountableAgent) >= 2 failed: "
                   "validators.AccountableAgent is {a}")
    assert check(library.validations_required(2), {"validators": frozenset({"a", "b", "c"})})[0]


def test_quality_validation_at_each_stage() -> None:
    rule = library.quality_validation_each_stage()
    assert check(rule, {"state_changes": False})[0]
    assert check(rule, {"state_changes": True, "stage_validations.quality": frozenset({"v"})})[0]
    holds, why = check(rule, {"state_changes": True, "stage_validations.quality": frozenset()})
    assert not holds and why.startswith("quality_validation_each_stage: when state_changes")


def test_private_parts_readers() -> None:
    rule = library.private_parts_readers("AccountableAgent")
    assert check(rule, {"reader.is_owner": True, "reader.roles": frozenset()})[0]
    assert check(rule, {"reader.is_owner": False,
                        "reader.roles": frozenset({"AccountableAgent"})})[0]
    holds, why = check(rule, {"reader.is_owner": False, "reader.roles": frozenset()})
    assert not holds and why.startswith("private_parts_readers: none of these holds: ")


# --- operators ----------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "facts", "holds"), [
    ({"all": []}, {}, True),
    ({"any": []}, {}, False),
    ({"not": {"all": []}}, {}, False),
    ({"eq": {"fact": "n", "value": 1}}, {"n": 1}, True),
    ({"eq": {"fact": "n", "value": 1}}, {"n": True}, False),  # booleans are not integers
    ({"eq": {"fact": "n", "value": True}}, {"n": 1}, False),
    ({"eq": {"fact": "s", "value": "a"}}, {"s": frozenset({"a"})}, False),
    ({"in": {"fact": "s", "values": ["a", "b"]}}, {"s": "b"}, True),
    ({"in": {"fact": "s", "values": ["a", "b"]}}, {}, False),
    ({"contains": {"fact": "s", "value": "a"}}, {"s": frozenset({"a"})}, True),
    ({"contains": {"fact": "s", "value": "a"}}, {"s": "a"}, False),
    ({"count_at_least": {"fact": "n", "n": 3}}, {"n": 3}, True),
    ({"count_at_least": {"fact": "n", "n": 3}}, {"n": 2}, False),
    ({"count_at_least": {"fact": "n", "n": 1}}, {"n": True}, False),
    ({"count_at_least": {"fact": "n", "n": 0}}, {}, False),
    ({"has_role": {"agent": "actor", "role": "Repair"}}, {"actor.roles": frozenset()}, False),
])
def test_operators(rule: dict[str, Any], facts: dict[str, Any], holds: bool) -> None:
    assert evaluate(parse_rule(rule), facts).holds is holds


def test_not_explains_what_held() -> None:
    holds, why = check({"not": {"eq": {"fact": "x", "value": 1}}}, {"x": 1})
    assert (holds, why) == (False, "not(x == 1) failed: it holds")


# --- parsing refuses what is not a rule ---------------------------------------------------


def nest(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"all": []}
    for _ in range(depth - 1):
        rule = {"not": rule}
    return rule


@pytest.mark.parametrize(("data", "message"), [
    ("all", "exactly one operator"),
    ({}, "exactly one operator"),
    ({"all": [], "any": []}, "exactly one operator"),
    ({"eval": "1"}, "unknown operator 'eval'"),
    ({"all": {}}, "expects a list"),
    ({"all": [{"all": []}] * (ITEMS_MAX + 1)}, "at most 16 rules"),
    ({"eq": {"fact": "x"}}, "expects exactly the keys fact, value"),
    ({"eq": {"fact": "x", "value": 1.5}}, "values are booleans, integers"),
    ({"eq": {"fact": "x", "value": None}}, "values are booleans, integers"),
    ({"eq": {"fact": "x", "value": 10**12}}, "values are booleans, integers"),
    ({"eq": {"fact": "Bad Name", "value": 1}}, "rule.eq.fact: expects a name"),
    ({"in": {"fact": "x", "values": []}}, "expects a list of 1-16 values"),
    ({"count_at_least": {"fact": "x", "n": -1}}, "expects an integer"),
    ({"count_at_least": {"fact": "x", "n": True}}, "expects an integer"),
    ({"has_role": {"agent": "actor.x", "role": "Repair"}}, "rule.has_role.agent"),
    ({"named": {"name": "x" * 65, "check": {"all": []}}}, "rule.named.name"),
    ({"when": {"if": {"all": []}}}, "expects exactly the keys if, then"),
    ({"any": [{"eq": {"fact": "x", "value": "y"}}, {"nope": 1}]}, "rule.any[1]: unknown"),
    (nest(DEPTH_MAX + 1), f"nest at most {DEPTH_MAX} deep"),
    ({"all": [{"all": [{"all": []}] * 15}] * 5}, f"at most {NODES_MAX} conditions"),
])
def test_parse_refuses(data: Any, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_rule(data)


def test_bounds_are_inclusive() -> None:
    assert parse_rule(nest(DEPTH_MAX))
    # 1 + 5 * 16 nodes are refused (above); 1 + 3 * 16 + 15 = 64 is the most
    assert parse_rule({"all": [{"all": [{"all": []}] * 15}] * 3 + [{"all": [{"all": []}] * 14}]})


# --- properties ---------------------------------------------------------------------------

FACT_NAMES = ["a", "b", "to_state", "actor.roles", "validators"]
SCALARS = st.one_of(st.booleans(), st.integers(-5, 5), st.sampled_from(["x", "y", "Repair"]))
SETS = st.frozensets(st.sampled_from(["x", "y", "Repair"]), max_size=3)
FACTS = st.dictionaries(st.sampled_from(FACT_NAMES), st.one_of(SCALARS, SETS), max_size=5)

LEAVES = st.one_of(
    st.builds(lambda f, v: {"eq": {"fact": f, "value": v}}, st.sampled_from(FACT_NAMES), SCALARS),
    st.builds(lambda f, vs: {"in": {"fact": f, "values": vs}}, st.sampled_from(FACT_NAMES),
              st.lists(SCALARS, min_size=1, max_size=3)),
    st.builds(lambda r: {"has_role": {"agent": "actor", "role": r}},
              st.sampled_from(["x", "Repair"])),
    st.builds(lambda f, v: {"contains": {"fact": f, "value": v}},
              st.sampled_from(FACT_NAMES), SCALARS),
    st.builds(lambda f, n: {"count_at_least": {"fact": f, "n": n}},
              st.sampled_from(FACT_NAMES), st.integers(0, 4)),
)
RULES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.builds(lambda rs: {"all": rs}, st.lists(inner, max_size=3)),
    st.builds(lambda rs: {"any": rs}, st.lists(inner, max_size=3)),
    st.builds(lambda r: {"not": r}, inner),
    st.builds(lambda c, t: {"when": {"if": c, "then": t}}, inner, inner),
    st.builds(lambda c: {"named": {"name": "n", "check": c}}, inner),
), max_leaves=12)


def fits(data: Any) -> bool:
    try:
        parse_rule(data)
    except RuleError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(RULES, FACTS)
def test_round_trip_and_deterministic(data: dict[str, Any], facts: dict[str, Any]) -> None:
    if not fits(data):
        return
    rule = parse_rule(data)
    assert to_data(rule) == data
    assert parse_rule(to_data(rule)) == rule
    first = evaluate(rule, facts)
    assert evaluate(rule, dict(reversed(list(facts.items())))) == first
    assert first.holds == (first.why == "")
    assert isinstance(describe(rule), str)


@settings(max_examples=60, deadline=None)
@given(RULES, RULES, FACTS)
def test_connectives_agree_with_boolean_logic(a: dict[str, Any], b: dict[str, Any],
                                              facts: dict[str, Any]) -> None:
    if not (fits(a) and fits(b)):
        return
    x, y = evaluate(parse_rule(a), facts).holds, evaluate(parse_rule(b), facts).holds
    assert evaluate(parse_rule({"all": [a, b]}), facts).holds == (x and y)
    assert evaluate(parse_rule({"any": [a, b]}), facts).holds == (x or y)
    assert evaluate(parse_rule({"not": a}), facts).holds == (not x)
    assert evaluate(parse_rule({"when": {"if": a, "then": b}}), facts).holds == (not x or y)
    named = evaluate(parse_rule({"named": {"name": "r", "check": a}}), facts)
    assert named.holds == x and (x or named.why.startswith("r: "))


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                              st.text(max_size=5)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.text(max_size=8), inner,
                                                            max_size=2)),
                    max_leaves=10))
def test_parse_never_raises_anything_but_rule_error(data: Any) -> None:
    try:
        parse_rule(data)
    except RuleError:
        pass
