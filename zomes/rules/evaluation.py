"""Evaluating parsed rules over facts, with an explanation when a rule fails.

Rules:
* Facts are a mapping from fact names to strings, integers, booleans or frozensets of strings.
  Validation assembles them from the entry and the evidence it cites; nothing else is read, so
  evaluation is deterministic (no clock, no I/O, no floats).
* A missing fact, or a fact of another type than the condition compares with, makes the
  condition fail (never raise): ``1`` does not equal ``True`` and a set never equals a string.
* A failing rule says which condition failed and what the fact held, e.g.
  ``has_role(actor, Repair) failed: actor.roles is {AccountableAgent}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zomes.rules.language import (
    All,
    AnyOf,
    Contains,
    CountAtLeast,
    Eq,
    HasRole,
    In,
    Named,
    Not,
    Rule,
    Scalar,
    When,
)

FactValue = str | int | bool | frozenset[str]
Facts = Mapping[str, FactValue]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a rule holds; ``why`` says which condition failed when it does not."""

    holds: bool
    why: str = ""


HOLDS = Verdict(True)


def evaluate(rule: Rule, facts: Facts) -> Verdict:
    """Judge ``rule`` over ``facts``."""
    match rule:
        case All(rules):
            for child in rules:
                verdict = evaluate(child, facts)
                if not verdict.holds:
                    return verdict
            return HOLDS
        case AnyOf(rules):
            reasons = []
            for child in rules:
                verdict = evaluate(child, facts)
                if verdict.holds:
                    return HOLDS
                reasons.append(verdict.why)
            return Verdict(False, "none of these holds: " + "; ".join(reasons) if reasons
                           else "any([]) never holds")
        case Not(inner):
            if evaluate(inner, facts).holds:
                return Verdict(False, f"not({describe(inner)}) failed: it holds")
            return HOLDS
        case When(condition, then):
            if not evaluate(condition, facts).holds:
                return HOLDS
            verdict = evaluate(then, facts)
            return verdict if verdict.holds else Verdict(
                False, f"when {describe(condition)}: {verdict.why}")
        case Named(name, check):
            verdict = evaluate(check, facts)
            return verdict if verdict.holds else Verdict(False, f"{name}: {verdict.why}")
        case _:
            return _leaf(rule, facts)


def _leaf(rule: Rule, facts: Facts) -> Verdict:
    match rule:
        case Eq(fact, value):
            ok = _same(facts.get(fact), value)
        case In(fact, values):
            ok = any(_same(facts.get(fact), v) for v in values)
        case HasRole(agent, role):
            fact = f"{agent}.roles"
            held = facts.get(fact)
            ok = isinstance(held, frozenset) and role in held
        case Contains(fact, value):
            held = facts.get(fact)
            ok = isinstance(held, frozenset) and value in held
        case CountAtLeast(fact, n):
            held = facts.get(fact)
            ok = (isinstance(held, frozenset) and len(held) >= n) or (
                type(held) is int and held >= n)
        case _:
            raise TypeError(f"not a rule node: {rule!r}")
    if ok:
        return HOLDS
    return Verdict(False, f"{describe(rule)} failed: {_show_fact(fact, facts)}")


def _same(held: FactValue | None, value: Scalar) -> bool:
    # bool is an int in Python; the rule language keeps them apart
    return type(held) is type(value) and held == value


def _show_fact(fact: str, facts: Facts) -> str:
    if fact not in facts:
        return f"{fact} is unknown"
    value = facts[fact]
    if isinstance(value, frozenset):
        return f"{fact} is {{{', '.join(sorted(value))}}}"
    return f"{fact} is {value!r}"


def describe(rule: Rule) -> str:
    """A short human-readable form of a rule."""
    match rule:
        case All(rules):
            return "all(" + ", ".join(describe(r) for r in rules) + ")"
        case AnyOf(rules):
            return "any(" + ", ".join(describe(r) for r in rules) + ")"
        case Not(inner):
            return f"not({describe(inner)})"
        case When(condition, then):
            return f"when({describe(condition)}, {describe(then)})"
        case Named(name, _check):
            return name
        case Eq(fact, value):
            return f"{fact} == {value!r}"
        case In(fact, values):
            return f"{fact} in {list(values)!r}"
        case HasRole(agent, role):
            return f"has_role({agent}, {role})"
        case Contains(fact, value):
            return f"{fact} contains {value!r}"
        case CountAtLeast(fact, n):
            return f"count({fact}) >= {n}"
    raise TypeError(f"not a rule node: {rule!r}")
