"""Governance tests share the resource tests' Nondominium network helper."""

from __future__ import annotations

import sys
from pathlib import Path

_RESOURCE_TESTS = str(Path(__file__).resolve().parent.parent / "resource")
if _RESOURCE_TESTS not in sys.path:
    sys.path.insert(0, _RESOURCE_TESTS)

from nondominium_net import accountable_template, net  # noqa: E402,F401
