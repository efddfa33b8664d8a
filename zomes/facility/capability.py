"""Capability matching, pure: what a facility lacks for a production step at a given time."""

from __future__ import annotations

from collections.abc import Iterable

from zomes.facility.integrity import Facility


def missing_capabilities(facility: Facility, needed: Iterable[str]) -> list[str]:
    """The needed equipment capabilities no machine of the facility offers, in asked order."""
    held = {cap for machine in facility.equipment for cap in machine.capabilities}
    return [cap for cap in dict.fromkeys(needed) if cap not in held]


def missing_certifications(facility: Facility, needed: Iterable[str], at_us: int) -> list[str]:
    """The needed certifications (by name) the facility holds in force at ``at_us`` under no
    issuer, in asked order: an expired or not yet valid certificate counts as missing."""
    held = {cert.name for cert in facility.certifications if cert.holds_at(at_us)}
    return [name for name in dict.fromkeys(needed) if name not in held]
