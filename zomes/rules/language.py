"""The governance rule language: rules are plain data, parsed into frozen nodes.

Rules:
* A rule is JSON/CBOR data: a one-key mapping ``{operator: argument}``. The operators are a
  closed set (below); nothing is ever evaluated as code, and there are no floats.
* Parsing checks everything up front: operator names, argument shapes, fact names, value types,
  nesting depth (``DEPTH_MAX``), node count (``NODES_MAX``), list and string lengths. A rule that
  parses can always be evaluated, and ``to_data(parse_rule(d)) == d`` for canonical data.

Operators (``F`` is a fact name such as ``"to_state"`` or ``"actor.roles"``):
  ``{"all": [rule, ...]}``        every rule holds (an empty list holds)
  ``{"any": [rule, ...]}``        at least one rule holds (an empty list fails)
  ``{"not": rule}``               the rule fails
  ``{"when": {"if": rule, "then": rule}}``   holds unless ``if`` holds and ``then`` fails
  ``{"named": {"name": N, "check": rule}}``  ``check``, reported under the name ``N``
  ``{"eq": {"fact": F, "value": v}}``        fact equals ``v`` (a string, integer or boolean)
  ``{"in": {"fact": F, "values": [v, ...]}}`` fact is one of the values
  ``{"has_role": {"agent": A, "role": R}}``  the set fact ``A.roles`` holds role ``R``
  ``{"contains": {"fact": F, "value": v}}``  the set fact ``F`` holds ``v``
  ``{"count_at_least": {"fact": F, "n": k}}`` the set fact ``F`` has at least ``k`` members,
                                              or the integer fact ``F`` is at least ``k``
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEPTH_MAX = 8
NODES_MAX = 64
ITEMS_MAX = 16  # children of all/any, values of in
TEXT_CHARS_MAX = 64
COUNT_MAX = 1_000_000

_FACT_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[A-Za-z0-9_]+)*")
_AGENT_NAME = re.compile(r"[a-z][a-z0-9_]*")

Scalar = str | int | bool


class RuleError(ValueError):
    """Raised when rule data is not a well-formed rule; the message says where and why."""


@dataclass(frozen=True, slots=True)
class All:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    rule: Rule


@dataclass(frozen=True, slots=True)
class When:
    condition: Rule
    then: Rule


@dataclass(frozen=True, slots=True)
class Named:
    name: str
    check: Rule


@dataclass(frozen=True, slots=True)
class Eq:
    fact: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class In:
    fact: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class HasRole:
    agent: str
    role: str


@dataclass(frozen=True, slots=True)
class Contains:
    fact: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class CountAtLeast:
    fact: str
    n: int


Rule = All | AnyOf | Not | When | Named | Eq | In | HasRole | Contains | CountAtLeast


def parse_rule(data: Any) -> Rule:
    """Parse rule data into nodes, or raise :class:`RuleError` naming the first problem."""
    counter = [0]
    return _parse(data, 1, counter, "rule")


def _parse(data: Any, depth: int, counter: list[int], where: str) -> Rule:
    if depth > DEPTH_MAX:
        raise RuleError(f"{where}: rules nest at most {DEPTH_MAX} deep")
    counter[0] += 1
    if counter[0] > NODES_MAX:
        raise RuleError(f"{where}: a rule has at most {NODES_MAX} conditions")
    if not isinstance(data, dict) or len(data) != 1:
        raise RuleError(f"{where}: a rule is a mapping with exactly one operator")
    ((op, arg),) = data.items()
    parser = _PARSERS.get(op) if isinstance(op, str) else None
    if parser is None:
        raise RuleError(f"{where}: unknown operator {op!r} (known: {', '.join(_PARSERS)})")
    return parser(arg, depth, counter, f"{where}.{op}")


def _children(arg: Any, depth: int, counter: list[int], where: str) -> tuple[Rule, ...]:
    if not isinstance(arg, list) or len(arg) > ITEMS_MAX:
        raise RuleError(f"{where}: expects a list of at most {ITEMS_MAX} rules")
    return tuple(_parse(item, depth + 1, counter, f"{where}[{i}]") for i, item in enumerate(arg))


def _fields(arg: Any, where: str, *names: str) -> list[Any]:
    if not isinstance(arg, dict) or set(arg) != set(names):
        raise RuleError(f"{where}: expects exactly the keys {', '.join(names)}")
    return [arg[name] for name in names]


def _text(value: Any, where: str, pattern: re.Pattern[str] | None = None) -> str:
    if (not isinstance(value, str) or not 1 <= len(value) <= TEXT_CHARS_MAX
            or (pattern is not None and pattern.fullmatch(value) is None)):
        shape = "" if pattern is None else f" matching {pattern.pattern}"
        raise RuleError(f"{where}: expects a name of 1-{TEXT_CHARS_MAX} characters{shape}")
    return value


def _scalar(value: Any, where: str) -> Scalar:
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) <= COUNT_MAX):
        return value
    if isinstance(value, str) and len(value) <= TEXT_CHARS_MAX:
        return value
    raise RuleError(f"{where}: values are booleans, integers up to {COUNT_MAX} or strings of "
                    f"at most {TEXT_CHARS_MAX} characters")


def _parse_all(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    return All(_children(arg, depth, counter, where))


def _parse_any(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    return AnyOf(_children(arg, depth, counter, where))


def _parse_not(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    return Not(_parse(arg, depth + 1, counter, where))


def _parse_when(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    condition, then = _fields(arg, where, "if", "then")
    return When(_parse(condition, depth + 1, counter, f"{where}.if"),
                _parse(then, depth + 1, counter, f"{where}.then"))


def _parse_named(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    name, check = _fields(arg, where, "name", "check")
    return Named(_text(name, f"{where}.name", _AGENT_NAME),
                 _parse(check, depth + 1, counter, f"{where}.check"))


def _parse_eq(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    fact, value = _fields(arg, where, "fact", "value")
    return Eq(_text(fact, f"{where}.fact", _FACT_NAME), _scalar(value, f"{where}.value"))


def _parse_contains(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    fact, value = _fields(arg, where, "fact", "value")
    return Contains(_text(fact, f"{where}.fact", _FACT_NAME), _scalar(value, f"{where}.value"))


def _parse_in(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    fact, values = _fields(arg, where, "fact", "values")
    if not isinstance(values, list) or not 1 <= len(values) <= ITEMS_MAX:
        raise RuleError(f"{where}.values: expects a list of 1-{ITEMS_MAX} values")
    return In(_text(fact, f"{where}.fact", _FACT_NAME),
              tuple(_scalar(v, f"{where}.values[{i}]") for i, v in enumerate(values)))


def _parse_has_role(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    agent, role = _fields(arg, where, "agent", "role")
    return HasRole(_text(agent, f"{where}.agent", _AGENT_NAME), _text(role, f"{where}.role"))


def _parse_count(arg: Any, depth: int, counter: list[int], where: str) -> Rule:
    fact, n = _fields(arg, where, "fact", "n")
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= COUNT_MAX:
        raise RuleError(f"{where}.n: expects an integer 0-{COUNT_MAX}")
    return CountAtLeast(_text(fact, f"{where}.fact", _FACT_NAME), n)


_PARSERS = {
    "all": _parse_all,
    "any": _parse_any,
    "not": _parse_not,
    "when": _parse_when,
    "named": _parse_named,
    "eq": _parse_eq,
    "in": _parse_in,
    "has_role": _parse_has_role,
    "contains": _parse_contains,
    "count_at_least": _parse_count,
}


def to_data(rule: Rule) -> dict[str, Any]:
    """The rule as plain data (the inverse of :func:`parse_rule`)."""
    match rule:
        case All(rules):
            return {"all": [to_data(r) for r in rules]}
        case AnyOf(rules):
            return {"any": [to_data(r) for r in rules]}
        case Not(inner):
            return {"not": to_data(inner)}
        case When(condition, then):
            return {"when": {"if": to_data(condition), "then": to_data(then)}}
        case Named(name, check):
            return {"named": {"name": name, "check": to_data(check)}}
        case Eq(fact, value):
            return {"eq": {"fact": fact, "value": value}}
        case In(fact, values):
            return {"in": {"fact": fact, "values": list(values)}}
        case HasRole(agent, role):
            return {"has_role": {"agent": agent, "role": role}}
        case Contains(fact, value):
            return {"contains": {"fact": fact, "value": value}}
        case CountAtLeast(fact, n):
            return {"count_at_least": {"fact": fact, "n": n}}
    raise TypeError(f"not a rule node: {rule!r}")
