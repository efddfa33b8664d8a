"""`nodeapp run` as people use it: real processes, real homes, libp2p on 127.0.0.1; `status` and
`call` go through the running node's socket, Ctrl-C stops it cleanly. Every wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nodes import damage_store, fill_store

from nodeapp.home import NodeHome
from nodeapp.local_api import request_running_node

PASS = "correct horse battery"


def env(passphrase: str | None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "NODEAPP_PASSPHRASE"}
    if passphrase is not None:
        out["NODEAPP_PASSPHRASE"] = passphrase
    return out


def run(*args: str, passphrase: str | None = PASS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodeapp.cli", *args], capture_output=True,
                          text=True, env=env(passphrase), timeout=120)


def ok(*args: str, passphrase: str | None = PASS) -> str:
    proc = run(*args, passphrase=passphrase)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def ok_json(*args: str, passphrase: str | None = PASS) -> dict[str, Any]:
    return json.loads(ok(*args, "--json", passphrase=passphrase))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, ok: Callable[[], Any], seconds: float = 30.0) -> Any:
    for _ in range(int(seconds / 0.05)):
        value = ok()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


class Node:
    """A `nodeapp run` process; its output goes to files so a full pipe never stalls it."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = NodeHome(home)
        self.port = port
        self.out = home.parent / f"{home.name}.stdout"
        self.err = home.parent / f"{home.name}.stderr"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nodeapp.cli", "run", "--home", str(home),
                 "--listen", f"/ip4/127.0.0.1/tcp/{port}", "--tick-ms", "50"],
                stdout=out, stderr=err, env=env(PASS))

    def status(self) -> dict[str, Any] | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"the node exited: {self.err.read_text()}")
        try:
            reply = request_running_node(self.home, {"op": "status"}, timeout_s=10)
        except OSError:
            return None
        return reply["status"] if reply else None

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return code, self.out.read_text(), self.err.read_text()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        if node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait(timeout=10)


def test_run_status_call_and_ctrl_c(tmp_path: Path, nodes: list[Node]) -> None:
    steward_dir, member_dir = tmp_path / "site-a", tmp_path / "site-b"
    ok("init", "--home", str(steward_dir), "--kdf", "interactive")
    ok("network", "create", "--home", str(steward_dir), "--name", "sensors-2026")
    steward = Node(steward_dir, free_port())
    nodes.append(steward)
    first = wait_for("the steward answers on its socket", steward.status)
    [addr] = first["listen_addrs"]
    assert addr == f"/ip4/127.0.0.1/tcp/{steward.port}/p2p/{first['peer_id']}"

    # a member joins with an invite that names the running steward, and runs too
    code = ok_json("invite", "create", "--home", str(steward_dir), "--bootstrap", addr)["invite"]
    ok("init", "--home", str(member_dir), "--kdf", "interactive")
    ok("join", "--home", str(member_dir), code)
    member = Node(member_dir, free_port())
    nodes.append(member)
    wait_for("the two nodes admit each other", lambda: all(
        (s := n.status()) and len(s["members"]) == 2 and s["peers"] for n in (steward, member)))

    # status and call through the running node need no passphrase
    status = ok_json("status", "--home", str(steward_dir), passphrase=None)
    assert status["running"] is True
    assert status["listen_addrs"] == [addr]
    assert status["peers"] == [ok_json("status", "--home", str(member_dir),
                                       passphrase=None)["peer_id"]]
    assert set(status) >= {"peers", "listen_addrs", "ops_held", "warrants", "members",
                           "publish_pending", "chain_length", "agent"}
    assert status["warrants"] == [] and isinstance(status["publish_pending"], int)
    assert len(status["members"]) == 2
    text = ok("status", "--home", str(steward_dir), passphrase=None)
    assert "listen_addrs" in text and addr in text

    made = json.loads(ok("call", "--home", str(member_dir), "example", "create_note",
                         '{"title": "sensor batch 1"}', passphrase=None))
    note = made["output"]
    assert note.startswith("action_")
    # published at once: the steward reads it through its own running node
    read = wait_for("the steward holds the note", lambda: json.loads(ok(
        "call", "--home", str(steward_dir), "example", "get_note",
        json.dumps({"note": note}), passphrase=None))["output"], seconds=20)
    assert read["title"] == "sensor batch 1"
    # errors from the running node are one clean line
    bad = run("call", "--home", str(member_dir), "example", "create_note", '{"title": 5}',
              passphrase=None)
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "title" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # offline commands still work beside a running node
    assert len(ok_json("chain", "--home", str(member_dir))["actions"]) == 5  # + note, link
    # a second node in the same home is refused
    twice = run("run", "--home", str(steward_dir), "--listen", "/ip4/127.0.0.1/tcp/0")
    assert twice.returncode == 1 and "already running" in twice.stderr
    assert "Traceback" not in twice.stderr

    # Ctrl-C: exit 0, no traceback, socket gone
    for node in (member, steward):
        code_, out, err = node.stop()
        assert code_ == 0, err
        assert "Traceback" not in out + err
        assert f"listening on /ip4/127.0.0.1/tcp/{node.port}/p2p/" in out
        assert not node.home.socket_path.exists()
    assert "peer joined" in err  # the steward logged the member joining

    # a stale socket (its process gone) does not break offline commands
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(steward.home.socket_path))
    stale.close()
    offline = ok_json("status", "--home", str(steward_dir))
    assert "running" not in offline and offline["chain_length"] == 3
    again = json.loads(ok("call", "--home", str(steward_dir), "example", "get_note",
                          json.dumps({"note": note})))
    assert again["output"]["title"] == "sensor batch 1"


def test_run_refuses_bad_listen_addresses(tmp_path: Path) -> None:
    home = tmp_path / "site-a"
    ok("init", "--home", str(home), "--insecure-no-passphrase")
    proc = run("run", "--home", str(home), "--listen", "/ip4/127.0.0.1/tcp/0")
    assert proc.returncode == 1 and "in no network yet" in proc.stderr
    ok("network", "create", "--home", str(home), "--name", "n")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        for listen, text in ((f"/ip4/127.0.0.1/tcp/{port}", "cannot listen"),
                             ("/ip4/nonsense", "cannot listen")):
            proc = run("run", "--home", str(home), "--listen", listen)
            assert proc.returncode == 1, proc.stderr
            assert proc.stderr.startswith("error: ") and text in proc.stderr, proc.stderr
            assert "Traceback" not in proc.stderr
    assert not NodeHome(home).socket_path.exists()


def test_run_stops_cleanly_when_its_store_is_damaged(tmp_path: Path, nodes: list[Node]) -> None:
    home_dir = tmp_path / "site-a"
    ok("init", "--home", str(home_dir), "--kdf", "interactive")
    ok("network", "create", "--home", str(home_dir), "--name", "sensors-2026")
    fill_store(NodeHome(home_dir), 300, PASS)  # the damage below lands inside the tables
    node = Node(home_dir, free_port())
    nodes.append(node)
    wait_for("the node answers on its socket", node.status)

    damage_store(NodeHome(home_dir))
    status = run("status", "--home", str(home_dir), passphrase=None)
    assert status.returncode == 1
    assert status.stderr.startswith("error: the node store is damaged")
    assert "Traceback" not in status.stderr

    assert node.proc.wait(timeout=20) == 1  # it stops by itself
    err = node.err.read_text()
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: the node store is damaged")
    assert "Restore node.db from a backup" in err
