"""The command line as a person uses it: real processes, a real home on disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import create_after, note_bytes

from nodeapp.errors import NodeError
from nodeapp.home import NodeHome
from nodeapp.keystore import KdfCost
from nodeapp.store import StagedRecord

PASS = "correct horse battery"


def run(*args: str, env_pass: str | None = PASS, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NODEAPP_PASSPHRASE"}
    if env_pass is not None:
        env["NODEAPP_PASSPHRASE"] = env_pass
    return subprocess.run([sys.executable, "-m", "nodeapp.cli", *args], capture_output=True,
                          text=True, env=env, input=stdin, timeout=120)


def ok(*args: str, **kw: str | None) -> str:
    proc = run(*args, **kw)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_clean_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert text in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli") / "site-a"
    ok("init", "--home", str(home), "--kdf", "interactive")
    return home


def test_init_creates_an_encrypted_private_keystore(site: Path) -> None:
    keystore = site / "keystore.json"
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    # the store holds private entries, and the home will hold the node's call socket
    assert stat.S_IMODE(site.stat().st_mode) == 0o700
    assert stat.S_IMODE((site / "node.db").stat().st_mode) == 0o600
    assert json.loads(keystore.read_text())["encrypted"] is True
    status = json.loads(ok("status", "--home", str(site), "--json"))
    assert status["agent"].startswith("agent_")
    assert status["peer_id"].startswith("12D3KooW")
    assert status["dna_hash"] is None and status["chain_length"] == 0


def test_network_create_then_status_chain_and_call(site: Path) -> None:
    created = json.loads(ok("network", "create", "--home", str(site), "--name", "sensors-2026",
                            "--json"))
    status = json.loads(ok("status", "--home", str(site), "--json"))
    assert status["dna_hash"] == created["dna_hash"]
    assert created["stewards"] == [status["agent"]]
    assert status["chain_length"] == 3
    for key in ("agent", "peer_id", "dna_hash", "chain_length", "chain_head", "store_bytes"):
        assert key in status
    out = json.loads(ok("call", "--home", str(site), "example", "create_note",
                        '{"title": "batch 1", "body": "50 sensors"}'))
    note = out["output"]
    assert note.startswith("action_")
    got = json.loads(ok("call", "--home", str(site), "example", "get_note",
                        json.dumps({"note": note})))
    assert got["output"]["title"] == "batch 1"
    chain = json.loads(ok("chain", "--home", str(site), "--json"))["actions"]
    assert [a["kind"] for a in chain] == ["DNA", "AGENT_VALIDATION_PKG", "INIT_ZOMES_COMPLETE",
                                          "CREATE", "CREATE_LINK"]
    assert [a["seq"] for a in chain] == list(range(5))
    assert chain[-1]["hash"] == json.loads(ok("status", "--home", str(site), "--json"))[
        "chain_head"]
    text = ok("chain", "--home", str(site))
    assert len(text.strip().splitlines()) == 5
    audit = json.loads(ok("audit", "--home", str(site), "--json"))
    assert audit["chains"] == 1 and audit["authors"][0]["problems"] == []


def test_wrong_passphrase_is_one_clear_line(site: Path) -> None:
    proc = run("call", "--home", str(site), "example", "create_note", '{"title": "x"}',
               env_pass="wrong")
    assert_clean_error(proc, 1, "wrong passphrase")


def test_missing_passphrase_without_terminal(site: Path) -> None:
    proc = run("call", "--home", str(site), "example", "create_note", '{"title": "x"}',
               env_pass=None)
    assert_clean_error(proc, 1, "NODEAPP_PASSPHRASE")


def test_passphrase_file(site: Path, tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text(PASS + "\n")
    out = ok("call", "--home", str(site), "--passphrase-file", str(secret), "example",
             "notes_by_author", json.dumps({"agent": json.loads(
                 ok("status", "--home", str(site), "--json"))["agent"]}), env_pass=None)
    assert len(json.loads(out)["output"]) >= 1


@pytest.mark.parametrize("args, code, text", [
    (("chian",), 2, "No such command"),
    (("status",), 2, "Missing option '--home'"),
    (("chain", "--home", "x", "--limit", "0"), 2, "--limit"),
    # a value outside an option's choices is a usage error too, named before anything is done
    (("init", "--home", "never-made", "--durability", "fast"), 2, "--durability"),
    (("init", "--home", "never-made", "--kdf", "cheap"), 2, "--kdf"),
    (("run", "--home", "never-made", "--log-level", "loud"), 2, "--log-level"),
])
def test_typos_exit_2_without_traceback(args: tuple[str, ...], code: int, text: str) -> None:
    assert_clean_error(run(*args), code, text)
    assert not Path("never-made").exists()


def test_bad_inputs_are_refused_and_write_nothing(site: Path) -> None:
    before = json.loads(ok("status", "--home", str(site), "--json"))
    cases = [
        (('example', 'create_note', '{bad json'), "not JSON"),
        (('example', 'create_note', "[" * 50_000 + "]" * 50_000), "nested too deeply"),
        (('example', 'create_note', '{"titl": "x"}'), "bad input for create_note"),
        (('example', 'create_note', '{"title": ""}'), "title"),
        (('nozome', 'f', '{}'), "no zome named 'nozome'"),
        (('example', 'nofn', '{}'), "has no function 'nofn'"),
        (('example', 'get_note', '{"note": "action_nothex"}'), "48 base64url"),
        (('example', 'private_note_count', '--to', 'agent_typo'), "48 base64url"),
        (('example', 'private_note_count', '--to', before["agent"]), "needs the node running"),
    ]
    for args, text in cases:
        assert_clean_error(run("call", "--home", str(site), *args), 1, text)
    assert json.loads(ok("status", "--home", str(site), "--json")) == before


def test_not_a_home_and_init_twice(site: Path, tmp_path: Path) -> None:
    assert_clean_error(run("status", "--home", str(tmp_path / "nowhere")), 1, "not a node home")
    assert_clean_error(run("init", "--home", str(site)), 1, "already a node home")


def test_call_prints_one_line_with_json_and_indented_without(site: Path) -> None:
    one = ok("call", "--home", str(site), "example", "create_note", '{"title": "j"}', "--json")
    assert len(one.strip().splitlines()) == 1 and json.loads(one)["output"].startswith("action_")
    many = ok("call", "--home", str(site), "example", "create_note", '{"title": "k"}')
    assert len(many.strip().splitlines()) == 3 and json.loads(many)["output"].startswith("action_")


def test_a_home_that_cannot_be_made_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a directory")
    for home, text in ((in_the_way, "File exists"), (in_the_way / "sub", "Not a directory")):
        assert_clean_error(run("init", "--home", str(home), "--kdf", "interactive"), 1,
                           "cannot make")
        assert_clean_error(run("init", "--home", str(home), "--kdf", "interactive"), 1, text)
    assert in_the_way.read_text() == "not a directory"
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    fresh = tmp_path / "fresh"
    assert_clean_error(run("init", "--home", str(fresh), "--passphrase-file", str(empty)), 1,
                       "empty passphrase")
    assert not fresh.exists()


@pytest.mark.parametrize("name, text", [
    ("", "name is empty"), ("   ", "name is empty"), ("two\nlines", "control characters"),
    ("x" * 101, "the limit is 100"),
])
def test_a_bad_network_name_is_refused_and_the_home_stays_unjoined(tmp_path: Path, name: str,
                                                                    text: str) -> None:
    home = tmp_path / "h"
    ok("init", "--home", str(home), "--kdf", "interactive")
    assert_clean_error(run("network", "create", "--home", str(home), "--name", name), 1, text)
    status = json.loads(ok("status", "--home", str(home), "--json"))
    assert status["dna_hash"] is None and status["chain_length"] == 0


def test_corrupted_keystore_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "h"
    ok("init", "--home", str(home), "--kdf", "interactive")
    ok("network", "create", "--home", str(home), "--name", "n")
    (home / "keystore.json").write_text('{"format": "nodeapp-keystore", "version": 1}')
    assert_clean_error(run("call", "--home", str(home), "example", "create_note",
                           '{"title": "x"}'), 1, "keystore")


def test_insecure_demo_home_needs_no_passphrase(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    ok("init", "--home", str(home), "--insecure-no-passphrase", env_pass=None)
    ok("network", "create", "--home", str(home), "--name", "demo", env_pass=None)
    ok("call", "--home", str(home), "example", "create_note", '{"title": "x"}', env_pass=None)
    assert json.loads(ok("status", "--home", str(home), "--json"))["chain_length"] == 5


def test_a_closed_chain_shows_in_status_and_refuses_calls_in_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site-c"  # its own home: the module's shared one stays open
    ok("init", "--home", str(site), "--kdf", "interactive")
    ok("network", "create", "--home", str(site), "--name", "sensors-2026", "--json")
    assert json.loads(ok("status", "--home", str(site), "--json"))["chain_closed"] is False
    ok("call", "--home", str(site), "example", "close_chain", "{}")
    status = json.loads(ok("status", "--home", str(site), "--json"))
    assert status["chain_closed"] is True and status["chain_length"] == 4
    chain = json.loads(ok("chain", "--home", str(site), "--json"))["actions"]
    assert chain[-1]["kind"] == "CLOSE_CHAIN"
    proc = run("call", "--home", str(site), "example", "create_note", '{"title": "late"}')
    assert_clean_error(proc, 1, "closed_chain")
    assert json.loads(ok("status", "--home", str(site), "--json"))["chain_length"] == 4
    audit = json.loads(ok("audit", "--home", str(site), "--json"))
    assert audit["authors"][0]["problems"] == []  # closing is allowed


def test_audit_names_a_write_a_modified_node_made_after_closing(tmp_path: Path) -> None:
    site = tmp_path / "site-d"
    ok("init", "--home", str(site), "--kdf", "interactive")
    ok("network", "create", "--home", str(site), "--name", "sensors-2026", "--json")
    ok("call", "--home", str(site), "example", "close_chain", "{}")
    # a modified node: it signs and stores a Create after its CloseChain, skipping validation
    node = NodeHome(site).open_conductor(PASS)
    head = node.store.chain_head(node.agent)
    assert head is not None
    closed = node.store.get_action(head.hash)
    assert closed is not None
    entry = note_bytes("after the end")
    late = create_after(node.key, closed[0], entry)
    node.store.commit_own(node.agent, [StagedRecord(late, entry)], head)
    node.store.close()
    audit = json.loads(ok("audit", "--home", str(site), "--json"))
    assert audit["authors"][0]["problems"] == ["1 action after close, first at seq 4"]
    text = ok("audit", "--home", str(site))
    assert "1 chain, 1 with problems" in text and "action after close" in text


def test_a_failed_init_removes_what_it_wrote_and_only_that(tmp_path: Path) -> None:
    home = tmp_path / "h"
    (home / "node.db").mkdir(parents=True)  # something of the user's where the store would go
    (home / "notes.txt").write_text("mine")
    with pytest.raises(NodeError):
        NodeHome(home).init("pw", cost=KdfCost.INTERACTIVE)
    assert sorted(p.name for p in home.iterdir()) == ["node.db", "notes.txt"]
    assert (home / "notes.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home in a network, with a few notes: copied by the tests that damage it."""
    home = tmp_path_factory.mktemp("member") / "home"
    ok("init", "--home", str(home), "--kdf", "interactive")
    ok("network", "create", "--home", str(home), "--name", "n")
    for index in range(20):
        ok("call", "--home", str(home), "example", "create_note",
           json.dumps({"title": f"note {index}", "body": "b" * 500}))
    return home


def _copy_home(home: Path, to: Path) -> Path:
    shutil.copytree(home, to, ignore=shutil.ignore_patterns("node.sock"))
    return to


def test_a_store_damaged_inside_is_one_line_for_every_command(member: Path, tmp_path: Path
                                                              ) -> None:
    home = _copy_home(member, tmp_path / "damaged")
    db = home / "node.db"
    for suffix in ("-wal", "-shm"):
        assert not (home / f"node.db{suffix}").exists()  # closed cleanly: all in node.db
    data = bytearray(db.read_bytes())
    for i in range(4096, len(data), 97):  # the header page survives, so the file still opens
        data[i] ^= 0xFF
    db.write_bytes(bytes(data))
    for command in (("status",), ("chain",), ("audit",),
                    ("call", "example", "create_note", '{"title": "x"}')):
        proc = run(command[0], "--home", str(home), *command[1:])
        assert_clean_error(proc, 1, "error: ")  # damaged pages, or a row whose hash fails
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
def test_a_missing_store_is_an_error_not_a_new_empty_chain(member: Path, tmp_path: Path,
                                                           damage: str) -> None:
    home = _copy_home(member, tmp_path / damage)
    if damage == "deleted":
        (home / "node.db").unlink()
    else:
        (home / "node.db").write_bytes(b"")
    for command in ("status", "chain", "audit"):
        assert_clean_error(run(command, "--home", str(home)), 1, "node.db is missing or empty")
    assert not (home / "node.db").exists() or (home / "node.db").stat().st_size == 0


@pytest.mark.parametrize("after_s", [0.2, 0.4, 0.7, 3.0])
def test_ctrl_c_is_aborted_not_a_traceback(tmp_path: Path, after_s: float) -> None:
    """Loading the CLI's modules takes 0.5-1.5 s here: Ctrl-C at 0.2-0.7 s lands there (once
    inside pydantic building a validator, which turned it into a SchemaError traceback), at
    3 s in a command waiting for its passphrase. All end with "aborted" and 130."""
    # Python's own Ctrl-C handler, set explicitly: this test process may itself have been
    # started with SIGINT ignored (a background job), and a child inherits that
    code = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from nodeapp.entry import main; main()")
    out, err, returncode = _init_interrupted(tmp_path, [sys.executable, "-c", code], after_s)
    assert returncode == 130, err
    assert "Traceback" not in out + err
    assert err.strip().splitlines()[-1] == "aborted"


@pytest.mark.parametrize("after_s", [0.2, 3.0])
def test_ctrl_c_stays_ignored_when_the_command_started_ignoring_it(tmp_path: Path,
                                                                  after_s: float) -> None:
    """Started with SIGINT ignored (nohup, a shell's background job), the command keeps
    ignoring it, while its modules load and after."""
    # ignored from exec on, as nohup leaves it (a shell can always set "ignore")
    command = ["sh", "-c", 'trap "" INT; exec "$0" "$@"', sys.executable, "-c",
               "from nodeapp.entry import main; main()"]
    out, err, returncode = _init_interrupted(tmp_path, command, after_s, "a passphrase\n")
    assert returncode == 0, err
    assert NodeHome(tmp_path / "site").keystore_path.exists()  # the command ran to its end


def _init_interrupted(tmp_path: Path, command: list[str], after_s: float,
                      passphrase: str | None = None) -> tuple[str, str, int]:
    """Run ``command`` + ``init`` reading its passphrase from our pipe (so it waits for us),
    send it SIGINT after ``after_s``, then give it ``passphrase`` (None: close the pipe)."""
    env = {k: v for k, v in os.environ.items() if k != "NODEAPP_PASSPHRASE"}
    proc = subprocess.Popen(
        [*command, "init", "--home", str(tmp_path / "site"), "--passphrase-file", "/dev/stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        time.sleep(after_s)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(passphrase, timeout=60)
    finally:
        proc.kill()  # a no-op once it has ended; a hung one does not outlive the test
        proc.wait()
    return out, err, proc.returncode


def test_oversized_limits_and_unusable_paths_are_one_line_errors(tmp_path: Path) -> None:
    home = tmp_path / "site"
    ok("init", "--home", str(home), "--kdf", "interactive")
    assert_clean_error(run("chain", "--home", str(home), "--limit", "99999999999999999999"),
                       2, "--limit")
    assert_clean_error(run("status", "--home", str(tmp_path / ("x" * 300))), 1,
                       "File name too long")
    (home / "dna.cbor").mkdir()  # a directory where the DNA manifest should be
    assert_clean_error(run("status", "--home", str(home)), 1, "dna.cbor")


@pytest.mark.parametrize("config", ['{"version": true}', '{"version": 99}', "[1]", "{",
                                    '{"durability": "normal"}',
                                    pytest.param("[" * 200_000, id="nested-too-deep")])
def test_a_config_this_version_cannot_read_is_one_line(tmp_path: Path, config: str) -> None:
    home = tmp_path / "site"
    ok("init", "--home", str(home), "--kdf", "interactive")
    (home / "config.json").write_text(config)
    proc = run("status", "--home", str(home))
    assert_clean_error(proc, 1, "config.json")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_home_path_with_a_line_break_or_a_space_still_gives_one_line(tmp_path: Path) -> None:
    proc = run("status", "--home", str(tmp_path / "sp ace\nnext"))
    assert_clean_error(proc, 1, "is not a node home")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "--home '" in proc.stderr  # the suggested command can be pasted as it is
