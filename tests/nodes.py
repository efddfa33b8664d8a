"""Helpers for tests that run real nodes: homes, bounded waits, blocking clients in a thread."""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from pydantic import BaseModel

from nodeapp._core.actions import Create, Visibility, sign_action
from nodeapp._core.canonical import encode
from nodeapp._core.hashing import blake2b_256
from nodeapp.conductor import make_signer, wall_clock_us
from nodeapp.home import NodeHome
from nodeapp.invites import create_invite, join_network
from nodeapp.runtime import RunningNode, run_node
from nodeapp.store import StagedRecord

LOCAL = ["/ip4/127.0.0.1/tcp/0"]
TICK_MS = 50
run_fast = functools.partial(run_node, tick_ms=TICK_MS)


def new_home(path: Path) -> NodeHome:
    """An unencrypted home (fast to open), as `nodeapp init --insecure-no-passphrase`."""
    home = NodeHome(path)
    home.init(None, encrypted=False)
    return home


async def wait_until(what: str, ok: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll ``ok`` every 20 ms until it holds; fail after ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if ok():
            return
        await trio.sleep(0.02)
    raise AssertionError(f"not within {seconds} s: {what}")


async def eventually(what: str, check: Callable[[], Awaitable[bool]],
                     seconds: float = 20.0) -> None:
    """Await ``check()`` every 50 ms until it is true; fail after ``seconds``."""
    with trio.move_on_after(seconds):
        while not await check():
            await trio.sleep(0.05)
        return
    raise AssertionError(f"not within {seconds} s: {what}")


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking client call in a thread of its own, joined before returning (trio's
    worker threads would outlive the test and upset thread counts elsewhere) while this trio
    loop keeps serving; the call's exception is re-raised here."""
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append((False, exc))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    for _ in range(1000):
        if not thread.is_alive():
            break
        await trio.sleep(0.01)
    thread.join(timeout=1)
    assert outcome, "the client call took over 10 s"
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


@asynccontextmanager
async def network(root: Path, members: int, properties: dict[str, Any] | None = None
                  ) -> AsyncIterator[tuple[trio.Nursery, list[RunningNode]]]:
    """A steward plus ``members`` invited members, all running on 127.0.0.1, all admitted by
    each other; ``properties`` go into the DNA (say, a replication factor)."""
    steward_home = new_home(root / "steward")
    steward_home.create_network("test-sites", None, properties)
    async with trio.open_nursery() as nursery:
        steward = await nursery.start(run_fast, steward_home, None, LOCAL)
        homes = []
        for index in range(members):
            home = new_home(root / f"site-{index + 1}")
            code = create_invite(steward_home, None, 1, 3600, steward.listen_addrs,
                                 wall_clock_us())
            join_network(home, None, code, wall_clock_us())
            assert home.bootstrap() == steward.listen_addrs
            homes.append(home)
        nodes = [steward]
        for home in homes:
            nodes.append(await nursery.start(run_fast, home, None, LOCAL))
        everyone = {n.agent for n in nodes}
        await wait_until("every node admits every other",
                         lambda: all(n.protocol.members == everyone for n in nodes))
        try:
            yield nursery, nodes
        finally:
            nursery.cancel_scope.cancel()


def commit_unchecked(node: RunningNode, zome: str, entry_type: str, entry: BaseModel
                     ) -> tuple[bytes, bytes]:
    """Commit ``entry`` as a public Create on ``node``'s chain, bypassing the coordinator and
    validation as a modified node could, then publish it like any record. Returns (action
    hash, entry bytes)."""
    conductor, store = node.conductor, node.conductor.store
    head = store.chain_head(node.agent)
    assert head is not None
    found = store.get_action(head.hash)
    assert found is not None
    data = encode(entry.model_dump(mode="python"))
    zome_index = conductor.dna.zome_index(zome)
    type_index = conductor.dna.zomes[zome_index].entry_type_index(entry_type)
    action = Create(node.agent, head.seq + 1, head.hash,
                    max(wall_clock_us(), found[0].action.timestamp_us), zome_index, type_index,
                    Visibility.PUBLIC, blake2b_256(data))
    signed = sign_action(action, make_signer(conductor.key))
    store.commit_own(node.agent, [StagedRecord(signed, data)], head)
    conductor._head = None  # the conductor's cached head is stale now
    assert node.publish_new_records() == 1
    return signed.hash, data


def fill_store(home: NodeHome, notes: int, passphrase: str | None = None) -> None:
    """Commit ``notes`` ~450-byte notes to the home's chain (enough rows for the store's
    tables to span many pages)."""
    conductor = home.open_conductor(passphrase)
    try:
        for n in range(notes):
            conductor.call("example", "create_note", {"title": f"n{n}", "body": "x" * 400})
    finally:
        conductor.store.close()


def damage_store(home: NodeHome) -> None:
    """Overwrite pages in the middle of node.db, as a bad disk or a stray write would."""
    with open(home.db_path, "r+b") as db:
        db.seek(8 * 4096)
        db.write(b"\xa5" * (24 * 4096))
