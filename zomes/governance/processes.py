"""The economic processes Nondominium only specified: Use, Transport, Storage, Repair.

Each process needs a role (``PROCESS_ROLES``, checked by governance validation), moves the
resource to a state while it runs and to another when it completes, and logs a ValueFlows event
at each end. One call writes the process record, the event and the resource's new version
(through the resource zome), so they are validated and committed together; the resource
version cites the process and the event as evidence and claims the process role, so the
specification's rules (e.g. only Repair may move it to Maintenance) judge it."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from nodeapp._core.hashing import ActionHash
from nodeapp.errors import ZomeCallError
from nodeapp.zome_api import ZomeApi
from zomes.governance.calls import RolesInput, claims_for, read
from zomes.governance.integrity import PROCESS_ROLES
from zomes.governance.models import (
    RECEIPTS_MAX,
    EconomicEvent,
    EconomicProcess,
    ProcessType,
    VfAction,
)
from zomes.person.integrity import ActionHashStr
from zomes.resource.coordinator import current, write_version
from zomes.resource.models import ResourceState


@dataclass(frozen=True)
class ProcessSpec:
    """What a process does to its resource and which events it logs."""

    running: ResourceState
    done: ResourceState
    start_event: VfAction | None
    end_event: VfAction


PROCESSES: dict[ProcessType, ProcessSpec] = {
    ProcessType.Use: ProcessSpec(ResourceState.Reserved, ResourceState.Active, None,
                                 VfAction.Use),
    ProcessType.Transport: ProcessSpec(ResourceState.Reserved, ResourceState.Active,
                                       VfAction.Pickup, VfAction.Dropoff),
    ProcessType.Storage: ProcessSpec(ResourceState.Reserved, ResourceState.Active,
                                     VfAction.Dropoff, VfAction.Pickup),
    ProcessType.Repair: ProcessSpec(ResourceState.Maintenance, ResourceState.Active,
                                    VfAction.Accept, VfAction.Modify),
}


class ProcessInput(RolesInput):
    """Start a process on one of my resources (``roles`` adds to the process's own role)."""

    process_type: ProcessType
    resource: ActionHashStr
    location: str | None = None
    note: str = ""
    evidence: list[ActionHashStr] = Field(default_factory=list, max_length=RECEIPTS_MAX - 2)


class CompleteProcessInput(RolesInput):
    """Finish a process I started; ``location`` is where the resource ends up."""

    process: ActionHashStr
    location: str | None = None
    note: str = ""
    evidence: list[ActionHashStr] = Field(default_factory=list, max_length=RECEIPTS_MAX - 2)


class ProcessOutput(BaseModel):
    """What one process step wrote."""

    process: str
    event: str | None
    resource_version: str


def _event(api: ZomeApi, action: VfAction | None, origin: ActionHash, note: str
           ) -> ActionHash | None:
    if action is None:
        return None
    me = str(api.agent)
    return api.create_entry(EconomicEvent(action=action, provider=me, receiver=me,
                                          resource_inventoried_as=str(origin), note=note))


def _step(api: ZomeApi, process: ActionHash, entry: EconomicProcess, state: ResourceState,
          event_action: VfAction | None, request: ProcessInput | CompleteProcessInput
          ) -> ProcessOutput:
    """Log the event and move the resource, citing the process and the event."""
    origin = ActionHash.parse(entry.resource)
    event = _event(api, event_action, origin, request.note)
    roles = [PROCESS_ROLES[entry.process_type], *request.roles]
    evidence = [str(process), *([str(event)] if event else []), *request.evidence]
    changes: dict[str, object] = {"state": state}
    if request.location is not None:
        changes["current_location"] = request.location
    version = write_version(api.zome("resource"), entry.resource, roles, evidence, **changes)
    if event is not None:
        api.create_link(origin, event, "ResourceToEvents")
    return ProcessOutput(process=str(process), event=None if event is None else str(event),
                         resource_version=str(version))


def initiate_economic_process(api: ZomeApi, request: ProcessInput) -> ProcessOutput:
    """Start a Use, Transport, Storage or Repair process on a resource in my custody."""
    spec = PROCESSES[request.process_type]
    origin = current(api.zome("resource"), request.resource)[0]
    entry = EconomicProcess(
        process_type=request.process_type, resource=str(origin), location=request.location,
        note=request.note,
        roles=claims_for(api, [PROCESS_ROLES[request.process_type], *request.roles]))
    process = api.create_entry(entry)
    api.create_link(origin, process, "ResourceToProcesses")
    return _step(api, process, entry, spec.running, spec.start_event, request)


def complete_economic_process(api: ZomeApi, request: CompleteProcessInput) -> ProcessOutput:
    """Finish a process I started: the resource moves on and the closing event is logged."""
    started = ActionHash.parse(request.process)
    before = read(api, started, EconomicProcess, "EconomicProcess")
    if before.status != "Initiated":
        raise ZomeCallError("this process version is already completed")
    record = api.get(started)
    assert record is not None
    if record.signed.action.author != api.agent.raw:
        raise ZomeCallError("only the agent who started a process completes it")
    after = before.model_copy(update={"status": "Completed", "note": request.note,
                                      "location": request.location or before.location})
    process = api.update_entry(started, EconomicProcess.model_validate(after.model_dump()))
    spec = PROCESSES[before.process_type]
    return _step(api, process, after, spec.done, spec.end_event, request)
