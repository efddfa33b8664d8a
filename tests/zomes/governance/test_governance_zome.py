"""The governance zome: every function, and every rule refused by name on the author's own
node and by a peer (zomes/governance)."""

from __future__ import annotations

import pytest
from nondominium_net import DAY_US, Net

from nodeapp._core.hashing import ActionHash
from nodeapp.errors import AppValidationError, ZomeCallError
from zomes.governance.models import (
    Claim,
    Commitment,
    EconomicEvent,
    EconomicProcess,
    ProcessType,
    ResourceValidation,
    RoleClaim,
    ValidationReceipt,
    VfAction,
)
from zomes.person.integrity import Role


@pytest.fixture
def resource(net: Net) -> str:
    """A PendingValidation resource of bob's, held by everyone."""
    made = net.resource("bob", net.specification("bob"))
    net.sync()
    return made


def event(net: Net, provider: str, receiver: str, **fields: object) -> EconomicEvent:
    return EconomicEvent(action=fields.pop("action", VfAction.Transfer),
                         provider=net.agent(provider), receiver=net.agent(receiver),
                         **fields)  # type: ignore[arg-type]


def commitment_input(net: Net, provider: str, receiver: str, resource: str,
                     action: str = "transfer") -> dict[str, object]:
    return {"action": action, "provider": net.agent(provider), "receiver": net.agent(receiver),
            "resource": resource, "resource_quantity": 1,
            "due_before_us": net.clock.now_us + DAY_US}


# --- events, commitments, claims ----------------------------------------------------------


def test_log_economic_event(net: Net, resource: str) -> None:
    logged = net.call("bob", "governance", "log_economic_event", {
        "action": "transfer", "receiver": net.agent("carol"),
        "resource_inventoried_as": resource, "resource_quantity": 2, "unit": "each"})
    assert net.entry_at("bob", logged, "governance") == event(
        net, "bob", "carol", resource_inventoried_as=resource, resource_quantity=2)
    net.sync()


@pytest.mark.parametrize("payload", [
    {"action": "steal", "receiver": "R"},
    {"action": "transfer", "receiver": "R", "resource_quantity": -1},
    {"action": "transfer", "receiver": "R", "resource_quantity": 1.5},
    {"action": "transfer", "receiver": "not an agent"},
])
def test_log_economic_event_refuses_bad_input(net: Net, payload: dict[str, object]) -> None:
    payload = {k: net.agent("carol") if v == "R" else v for k, v in payload.items()}
    with pytest.raises(ZomeCallError):
        net.call("bob", "governance", "log_economic_event", payload)


def test_log_initial_transfer(net: Net, resource: str) -> None:
    logged = net.call("bob", "governance", "log_initial_transfer", {
        "resource": resource, "receiver": net.agent("carol"), "resource_quantity": 5})
    entry = net.entry_at("bob", logged, "governance")
    assert isinstance(entry, EconomicEvent) and entry.action is VfAction.InitialTransfer
    with pytest.raises(AppValidationError, match="governance.initial_transfer_by_creator"):
        net.call("carol", "governance", "log_initial_transfer", {
            "resource": resource, "receiver": net.agent("dave")})


def test_propose_and_claim_commitment(net: Net, resource: str) -> None:
    commitment = net.call("carol", "governance", "propose_commitment",
                          commitment_input(net, "bob", "carol", resource))
    net.sync()
    logged = net.call("bob", "governance", "log_economic_event", {
        "action": "transfer", "receiver": net.agent("carol"),
        "resource_inventoried_as": resource, "resource_quantity": 1, "fulfills": commitment})
    net.sync()
    claim = net.call("carol", "governance", "claim_commitment",
                     {"commitment": commitment, "fulfilled_by": logged})
    net.sync()
    assert net.entry_at("alice", claim, "governance").fulfilled_by == logged  # type: ignore[attr-defined]


def test_propose_commitment_refusals(net: Net, resource: str) -> None:
    late = {**commitment_input(net, "bob", "carol", resource), "due_before_us": 1}
    with pytest.raises(ZomeCallError, match="due in the future"):
        net.call("carol", "governance", "propose_commitment", late)
    with pytest.raises(ZomeCallError, match="does not hold Transport"):
        net.call("carol", "governance", "propose_commitment",
                 {**commitment_input(net, "bob", "carol", resource), "roles": ["Transport"]})


def test_claim_of_a_mismatched_event(net: Net, resource: str) -> None:
    commitment = net.call("carol", "governance", "propose_commitment",
                          commitment_input(net, "bob", "carol", resource))
    net.sync()
    other = net.call("carol", "governance", "log_economic_event", {
        "action": "use", "receiver": net.agent("carol"), "provider": net.agent("carol")})
    net.refused_call("carol", "claim_commitment",
                     {"commitment": commitment, "fulfilled_by": other},
                     "governance.fulfills_commitment", zome="governance")
    net.refused_everywhere("carol", "governance", Claim(fulfills=other, fulfilled_by=other),
                           "governance.fulfills_commitment: a claim cites a Commitment")
    net.refused_everywhere("dave", "governance", Claim(fulfills=commitment, fulfilled_by=other),
                           "governance.author_is_party: only a party of the commitment")


# --- validation receipts and k-of-n validations ---------------------------------------------


def test_validation_receipts_and_listing(net: Net, resource: str) -> None:
    first = net.receipt("carol", resource, stage="Active")
    second = net.receipt("dave", resource, approved=False)
    net.sync()
    listed = net.call("alice", "governance", "get_validation_receipts", {"item": resource})
    assert [(r["action"], r["validator"], r["approved"], r["stage"]) for r in listed] == [
        (first, net.agent("carol"), True, "Active"), (second, net.agent("dave"), False, None)]


@pytest.mark.parametrize(("approvals", "refusals", "status"), [
    (2, 0, "Approved"), (1, 0, "Pending"), (1, 1, "Pending"), (0, 2, "Rejected"),
])
def test_create_resource_validation_status(net: Net, resource: str, approvals: int,
                                           refusals: int, status: str) -> None:
    validators = iter(("carol", "dave", "alice"))
    receipts = [net.receipt(next(validators), resource) for _ in range(approvals)]
    receipts += [net.receipt(next(validators), resource, approved=False)
                 for _ in range(refusals)]
    net.sync()
    made = net.validation("bob", resource, receipts)
    assert net.entry_at("bob", made, "governance").status == status  # type: ignore[attr-defined]


def test_create_resource_validation_refuses_a_bad_scheme(net: Net, resource: str) -> None:
    with pytest.raises(ZomeCallError, match="need 1 <= k <= n"):
        net.validation("bob", resource, [], scheme="3-of-2")


# --- agent checks -------------------------------------------------------------------------


def test_validate_agent_identity(net: Net) -> None:
    assert net.call("alice", "governance", "validate_agent_identity",
                    {"agent": net.agent("bob")})["valid"] is False
    net.call("bob", "person", "create_person", {"name": "Bob"})
    net.sync()
    assert net.call("alice", "governance", "validate_agent_identity",
                    {"agent": net.agent("bob")}) == {"valid": True, "reason": "profile 'Bob'"}


def test_validate_specialized_role(net: Net) -> None:
    ask = {"agent": net.agent("bob"), "role": "Repair"}
    assert net.call("carol", "governance", "validate_specialized_role", ask)["valid"] is False
    net.give_role("bob", "Repair")
    answer = net.call("carol", "governance", "validate_specialized_role", ask)
    assert answer["valid"] is True and answer["reason"].startswith("evidence action_")
    assert net.call("carol", "governance", "validate_specialized_role", {
        "agent": net.agent("alice"), "role": "AccountableAgent"}) == {"valid": True,
                                                                       "reason": "steward"}


# --- rules, refused by the author's node and by peers ---------------------------------------


def test_role_required(net: Net, resource: str) -> None:
    unproven = ValidationReceipt(validated_item=resource, validation_type="quality",
                                 approved=True, roles=(RoleClaim(role=Role.Repair),))
    net.refused_everywhere("carol", "governance", unproven, "governance.role_required")


def test_author_is_party(net: Net, resource: str) -> None:
    net.refused_everywhere("bob", "governance", event(net, "carol", "dave"),
                           "governance.author_is_party")
    stranger = Commitment(action=VfAction.Transfer, provider=net.agent("carol"),
                          receiver=net.agent("dave"), due_before_us=net.clock.now_us + DAY_US)
    net.refused_everywhere("bob", "governance", stranger, "governance.author_is_party")


def test_cites_resource(net: Net, resource: str) -> None:
    spec = net.entry_at("bob", resource).specification  # type: ignore[attr-defined]
    net.refused_everywhere("bob", "governance",
                           event(net, "bob", "carol", resource_inventoried_as=spec),
                           "governance.cites_resource")


def test_initial_transfer_by_creator(net: Net, resource: str) -> None:
    net.refused_everywhere("carol", "governance", event(
        net, "carol", "dave", action=VfAction.InitialTransfer,
        resource_inventoried_as=resource), "governance.initial_transfer_by_creator")
    net.refused_everywhere("bob", "governance", event(
        net, "bob", "dave", action=VfAction.InitialTransfer),
        "governance.initial_transfer_by_creator")


def test_fulfills_commitment(net: Net, resource: str) -> None:
    commitment = net.call("carol", "governance", "propose_commitment",
                          commitment_input(net, "bob", "carol", resource))
    net.refused_everywhere("bob", "governance", event(
        net, "bob", "carol", action=VfAction.Use, resource_inventoried_as=resource,
        fulfills=commitment), "governance.fulfills_commitment")
    net.refused_everywhere("bob", "governance", event(net, "bob", "carol", fulfills=resource),
                           "governance.fulfills_commitment")


def test_commitment_due_after_proposal(net: Net) -> None:
    late = Commitment(action=VfAction.Transfer, provider=net.agent("bob"),
                      receiver=net.agent("carol"), due_before_us=1)
    net.refused_everywhere("bob", "governance", late,
                           "governance.commitment_due_after_proposal")


def test_no_self_validation(net: Net, resource: str) -> None:
    mine = ValidationReceipt(validated_item=resource, validation_type="quality", approved=True)
    net.refused_everywhere("bob", "governance", mine, "governance.no_self_validation")


def _receipts(net: Net, resource: str) -> tuple[str, str, str]:
    """Approvals by carol and dave (AccountableAgents) and one by alice without a role claim."""
    carol = net.receipt("carol", resource)
    dave = net.receipt("dave", resource)
    bare = net.receipt("alice", resource, roles=())
    net.sync()
    return carol, dave, bare


@pytest.mark.parametrize(("case", "message"), [
    ("one_approval", "2-of-3 needs 2 approvals; 1 cited"),
    ("same_validator_twice", "each validator counts once"),
    ("no_role", "a validator did not prove AccountableAgent"),
    ("too_many", "2-of-3 takes at most 3 receipts"),
    ("bad_scheme", "'3-of-2': need 1 <= k <= n"),
    ("early_rejection", "2-of-3 is rejected only after 2 refusals; 0 cited"),
    ("other_item", "a cited receipt validates another item"),
    ("not_a_receipt", "a cited receipt is not a ValidationReceipt"),
])
def test_scheme(net: Net, resource: str, case: str, message: str) -> None:
    carol, dave, bare = _receipts(net, resource)
    other = net.resource("bob", net.entry_at("bob", resource).specification)  # type: ignore[attr-defined]
    net.sync()
    foreign = net.receipt("carol", other)
    approved = {"resource": resource, "scheme": "2-of-3", "status": "Approved"}
    cases: dict[str, dict[str, object]] = {
        "one_approval": {**approved, "receipts": (carol,)},
        "same_validator_twice": {**approved, "receipts": (carol, carol)},
        "no_role": {**approved, "receipts": (carol, bare)},
        "too_many": {**approved, "receipts": (carol, dave, bare, carol)},
        "bad_scheme": {**approved, "scheme": "3-of-2", "receipts": (carol, dave)},
        "early_rejection": {**approved, "status": "Rejected", "receipts": (carol, dave)},
        "other_item": {**approved, "receipts": (carol, foreign)},
        "not_a_receipt": {**approved, "receipts": (carol, other)},
    }
    net.refused_everywhere("bob", "governance", ResourceValidation.model_validate(cases[case]),
                           f"governance.scheme: {message}")


def test_a_validation_update_keeps_resource_and_scheme(net: Net, resource: str) -> None:
    carol, dave, _ = _receipts(net, resource)
    pending = net.validation("bob", resource, [carol])
    changed = ResourceValidation(resource=resource, scheme="1-of-3", receipts=(carol, dave),
                                 status="Approved")
    net.refused_everywhere("bob", "governance", changed,
                           "governance.scheme: an update keeps the resource and scheme",
                           original=pending)
    kept = changed.model_copy(update={"scheme": "2-of-3"})
    net.call("bob", "resource", "write_raw", {"zome": "governance", "entry": kept,
                                              "original": pending})
    net.sync()  # every peer accepts the same update keeping its scheme


def test_process_requires_role(net: Net, resource: str) -> None:
    unclaimed = EconomicProcess(process_type=ProcessType.Repair, resource=resource)
    net.refused_everywhere("bob", "governance", unclaimed, "governance.process_requires_role")


def test_append_only(net: Net, resource: str) -> None:
    logged = net.call("bob", "governance", "log_economic_event", {
        "action": "transfer", "receiver": net.agent("carol")})
    net.refused_everywhere("bob", "governance", event(net, "bob", "carol", note="edited"),
                           "governance.append_only: a EconomicEvent is never updated",
                           original=logged)
    net.refused_call("bob", "delete_raw", {"action": logged},
                     "governance.append_only: governance records are never deleted")


def test_only_a_links_creator_deletes_it(net: Net, resource: str) -> None:
    net.call("bob", "governance", "log_economic_event", {
        "action": "transfer", "receiver": net.agent("carol"), "resource_inventoried_as": resource})
    net.sync()
    link = list(net["carol"].store.chain(net["bob"].agent))[-1][0]
    net.refused_call("carol", "delete_link_raw", {"action": str(ActionHash(link.hash))},
                     "governance.append_only: only a link's creator deletes it")


def test_link_target(net: Net, resource: str) -> None:
    net.refused_call("bob", "link_raw", {
        "zome": "governance", "base": resource, "target": net.agent("carol"),
        "link_type": "ResourceToEvents"}, "governance.link_target")
