"""Received records: ``Conductor.ingest`` stores valid ones, reports the rest, stores nothing
it rejected (nodeapp.conductor + nodeapp.store)."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from builders import (
    NOTE_TYPE,
    PRIVATE_NOTE_TYPE,
    START_US,
    STEP_US,
    Chain,
    FakeClock,
    build_chain,
    build_conductor,
    build_dna,
    create_after,
    note_bytes,
    private_note_bytes,
    sign,
    staged,
)

from nodeapp._core.actions import Dna, SignedAction, Update, Visibility
from nodeapp._core.hashing import ActionHash, AgentPubKey, blake2b_256
from nodeapp._core.limits import CLOCK_DRIFT_MAX_US
from nodeapp._core.ops import OpType, ops_for_action
from nodeapp.conductor import Conductor, IngestReport
from nodeapp.keystore import AgentKey, generate_agent_key
from nodeapp.store import SqliteStore, StagedRecord, Status
from nodeapp.store.records import WriteMarker

NOTES = 5


@pytest.fixture
def key_b() -> AgentKey:
    return generate_agent_key()


@pytest.fixture
def node(tmp_path: Path) -> Conductor:
    """Agent A's node (genesis done), in a network whose steward is A."""
    key = generate_agent_key()
    return build_conductor(tmp_path, key=key, dna=build_dna(stewards=[key]))


@pytest.fixture
def chain_b(node: Conductor, key_b: AgentKey) -> Chain:
    return build_chain(key_b, NOTES, node.dna.hash)


def item(signed: SignedAction, entry: bytes | None = None) -> tuple[bytes, bytes, bytes | None]:
    return signed.action_bytes, signed.signature, entry


def held(node: Conductor, signed: SignedAction) -> bool:
    return node.store.get_action(signed.hash) is not None


def rejected_rules(report: IngestReport) -> dict[bytes | None, str]:
    """Rejected item hash -> the rule its reason starts with."""
    return {h: reason.split(":", 1)[0] for h, reason in report.rejected}


def test_a_valid_chain_is_stored_whole(node: Conductor, chain_b: Chain, key_b: AgentKey) -> None:
    before = node.store.counts()
    report = node.ingest(chain_b.items())
    assert (report.stored, report.duplicates, report.rejected, report.unresolved) == (
        len(chain_b), 0, [], [])

    stored = list(node.store.chain(key_b.public_key))
    assert [s for s, _ in stored] == list(chain_b)
    assert all(status == Status.VALID for _, status in stored)
    for signed in chain_b:
        got = node.store.get_action(signed.hash)
        assert got is not None
        assert (got[0].action_bytes, got[0].signature) == (signed.action_bytes, signed.signature)
        entry = chain_b.entry_of(signed)
        if entry is not None:
            assert node.store.get_entry(blake2b_256(entry)) == entry

    after = node.store.counts()
    assert after["action"] - before["action"] == len(chain_b)
    assert after["entry"] - before["entry"] == NOTES
    assert after["agent"] - before["agent"] == 1
    assert after["dht_op"] - before["dht_op"] == sum(
        len(ops_for_action(s.action, s.hash)) for s in chain_b)
    # received data is not our chain: A's head did not move, B has no head here
    assert node.store.chain_head(key_b.public_key) is None


def test_ingested_notes_are_readable_through_the_zome(node: Conductor, chain_b: Chain) -> None:
    node.ingest(chain_b.items())
    note = node.call_json("example", "get_note", {"note": str(ActionHash(chain_b[3].hash))})
    assert note == {"action": str(ActionHash(chain_b[3].hash)),
                    "author": str(AgentPubKey(chain_b[3].action.author)),
                    "title": "note 0", "body": "body 0"}


def test_a_fork_is_reported_with_the_action_it_forks_from(node: Conductor, chain_b: Chain,
                                                          key_b: AgentKey) -> None:
    """Two valid actions of one author at one seq: the evidence a warrant needs."""
    first = node.ingest(chain_b.items())
    assert first.forks == []
    seq = 4  # a second note written after the first one, beside the chain's own note at 4
    entry = note_bytes("the other branch")
    fork = create_after(key_b, chain_b[seq - 1], entry)
    assert fork.action.seq == chain_b[seq].action.seq and fork.hash != chain_b[seq].hash
    report = node.ingest([item(fork, entry)])
    assert report.stored == 1
    assert report.forks == [(chain_b[seq].hash, fork.hash)]


def test_re_ingesting_gives_duplicates(node: Conductor, chain_b: Chain) -> None:
    node.ingest(chain_b.items())
    counts = node.store.counts()
    again = node.ingest(chain_b.items())
    assert (again.stored, again.duplicates, again.rejected, again.unresolved) == (
        0, len(chain_b), [], [])
    assert node.store.counts() == counts


def test_a_repeat_inside_one_batch_is_a_duplicate(node: Conductor, chain_b: Chain) -> None:
    items = chain_b.items()
    report = node.ingest(items + items[-2:])
    assert report.stored == len(chain_b)
    assert report.duplicates == 2


def test_tampered_items_are_rejected_by_rule_and_not_stored(node: Conductor, chain_b: Chain,
                                                            key_b: AgentKey) -> None:
    head = chain_b.head
    forger = generate_agent_key()
    note_a = ActionHash.parse(node.call_json("example", "create_note", {"title": "A's"}))
    a_note = node.store.get_action(note_a.raw)
    assert a_note is not None

    bad_signature = create_after(key_b, head, note_bytes("forged"), signing_key=forger)
    declared = create_after(key_b, head, note_bytes("declared"))
    wrong_seq = create_after(key_b, head, note_bytes("skips"), seq=head.action.seq + 2)
    earlier = create_after(key_b, head, note_bytes("early"), ts=head.action.timestamp_us - 1)
    other_author = create_after(forger, head, note_bytes("not yours"))  # prev is B's action
    private = create_after(key_b, head, private_note_bytes(), entry_type_index=PRIVATE_NOTE_TYPE,
                           visibility=Visibility.PRIVATE)
    undeclared = create_after(key_b, head, note_bytes("x"), entry_type_index=9)
    future = create_after(key_b, head, note_bytes("later"),
                          ts=START_US + 10 * CLOCK_DRIFT_MAX_US)
    not_a_note = b"\xa1\x61\x78\x01"  # {"x": 1}
    undecodable = create_after(key_b, head, not_a_note)
    updates_a = sign(Update(key_b.public_key, head.action.seq + 1, head.hash,
                            head.action.timestamp_us + STEP_US, 0, NOTE_TYPE, Visibility.PUBLIC,
                            blake2b_256(note_bytes("mine now")), note_a.raw,
                            a_note[0].action.entry_hash),  # type: ignore[attr-defined]
                     key_b)
    other_dna = build_dna("elsewhere", stewards=[key_b])
    foreign_dna = sign(Dna(forger.public_key, 0, None, START_US, other_dna.hash), forger)

    tampered = {
        "signature": item(bad_signature, note_bytes("forged")),
        "entry_hash": item(declared, note_bytes("sent instead")),
        "seq": item(wrong_seq, note_bytes("skips")),
        "timestamp": item(earlier, note_bytes("early")),
        "author": item(other_author, note_bytes("not yours")),
        "private_entry": item(private, private_note_bytes()),
        "entry_type": item(undeclared, note_bytes("x")),
        "clock": item(future, note_bytes("later")),
        "app (undecodable entry)": item(undecodable, not_a_note),
        "app (update of another's note)": item(updates_a, note_bytes("mine now")),
        "dna_hash": item(foreign_dna),
    }
    malformed = [
        (b"\xff", b"s" * 64, None),  # action bytes that are not CBOR
        (head.action_bytes, b"short", None),  # signature of the wrong size
        (head.action_bytes[:-1], head.signature, None),  # truncated
        (head.action_bytes, head.signature, "entry as text"),
        (head.action_bytes, head.signature),  # a pair, not a triple
        b"not even a tuple",
    ]
    continues = create_after(key_b, head, note_bytes("continues"))
    before = node.store.counts()
    mixed = (chain_b.items() + list(tampered.values()) + malformed  # type: ignore[operator]
             + [item(continues, note_bytes("continues"))])
    report = node.ingest(mixed)  # type: ignore[arg-type]

    assert report.stored == len(chain_b) + 1
    assert all(held(node, s) for s in [*chain_b, continues])
    assert report.unresolved == []
    rules = rejected_rules(report)
    for expected, (action_bytes, _sig, _entry) in tampered.items():
        action_hash = blake2b_256(action_bytes)
        assert rules.get(action_hash) == expected.split(" ")[0], expected
        assert node.store.get_action(action_hash) is None, expected
    reasons = dict((h, r) for h, r in report.rejected)
    assert "only the author of a note may update it" in reasons[updates_a.hash]
    assert "not a valid Note" in reasons[undecodable.hash]
    malformed_reports = [r for h, r in report.rejected if h is None]
    assert len(malformed_reports) == len(malformed)
    assert all(r.startswith("malformed: ") for r in malformed_reports)
    assert len(report.rejected) == len(tampered) + len(malformed)

    after = node.store.counts()
    assert after["action"] - before["action"] == len(chain_b) + 1
    assert after["entry"] - before["entry"] == NOTES + 1
    assert after["agent"] - before["agent"] == 1  # the forger left no trace


def test_a_missing_prev_is_unresolved_and_resolves_later(node: Conductor, chain_b: Chain) -> None:
    items = chain_b.items()
    gap = 4
    report = node.ingest(items[:gap] + items[gap + 1:])
    assert report.stored == gap
    assert report.rejected == []
    unresolved = dict(report.unresolved)
    assert unresolved == {chain_b[gap + 1].hash: (chain_b[gap].hash,),
                          **{s.hash: (s.action.prev,) for s in chain_b[gap + 2:]}}
    assert not any(held(node, s) for s in chain_b[gap:])

    later = node.ingest(items[gap:])
    assert (later.stored, later.duplicates, later.rejected, later.unresolved) == (
        len(chain_b) - gap, 0, [], [])
    assert [s for s, _ in node.store.chain(chain_b[0].action.author)] == list(chain_b)


def test_an_item_after_a_rejected_one_is_unresolved(node: Conductor, chain_b: Chain,
                                                    key_b: AgentKey) -> None:
    bad = create_after(key_b, chain_b.head, note_bytes("declared"))
    child = create_after(key_b, bad, note_bytes("child"))
    report = node.ingest(chain_b.items() + [item(bad, note_bytes("other")),
                                            item(child, note_bytes("child"))])
    assert rejected_rules(report) == {bad.hash: "entry_hash"}
    assert report.unresolved == [(child.hash, (bad.hash,))]
    assert not held(node, bad) and not held(node, child)


def test_records_out_of_order_are_never_rejected(node: Conductor, chain_b: Chain) -> None:
    items = list(reversed(chain_b.items()))
    for _ in range(len(items)):
        report = node.ingest(items)
        assert report.rejected == []
        if not report.unresolved:
            break
    assert [s for s, _ in node.store.chain(chain_b[0].action.author)] == list(chain_b)


def test_an_action_may_arrive_without_its_public_entry_but_waits_for_it(node: Conductor,
                                                                          chain_b: Chain) -> None:
    items = chain_b.items()
    no_entry = items[:3] + [(items[3][0], items[3][1], None)]
    report = node.ingest(no_entry)
    assert report.stored == 3
    assert report.unresolved == [(chain_b[3].hash, (chain_b[3].action.entry_hash,))]  # type: ignore[attr-defined]
    assert node.ingest(items).stored == len(chain_b) - 3


def test_a_record_that_claims_a_private_entry_hash_never_gets_its_bytes(
        node: Conductor, key_b: AgentKey) -> None:
    """B signs a public Create that claims the hash of A's private entry (B sees the hash in
    A's activity) without the bytes. Held for its entry, it waits for them; held as activity,
    it is stored but neither A's reads nor anything A sends to peers carry A's private bytes."""
    secret = node.call("example", "save_private_note", {"text": "supplier price 4711"})
    private = node.store.get_action(secret.raw)[0]  # type: ignore[index]
    claimed = private.action.entry_hash_or_none
    genesis = build_chain(key_b, 0, node.dna.hash)
    forged = create_after(key_b, genesis.head, b"", entry_hash=claimed)  # a public Note
    items = genesis.items() + [item(forged)]

    report = node.ingest(items)  # as an authority for all its ops: StoreEntry needs the bytes
    assert report.unresolved == [(forged.hash, (claimed,))]
    assert not held(node, forged)
    report = node.ingest(items, lambda s: (OpType.REGISTER_AGENT_ACTIVITY,))
    assert report.rejected == [] and report.unresolved == [] and held(node, forged)

    assert node.store.get_entry(claimed) is None  # private entries are not found by hash
    assert node.store.first_action_for_entry(claimed) is None
    assert node.store.entry_of(forged) is None
    assert node.store.entry_of(private, shared=True) is None  # never sent, even its own
    assert node.call("example", "get_note", {"note": str(ActionHash(forged.hash))}) is None
    # A still reads its own private note
    assert node.call("example", "my_private_notes") == ["supplier price 4711"]
    assert node.store.entry_of(private) == private_note_bytes("supplier price 4711")


def test_a_chain_with_a_private_entry_can_be_ingested(node: Conductor, chain_b: Chain,
                                                      key_b: AgentKey) -> None:
    private = create_after(key_b, chain_b.head, private_note_bytes(),
                           entry_type_index=PRIVATE_NOTE_TYPE, visibility=Visibility.PRIVATE)
    after = create_after(key_b, private, note_bytes("after the private one"))
    assert OpType.STORE_ENTRY not in {op.op_type for op in ops_for_action(private.action,
                                                                           private.hash)}
    report = node.ingest(chain_b.items() + [item(private),  # travels without its entry
                                            item(after, note_bytes("after the private one"))])
    assert report.rejected == []
    assert report.unresolved == []
    assert held(node, private) and held(node, after)


# --- the held check that store_received may skip ------------------------------------------


class CountingStore(SqliteStore):
    """Counts the held look-ups made inside store_received."""

    rechecks = 0
    inside = False

    def store_received(self, records: Sequence[StagedRecord],
                       not_held_at: WriteMarker | None = None) -> int:
        self.inside = True
        try:
            return super().store_received(records, not_held_at)
        finally:
            self.inside = False

    def held_masks(self, hashes: Sequence[bytes]) -> dict[bytes, int]:
        if self.inside:
            self.rechecks += 1
        return super().held_masks(hashes)


def rows_of(store: SqliteStore, signed: SignedAction) -> int:
    return store._db.execute("SELECT count(*) FROM action WHERE hash = ?",
                             (signed.hash,)).fetchone()[0]


def chain_records(key: AgentKey) -> tuple[Chain, list[StagedRecord]]:
    chain = build_chain(key, 2, build_dna(stewards=[key]).hash)
    return chain, [staged(s, chain.entry_of(s)) for s in chain]


def test_an_unchanged_marker_spares_the_look_up(tmp_path: Path, key_b: AgentKey) -> None:
    chain, records = chain_records(key_b)
    with CountingStore(tmp_path / "node.db") as store:
        marker = store.write_marker()
        assert store.write_marker() == marker  # reading changes nothing
        assert store.store_received(records, not_held_at=marker) == len(chain)
        assert store.rechecks == 0
        assert store.write_marker() != marker
        assert store.store_received(records) == 0  # without a marker: looked up, none new
        assert store.rechecks == 1


@pytest.mark.parametrize("writer", ["this connection", "another connection"])
def test_a_write_after_the_marker_makes_store_received_look_again(
        tmp_path: Path, key_b: AgentKey, writer: str) -> None:
    chain, records = chain_records(key_b)
    with CountingStore(tmp_path / "node.db") as store, SqliteStore(tmp_path / "node.db") as other:
        marker = store.write_marker()  # the caller looked: none of these was held
        (store if writer == "this connection" else other).store_received(records)  # then stored
        assert store.store_received(records, not_held_at=marker) == 0
        assert store.rechecks >= 1
        assert all(rows_of(store, s) == 1 for s in chain)


def test_a_marker_from_another_store_is_never_trusted(tmp_path: Path, key_b: AgentKey) -> None:
    """Two connections' data_version and change counts do not compare: equal numbers from
    another store prove nothing about this one."""
    chain, records = chain_records(key_b)
    with CountingStore(tmp_path / "a.db") as store, SqliteStore(tmp_path / "b.db") as other:
        store.store_received(records)
        foreign = other.write_marker()._replace(  # the same counts, taken on another store
            data_version=store.write_marker().data_version,
            own_changes=store.write_marker().own_changes)
        assert store.store_received(records, not_held_at=foreign) == 0
        assert all(rows_of(store, s) == 1 for s in chain)


def test_ingest_stores_once_when_another_connection_stores_the_same_batch(
        tmp_path: Path, key_b: AgentKey) -> None:
    """The race the marker guards: between ingest's look-up of what is held and its write,
    another connection to the file (another thread of the node) stores the same records."""
    path = tmp_path / "node.db"
    key = generate_agent_key()
    dna = build_dna(stewards=[key])
    chain = build_chain(key_b, NOTES, dna.hash)

    class RacedStore(SqliteStore):
        raced = False

        def held_masks(self, hashes: Sequence[bytes]) -> dict[bytes, int]:
            found = super().held_masks(hashes)
            if len(hashes) == len(chain) and not self.raced:  # ingest's look-up of the batch
                self.raced = True
                with SqliteStore(path) as other:
                    other.store_received([staged(s, chain.entry_of(s)) for s in chain])
            return found

    node = Conductor(RacedStore(path), dna, key, clock_us=FakeClock())
    node.genesis()
    report = node.ingest(chain.items())
    assert not report.rejected and not report.unresolved
    assert report.stored == 0  # the other connection stored them first
    assert all(rows_of(node.store, s) == 1 for s in chain)
    node.store.close()


# --- the collector pause (nodeapp.gc_pause) ------------------------------------------------


class CollectorWatchingStore(SqliteStore):
    """Records whether the cyclic collector was enabled when a batch was stored; can fail
    on cue."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.collector_on_inside: list[bool] = []
        self.fail = False

    def store_received(self, records: Sequence[StagedRecord],
                       not_held_at: WriteMarker | None = None) -> int:
        self.collector_on_inside.append(gc.isenabled())
        if self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        return super().store_received(records, not_held_at)


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """A failed assertion must not leave the collector off for the tests after this one."""
    was_on = gc.isenabled()
    yield
    (gc.enable if was_on else gc.disable)()


@pytest.mark.parametrize("decoded", [False, True], ids=["ingest", "ingest_decoded"])
def test_a_batch_is_stored_with_the_collector_paused_and_it_resumes_after(
        tmp_path: Path, decoded: bool, collector_restored: None) -> None:
    key = generate_agent_key()
    dna = build_dna(stewards=[key])
    store = CollectorWatchingStore(tmp_path / "node.db")
    node = Conductor(store, dna, key, clock_us=FakeClock())
    node.genesis()

    def receive(chain: Chain) -> IngestReport:
        if decoded:
            return node.ingest_decoded([(s, chain.entry_of(s)) for s in chain])
        return node.ingest(chain.items())

    gc.enable()
    chain = build_chain(generate_agent_key(), NOTES, dna.hash)
    assert receive(chain).stored == len(chain)
    assert store.collector_on_inside == [False]
    assert gc.isenabled()
    store.fail = True
    with pytest.raises(sqlite3.OperationalError):
        receive(build_chain(generate_agent_key(), 1, dna.hash))
    assert store.collector_on_inside == [False, False]
    assert gc.isenabled()  # back on after a batch that failed
    store.close()
