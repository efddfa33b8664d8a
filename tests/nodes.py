"""Helpers for tests that run real nodes: homes, bounded waits, blocking clients in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from nodeapp.home import NodeHome


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
