"""Own-chain commits: no forks under concurrency, nothing written by a failed call, and a store
file that survives reopening (nodeapp.store.sqlite_store + nodeapp.conductor)."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from builders import (
    START_US,
    FakeClock,
    build_chain,
    build_conductor,
    build_dna,
    sign,
    staged,
    with_coordinator,
)

from nodeapp._core.actions import InitZomesComplete
from nodeapp._core.hashing import ActionHash, AgentPubKey
from nodeapp._core.limits import ENTRY_BYTES_MAX, LINK_TAG_BYTES_MAX
from nodeapp._core.ops import op_mask_for, ops_for_action
from nodeapp.conductor import Conductor
from nodeapp.coordinator import Coordinator
from nodeapp.errors import (
    AppValidationError,
    ChainHeadMoved,
    InvalidHash,
    SchemaVersionError,
    StoreCorrupted,
    StoreUnavailable,
    SysValidationError,
    UsageError,
    ZomeCallError,
)
from nodeapp.kernels import audit_chains
from nodeapp.keystore import generate_agent_key
from nodeapp.store import ChainHead, SqliteStore, hkey
from nodeapp.store.schema import MIGRATIONS, SCHEMA_VERSION
from nodeapp.zome_api import ZomeApi
from zomes.example import coordinator as example_coordinator
from zomes.example.integrity import ZOME, Note

THREADS = 4
CALLS_PER_THREAD = 25
GENESIS_ACTIONS = 3


def dump(path: Path) -> list[str]:
    """Every table's full content, through a separate connection (sees committed data only)."""
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def actions_per_create_note(conductor: Conductor) -> int:
    before = conductor.store.counts()["action"]
    conductor.call_json("example", "create_note", {"title": "probe"})
    return conductor.store.counts()["action"] - before


def assert_single_clean_chain(store: SqliteStore, author: bytes, expected: int) -> None:
    chain = [signed for signed, _ in store.chain(author)]
    assert len(chain) == expected
    assert [s.action.seq for s in chain] == list(range(expected))
    assert chain[0].action.prev is None
    for prev, signed in zip(chain, chain[1:], strict=False):
        assert signed.action.prev == prev.hash
        assert signed.action.timestamp_us >= prev.action.timestamp_us
    assert store.chain_head(author) == ChainHead(chain[-1].action.seq, chain[-1].hash)

    cols = store.audit_columns()
    assert list(cols["authors"]) == [author]
    result = audit_chains(cols["author_id"], cols["seq"], cols["prev_hash"], cols["own_hash"],
                          cols["timestamp"], n_authors=1, closes=cols["closes"])
    assert int(result.rows[0]) == expected
    assert int(result.head_seq[0]) == expected - 1
    assert result.problems(0) == []
    for field in ("gap_count", "broken_count", "ts_regression_count", "fork_count",
                  "after_close_count"):
        assert int(getattr(result, field)[0]) == 0, field


# --- (a) concurrent zome calls cannot fork the chain ----------------------------------------


def test_concurrent_calls_from_four_connections_never_fork(tmp_path: Path) -> None:
    key = generate_agent_key()
    dna = build_dna(stewards=[key])
    clock = FakeClock()
    first = build_conductor(tmp_path, key=key, dna=dna, clock=clock)
    per_call = actions_per_create_note(first)  # Create + CreateLink
    first.store.close()

    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    gave_up = [0] * THREADS

    def worker(index: int) -> None:
        try:
            conductor = Conductor(SqliteStore(tmp_path / "node.db"), dna, key, clock_us=clock)
            barrier.wait()
            done = 0
            while done < CALLS_PER_THREAD:
                try:
                    conductor.call_json("example", "create_note",
                                        {"title": f"thread {index} note {done}"})
                except ChainHeadMoved:  # documented: nothing written; the caller may retry
                    gave_up[index] += 1
                    continue
                done += 1
            conductor.store.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    with SqliteStore(tmp_path / "node.db") as store:
        expected = GENESIS_ACTIONS + per_call * (1 + THREADS * CALLS_PER_THREAD)
        assert_single_clean_chain(store, key.public_key, expected)
        counts = store.counts()
        assert counts["action"] == expected
        assert counts["entry"] == 1 + THREADS * CALLS_PER_THREAD  # every title is distinct
        assert counts["link"] == 1 + THREADS * CALLS_PER_THREAD
        assert counts["agent"] == 1
        # every committed action's ops were written with it, none twice
        assert counts["dht_op"] == sum(
            len(ops_for_action(s.action, s.hash)) for s, _ in store.chain(key.public_key))


def test_a_stale_conductor_retries_from_the_new_head(tmp_path: Path) -> None:
    key = generate_agent_key()
    dna = build_dna(stewards=[key])
    clock = FakeClock()
    one = build_conductor(tmp_path, key=key, dna=dna, clock=clock)
    two = Conductor(SqliteStore(tmp_path / "node.db"), dna, key, clock_us=clock)
    two.call_json("example", "create_note", {"title": "two first"})  # caches its head
    one.call_json("example", "create_note", {"title": "one moves the head"})
    two.call_json("example", "create_note", {"title": "two again, from a stale head"})
    assert_single_clean_chain(one.store, key.public_key, GENESIS_ACTIONS + 3 * 2)


def test_commit_own_refuses_a_moved_head_and_writes_nothing(tmp_path: Path) -> None:
    conductor = build_conductor(tmp_path)
    store, agent = conductor.store, conductor.agent
    head = store.chain_head(agent)
    assert head is not None
    before = dump(store.path)
    stale = ChainHead(head.seq - 1, b"s" * 32)
    action = InitZomesComplete(agent, head.seq + 1, head.hash, START_US)
    signed = sign(action, conductor.key)
    record = staged(signed)
    with pytest.raises(ChainHeadMoved):
        store.commit_own(agent, [record], stale)
    with pytest.raises(ChainHeadMoved):
        store.commit_own(agent, [record], None)
    assert dump(store.path) == before
    store.commit_own(agent, [], stale)  # nothing to write is not an error
    assert dump(store.path) == before


def test_two_geneses_of_one_agent_cannot_both_commit(tmp_path: Path) -> None:
    key = generate_agent_key()
    dna = build_dna(stewards=[key])
    first = Conductor(SqliteStore(tmp_path / "node.db"), dna, key, clock_us=FakeClock())
    second = Conductor(SqliteStore(tmp_path / "node.db"), dna, key,
                       clock_us=FakeClock(START_US + 7))
    first.genesis()
    with pytest.raises((ZomeCallError, ChainHeadMoved)):
        second.genesis()
    assert_single_clean_chain(first.store, key.public_key, GENESIS_ACTIONS)


def test_a_second_opener_between_version_check_and_migration_is_harmless(
        tmp_path: Path) -> None:
    """Deterministic form of two processes opening a fresh file at once (8 threads opening one
    fresh file reproduce it too, most of the time): another connection migrates the file after
    this one read ``user_version`` and before its migration transaction began."""

    class SlowOpener(SqliteStore):
        def _transaction(self, mode: str = "IMMEDIATE") -> AbstractContextManager[None]:
            if not getattr(self, "_let_other_in", False):
                self._let_other_in = True
                SqliteStore(self.path).close()  # the other process opens the file fully
            return super()._transaction(mode)

    SlowOpener(tmp_path / "node.db").close()
    with SqliteStore(tmp_path / "node.db") as store:
        assert store.counts()["action"] == 0


# --- (b) a failed call leaves the store unchanged -----------------------------------------


TEST_COORDINATOR = Coordinator(ZOME)
TEST_COORDINATOR.functions.update(example_coordinator.COORDINATOR.functions)


@TEST_COORDINATOR.function
def oversize_note(api: ZomeApi) -> ActionHash:
    """Writes a Note over 1 MiB (built without the model's checks, as buggy zome code might)."""
    return api.create_entry(Note.model_construct(title="big", body="x" * (ENTRY_BYTES_MAX + 1)))


@TEST_COORDINATOR.function
def oversize_tag(api: ZomeApi) -> ActionHash:
    """Writes a valid note, then links it with a tag over 1 KiB."""
    note = api.create_entry(Note(title="tagged"))
    return api.create_link(api.agent, note, "AuthorToNotes", b"t" * (LINK_TAG_BYTES_MAX + 1))


@TEST_COORDINATOR.function
def link_from_someone_else(api: ZomeApi) -> ActionHash:
    """Writes a valid note, then an AuthorToNotes link that breaks the integrity rules."""
    note = api.create_entry(Note(title="fine"))
    stranger = AgentPubKey(generate_agent_key().public_key)
    return api.create_link(stranger, note, "AuthorToNotes")


@TEST_COORDINATOR.function
def two_notes_then_crash(api: ZomeApi) -> None:
    """Stages two valid writes, then fails as buggy zome code does (not with a NodeError)."""
    api.create_entry(Note(title="one"))
    api.create_entry(Note(title="two"))
    raise RuntimeError("the zome gave up")


@pytest.fixture
def node_and_note(tmp_path: Path) -> tuple[Conductor, str]:
    """Agent A with some history, holding agent B's chain (so A can try to edit B's notes),
    and one of B's notes."""
    key = generate_agent_key()
    other = generate_agent_key()
    dna = with_coordinator(build_dna(stewards=[key]), TEST_COORDINATOR)
    conductor = build_conductor(tmp_path, key=key, dna=dna)
    conductor.call_json("example", "create_note", {"title": "mine"})
    chain_b = build_chain(other, 2, dna.hash)
    report = conductor.ingest(chain_b.items())
    assert report.stored == len(chain_b) and not report.rejected and not report.unresolved
    return conductor, str(ActionHash(chain_b[3].hash))


@pytest.fixture
def node(node_and_note: tuple[Conductor, str]) -> Conductor:
    return node_and_note[0]


@pytest.fixture
def other_note(node_and_note: tuple[Conductor, str]) -> str:
    """A note of another agent, held by ``node``."""
    return node_and_note[1]


def failing_calls(node: Conductor, other_note: str
                  ) -> dict[str, tuple[str, str, Any, type[Exception] | tuple]]:
    return {
        "unknown zome": ("nozome", "create_note", {"title": "x"}, ZomeCallError),
        "unknown function": ("example", "no_such_fn", {"title": "x"}, ZomeCallError),
        "extra input field": ("example", "create_note", {"title": "x", "colour": 1},
                              ZomeCallError),
        "missing input field": ("example", "create_note", {"body": "x"}, ZomeCallError),
        "input of the wrong type": ("example", "create_note", ["x"], ZomeCallError),
        "input to a no-input function": ("example", "my_private_notes", {"x": 1}, ZomeCallError),
        "malformed hash": ("example", "get_note", {"note": "action_nope"}, InvalidHash),
        "hash of the wrong kind": ("example", "delete_note", {"note": str(node.dna.manifest.hash)},
                                   InvalidHash),
        "unknown note": ("example", "update_note",
                         {"original": str(ActionHash(b"\x07" * 32)), "title": "x"},
                         ZomeCallError),
        "title too long": ("example", "create_note", {"title": "t" * 201},
                           ZomeCallError),
        "empty title": ("example", "create_note", {"title": ""},
                        ZomeCallError),
        "body over 64 KiB": ("example", "create_note", {"title": "x", "body": "b" * (2 << 20)},
                             ZomeCallError),
        "entry over 1 MiB": ("example", "oversize_note", None, SysValidationError),
        "link tag over 1 KiB": ("example", "oversize_tag", None, SysValidationError),
        "update another agent's note": ("example", "update_note",
                                        {"original": other_note, "title": "mine now"},
                                        AppValidationError),
        "delete another agent's note": ("example", "delete_note", {"note": other_note},
                                        AppValidationError),
        "link breaking an integrity rule": ("example", "link_from_someone_else", None,
                                            AppValidationError),
        "zome raises after staging writes": ("example", "two_notes_then_crash", None,
                                             ZomeCallError),
    }


FAILURES = [
    "unknown zome", "unknown function", "extra input field", "missing input field",
    "input of the wrong type", "input to a no-input function", "malformed hash",
    "hash of the wrong kind", "unknown note", "title too long", "empty title",
    "body over 64 KiB", "entry over 1 MiB", "link tag over 1 KiB", "update another agent's note",
    "delete another agent's note", "link breaking an integrity rule",
    "zome raises after staging writes",
]


def test_failure_list_matches_the_cases(node: Conductor, other_note: str) -> None:
    assert sorted(FAILURES) == sorted(failing_calls(node, other_note))


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_call_writes_nothing(node: Conductor, other_note: str, failure: str) -> None:
    zome, fn, payload, expected = failing_calls(node, other_note)[failure]
    store = node.store
    before = (dump(store.path), store.counts(), store.chain_head(node.agent))
    with pytest.raises(expected):
        node.call_json(zome, fn, payload)
    assert (dump(store.path), store.counts(), store.chain_head(node.agent)) == before
    # and the node is still usable: the next call extends the same head
    head = store.chain_head(node.agent)
    assert head is not None
    created = ActionHash.parse(node.call_json("example", "create_note", {"title": "after"}))
    found = store.get_action(created.raw)
    assert found is not None and found[0].action.prev == head.hash


def test_every_failure_in_a_row_leaves_the_dump_identical(node: Conductor, other_note: str
                                                          ) -> None:
    store = node.store
    before = dump(store.path)
    for name, (zome, fn, payload, expected) in failing_calls(node, other_note).items():
        with pytest.raises(expected):
            node.call_json(zome, fn, payload)
        assert dump(store.path) == before, name


def test_integrity_failures_name_the_rule(node: Conductor, other_note: str) -> None:
    with pytest.raises(AppValidationError) as caught:
        node.call_json("example", "update_note", {"original": other_note, "title": "x"})
    assert caught.value.rule == "app"
    assert "only the author of a note may update it" in caught.value.detail
    with pytest.raises(AppValidationError) as caught:
        node.call_json("example", "link_from_someone_else")
    assert "AuthorToNotes links must start at their author's agent key" in caught.value.detail


@pytest.mark.parametrize("fn, rule", [("oversize_note", "entry_size"),
                                      ("oversize_tag", "link_tag_size")])
def test_own_writes_over_a_size_limit_name_the_system_rule(node: Conductor, fn: str,
                                                           rule: str) -> None:
    with pytest.raises(SysValidationError) as caught:
        node.call_json("example", fn)
    assert caught.value.rule == rule


@pytest.mark.parametrize("payload", [{"title": ""}, {"title": "t" * 201},
                                     {"title": "x", "body": "b" * (65 * 1024)}],
                         ids=["empty title", "long title", "long body"])
def test_an_entry_the_model_refuses_is_a_zome_call_error(tmp_path: Path,
                                                         payload: dict[str, str]) -> None:
    # the input model does not limit the title: the Note model, built in coordinator code, does
    conductor = build_conductor(tmp_path)
    with pytest.raises(ZomeCallError, match="Note"):
        conductor.call_json("example", "create_note", payload)


def test_a_rolled_back_commit_leaves_no_stale_agent_id(tmp_path: Path) -> None:
    key_a, key_b = generate_agent_key(), generate_agent_key()
    dna = build_dna(stewards=[key_a])
    store = SqliteStore(tmp_path / "node.db")
    chain_a = build_chain(key_a, 0, dna.hash)
    records = [staged(s) for s in chain_a]
    with pytest.raises(ChainHeadMoved):  # A's first commit, against a head that never existed
        store.commit_own(key_a.public_key, records, ChainHead(9, b"h" * 32))
    assert store.counts()["agent"] == 0
    chain_b = build_chain(key_b, 1, dna.hash)
    store.store_received([staged(s, chain_b.entry_of(s)) for s in chain_b])
    # A has no actions here: its chain must be empty, not B's
    assert list(store.chain(key_a.public_key)) == []


# --- (c) the file: reopen, schema version, refusals ---------------------------------------


def test_reopening_keeps_everything_and_the_chain_continues(tmp_path: Path) -> None:
    key = generate_agent_key()
    dna = build_dna(stewards=[key])
    clock = FakeClock()
    conductor = build_conductor(tmp_path, key=key, dna=dna, clock=clock)
    first = conductor.call_json("example", "create_note", {"title": "before", "body": "b"})
    conductor.call_json("example", "save_private_note", {"text": "psst"})
    counts, head = conductor.store.counts(), conductor.store.chain_head(key.public_key)
    before = dump(tmp_path / "node.db")
    conductor.store.close()

    reopened = Conductor(SqliteStore(tmp_path / "node.db"), dna, key, clock_us=clock)
    assert reopened.has_genesis
    assert dump(tmp_path / "node.db") == before
    assert reopened.store.counts() == counts
    assert reopened.store.chain_head(key.public_key) == head
    assert reopened.call_json("example", "get_note", {"note": first})["body"] == "b"
    assert reopened.call_json("example", "my_private_notes") == ["psst"]
    reopened.call_json("example", "create_note", {"title": "after"})
    assert_single_clean_chain(reopened.store, key.public_key, GENESIS_ACTIONS + 2 + 1 + 2)
    with pytest.raises(ZomeCallError):
        reopened.genesis()


def test_stored_bytes_are_the_signed_bytes(tmp_path: Path) -> None:
    conductor = build_conductor(tmp_path)
    created = ActionHash.parse(conductor.call_json("example", "create_note", {"title": "x"}))
    found = conductor.store.get_action(created.raw)
    assert found is not None
    signed = found[0]
    row = conductor.store._db.execute(
        "SELECT action_bytes, signature FROM action WHERE hash = ?", (created.raw,)).fetchone()
    assert (signed.action_bytes, signed.signature) == (row[0], row[1])
    assert signed.hash == created.raw


def test_the_schema_version_is_recorded(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "node.db").close()
    db = sqlite3.connect(tmp_path / "node.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()
    assert {"meta", "agent", "action", "link", "receipt", "registration"} <= tables
    SqliteStore(tmp_path / "node.db").close()  # opening again migrates nothing


def write_schema_2_file(path: Path, conductor: Conductor) -> None:
    """The conductor's chain and entries, written as version 2 of the schema laid them out
    (a chain_head table, a unique index over our own seqs, entries in a table of their own)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for script in MIGRATIONS[:2]:
            db.executescript(script)
        db.execute("INSERT INTO agent (id, pubkey) VALUES (1, ?)", (conductor.agent,))
        chain = [signed for signed, _status in conductor.store.chain(conductor.agent)]
        for action_id, signed in enumerate(chain, 1):
            action = signed.action
            db.execute("INSERT INTO action VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, 1, 1, ?)",
                       (action_id, hkey(signed.hash), signed.hash, action.seq, action.prev,
                        action.timestamp_us, int(action.KIND), signed.action_bytes,
                        signed.signature, op_mask_for(action)))
            entry_hash = action.entry_hash_or_none
            if entry_hash is not None:
                db.execute("INSERT INTO entry (hkey, hash, bytes, private, action_id) "
                           "VALUES (?, ?, ?, 0, ?)", (hkey(entry_hash), entry_hash,
                                                      conductor.store.get_entry(entry_hash),
                                                      action_id))
        db.execute("INSERT INTO chain_head VALUES (1, ?, ?)", (chain[-1].action.seq,
                                                               chain[-1].hash))
        db.execute("PRAGMA user_version = 2")
    finally:
        db.close()


def test_a_file_of_schema_2_keeps_its_chain_and_entries_when_migrated(tmp_path: Path) -> None:
    """Version 3 dropped the chain_head table, version 4 moved entries into their action's
    row: a version-2 file reopens with the same head, notes and counts, its own chain still
    refuses a stale writer, and zome calls go on writing to it."""
    conductor = build_conductor(tmp_path, db_name="now.db")
    note = conductor.call("example", "create_note", {"title": "before the upgrade"})
    head = conductor.store.chain_head(conductor.agent)
    counts = conductor.store.counts()
    write_schema_2_file(tmp_path / "v2.db", conductor)
    upgraded = Conductor(SqliteStore(tmp_path / "v2.db"), conductor.dna, conductor.key,
                         clock_us=FakeClock(START_US + 10**9))
    store = upgraded.store
    assert store.chain_head(conductor.agent) == head
    assert {k: store.counts()[k] for k in ("action", "entry")} == {
        k: counts[k] for k in ("action", "entry")}
    assert upgraded.call_json("example", "get_note", {"note": str(note)})["title"] == (
        "before the upgrade")
    stale = ChainHead(head.seq - 1, b"s" * 32)
    action = InitZomesComplete(conductor.agent, head.seq + 1, head.hash, START_US)
    with pytest.raises(ChainHeadMoved):
        store.commit_own(conductor.agent, [staged(sign(action, conductor.key))], stale)
    upgraded.call_json("example", "create_note", {"title": "after the upgrade"})
    assert store.counts()["entry"] == counts["entry"] + 1
    store.close()
    db = sqlite3.connect(tmp_path / "v2.db")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    finally:
        db.close()
    assert not names & {"chain_head", "action_own_seq", "entry"}


def test_a_file_of_schema_4_takes_its_private_entries_out_of_the_hash_index(
        tmp_path: Path) -> None:
    """Up to version 4 a private entry could be found by its hash, and so be sent to a peer
    that asked for a record claiming that hash; version 5 keeps it for its own action only."""
    conductor = build_conductor(tmp_path)
    private = conductor.call("example", "save_private_note", {"text": "supplier price"})
    public = conductor.call("example", "create_note", {"title": "public"})
    entry_of = {h: conductor.store.get_action(h.raw)[0].action.entry_hash_or_none  # type: ignore[index]
                for h in (private, public)}
    db = conductor.store._db
    db.execute("UPDATE action SET entry_hkey = ? WHERE hash = ?",  # as version 4 wrote it
               (hkey(entry_of[private]), private.raw))
    db.execute("PRAGMA user_version = 4")
    assert conductor.store.get_entry(entry_of[private]) is not None
    conductor.store.close()

    upgraded = Conductor(SqliteStore(tmp_path / "node.db"), conductor.dna, conductor.key,
                         clock_us=FakeClock(START_US + 10**9))
    assert upgraded.store.get_entry(entry_of[private]) is None
    assert upgraded.store.get_entry(entry_of[public]) is not None
    assert upgraded.call("example", "my_private_notes") == ["supplier price"]
    upgraded.store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "node.db").close()
    db = sqlite3.connect(tmp_path / "node.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(SchemaVersionError, match="upgrade"):
        SqliteStore(tmp_path / "node.db")


@pytest.mark.parametrize("content", [b"this is not a database" * 200, b"SQLite format 3\x00" +
                                     b"\xff" * 4000], ids=["text", "bad header"])
def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "node.db"
    path.write_bytes(content)
    with pytest.raises(StoreCorrupted):
        SqliteStore(path)
    assert path.read_bytes() == content  # and left alone


def test_the_store_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)  # a umask that would leave new files world-writable
    try:
        store = SqliteStore(tmp_path / "node.db")
        store.set_meta("probe", b"x")  # a write: the WAL and shared-memory files exist now
        for name in ("node.db", "node.db-wal", "node.db-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        store.close()
    finally:
        os.umask(old)


def test_a_store_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot create .*No such file or directory"):
        SqliteStore(tmp_path / "missing-dir" / "node.db")


@pytest.mark.parametrize("durability", ["paranoid", 1, None, ["full"], True])
def test_unknown_durability_is_a_usage_error(tmp_path: Path, durability: object) -> None:
    """config.json gives this value: anything may be there."""
    with pytest.raises(UsageError, match="durability must be one of normal, full"):
        SqliteStore(tmp_path / "node.db", durability=durability)
    with SqliteStore(tmp_path / "full.db", durability="full") as store:
        assert store.counts()["action"] == 0


def test_stored_bytes_that_no_longer_decode_are_store_corrupted(tmp_path: Path) -> None:
    conductor = build_conductor(tmp_path)
    created = ActionHash.parse(conductor.call_json("example", "create_note", {"title": "x"}))
    conductor.store._db.execute("UPDATE action SET action_bytes = x'ff' WHERE hash = ?",
                                (created.raw,))
    with pytest.raises(StoreCorrupted):
        conductor.store.get_action(created.raw)
    with pytest.raises(StoreCorrupted):
        list(conductor.store.chain(conductor.agent))


def test_stored_bytes_that_do_not_match_their_hash_are_store_corrupted(tmp_path: Path) -> None:
    conductor = build_conductor(tmp_path)
    first = ActionHash.parse(conductor.call_json("example", "create_note", {"title": "one"}))
    second = ActionHash.parse(conductor.call_json("example", "create_note", {"title": "two"}))
    db = conductor.store._db
    other_bytes = db.execute("SELECT action_bytes FROM action WHERE hash = ?",
                             (second.raw,)).fetchone()[0]
    db.execute("UPDATE action SET action_bytes = ? WHERE hash = ?", (other_bytes, first.raw))
    with pytest.raises(StoreCorrupted):
        conductor.store.get_action(first.raw)
