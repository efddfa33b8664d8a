"""Person zome functions: devices (with their own keys) registered to their owner."""

from __future__ import annotations

from pydantic import BaseModel, Field

from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.person._shared import COORDINATOR, ActionRef, AgentRef, Input, author_of, read, relink
from zomes.person.integrity import AgentKeyStr, Device, agent_raw


class DeviceInput(Input):
    """A device to register: its Ed25519 key, its kind (e.g. ``cnc_controller``) and a name."""

    device_key: AgentKeyStr
    kind: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=1, max_length=200)


class DeviceOutput(BaseModel):
    """A device as read back: its newest version."""

    action: str
    owner: str
    device_key: str
    kind: str
    name: str
    active: bool


@COORDINATOR.function
def register_device_for_person(api: ZomeApi, device: DeviceInput) -> ActionHash:
    """Register a device I own; readings it signs can cite this record."""
    if agent_raw(device.device_key) == api.agent.raw:
        raise ZomeCallError("a device has its own key, not its owner's")
    created = api.create_entry(Device(device_key=device.device_key, kind=device.kind,
                                      name=device.name))
    api.create_link(api.agent, created, "AgentToDevices")
    return created


@COORDINATOR.function
def deactivate_device(api: ZomeApi, ref: ActionRef) -> ActionHash:
    """Mark one of my devices inactive, for good (give the newest version's action)."""
    current = ActionHash.parse(ref.action)
    device = read(api, current, Device, "Device")
    if author_of(api, current) != api.agent:
        raise ZomeCallError("only a device's owner may deactivate it")
    if not device.active:
        raise ZomeCallError("this device is already deactivated")
    updated = api.update_entry(current, device.model_copy(update={"active": False}))
    relink(api, api.agent, current, updated, "AgentToDevices")
    return updated


@COORDINATOR.function
def get_devices_for_person(api: ZomeApi, ref: AgentRef) -> list[DeviceOutput]:
    """An agent's devices held here (newest versions), oldest registration first."""
    owner = AgentPubKey.parse(ref.agent)
    out = []
    for link in api.get_links(owner, "AgentToDevices"):
        if isinstance(link.target, ActionHash):
            device = api.get_entry(link.target, Device)
            if device is not None:
                out.append(DeviceOutput(action=str(link.target), owner=ref.agent,
                                        **device.model_dump()))
    return out
