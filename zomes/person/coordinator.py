"""Callable functions of the person zome (Nondominium names)."""

from __future__ import annotations

from nodeapp.coordinator import Coordinator
from zomes.person.integrity import ZOME

COORDINATOR = Coordinator(ZOME)
