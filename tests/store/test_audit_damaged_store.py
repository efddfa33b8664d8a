"""The audit over a store damaged inside (rows edited with sqlite3): StoreCorrupted naming the
column and what is wrong, one ``error:`` line from the CLI, and nothing written
(nodeapp.store.reports + nodeapp.cli)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import Chain, build_chain, staged

from nodeapp._core.hashing import blake2b_256
from nodeapp.errors import NodeError, StoreCorrupted
from nodeapp.kernels import audit_chains
from nodeapp.keystore import generate_agent_key
from nodeapp.store import SqliteStore

PASS = "correct horse battery"
CHAINS, NOTES = 3, 4  # each chain: genesis (seq 0-2), then NOTES Creates (seq 3..)

# the action at seq 3 and at seq 4 of the chain with the smallest author id
_ROW = "(SELECT id FROM action WHERE seq = {seq} ORDER BY author_id LIMIT 1)"
AT3, AT4 = _ROW.format(seq=3), _ROW.format(seq=4)
FIRST_AGENT = "(SELECT min(author_id) FROM action)"

# (damage as SQL, fragments the error message must hold)
DAMAGES = {
    "prev one byte": (f"UPDATE action SET prev = x'00' WHERE id = {AT3}",
                      ["action.prev is not NULL or a 32-byte blob in 1 row", "a 1-byte blob"]),
    "prev text": (f"UPDATE action SET prev = 'abc' WHERE id = {AT3}",
                  ["action.prev", "the text 'abc'"]),
    "prev empty blob": (f"UPDATE action SET prev = x'' WHERE id = {AT3}",
                        ["action.prev", "a 0-byte blob"]),
    "prev an integer": (f"UPDATE action SET prev = 7 WHERE id = {AT3}", ["action.prev", "7)"]),
    "author without agent": (f"UPDATE action SET author_id = 999 WHERE id = {AT3}",
                             ["action.author_id 999 names no agent, in 1 row"]),
    "author huge": (f"UPDATE action SET author_id = 9223372036854775807 WHERE id = {AT3}",
                    ["action.author_id 9223372036854775807 names no agent"]),
    "author beyond int64": (f"UPDATE action SET author_id = 1e30 WHERE id = {AT3}",
                            ["action.author_id is not an integer", "1e+30"]),
    "author text": (f"UPDATE action SET author_id = 'abc' WHERE id = {AT3}",
                    ["action.author_id is not an integer", "the text 'abc'"]),
    "hash short": (f"UPDATE action SET hash = zeroblob(31) WHERE id = {AT3}",
                   ["action.hash is not a 32-byte blob in 1 row", "a 31-byte blob"]),
    # 31 + 33 bytes: the joined column still has 32 bytes a row
    "hash short and long": (f"UPDATE action SET hash = CASE id WHEN {AT3} THEN zeroblob(31) "
                            f"ELSE zeroblob(33) END WHERE id IN ({AT3}, {AT4})",
                            ["action.hash is not a 32-byte blob in 2 rows"]),
    "hash text of 32 characters": (f"UPDATE action SET hash = '{'h' * 32}' WHERE id = {AT3}",
                                   ["action.hash", "the text 'hhhh"]),
    "seq text": (f"UPDATE action SET seq = 'abc' WHERE id = {AT3}",
                 ["action.seq is not a non-negative integer", "the text 'abc'"]),
    "seq empty text": (f"UPDATE action SET seq = '' WHERE id = {AT3}",
                       ["action.seq", "the text ''"]),
    "seq real": (f"UPDATE action SET seq = 3.5 WHERE id = {AT3}", ["action.seq", "3.5"]),
    "seq a blob int() reads": (f"UPDATE action SET seq = x'35' WHERE id = {AT3}",
                               ["action.seq", "a 1-byte blob"]),
    "seq negative": (f"UPDATE action SET seq = -1 WHERE id = {AT3}", ["action.seq", "-1)"]),
    "seq beyond int64": (f"UPDATE action SET seq = 99999999999999999999 WHERE id = {AT3}",
                         ["action.seq", "1e+20"]),
    "timestamp text": (f"UPDATE action SET timestamp_us = 'noon' WHERE id = {AT3}",
                       ["action.timestamp_us is not an integer", "the text 'noon'"]),
    "timestamp beyond int64": (f"UPDATE action SET timestamp_us = 1e20 WHERE id = {AT3}",
                               ["action.timestamp_us", "1e+20"]),
    "timestamp blob": (f"UPDATE action SET timestamp_us = x'' WHERE id = {AT3}",
                       ["action.timestamp_us", "a 0-byte blob"]),
    "kind text": (f"UPDATE action SET kind = 'close' WHERE id = {AT3}",
                  ["action.kind is not an integer", "the text 'close'"]),
    "agent key text": (f"UPDATE agent SET pubkey = 'abc' WHERE id = {FIRST_AGENT}",
                       ["agent.pubkey of agent", "the text 'abc'"]),
    "agent key short": (f"UPDATE agent SET pubkey = zeroblob(31) WHERE id = {FIRST_AGENT}",
                        ["agent.pubkey of agent", "a 31-byte blob"]),
    "two columns": (f"UPDATE action SET prev = 'abc', timestamp_us = 'x' WHERE id = {AT3}",
                    ["action.prev", "action.timestamp_us"]),
}


def damage(db_path: Path, sql: str) -> list[str]:
    """Apply ``sql`` through a connection of its own; returns the file's dump afterwards."""
    db = sqlite3.connect(db_path)
    try:
        assert db.execute(sql).rowcount >= 1, sql
        db.commit()
        return list(db.iterdump())
    finally:
        db.close()


def dump(db_path: Path) -> list[str]:
    db = sqlite3.connect(db_path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def add_chains(store: SqliteStore, count: int) -> list[Chain]:
    """``count`` valid chains of new agents, stored as received."""
    chains = [build_chain(generate_agent_key(), NOTES, blake2b_256(b"network"))
              for _ in range(count)]
    for chain in chains:
        store.store_received([staged(s, chain.entry_of(s)) for s in chain])
    return chains


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Chain]]:
    """A store holding a few chains; tests damage copies of it."""
    path = tmp_path_factory.mktemp("pristine") / "node.db"
    with SqliteStore(path) as store:
        chains = add_chains(store, CHAINS)
    return path, chains


@pytest.fixture
def store_copy(pristine: tuple[Path, list[Chain]], tmp_path: Path) -> Path:
    path = tmp_path / "node.db"
    shutil.copyfile(pristine[0], path)
    return path


def test_store_corrupted_is_a_node_error() -> None:
    assert issubclass(StoreCorrupted, NodeError)  # so the CLI prints it as one line


def test_an_undamaged_store_audits_as_before(pristine: tuple[Path, list[Chain]],
                                             store_copy: Path) -> None:
    chains = pristine[1]
    before = dump(store_copy)
    with SqliteStore(store_copy) as store:
        cols = store.audit_columns()
        ids = dict(store._db.execute("SELECT pubkey, id FROM agent").fetchall())
    chains = sorted(chains, key=lambda c: ids[c[0].action.author])
    rows = [signed for chain in chains for signed in chain]
    assert list(cols["authors"]) == [chain[0].action.author for chain in chains]
    assert cols["author_id"].dtype == np.int64 and cols["seq"].dtype == np.int64
    assert cols["timestamp"].dtype == np.int64 and cols["closes"].dtype == np.bool_
    assert cols["prev_hash"].dtype == np.uint8 and cols["prev_hash"].shape == (len(rows), 32)
    assert cols["author_id"].tolist() == [i for i, c in enumerate(chains) for _ in c]
    assert cols["seq"].tolist() == [s.action.seq for s in rows]
    assert cols["timestamp"].tolist() == [s.action.timestamp_us for s in rows]
    assert [bytes(h) for h in cols["own_hash"]] == [s.hash for s in rows]
    assert [bytes(h) for h in cols["prev_hash"]] == [s.action.prev or bytes(32) for s in rows]
    assert not cols["closes"].any()
    result = audit_chains(cols["author_id"], cols["seq"], cols["prev_hash"], cols["own_hash"],
                          cols["timestamp"], closes=cols["closes"])
    assert [result.problems(i) for i in range(CHAINS)] == [[]] * CHAINS
    assert result.rows.tolist() == [len(c) for c in chains]
    assert dump(store_copy) == before


def test_an_empty_store_audits_to_empty_columns(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "node.db") as store:
        cols = store.audit_columns()
    assert {k: v.shape for k, v in cols.items()} == {
        "author_id": (0,), "seq": (0,), "prev_hash": (0, 32), "own_hash": (0, 32),
        "timestamp": (0,), "closes": (0,), "authors": (0,)}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_damage_is_store_corrupted_naming_the_column(store_copy: Path, case: str) -> None:
    sql, fragments = DAMAGES[case]
    damaged = damage(store_copy, sql)
    with SqliteStore(store_copy) as store, pytest.raises(StoreCorrupted) as caught:
        store.audit_columns()
    message = str(caught.value)
    assert message.startswith("the node store is damaged (")
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    assert dump(store_copy) == damaged  # the audit wrote nothing


def test_values_that_fit_are_audited_not_refused(store_copy: Path) -> None:
    """A huge seq or timestamp that is still an int64 is a finding of the audit, not damage."""
    damage(store_copy, f"UPDATE action SET seq = 9223372036854775807 WHERE id = {AT4}")
    damage(store_copy, f"UPDATE action SET timestamp_us = 9223372036854775807 WHERE id = {AT3}")
    with SqliteStore(store_copy) as store:
        cols = store.audit_columns()
    result = audit_chains(cols["author_id"], cols["seq"], cols["prev_hash"], cols["own_hash"],
                          cols["timestamp"], closes=cols["closes"])
    assert int(result.head_seq[0]) == 9223372036854775807
    assert result.problems(0) and result.problems(1) == []


# --- the command line ---------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NODEAPP_PASSPHRASE": PASS}
    return subprocess.run([sys.executable, "-m", "nodeapp.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def ok(*args: str) -> str:
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home made as a person makes one (init, network create, a call), holding two more
    chains received from peers: copied by the tests that damage it."""
    home = tmp_path_factory.mktemp("cli") / "home"
    ok("init", "--home", str(home), "--kdf", "interactive")
    ok("network", "create", "--home", str(home), "--name", "n")
    ok("call", "--home", str(home), "example", "create_note", json.dumps({"title": "a"}))
    with SqliteStore(home / "node.db") as store:
        add_chains(store, CHAINS - 1)
    return home


def test_the_cli_audits_an_undamaged_home(home: Path) -> None:
    audit = json.loads(ok("audit", "--home", str(home), "--json"))
    assert audit["chains"] == CHAINS
    assert [a["problems"] for a in audit["authors"]] == [[]] * CHAINS


@pytest.mark.parametrize("case", list(DAMAGES))
def test_the_cli_gives_one_error_line_for_a_damaged_store(home: Path, tmp_path: Path,
                                                          case: str) -> None:
    sql, fragments = DAMAGES[case]
    copy = shutil.copytree(home, tmp_path / "home", ignore=shutil.ignore_patterns("node.sock"))
    damaged = damage(copy / "node.db", sql)
    proc = run("audit", "--home", str(copy), "--json")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: the node store is damaged ("), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert dump(copy / "node.db") == damaged  # the audit wrote nothing
