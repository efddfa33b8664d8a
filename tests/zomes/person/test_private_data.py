"""Private person data and the grants that share it through the remote
``get_private_data_with_capability`` (zomes/person/profiles.py)."""

from __future__ import annotations

import pytest
from builders import FakeClock
from conftest import key_of

from nodeapp._core.actions import Delete, Visibility
from nodeapp._core.hashing import ActionHash
from nodeapp.conductor import Conductor
from nodeapp.errors import AppValidationError, ZomeCallError
from zomes.person.integrity import GRANT_US_MAX, PrivateDataGrant, grant_expiry_problem
from zomes.person.profiles import DAY_US

DATA = {"legal_name": "Robert Builder", "email": "bob@example.org", "phone": "+1 555",
        "address": "1 Main St", "emergency_contact": "Wendy"}


def read_as(owner: Conductor, reader: Conductor, fields: list[str] | None = None) -> dict:
    payload = {} if fields is None else {"fields": fields}
    return owner.call_json("person", "get_private_data_with_capability", payload,
                           caller=reader.agent)


@pytest.fixture
def bob_data(bob: Conductor) -> Conductor:
    bob.call_json("person", "store_private_person_data", DATA)
    return bob


def test_store_private_person_data_stays_private(bob: Conductor) -> None:
    assert bob.call_json("person", "get_my_private_person_data") is None
    created = bob.call_json("person", "store_private_person_data", DATA)
    found = bob.store.get_action(ActionHash.parse(created).raw)
    assert found is not None and found[0].action.visibility == Visibility.PRIVATE
    assert bob.call_json("person", "get_my_private_person_data")["email"] == DATA["email"]
    bob.call_json("person", "store_private_person_data", {**DATA, "email": "new@example.org"})
    assert bob.call_json("person", "get_my_private_person_data")["email"] == "new@example.org"


def test_store_private_person_data_refuses_bad_input(bob: Conductor) -> None:
    with pytest.raises(ZomeCallError, match="bad input"):
        bob.call_json("person", "store_private_person_data", {"legal_name": "x"})


def test_a_grantee_reads_only_the_granted_fields(bob_data: Conductor, carol: Conductor) -> None:
    bob_data.call_json("person", "grant_private_data_access",
                       {"grantee": key_of(carol), "fields": ["email", "phone"], "days": 3})
    answer = read_as(bob_data, carol)
    assert answer["owner"] == key_of(bob_data)
    assert answer["fields"] == {"email": DATA["email"], "phone": DATA["phone"]}
    assert read_as(bob_data, carol, ["phone"])["fields"] == {"phone": DATA["phone"]}
    with pytest.raises(ZomeCallError, match="not granted: legal_name"):
        read_as(bob_data, carol, ["email", "legal_name"])


def test_several_grants_add_up(bob_data: Conductor, carol: Conductor) -> None:
    for field in ("email", "address"):
        bob_data.call_json("person", "grant_private_data_access",
                           {"grantee": key_of(carol), "fields": [field]})
    assert set(read_as(bob_data, carol)["fields"]) == {"email", "address"}


def test_an_agent_without_a_grant_is_refused(bob_data: Conductor, carol: Conductor,
                                             dave: Conductor) -> None:
    bob_data.call_json("person", "grant_private_data_access",
                       {"grantee": key_of(carol), "fields": ["email"]})
    with pytest.raises(ZomeCallError, match="access refused: no grant names"):
        read_as(bob_data, dave)


def test_a_revoked_grant_answers_no_more(bob_data: Conductor, carol: Conductor) -> None:
    grant = bob_data.call_json("person", "grant_private_data_access",
                               {"grantee": key_of(carol), "fields": ["email"]})
    assert read_as(bob_data, carol)["fields"] == {"email": DATA["email"]}
    revoked = bob_data.call_json("person", "revoke_private_data_access", {"action": grant})
    found = bob_data.store.get_action(ActionHash.parse(revoked).raw)
    assert found is not None and isinstance(found[0].action, Delete)
    with pytest.raises(ZomeCallError, match="access refused: the grant was revoked"):
        read_as(bob_data, carol)
    with pytest.raises(ZomeCallError, match="already revoked"):
        bob_data.call_json("person", "revoke_private_data_access", {"action": grant})


def test_revoke_refuses_what_is_not_a_grant(bob_data: Conductor) -> None:
    profile = bob_data.call_json("person", "create_person", {"name": "Bob"})
    with pytest.raises(ZomeCallError, match="not one of your grants"):
        bob_data.call_json("person", "revoke_private_data_access", {"action": profile})


def test_a_grant_expires(bob_data: Conductor, carol: Conductor, clock: FakeClock) -> None:
    bob_data.call_json("person", "grant_private_data_access",
                       {"grantee": key_of(carol), "fields": ["email"], "days": 2})
    clock.advance(DAY_US)
    assert read_as(bob_data, carol)["fields"] == {"email": DATA["email"]}
    clock.advance(DAY_US)
    with pytest.raises(ZomeCallError, match="access refused: the grant has expired"):
        read_as(bob_data, carol)


@pytest.mark.parametrize("days", [0, 31])
def test_grants_last_one_to_thirty_days(bob_data: Conductor, carol: Conductor,
                                        days: int) -> None:
    with pytest.raises(ZomeCallError, match="bad input"):
        bob_data.call_json("person", "grant_private_data_access",
                           {"grantee": key_of(carol), "fields": ["email"], "days": days})


def test_a_thirty_day_grant_is_allowed(bob_data: Conductor, carol: Conductor,
                                       clock: FakeClock) -> None:
    bob_data.call_json("person", "grant_private_data_access",
                       {"grantee": key_of(carol), "fields": ["email"], "days": 30})
    clock.advance(30 * DAY_US - 10_000_000)
    assert read_as(bob_data, carol)["fields"] == {"email": DATA["email"]}


@pytest.mark.parametrize("offset_us", [GRANT_US_MAX + 60_000_000, -1])
def test_a_grant_beyond_thirty_days_or_in_the_past_is_never_written(
        bob_data: Conductor, carol: Conductor, clock: FakeClock, offset_us: int) -> None:
    """Written by a coordinator that skips the input check: the owner's node validates the
    private grant's content before committing it (only it holds the entry) and refuses it,
    naming the rule; nothing is granted."""
    with pytest.raises(AppValidationError, match="person.grant_expiry_max_30_days: "):
        bob_data.call_json("person", "raw_grant", {
            "grantee": key_of(carol), "fields": ["email"],
            "expires_at_us": clock.now_us + offset_us})
    with pytest.raises(ZomeCallError, match="no grant"):
        read_as(bob_data, carol)


def test_grant_expiry_rule_boundaries() -> None:
    grant = PrivateDataGrant(grantee="agent_" + "A" * 48, fields=("email",), expires_at_us=100)
    assert grant_expiry_problem(grant, 99) is None
    assert grant_expiry_problem(grant, 100 - GRANT_US_MAX) is None
    assert grant_expiry_problem(grant, 100) is not None
    assert grant_expiry_problem(grant, 99 - GRANT_US_MAX) is not None


def test_grant_to_myself_is_refused(bob_data: Conductor) -> None:
    with pytest.raises(ZomeCallError, match="another agent"):
        bob_data.call_json("person", "grant_private_data_access",
                           {"grantee": key_of(bob_data), "fields": ["email"]})


def test_grant_refuses_unknown_fields(bob_data: Conductor, carol: Conductor) -> None:
    with pytest.raises(ZomeCallError, match="bad input"):
        bob_data.call_json("person", "grant_private_data_access",
                           {"grantee": key_of(carol), "fields": ["password"]})


def test_without_stored_data_a_grantee_is_told_so(bob: Conductor, carol: Conductor) -> None:
    bob.call_json("person", "grant_private_data_access",
                  {"grantee": key_of(carol), "fields": ["email"]})
    with pytest.raises(ZomeCallError, match="stored no private data"):
        read_as(bob, carol)


def test_other_functions_are_not_open_to_peers(bob_data: Conductor, carol: Conductor) -> None:
    for fn in ("get_my_private_person_data", "grant_private_data_access"):
        with pytest.raises(ZomeCallError, match="not open to calls from other agents"):
            bob_data.call_json("person", fn, None, caller=carol.agent)
