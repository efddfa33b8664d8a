"""Callable functions of the person zome (Nondominium names).

The functions live in :mod:`profiles` (profiles, private data, grants), :mod:`roles` (roles and
promotions) and :mod:`devices`; importing them registers them on one ``COORDINATOR``."""

from __future__ import annotations

from zomes.person import devices, profiles, roles
from zomes.person._shared import COORDINATOR

__all__ = ["COORDINATOR", "devices", "profiles", "roles"]
