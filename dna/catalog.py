"""The zomes installed with this program, by name.

An integrity zome is named by the DNA (and pinned by the hash of its code); its coordinator is
found here by the same name. Adding a zome here does not change any existing network: only the
zomes a manifest lists are part of its DNA.
"""

from __future__ import annotations

from types import ModuleType

import zomes.example.coordinator
import zomes.example.integrity
import zomes.facility.coordinator
import zomes.facility.integrity
import zomes.governance.coordinator
import zomes.governance.integrity
import zomes.person.coordinator
import zomes.person.integrity
import zomes.resource.coordinator
import zomes.resource.integrity

INTEGRITY_ZOMES: dict[str, ModuleType] = {
    "example": zomes.example.integrity,
    "person": zomes.person.integrity,
    "facility": zomes.facility.integrity,
    "resource": zomes.resource.integrity,
    "governance": zomes.governance.integrity,
}

COORDINATORS: dict[str, ModuleType] = {
    "example": zomes.example.coordinator,
    "person": zomes.person.coordinator,
    "facility": zomes.facility.coordinator,
    "resource": zomes.resource.coordinator,
    "governance": zomes.governance.coordinator,
}

# The zomes a new production network's DNA holds, in index order.
PRODUCTION_ZOMES: tuple[str, ...] = ("example", "person", "resource", "governance", "facility")
