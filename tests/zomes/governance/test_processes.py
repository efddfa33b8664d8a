"""Economic processes (Use, Transport, Storage, Repair): roles, state changes and events
(zomes/governance/processes.py)."""

from __future__ import annotations

import pytest
from nondominium_net import REPAIR_ONLY_MAINTENANCE, Net

from nodeapp.errors import ZomeCallError
from zomes.governance.models import EconomicEvent, EconomicProcess, VfAction


def active_resource(net: Net, rules: list[dict[str, object]] | None = None) -> str:
    resource = net.resource("bob", net.specification("bob", rules))
    net.activate("bob", resource)
    return resource


def state(net: Net, resource: str) -> dict[str, object]:
    return net.call("bob", "resource", "get_economic_resource", {"resource": resource})


@pytest.mark.parametrize(("process_type", "role", "running", "start", "end"), [
    ("Use", None, "Reserved", None, VfAction.Use),
    ("Transport", "Transport", "Reserved", VfAction.Pickup, VfAction.Dropoff),
    ("Storage", "Storage", "Reserved", VfAction.Dropoff, VfAction.Pickup),
    ("Repair", "Repair", "Maintenance", VfAction.Accept, VfAction.Modify),
])
def test_process_lifecycle(net: Net, process_type: str, role: str | None, running: str,
                           start: VfAction | None, end: VfAction) -> None:
    resource = active_resource(net, [REPAIR_ONLY_MAINTENANCE])
    if role is not None:
        net.give_role("bob", role)
    started = net.call("bob", "governance", "initiate_economic_process",
                       {"process_type": process_type, "resource": resource})
    assert state(net, resource)["state"] == running
    assert state(net, resource)["version"] == started["resource_version"]
    if start is None:
        assert started["event"] is None
    else:
        logged = net.entry_at("bob", started["event"], "governance")
        assert isinstance(logged, EconomicEvent) and logged.action is start
    done = net.call("bob", "governance", "complete_economic_process",
                    {"process": started["process"], "location": "site B"})
    assert (state(net, resource)["state"], state(net, resource)["current_location"]) == (
        "Active", "site B")
    closing = net.entry_at("bob", done["event"], "governance")
    assert isinstance(closing, EconomicEvent) and closing.action is end
    process = net.entry_at("bob", done["process"], "governance")
    assert isinstance(process, EconomicProcess) and process.status == "Completed"
    net.sync()  # every peer accepts all of it


def test_a_process_needs_its_role(net: Net) -> None:
    resource = active_resource(net)
    with pytest.raises(ZomeCallError, match="does not hold Repair"):
        net.call("bob", "governance", "initiate_economic_process",
                 {"process_type": "Repair", "resource": resource})
    assert state(net, resource)["state"] == "Active"


def test_only_the_custodian_runs_a_process(net: Net) -> None:
    resource = active_resource(net)
    net.sync()
    with pytest.raises(ZomeCallError, match="only the resource's custodian"):
        net.call("carol", "governance", "initiate_economic_process",
                 {"process_type": "Use", "resource": resource})


def test_a_process_completes_once(net: Net) -> None:
    resource = active_resource(net)
    started = net.call("bob", "governance", "initiate_economic_process",
                       {"process_type": "Use", "resource": resource})
    done = net.call("bob", "governance", "complete_economic_process",
                    {"process": started["process"]})
    with pytest.raises(ZomeCallError, match="already completed"):
        net.call("bob", "governance", "complete_economic_process", {"process": done["process"]})


def test_a_process_cannot_start_on_a_pending_resource(net: Net) -> None:
    resource = net.resource("bob", net.specification("bob"))
    with pytest.raises(ZomeCallError, match="PendingValidation resource cannot become Reserved"):
        net.call("bob", "governance", "initiate_economic_process",
                 {"process_type": "Use", "resource": resource})


def test_completing_a_process_keeps_its_type_and_resource(net: Net) -> None:
    resource = active_resource(net)
    started = net.call("bob", "governance", "initiate_economic_process",
                       {"process_type": "Use", "resource": resource})
    initiated = net.entry_at("bob", started["process"], "governance")
    assert isinstance(initiated, EconomicProcess)
    other = net.resource("bob", net.entry_at("bob", resource).specification)  # type: ignore[attr-defined]
    moved = initiated.model_copy(update={"status": "Completed", "resource": other})
    net.refused_everywhere("bob", "governance", moved, "governance.process_requires_role: "
                           "completing a process updates an Initiated process",
                           original=started["process"])
    done = net.call("bob", "governance", "complete_economic_process",
                    {"process": started["process"]})
    again = initiated.model_copy(update={"status": "Completed"})
    net.refused_everywhere("bob", "governance", again, "governance.process_requires_role: "
                           "completing a process updates an Initiated process",
                           original=done["process"])
