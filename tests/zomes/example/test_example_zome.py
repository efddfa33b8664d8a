"""The example notes zome: every coordinator function, and the integrity rules as peers and
the author's own node enforce them (zomes/example)."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import (
    FakeClock,
    build_conductor,
    build_dna,
    export_chain,
    note_bytes,
    sign,
    with_coordinator,
)

from nodeapp._core.actions import (
    Create,
    CreateLink,
    Delete,
    DeleteLink,
    SignedAction,
    Update,
    Visibility,
)
from nodeapp._core.hashing import ActionHash, AgentPubKey, EntryHash, HashKind, blake2b_256
from nodeapp._core.integrity import decode_entry
from nodeapp._core.ops import OpType, ops_for_action
from nodeapp.conductor import Conductor
from nodeapp.coordinator import Coordinator
from nodeapp.errors import AppValidationError, InvalidHash, NodeError, ZomeCallError
from nodeapp.keystore import generate_agent_key
from nodeapp.zome_api import ZomeApi
from zomes.example import coordinator as example_coordinator
from zomes.example.coordinator import NoteRef
from zomes.example.integrity import ZOME, Note, PrivateNote

# A coordinator with the example functions plus raw writes that the example coordinator never
# makes, to show the integrity rules hold whatever coordinator code runs.
RAW = Coordinator(ZOME)
RAW.functions.update(example_coordinator.COORDINATOR.functions)


@RAW.function
def link_to_entry(api: ZomeApi, ref: NoteRef) -> ActionHash:
    """An AuthorToNotes link whose target is an entry hash, not an action."""
    record = api.get(ActionHash.parse(ref.note))
    assert record is not None
    entry_hash = EntryHash(record.signed.action.entry_hash_or_none or b"")
    return api.create_link(api.agent, entry_hash, "AuthorToNotes")


@RAW.function
def unlink(api: ZomeApi, ref: NoteRef) -> ActionHash:
    """Delete the link ``ref.note`` names (any author's)."""
    return api.delete_link(ActionHash.parse(ref.note))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def alice(tmp_path: Path, clock: FakeClock) -> Conductor:
    key = generate_agent_key()
    dna = with_coordinator(build_dna(stewards=[key]), RAW)
    return build_conductor(tmp_path, key=key, dna=dna, clock=clock, db_name="alice.db")


@pytest.fixture
def bob(tmp_path: Path, alice: Conductor, clock: FakeClock) -> Conductor:
    """A second agent in the same network, on its own node."""
    return build_conductor(tmp_path, dna=alice.dna, clock=clock, db_name="bob.db")


def agent_str(node: Conductor) -> str:
    return str(AgentPubKey(node.agent))


def action_of(node: Conductor, printable: str) -> SignedAction:
    found = node.store.get_action(ActionHash.parse(printable).raw)
    assert found is not None
    return found[0]


def chain_len(node: Conductor) -> int:
    return len(list(node.store.chain(node.agent)))


def share(src: Conductor, dst: Conductor) -> None:
    """Send ``src``'s whole chain (public entries only) to ``dst``; all of it must be stored."""
    report = dst.ingest(export_chain(src))
    assert report.rejected == [] and report.unresolved == [], report


# --- create_note --------------------------------------------------------------------------


def test_create_note_with_index(alice: Conductor) -> None:
    before = chain_len(alice)
    created = alice.call_json("example", "create_note", {"title": "hi", "body": "x"})
    assert isinstance(ActionHash.parse(created), ActionHash)
    assert chain_len(alice) == before + 2
    create = action_of(alice, created)
    assert isinstance(create.action, Create)
    assert create.action.visibility == Visibility.PUBLIC
    entry = alice.store.get_entry(create.action.entry_hash)
    assert entry == note_bytes("hi", "x")
    assert decode_entry(entry, ZOME.entry_defs[0]) == Note(title="hi", body="x")

    link = list(alice.store.chain(alice.agent))[-1][0].action
    assert isinstance(link, CreateLink)
    assert link.base == AgentPubKey(alice.agent).tagged()
    assert link.target == ActionHash.parse(created).tagged()
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(alice)}) == [created]


def test_create_note_without_index(alice: Conductor) -> None:
    before = chain_len(alice)
    created = alice.call_json("example", "create_note",
                              {"title": "quiet", "index_by_author": False})
    assert chain_len(alice) == before + 1
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(alice)}) == []
    assert alice.call_json("example", "get_note", {"note": created})["title"] == "quiet"


def test_create_note_body_defaults_to_empty(alice: Conductor) -> None:
    created = alice.call_json("example", "create_note", {"title": "t"})
    assert alice.call_json("example", "get_note", {"note": created})["body"] == ""


def test_the_same_note_twice_is_two_actions_over_one_entry(alice: Conductor) -> None:
    counts = alice.store.counts()
    one = alice.call_json("example", "create_note", {"title": "same"})
    two = alice.call_json("example", "create_note", {"title": "same"})
    assert one != two
    assert alice.store.counts()["entry"] == counts["entry"] + 1
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(alice)}) == [one, two]


@pytest.mark.parametrize("payload", [
    {"title": ""},
    {"title": "t" * 201},
    {"title": "t", "body": "b" * (64 * 1024 + 1)},
    {"title": "t", "unexpected": 1},
    {"body": "no title"},
    None,
])
def test_create_note_refuses_bad_notes(alice: Conductor, payload: object) -> None:
    before = alice.store.counts()
    with pytest.raises(ZomeCallError):
        alice.call_json("example", "create_note", payload)
    assert alice.store.counts() == before


def test_limits_are_inclusive(alice: Conductor) -> None:
    created = alice.call_json("example", "create_note",
                              {"title": "t" * 200, "body": "b" * (64 * 1024)})
    assert len(alice.call_json("example", "get_note", {"note": created})["body"]) == 64 * 1024


# --- get_note -----------------------------------------------------------------------------


def test_get_note(alice: Conductor) -> None:
    created = alice.call_json("example", "create_note", {"title": "hi", "body": "there"})
    assert alice.call_json("example", "get_note", {"note": created}) == {
        "action": created, "author": agent_str(alice), "title": "hi", "body": "there"}


def test_get_note_of_an_unknown_hash_is_none(alice: Conductor) -> None:
    assert alice.call_json("example", "get_note", {"note": str(ActionHash(b"\x01" * 32))}) is None


def test_get_note_of_a_link_action_is_none(alice: Conductor) -> None:
    alice.call_json("example", "create_note", {"title": "hi"})
    link = list(alice.store.chain(alice.agent))[-1][0]
    assert isinstance(link.action, CreateLink)
    assert alice.call_json("example", "get_note", {"note": str(ActionHash(link.hash))}) is None


@pytest.mark.parametrize("note", ["nope", "entry_" + "A" * 48, str(AgentPubKey(b"\x02" * 32))])
def test_get_note_refuses_what_is_not_an_action_hash(alice: Conductor, note: str) -> None:
    with pytest.raises(InvalidHash):
        alice.call_json("example", "get_note", {"note": note})


def test_get_note_of_a_private_note_is_none(alice: Conductor) -> None:
    private = alice.call_json("example", "save_private_note", {"text": "psst"})
    try:
        result = alice.call_json("example", "get_note", {"note": private})
    except ZomeCallError:
        return
    assert result is None


# --- update_note --------------------------------------------------------------------------


def test_update_note(alice: Conductor) -> None:
    original = alice.call_json("example", "create_note", {"title": "v1", "body": "a"})
    updated = alice.call_json("example", "update_note",
                              {"original": original, "title": "v2", "body": "b"})
    update = action_of(alice, updated).action
    assert isinstance(update, Update)
    assert update.original_action == ActionHash.parse(original).raw
    assert update.original_entry == action_of(alice, original).action.entry_hash
    assert update.entry_hash == blake2b_256(note_bytes("v2", "b"))
    assert alice.call_json("example", "get_note", {"note": updated})["title"] == "v2"
    # the original record is still there: reads do not follow updates
    assert alice.call_json("example", "get_note", {"note": original})["title"] == "v1"
    # the index still points at the original
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(alice)}) == [
        original]
    ops = {op.op_type for op in ops_for_action(update, ActionHash.parse(updated).raw)}
    assert {OpType.REGISTER_UPDATED_CONTENT, OpType.REGISTER_UPDATED_RECORD} <= ops


def test_update_of_an_update(alice: Conductor) -> None:
    v1 = alice.call_json("example", "create_note", {"title": "v1"})
    v2 = alice.call_json("example", "update_note", {"original": v1, "title": "v2"})
    v3 = alice.call_json("example", "update_note", {"original": v2, "title": "v3"})
    assert alice.call_json("example", "get_note", {"note": v3})["title"] == "v3"


def test_update_note_of_an_unknown_note(alice: Conductor) -> None:
    with pytest.raises(ZomeCallError, match="not held"):
        alice.call_json("example", "update_note",
                        {"original": str(ActionHash(b"\x03" * 32)), "title": "x"})


def test_update_note_refuses_a_bad_new_version(alice: Conductor) -> None:
    original = alice.call_json("example", "create_note", {"title": "v1"})
    with pytest.raises(ZomeCallError):
        alice.call_json("example", "update_note", {"original": original, "title": ""})


def test_a_private_note_cannot_be_updated_into_a_note(alice: Conductor) -> None:
    private = alice.call_json("example", "save_private_note", {"text": "psst"})
    with pytest.raises(AppValidationError) as caught:
        alice.call_json("example", "update_note", {"original": private, "title": "public now"})
    assert "an update must replace an entry of the same type" in caught.value.detail


# --- delete_note --------------------------------------------------------------------------


def test_delete_note(alice: Conductor) -> None:
    kept = alice.call_json("example", "create_note", {"title": "keep"})
    gone = alice.call_json("example", "create_note", {"title": "gone"})
    deleted = alice.call_json("example", "delete_note", {"note": gone})
    delete = action_of(alice, deleted).action
    assert isinstance(delete, Delete)
    assert delete.deletes_action == ActionHash.parse(gone).raw
    assert delete.deletes_entry == action_of(alice, gone).action.entry_hash
    assert alice.call_json("example", "get_note", {"note": gone}) is None
    assert alice.call_json("example", "get_note", {"note": kept})["title"] == "keep"
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(alice)}) == [kept]


def test_delete_note_of_an_update(alice: Conductor) -> None:
    v1 = alice.call_json("example", "create_note", {"title": "v1"})
    v2 = alice.call_json("example", "update_note", {"original": v1, "title": "v2"})
    alice.call_json("example", "delete_note", {"note": v2})
    assert alice.call_json("example", "get_note", {"note": v2}) is None
    assert alice.call_json("example", "get_note", {"note": v1})["title"] == "v1"


def test_delete_note_refuses_what_is_not_a_note_write(alice: Conductor) -> None:
    alice.call_json("example", "create_note", {"title": "hi"})
    link = list(alice.store.chain(alice.agent))[-1][0]
    with pytest.raises(ZomeCallError, match="only a Create or Update"):
        alice.call_json("example", "delete_note", {"note": str(ActionHash(link.hash))})
    with pytest.raises(ZomeCallError, match="not held"):
        alice.call_json("example", "delete_note", {"note": str(ActionHash(b"\x04" * 32))})


# --- notes_by_author ----------------------------------------------------------------------


def test_notes_by_author_lists_in_order_and_only_that_author(alice: Conductor,
                                                             bob: Conductor) -> None:
    mine = [alice.call_json("example", "create_note", {"title": f"a{i}"}) for i in range(3)]
    theirs = [bob.call_json("example", "create_note", {"title": f"b{i}"}) for i in range(2)]
    share(bob, alice)
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(alice)}) == mine
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(bob)}) == theirs
    assert bob.call_json("example", "notes_by_author", {"agent": agent_str(alice)}) == []
    stranger = str(AgentPubKey(generate_agent_key().public_key))
    assert alice.call_json("example", "notes_by_author", {"agent": stranger}) == []


def test_notes_by_author_refuses_a_non_agent(alice: Conductor) -> None:
    with pytest.raises(InvalidHash):
        alice.call_json("example", "notes_by_author", {"agent": str(ActionHash(b"\x05" * 32))})


def test_notes_by_author_sees_a_peers_delete(alice: Conductor, bob: Conductor) -> None:
    note = bob.call_json("example", "create_note", {"title": "b"})
    share(bob, alice)
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(bob)}) == [note]
    bob.call_json("example", "delete_note", {"note": note})
    share(bob, alice)
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(bob)}) == []
    assert alice.call_json("example", "get_note", {"note": note}) is None


# --- private notes ------------------------------------------------------------------------


def test_save_private_note_and_my_private_notes(alice: Conductor) -> None:
    assert alice.call_json("example", "my_private_notes") == []
    first = alice.call_json("example", "save_private_note", {"text": "one"})
    alice.call_json("example", "create_note", {"title": "public"})
    alice.call_json("example", "save_private_note", {"text": "two"})
    assert alice.call_json("example", "my_private_notes") == ["one", "two"]
    signed = action_of(alice, first)
    create = signed.action
    assert isinstance(create, Create)
    assert create.visibility == Visibility.PRIVATE
    assert create.entry_type_index == ZOME.entry_type_index("PrivateNote")
    # held for its own action, and never found by its hash (what peers could ask for)
    assert alice.store.get_entry(create.entry_hash) is None
    entry = alice.store.entry_of(signed)
    assert entry is not None
    assert decode_entry(entry, ZOME.entry_defs[1]) == PrivateNote(text="one")


def test_my_private_notes_are_only_mine(alice: Conductor, bob: Conductor) -> None:
    alice.call_json("example", "save_private_note", {"text": "alice's"})
    bob.call_json("example", "save_private_note", {"text": "bob's"})
    assert alice.call_json("example", "my_private_notes") == ["alice's"]
    assert bob.call_json("example", "my_private_notes") == ["bob's"]


def test_my_private_notes_takes_no_input(alice: Conductor) -> None:
    assert alice.call_json("example", "my_private_notes", {}) == []
    with pytest.raises(ZomeCallError):
        alice.call_json("example", "my_private_notes", {"text": "x"})


def test_a_private_note_yields_no_store_entry_op(alice: Conductor) -> None:
    before = alice.store.counts()
    private = alice.call_json("example", "save_private_note", {"text": "psst"})
    after = alice.store.counts()
    create = action_of(alice, private)
    op_types = [op.op_type for op in ops_for_action(create.action, create.hash)]
    assert op_types == [OpType.STORE_RECORD, OpType.REGISTER_AGENT_ACTIVITY]
    assert OpType.STORE_ENTRY not in op_types
    assert after["dht_op"] - before["dht_op"] == len(op_types)
    assert after["entry"] - before["entry"] == 1  # held by its author only

    public = alice.call_json("example", "create_note", {"title": "t", "index_by_author": False})
    public_create = action_of(alice, public)
    public_ops = [op.op_type for op in ops_for_action(public_create.action, public_create.hash)]
    assert OpType.STORE_ENTRY in public_ops
    assert alice.store.counts()["dht_op"] - after["dht_op"] == len(public_ops)


def test_a_private_note_never_leaves_through_ingest(alice: Conductor, bob: Conductor) -> None:
    # a peer that offers bob's private entry is refused by the private_entry rule
    private = bob.call_json("example", "save_private_note", {"text": "bob's secret"})
    signed = action_of(bob, private)
    entry = bob.store.entry_of(signed)
    assert entry is not None
    items = export_chain(bob)
    leaked = [(a, s, entry if a == signed.action_bytes else e) for a, s, e in items]
    report = alice.ingest(leaked)
    assert [(h, r.split(":")[0]) for h, r in report.rejected] == [(signed.hash, "private_entry")]
    assert alice.store.get_entry(signed.action.entry_hash) is None


# --- integrity rules, on the author's own node and at every peer --------------------------


def test_updating_another_agents_note_is_refused(alice: Conductor, bob: Conductor) -> None:
    note = bob.call_json("example", "create_note", {"title": "bob's"})
    share(bob, alice)
    before = alice.store.counts()
    with pytest.raises(AppValidationError) as caught:
        alice.call_json("example", "update_note", {"original": note, "title": "alice's now"})
    assert caught.value.rule == "app"
    assert "only the author of a note may update it" in str(caught.value)
    assert alice.store.counts() == before


def test_deleting_another_agents_note_is_refused(alice: Conductor, bob: Conductor) -> None:
    note = bob.call_json("example", "create_note", {"title": "bob's"})
    share(bob, alice)
    before = alice.store.counts()
    with pytest.raises(AppValidationError) as caught:
        alice.call_json("example", "delete_note", {"note": note})
    assert caught.value.rule == "app"
    assert "only the author of a note may delete it" in str(caught.value)
    assert alice.store.counts() == before
    assert alice.call_json("example", "get_note", {"note": note})["title"] == "bob's"


def test_deleting_another_agents_link_is_refused(alice: Conductor, bob: Conductor) -> None:
    bob.call_json("example", "create_note", {"title": "bob's"})
    share(bob, alice)
    link = list(alice.store.chain(bob.agent))[-1][0]
    assert isinstance(link.action, CreateLink)
    with pytest.raises(AppValidationError, match="only the link's creator may delete it"):
        alice.call_json("example", "unlink", {"note": str(ActionHash(link.hash))})


def test_deleting_my_own_link(alice: Conductor) -> None:
    note = alice.call_json("example", "create_note", {"title": "mine"})
    link = list(alice.store.chain(alice.agent))[-1][0]
    removed = alice.call_json("example", "unlink", {"note": str(ActionHash(link.hash))})
    assert isinstance(action_of(alice, removed).action, DeleteLink)
    assert alice.call_json("example", "notes_by_author", {"agent": agent_str(alice)}) == []
    assert alice.call_json("example", "get_note", {"note": note})["title"] == "mine"


def test_links_must_point_at_an_action(alice: Conductor) -> None:
    note = alice.call_json("example", "create_note", {"title": "mine"})
    with pytest.raises(AppValidationError, match="must point at an action"):
        alice.call_json("example", "link_to_entry", {"note": note})


def test_peers_refuse_a_forged_update_or_delete(alice: Conductor, bob: Conductor) -> None:
    """Bob signs an Update and a Delete of Alice's note outside any conductor (as a modified
    node could); Alice's node refuses both when they arrive."""
    note = alice.call_json("example", "create_note", {"title": "alice's", "index_by_author":
                                                      False})
    original = action_of(alice, note)
    share(alice, bob)
    share(bob, alice)
    head = list(bob.store.chain(bob.agent))[-1][0]
    entry = note_bytes("bob's now")
    update = sign(Update(bob.agent, head.action.seq + 1, head.hash, head.action.timestamp_us,
                         0, 0, Visibility.PUBLIC, blake2b_256(entry), original.hash,
                         original.action.entry_hash), bob.key)
    delete = sign(Delete(bob.agent, head.action.seq + 1, head.hash, head.action.timestamp_us,
                         original.hash, original.action.entry_hash), bob.key)
    report = alice.ingest([(update.action_bytes, update.signature, entry),
                           (delete.action_bytes, delete.signature, None)])
    reasons = dict(report.rejected)
    assert "only the author of a note may update it" in reasons[update.hash]
    assert "only the author of a note may delete it" in reasons[delete.hash]
    assert report.stored == 0
    assert alice.call_json("example", "get_note", {"note": note})["title"] == "alice's"


def test_peers_refuse_a_link_from_someone_elses_key(alice: Conductor, bob: Conductor) -> None:
    head = list(bob.store.chain(bob.agent))[-1][0]
    share(bob, alice)
    link = sign(CreateLink(bob.agent, head.action.seq + 1, head.hash, head.action.timestamp_us,
                           AgentPubKey(alice.agent).tagged(),
                           bytes((HashKind.ACTION,)) + head.hash, 0, 0, b""), bob.key)
    report = alice.ingest([(link.action_bytes, link.signature, None)])
    assert len(report.rejected) == 1
    assert "must start at their author's agent key" in report.rejected[0][1]


def test_zome_errors_are_node_errors(alice: Conductor) -> None:
    with pytest.raises(NodeError):
        alice.call_json("example", "nope")
