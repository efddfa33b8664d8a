"""Invites and joining as people use them: real processes, real homes on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from nodeapp._core.actions import AgentValidationPkg
from nodeapp._core.hashing import AgentPubKey
from nodeapp._core.membrane import (
    INVITE_CODE_PREFIX,
    invite_code,
    invite_from_bytes,
    invite_to_bytes,
    parse_invite_code,
)
from nodeapp.conductor import Conductor
from nodeapp.errors import UsageError, ZomeCallError
from nodeapp.home import NodeHome
from nodeapp.invites import check_bootstrap, join_network, parse_expires
from nodeapp.keystore import KdfCost
from nodeapp.runtime import announce_addresses
from nodeapp.store import SqliteStore

PASS = "correct horse battery"
PEER = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"


def run(*args: str, env_pass: str | None = PASS) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NODEAPP_PASSPHRASE"}
    if env_pass is not None:
        env["NODEAPP_PASSPHRASE"] = env_pass
    return subprocess.run([sys.executable, "-m", "nodeapp.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def ok(*args: str, **kw: str | None) -> str:
    proc = run(*args, **kw)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def ok_json(*args: str, **kw: str | None) -> dict:
    return json.loads(ok(*args, "--json", **kw))


def assert_clean_error(proc: subprocess.CompletedProcess[str], text: str, code: int = 1) -> None:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert text in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stdout == ""


def fresh_home(path: Path) -> Path:
    ok("init", "--home", str(path), "--kdf", "interactive")
    return path


def quick_home(path: Path) -> Path:
    """A home made in-process (same as `init --kdf interactive`), for the refusal tests."""
    NodeHome(path).init(PASS, cost=KdfCost.INTERACTIVE)
    return path


def snapshot(home: Path) -> tuple[dict, dict[str, bytes]]:
    """What must not change when a command fails: status and every file but the store's."""
    files = {p.name: p.read_bytes() for p in home.iterdir()
             if p.is_file() and not p.name.startswith("node.db")}
    return NodeHome(home).status(), files


@pytest.fixture(scope="module")
def steward(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = fresh_home(tmp_path_factory.mktemp("invites") / "site-a")
    ok("network", "create", "--home", str(home), "--name", "sensors-2026")
    return home


@pytest.fixture(scope="module")
def code(steward: Path) -> str:
    """A one-use, 7-day invite into the steward's network."""
    return ok_json("invite", "create", "--home", str(steward))["invite"]


@pytest.fixture(scope="module")
def joined(steward: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """site-b, joined with a two-use invite that names a bootstrap peer."""
    created = ok_json("invite", "create", "--home", str(steward), "--uses", "2", "--expires",
                      "7d", "--bootstrap", PEER)
    home = fresh_home(tmp_path_factory.mktemp("invites") / "site-b")
    ok_json("join", "--home", str(home), created["invite"])
    return home, created


def test_invite_create_reports_the_invite(steward: Path) -> None:
    before = time.time_ns() // 1000
    created = ok_json("invite", "create", "--home", str(steward), "--uses", "3", "--expires",
                      "12h", "--bootstrap", PEER, "--bootstrap", PEER.replace("4001", "4002"))
    after = time.time_ns() // 1000
    assert set(created) == {"invite", "invite_id", "expires_us", "uses", "bootstrap"}
    invite = parse_invite_code(created["invite"])
    assert created["invite"].startswith(INVITE_CODE_PREFIX)
    assert created["invite_id"] == invite.invite_id.hex() and len(invite.invite_id) == 16
    assert created["uses"] == invite.uses_max == 3
    assert created["bootstrap"] == list(invite.bootstrap) == [PEER, PEER.replace("4001", "4002")]
    assert before + 12 * 3600 * 10**6 <= created["expires_us"] <= after + 12 * 3600 * 10**6
    status = ok_json("status", "--home", str(steward))
    assert str(AgentPubKey(invite.inviter)) == status["agent"]
    # without --json: the code alone on stdout, so `$(nodeapp invite create ...)` works
    text = ok("invite", "create", "--home", str(steward))
    assert text.count("\n") == 1 and parse_invite_code(text).uses_max == 1
    # each invite has its own random id
    assert parse_invite_code(text).invite_id != invite.invite_id


def test_a_member_joins_with_the_code(steward: Path, joined: tuple[Path, dict]) -> None:
    home, created = joined
    site_a = ok_json("status", "--home", str(steward))
    site_b = ok_json("status", "--home", str(home))
    assert site_b["dna_hash"] == site_a["dna_hash"] and site_b["network"] == "sensors-2026"
    assert site_b["agent"] != site_a["agent"]
    assert site_b["chain_length"] == 3
    assert site_b["bootstrap"] == [PEER]
    assert json.loads((home / "config.json").read_text())["bootstrap"] == [PEER]
    assert (home / "dna.cbor").read_bytes() == (steward / "dna.cbor").read_bytes()
    kinds = [a["kind"] for a in ok_json("chain", "--home", str(home))["actions"]]
    assert kinds == ["DNA", "AGENT_VALIDATION_PKG", "INIT_ZOMES_COMPLETE"]


def test_the_avp_carries_the_invite_as_membrane_proof(joined: tuple[Path, dict]) -> None:
    home, created = joined
    agent = NodeHome(home).public_key()
    with SqliteStore(home / "node.db") as store:
        avp = [signed for signed, _ in store.chain(agent)][1].action
    assert isinstance(avp, AgentValidationPkg)
    assert avp.membrane_proof is not None
    assert invite_from_bytes(avp.membrane_proof) == parse_invite_code(created["invite"])
    assert avp.membrane_proof == invite_to_bytes(parse_invite_code(created["invite"]))


def test_the_member_can_make_zome_calls(joined: tuple[Path, dict]) -> None:
    home, _ = joined
    out = json.loads(ok("call", "--home", str(home), "example", "create_note",
                        '{"title": "from site b"}'))
    assert out["output"].startswith("action_")
    got = json.loads(ok("call", "--home", str(home), "example", "get_note",
                        json.dumps({"note": out["output"]})))
    assert got["output"]["title"] == "from site b"


def test_join_text_and_json_output(steward: Path, tmp_path: Path) -> None:
    code = ok_json("invite", "create", "--home", str(steward), "--uses", "2")["invite"]
    home_c = quick_home(tmp_path / "site-c")
    assert "joined sensors-2026" in ok("join", "--home", str(home_c), code)
    assert NodeHome(home_c).status()["bootstrap"] == []
    home_d = quick_home(tmp_path / "site-d")
    out = ok_json("join", "--home", str(home_d), code)
    status = NodeHome(home_d).status()
    assert out == {"dna_hash": status["dna_hash"], "network": "sensors-2026",
                   "agent": status["agent"], "bootstrap": []}
    assert status["chain_length"] == 3


# --- refusals: one line, non-zero exit, nothing written -------------------------------------


def test_a_bad_invite_code_is_refused_and_writes_nothing(code: str, tmp_path: Path) -> None:
    home = quick_home(tmp_path / "site-x")
    before = snapshot(home)
    for bad in ("hello", code[:-10]):
        assert_clean_error(run("join", "--home", str(home), bad), "invite_format")
    assert not (home / "dna.cbor").exists()
    assert snapshot(home) == before


def test_a_forged_invite_is_refused_and_writes_nothing(code: str, tmp_path: Path) -> None:
    home = quick_home(tmp_path / "site-x")
    before = snapshot(home)
    forged = replace(parse_invite_code(code), uses_max=10_000)
    assert_clean_error(run("join", "--home", str(home), invite_code(forged)), "invite_signature")
    assert not (home / "dna.cbor").exists()
    assert snapshot(home) == before


def test_an_expired_invite_is_refused_and_writes_nothing(steward: Path, tmp_path: Path) -> None:
    code = ok_json("invite", "create", "--home", str(steward), "--expires", "1s")["invite"]
    expires_us = parse_invite_code(code).expires_us
    home = quick_home(tmp_path / "site-x")
    before = snapshot(home)
    wait_s = (expires_us - time.time_ns() // 1000) / 1e6 + 1.0
    time.sleep(min(max(wait_s, 0.0), 2.0))
    assert time.time_ns() // 1000 > expires_us
    assert_clean_error(run("join", "--home", str(home), code), "invite_expired")
    assert not (home / "dna.cbor").exists()
    assert snapshot(home) == before


def test_joining_twice_is_refused_and_changes_nothing(steward: Path, code: str,
                                                      joined: tuple[Path, dict]) -> None:
    home, created = joined
    before = snapshot(home)
    assert_clean_error(run("join", "--home", str(home), created["invite"]),
                       "already belongs to a network")
    assert_clean_error(run("join", "--home", str(home), code), "already belongs to a network")
    assert snapshot(home) == before
    # the steward's own home cannot join its network a second time either
    before = snapshot(steward)
    assert_clean_error(run("join", "--home", str(steward), code), "already belongs")
    assert snapshot(steward) == before


def test_a_non_steward_cannot_create_invites(joined: tuple[Path, dict]) -> None:
    home, _ = joined
    before = snapshot(home)
    assert_clean_error(run("invite", "create", "--home", str(home)), "only a steward")
    # refused before any passphrase is asked for
    assert_clean_error(run("invite", "create", "--home", str(home), env_pass=None),
                       "only a steward")
    assert snapshot(home) == before


def test_a_home_in_no_network_cannot_create_invites(tmp_path: Path) -> None:
    home = quick_home(tmp_path / "lonely")
    assert_clean_error(run("invite", "create", "--home", str(home)), "in no network")
    assert_clean_error(run("join", "--home", str(tmp_path / "nowhere"), "x"), "not a node home")


@pytest.mark.parametrize("args, text", [
    (("--expires", "7x"), "--expires"),
    (("--bootstrap", "/ip4/127.0.0.1/tcp/4001"), "/p2p/"),
])
def test_bad_invite_options_are_one_line_errors(steward: Path, args: tuple[str, ...],
                                                text: str) -> None:
    assert_clean_error(run("invite", "create", "--home", str(steward), *args), text)


def test_bad_uses_are_usage_errors(steward: Path) -> None:
    proc = run("invite", "create", "--home", str(steward), "--uses", "0")
    assert proc.returncode == 2 and "--uses" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("text", ["7x", "0d", "400d", "", "d", "-1h", "1.5h", "7 d"])
def test_parse_expires_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--expires"):
        parse_expires(text)


@pytest.mark.parametrize("addrs, text", [
    (["/ip4/127.0.0.1/tcp/4001"], "/p2p/"),
    (["not an address"], "multiaddr"),
    (["/ip4/999.0.0.1/tcp/1/p2p/x"], "not a multiaddr"),
    (["/" + "a" * 300], "at most 256"),
    ([PEER] * 9, "at most 8"),
    (["/p2p/" + PEER.rsplit("/", 1)[1]], "TCP only"),
    (["/ip4/127.0.0.1/udp/4001/p2p/" + PEER.rsplit("/", 1)[1]], "TCP only"),
    (["/ip4/127.0.0.1/tcp/99999/p2p/" + PEER.rsplit("/", 1)[1]], "not a multiaddr"),
    (["/ip4/0.0.0.0/tcp/4001/p2p/" + PEER.rsplit("/", 1)[1]], "names no one to dial"),
    (["/ip6/::/tcp/4001/p2p/" + PEER.rsplit("/", 1)[1]], "names no one to dial"),
    (["/ip4/192.168.1.20/tcp/0/p2p/" + PEER.rsplit("/", 1)[1]], "names no one to dial"),
])
def test_check_bootstrap_refuses(addrs: list[str], text: str) -> None:
    with pytest.raises(UsageError, match=text):
        check_bootstrap(addrs)


def test_check_bootstrap_keeps_each_address_once() -> None:
    assert check_bootstrap([PEER, PEER]) == (PEER,)


@pytest.mark.parametrize("addr, text", [
    ("/hello world", "not a multiaddr"), ("", "TCP only"), ("garbage", "with '/'"),
    ("/ip4/1.2.3.4/tcp/99999", "not a multiaddr"), ("/ip4/1.2.3.4/udp/9", "TCP only"),
])
def test_announce_addresses_are_checked_like_bootstrap_ones(addr: str, text: str) -> None:
    peer_id = PEER.rsplit("/", 1)[1]
    with pytest.raises(UsageError, match=text) as refused:
        announce_addresses([addr], peer_id)
    assert peer_id not in str(refused.value)  # quotes what was typed, not the completed form
    assert announce_addresses(["/dns4/lab.example.org/tcp/4001"], peer_id) == [
        f"/dns4/lab.example.org/tcp/4001/p2p/{peer_id}"]


def test_a_wrong_passphrase_on_join_writes_nothing(code: str, tmp_path: Path) -> None:
    home = quick_home(tmp_path / "site-x")
    before = snapshot(home)
    assert_clean_error(run("join", "--home", str(home), code, env_pass="wrong"),
                       "wrong passphrase")
    assert snapshot(home) == before
    assert not (home / "dna.cbor").exists()


def test_a_failed_genesis_leaves_the_home_as_it_was(code: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    home = quick_home(tmp_path / "site-x")
    before = snapshot(home)

    def failing_genesis(self: Conductor, membrane_proof: bytes | None = None) -> None:
        assert (home / "dna.cbor").exists()  # written before genesis, as the issue says
        raise ZomeCallError("genesis failed on purpose")

    monkeypatch.setattr(Conductor, "genesis", failing_genesis)
    with pytest.raises(ZomeCallError):
        join_network(NodeHome(home), PASS, code, time.time_ns() // 1000)
    assert not (home / "dna.cbor").exists()
    assert snapshot(home) == before


def test_parse_expires_accepts() -> None:
    assert [parse_expires(t) for t in ("1s", "30m", "12h", "7d", " 2d ")] == [
        1, 1800, 43200, 604800, 172800]


# --- a home whose files disagree, or a join cut short -----------------------------------------


def copy_home(source: Path, target: Path) -> Path:
    target.mkdir(mode=0o700)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy(item, target / item.name)  # modes too: keystore.json stays 0600
    return target


def test_a_dna_cbor_of_another_network_is_refused(steward: Path, joined: tuple[Path, dict],
                                                   tmp_path: Path) -> None:
    other = fresh_home(tmp_path / "other")
    ok("network", "create", "--home", str(other), "--name", "another-network")
    home = copy_home(steward, tmp_path / "copy")  # the fixtures are shared: work on a copy
    (home / "dna.cbor").write_bytes((other / "dna.cbor").read_bytes())
    # (`chain` still lists the chain: it reads only the chain, whose Dna action is the truth)
    for command in (["status"], ["call", "example", "create_note", '{"title": "x"}'],
                    ["run", "--listen", "/ip4/127.0.0.1/tcp/0"]):
        assert_clean_error(run(*command, "--home", str(home)),
                           "is not the network this agent's chain belongs to")
    assert json.loads(ok("chain", "--home", str(steward), "--json"))["actions"]  # untouched


def test_a_network_create_cut_short_before_its_genesis_can_be_run_again(tmp_path: Path
                                                                         ) -> None:
    home = fresh_home(tmp_path / "site-a")
    other = fresh_home(tmp_path / "other")
    ok("network", "create", "--home", str(other), "--name", "x")
    # killed after writing dna.cbor, before the genesis (the genesis is written last)
    (home / "dna.cbor").write_bytes((other / "dna.cbor").read_bytes())
    assert_clean_error(run("call", "--home", str(home), "example", "create_note",
                           '{"title": "x"}'), "did not finish in this home")
    created = ok_json("network", "create", "--home", str(home), "--name", "sensors-2026")
    status = ok_json("status", "--home", str(home))
    assert status["dna_hash"] == created["dna_hash"] and status["chain_length"] == 3


def test_a_join_cut_short_before_its_genesis_can_be_run_again(steward: Path, tmp_path: Path
                                                              ) -> None:
    created = ok_json("invite", "create", "--home", str(steward), "--bootstrap", PEER)
    home = fresh_home(tmp_path / "site-c")
    # killed after dna.cbor and the bootstrap peers were written, before the genesis
    invite = parse_invite_code(created["invite"])
    (home / "dna.cbor").write_bytes(invite.dna_manifest)
    assert_clean_error(run("run", "--home", str(home), "--listen", "/ip4/127.0.0.1/tcp/0"),
                       "did not finish in this home")
    ok_json("join", "--home", str(home), created["invite"])
    status = ok_json("status", "--home", str(home))
    assert status["chain_length"] == 3 and status["bootstrap"] == [PEER]


def test_a_keystore_of_another_agent_is_named(steward: Path, tmp_path: Path) -> None:
    home = copy_home(steward, tmp_path / "copy")
    stranger = fresh_home(tmp_path / "stranger")
    (home / "keystore.json").write_bytes((stranger / "keystore.json").read_bytes())
    def held() -> tuple[dict[str, int], dict[str, bytes]]:  # status() refuses this home
        with NodeHome(home).open_store() as store:
            counts = store.counts()
        return counts, {p.name: p.read_bytes() for p in home.iterdir()
                        if p.is_file() and not p.name.startswith("node.db")}

    before = held()
    # every command that reads this agent's chain says so: none shows another's as empty,
    # and none writes a second agent's genesis beside it
    for args in (("call", "--home", str(home), "example", "create_note", '{"title": "x"}'),
                 ("status", "--home", str(home)), ("chain", "--home", str(home)),
                 ("network", "create", "--home", str(home), "--name", "another")):
        assert_clean_error(run(*args), "is not the key of the agent whose chain")
    assert held() == before
