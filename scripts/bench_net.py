#!/usr/bin/env python3
"""Benchmark of the node protocol on a real network: libp2p over loopback, one process.

Real-network figures (every node is a full :func:`nodeapp.runtime.run_node`: libp2p host,
Noise, yamux, SQLite store, validation):

* ``sync_lag_*``: a note committed at one node -> each of its ops held by all its authorities
  (the R nodes nearest its basis among all members), polled every 10 ms.
* ``receipts_complete_*``: commit -> the author holds a validation receipt from every other
  authority of each op.
* ``bulk_sync_ops_per_s``: a fresh node joins a network whose one other node holds a long
  chain (about 100,000 ops by default); ops per second until the newcomer holds every op it is an
  authority for. The holder runs as ``nodeapp run`` in a process of its own, as it would on
  its own PC; ``bulk_sync_ops_per_s_one_process`` is the same with both nodes in this process,
  sharing one Python thread.

Simulator and kernel figures: ``sim_*`` (a large simulated network), ``sync_bytes_per_diff_op``
(protocol bytes per differing op, at two sizes) and ``sync_table_ms`` (building the table of
the ops held in half the ring, as every sync offer made or answered does, at 1,000,000 ops
held; ``sync_table_ms_reference`` is the numpy reference in the same run).

Every node of a run shares this process's one Python thread, so a figure is only a per-node
figure while ``lag_cpu_busy_fraction`` stays well below 1; ``request_cpu_ms`` (one
request/response between two hosts here, both ends) is what each protocol message costs before
the protocol does anything. Prints one JSON object with ``--json``. Sizes are flags; the
defaults take about 2 minutes.

    python scripts/bench_net.py --json
    python scripts/bench_net.py --json --quick      # smaller sizes, a smoke test
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dna import PRODUCTION_ZOMES, build_manifest  # noqa: E402
from nodeapp._core.dht import Ring  # noqa: E402
from nodeapp._core.hashing import AgentPubKey, location_of  # noqa: E402
from nodeapp._core.ops import basis_of, op_hash, op_types_for  # noqa: E402
from nodeapp._core.reconcile import op_id  # noqa: E402
from nodeapp.conductor import wall_clock_us  # noqa: E402
from nodeapp.errors import NodeError  # noqa: E402
from nodeapp.home import NodeHome  # noqa: E402
from nodeapp.invites import create_invite, join_network  # noqa: E402
from nodeapp.keystore import read_keystore  # noqa: E402
from nodeapp.local_api import request_running_node  # noqa: E402
from nodeapp.protocol import ProtocolSettings  # noqa: E402
from nodeapp.runtime import RunningNode, run_node  # noqa: E402
from nodeapp.testing import build_label, interpreter_label, iter_chain  # noqa: E402
from sims.bench import large_network, sync_bytes_per_diff_op, sync_table_ms

LOCAL = ["/ip4/127.0.0.1/tcp/0"]
HOLDER_START_S_MAX = 120.0
POLL_S = 0.01


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(values), q)), 4) if values else None


def new_home(path: Path) -> NodeHome:
    home = NodeHome(path)
    home.init(None, encrypted=False)  # an unencrypted key: nothing here is a secret
    return home


@asynccontextmanager
async def running_network(root: Path, size: int, settings: ProtocolSettings, tick_ms: int,
                          replication_factor: int) -> AsyncIterator[list[RunningNode]]:
    """A steward and ``size - 1`` invited members, all running and admitted by each other."""
    start = functools.partial(run_node, settings=settings, tick_ms=tick_ms, local_api=False)
    steward_home = new_home(root / "node-0")
    steward_home.create_network("bench", None, {"replication_factor": replication_factor})
    async with trio.open_nursery() as nursery:
        steward = await nursery.start(start, steward_home, None, LOCAL)
        nodes = [steward]
        for index in range(1, size):
            home = new_home(root / f"node-{index}")
            code = create_invite(steward_home, None, 1, 3600, steward.listen_addrs,
                                 wall_clock_us())
            join_network(home, None, code, wall_clock_us())
            nodes.append(await nursery.start(start, home, None, LOCAL))
        everyone = {n.agent for n in nodes}
        with trio.fail_after(60):
            while not all(n.protocol.members == everyone for n in nodes):
                await trio.sleep(0.05)
        try:
            yield nodes
        finally:
            nursery.cancel_scope.cancel()


# --- sync lag and receipts ------------------------------------------------------------------


async def measure_lag(root: Path, args: argparse.Namespace, settings: ProtocolSettings
                      ) -> dict[str, Any]:
    t0 = time.perf_counter()
    async with running_network(root, args.nodes, settings, args.tick_ms,
                               args.replication_factor) as nodes:
        setup_s = time.perf_counter() - t0
        await trio.sleep(args.warmup_s)  # let the joining traffic (first syncs) settle
        ring = Ring([n.agent for n in nodes], args.replication_factor)
        by_agent = {n.agent: n for n in nodes}
        # op hash -> (commit time, author node, authorities)
        pending_hold: dict[bytes, tuple[float, RunningNode, list[bytes]]] = {}
        pending_receipt: dict[bytes, tuple[float, RunningNode, set[bytes]]] = {}
        lags: list[float] = []
        receipts: list[float] = []

        def commit(index: int) -> None:
            node = nodes[index % len(nodes)]
            store = node.conductor.store
            head = store.chain_head(node.agent)
            assert head is not None
            node.call("example", "create_note",
                      {"title": f"note {index}", "body": "x" * 200, "index_by_author": False})
            now = time.perf_counter()
            for signed, _ in store.chain(node.agent, start_seq=head.seq + 1):
                for op_type in op_types_for(signed.action):
                    basis = basis_of(op_type, signed.action, signed.hash)
                    authorities = ring.authorities(location_of(basis[1:]))
                    op = op_hash(op_type, signed.hash)
                    pending_hold[op] = (now, node, authorities)
                    others = set(authorities) - {node.agent}
                    if others:
                        pending_receipt[op] = (now, node, others)

        def check() -> None:
            now = time.perf_counter()
            held = {a: n.protocol._held for a, n in by_agent.items()}  # read only, no copy
            for op, (when, _node, authorities) in list(pending_hold.items()):
                if all(op_id(op) in held[a] for a in authorities):
                    lags.append(now - when)
                    del pending_hold[op]
            for op, (when, node, others) in list(pending_receipt.items()):
                if others <= node.protocol.receipts.get(op, set()):
                    receipts.append(now - when)
                    del pending_receipt[op]

        frames_before = sum(n.stats["frames_out"] for n in nodes)
        started, cpu_started = time.perf_counter(), time.process_time()
        next_commit, index = started, 0
        deadline = None
        while True:
            now = time.perf_counter()
            if index < args.notes and now >= next_commit:
                commit(index)
                index += 1
                next_commit += args.commit_interval_ms / 1000
            check()
            if index >= args.notes:
                deadline = deadline or now + args.settle_s
                if (not pending_hold and not pending_receipt) or now > deadline:
                    break
            await trio.sleep(POLL_S)
        phase_s = time.perf_counter() - started
        busy = (time.process_time() - cpu_started) / phase_s
        sent = sum(n.stats["frames_out"] for n in nodes)
        failed = sum(n.stats["send_failed"] for n in nodes)
        dropped = sum(n.stats["dropped_queue_full"] + n.stats["dropped_unreachable"]
                      for n in nodes)
    return {
        "nodes": args.nodes, "notes": args.notes, "ops": len(lags) + len(pending_hold),
        "network_setup_s": round(setup_s, 2),
        "sync_lag_p50_s": percentile(lags, 50), "sync_lag_p99_s": percentile(lags, 99),
        "sync_lag_max_s": percentile(lags, 100),
        "receipts_complete_p50_s": percentile(receipts, 50),
        "receipts_complete_p99_s": percentile(receipts, 99),
        "ops_not_converged": len(pending_hold), "ops_without_all_receipts": len(pending_receipt),
        "frames_sent": sent, "send_failures": failed, "frames_dropped": dropped,
        # all nodes share one Python thread: near 1.0 means the figures are CPU-bound here
        "lag_cpu_busy_fraction": round(busy, 2),
        "lag_frames_per_s": round((sent - frames_before) / phase_s, 1),
    }


# --- bulk sync ------------------------------------------------------------------------------


def prefill_holder(root: Path, actions: int, replication_factor: int) -> tuple[NodeHome, int]:
    """A steward home whose chain has ``actions`` note Creates after genesis, committed in
    chunks; returns the home and the seconds it took."""
    home = new_home(root / "holder")
    key = read_keystore(home.keystore_path, None)
    manifest = build_manifest("bulk", secrets.token_hex(16), [AgentPubKey(key.public_key)],
                              PRODUCTION_ZOMES, {"replication_factor": replication_factor})
    home.write_manifest(manifest)
    chunk: list[Any] = []
    head = None
    with home.open_store() as store:
        for built in iter_chain(key, manifest.hash.raw, actions, body_bytes=200,
                                start_us=wall_clock_us() - 60_000_000):
            chunk.append(built.staged())
            if len(chunk) == 5_000:
                store.commit_own(key.public_key, chunk, head)
                head = store.chain_head(key.public_key)
                chunk = []
        if chunk:
            store.commit_own(key.public_key, chunk, head)
    return home, actions


def expected_ops(store: Any, agent: bytes) -> set[int]:
    """Ids of every op of ``agent``'s chain in ``store``."""
    ids = set()
    for signed, _ in store.chain(agent):
        for op_type in op_types_for(signed.action):
            ids.add(op_id(op_hash(op_type, signed.hash)))
    return ids


async def catch_up(newcomer_home: NodeHome, wanted: set[int], args: argparse.Namespace,
                   settings: ProtocolSettings) -> dict[str, Any]:
    """Run the newcomer until it holds every op in ``wanted`` (or the timeout)."""
    start = functools.partial(run_node, settings=settings, tick_ms=args.tick_ms,
                              local_api=False)
    async with trio.open_nursery() as nursery:
        begin = time.perf_counter()
        newcomer = await nursery.start(start, newcomer_home, None, LOCAL)
        held = 0
        progress: list[tuple[float, int]] = []
        with trio.move_on_after(args.bulk_timeout_s):
            while True:
                indexed = newcomer.protocol._held
                held = sum(op in indexed for op in wanted)
                progress.append((round(time.perf_counter() - begin, 2), held))
                if held == len(wanted):
                    break
                await trio.sleep(0.1)
        elapsed = time.perf_counter() - begin
        nursery.cancel_scope.cancel()
    return {"ops": len(wanted), "held": held, "complete": held == len(wanted),
            "s": round(elapsed, 2), "ops_per_s": round(held / elapsed, 1),
            "progress": progress[:: max(1, len(progress) // 20)]}


async def measure_bulk_one_process(root: Path, args: argparse.Namespace,
                                   settings: ProtocolSettings) -> dict[str, Any]:
    """Holder and newcomer in this process, sharing its one Python thread."""
    holder_home, _ = prefill_holder(root, args.bulk_actions, args.replication_factor)
    start = functools.partial(run_node, settings=settings, tick_ms=args.tick_ms,
                              local_api=False)
    async with trio.open_nursery() as nursery:
        holder = await nursery.start(start, holder_home, None, LOCAL)
        wanted = expected_ops(holder.conductor.store, holder.agent)
        newcomer_home = new_home(root / "newcomer")
        code = create_invite(holder_home, None, 1, 3600, holder.listen_addrs, wall_clock_us())
        join_network(newcomer_home, None, code, wall_clock_us())
        result = await catch_up(newcomer_home, wanted, args, settings)
        nursery.cancel_scope.cancel()
    return result


def start_holder_process(home: NodeHome) -> tuple[subprocess.Popen[bytes], list[str]]:
    """``nodeapp run`` on the holder's home, as a member would run it; its listen addresses
    once its local API answers (at most HOLDER_START_S_MAX)."""
    proc = subprocess.Popen([sys.executable, "-m", "nodeapp.cli", "run", "--home", str(home.path),
                             "--listen", "/ip4/127.0.0.1/tcp/0", "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + HOLDER_START_S_MAX
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the holder node exited with status {proc.returncode}")
        try:
            reply = request_running_node(home, {"op": "status"}, timeout_s=5.0)
        except NodeError:
            reply = None
        if reply is not None:
            return proc, list(reply["status"]["listen_addrs"])
        time.sleep(0.2)
    stop_process(proc)
    raise SystemExit(f"the holder node did not start within {HOLDER_START_S_MAX:g} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def measure_bulk(root: Path, args: argparse.Namespace, settings: ProtocolSettings
                 ) -> dict[str, Any]:
    """A newcomer catching up on a holder's long chain: with the holder in a process of its
    own (each node on its own core, as on two PCs: the headline figure), then with both
    nodes in this one process (each slows the other)."""
    t0 = time.perf_counter()
    holder_home, _ = prefill_holder(root / "two", args.bulk_actions, args.replication_factor)
    prefill_s = time.perf_counter() - t0
    with holder_home.open_store() as store:
        wanted = expected_ops(store, holder_home.public_key())
    t1 = time.perf_counter()
    proc, addrs = start_holder_process(holder_home)
    holder_start_s = time.perf_counter() - t1
    try:
        newcomer_home = new_home(root / "two" / "newcomer")
        code = create_invite(holder_home, None, 1, 3600, addrs, wall_clock_us())
        join_network(newcomer_home, None, code, wall_clock_us())
        two = trio.run(catch_up, newcomer_home, wanted, args, settings)
    finally:
        stop_process(proc)
    one = trio.run(measure_bulk_one_process, root / "one", args, settings)
    return {
        "bulk_actions": args.bulk_actions + 3, "bulk_ops": two["ops"],
        "bulk_ops_held": two["held"], "bulk_complete": two["complete"],
        "bulk_sync_s": two["s"], "bulk_sync_ops_per_s": two["ops_per_s"],
        "bulk_progress": two["progress"],
        "bulk_sync_ops_per_s_one_process": one["ops_per_s"],
        "bulk_complete_one_process": one["complete"],
        "bulk_prefill_s": round(prefill_s, 2), "bulk_holder_start_s": round(holder_start_s, 2),
    }


# --- transport cost -------------------------------------------------------------------------


async def measure_request_cost(requests: int = 300) -> dict[str, Any]:
    """CPU per request/response of 500 bytes between two hosts of this process (both ends
    counted): what every protocol message costs here before the protocol does anything."""
    from nodeapp.keystore import generate_agent_key
    from nodeapp.net import open_host

    async def ack(peer_id: str, frame: bytes) -> bytes:
        return b""

    async with open_host(generate_agent_key().seed, LOCAL) as a, \
            open_host(generate_agent_key().seed, LOCAL) as b:
        b.set_handler("/bench/1", ack, request_bytes_max=4096)
        await a.connect(b.listen_addrs[0])
        for _ in range(20):
            await a.request(b.peer_id, "/bench/1", b"x" * 500, response_bytes_max=64)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            await a.request(b.peer_id, "/bench/1", b"x" * 500, response_bytes_max=64)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
    return {"request_cpu_ms": round(cpu / requests * 1000, 2),
            "requests_per_s": round(requests / wall, 1)}


# --- driver ---------------------------------------------------------------------------------


def real_network(args: argparse.Namespace) -> dict[str, Any]:
    """Every real-network figure, in one dict."""
    logging.getLogger("libp2p").setLevel(logging.CRITICAL + 1)
    settings = ProtocolSettings()
    if args.sync_interval_ms is not None:
        settings.sync_interval_us = args.sync_interval_ms * 1000
    if args.publish_retry_ms is not None:
        settings.publish_retry_us = args.publish_retry_ms * 1000
    out: dict[str, Any] = {"settings": asdict(settings), "tick_ms": args.tick_ms,
                           "replication_factor": args.replication_factor}
    with tempfile.TemporaryDirectory(prefix="nodeapp-bench-net-") as tmp:
        root = Path(tmp)
        out.update(trio.run(measure_request_cost))
        (root / "lag").mkdir()
        t0 = time.perf_counter()
        out.update(trio.run(measure_lag, root / "lag", args, settings))
        out["lag_wall_s"] = round(time.perf_counter() - t0, 1)
        if args.bulk_actions > 0:
            for part in ("bulk/one", "bulk/two"):
                (root / part).mkdir(parents=True)
            t0 = time.perf_counter()
            out.update(measure_bulk(root / "bulk", args, settings))
            out["bulk_wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--notes", type=int, default=50)
    parser.add_argument("--commit-interval-ms", type=int, default=100,
                        help="time between two commits (at different nodes, round robin)")
    parser.add_argument("--settle-s", type=float, default=60.0,
                        help="how long to wait for convergence after the last commit")
    parser.add_argument("--warmup-s", type=float, default=3.0,
                        help="wait this long after every node admitted every other")
    parser.add_argument("--replication-factor", type=int, default=5)
    parser.add_argument("--tick-ms", type=int, default=100)
    parser.add_argument("--sync-interval-ms", type=int, default=None,
                        help="ProtocolSettings.sync_interval_us, in ms (default: the default)")
    parser.add_argument("--publish-retry-ms", type=int, default=None,
                        help="ProtocolSettings.publish_retry_us, in ms (default: the default)")
    parser.add_argument("--bulk-actions", type=int, default=33_334,
                        help="chain length of the node the newcomer syncs from (0: skip)")
    parser.add_argument("--bulk-timeout-s", type=float, default=120.0)
    parser.add_argument("--sim-nodes", type=int, default=1000,
                        help="simulated nodes for the large-network figures (0: skip)")
    parser.add_argument("--sync-ops", type=int, default=100_000,
                        help="ops held by each side in the sync-bytes measurement")
    parser.add_argument("--table-ops", type=int, default=1_000_000,
                        help="ops held by the node whose sync-table cost is measured")
    args = parser.parse_args(argv)
    if args.quick:
        args.nodes, args.notes, args.bulk_actions = 5, 10, 2_000
        args.settle_s, args.bulk_timeout_s = 20.0, 30.0
        args.sim_nodes, args.sync_ops, args.table_ops = 100, 10_000, 100_000
    return args


def simulated(args: argparse.Namespace) -> dict[str, Any]:
    """Simulator figures: a large network on 50 ms / 1% loss links, and sync bytes per
    differing op at two sizes (the cost must follow the difference, not the total held)."""
    out: dict[str, Any] = {}
    if args.sim_nodes:
        report = large_network(args.sim_nodes)
        out.update(sim_nodes=args.sim_nodes, sim_ok=report.ok,
                   sim_sync_lag_p50_s=report.sync_lag_p50_s,
                   sim_sync_lag_p99_s=report.sync_lag_p99_s,
                   sim_node_events_per_s=report.events_per_s, sim_events=report.events)
    small = sync_bytes_per_diff_op(args.sync_ops // 10, 100)
    large = sync_bytes_per_diff_op(args.sync_ops, 100)
    table = sync_table_ms(args.table_ops)
    out.update(sync_table_ops_held=args.table_ops, sync_table_ms=table["kernel_ms"],
               sync_table_ms_reference=table["reference_ms"],
               sync_table_speedup=table["speedup"])
    out.update(sync_bytes_per_diff_op=large["bytes_per_diff_op"],
               sync_bytes_per_diff_op_at_tenth=small["bytes_per_diff_op"],
               sync_ops_held=large["ops_held"], sync_differing_ops=large["differing_ops"],
               sync_converged=large["converged"] and small["converged"])
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    build = build_label()
    started = time.perf_counter()
    results = real_network(args)
    results.update(simulated(args))
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["cpu_count"] = os.cpu_count()
    results["python"] = interpreter_label()
    results["build"] = build
    if args.json:
        print(json.dumps(results, sort_keys=True))
    else:
        for key, value in sorted(results.items()):
            print(f"{key:<28} {value}")


if __name__ == "__main__":
    main()
