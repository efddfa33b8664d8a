"""A small deterministic rule language for governance rules (pure: no I/O, no eval, no floats).

``parse_rule(data)`` turns rule data into frozen nodes (bounded depth and size), and
``evaluate(rule, facts)`` judges it over facts that validation assembles from cited evidence,
returning a :class:`Verdict` that says which condition failed. ``zomes.rules.library`` holds the
Nondominium rules written in the language.
"""

from zomes.rules.evaluation import HOLDS, Facts, FactValue, Verdict, describe, evaluate
from zomes.rules.language import (
    DEPTH_MAX,
    ITEMS_MAX,
    NODES_MAX,
    Rule,
    RuleError,
    parse_rule,
    to_data,
)

__all__ = [
    "DEPTH_MAX",
    "HOLDS",
    "ITEMS_MAX",
    "NODES_MAX",
    "FactValue",
    "Facts",
    "Rule",
    "RuleError",
    "Verdict",
    "describe",
    "evaluate",
    "parse_rule",
    "to_data",
]
