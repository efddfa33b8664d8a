"""Simulator figures for ``scripts/bench_net.py``: large networks and sync cost per difference.

* :func:`sync_bytes_per_diff_op`: two nodes that hold the same N ops but for ``differ`` of them
  run one anti-entropy exchange; the bytes of the protocol's own frames (offers and replies,
  not the records themselves) are divided by the number of differing ops. Run at two sizes,
  it shows whether the cost follows the difference or the total held.
* :func:`sync_table_ms`: what building one sync table costs a node holding N ops, against
  the numpy reference.
* :func:`large_network`: a warm-started simulation of many nodes on 50 ms links with 1% loss.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from random import Random

import numpy as np

from nodeapp._core.messages import Records, SyncOffer, SyncReply, encode_message
from nodeapp._core.ops import op_mask_for
from nodeapp._core.reconcile import CELLS_MIN, build_iblt, ids_in_region
from nodeapp.conductor import Conductor
from nodeapp.held_ops import HeldOps
from nodeapp.kernels.iblt import region_iblt
from nodeapp.kernels.iblt import warm_up as warm_up_sync
from nodeapp.keystore import AgentKey
from nodeapp.protocol import NodeProtocol, Outgoing
from nodeapp.store import SqliteStore
from nodeapp.testing import iter_chain
from sims.cluster import Cluster
from sims.run import SimConfig, SimReport, run

logging.getLogger("nodeapp").setLevel(logging.ERROR)


def _two_nodes(root: Path, seed: int) -> tuple[NodeProtocol, NodeProtocol, Cluster]:
    cluster = Cluster(root, seed, 2, replication_factor=5)
    cluster._warm_stores()
    protocols = []
    for node in cluster.nodes:
        conductor = Conductor(SqliteStore(node.path), cluster.dna, node.key,
                              clock_us=cluster.clock_us)
        protocols.append(NodeProtocol(conductor))
    return protocols[0], protocols[1], cluster


def sync_bytes_per_diff_op(ops_held: int, differ: int, seed: int = 5) -> dict[str, float]:
    """One exchange between two nodes whose op sets differ by ``differ`` ops."""
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        a, b, cluster = _two_nodes(Path(tmp), seed)
        author = AgentKey(Random(seed).randbytes(32))
        # a third member's chain: each Create yields 3 ops (record, activity, entry)
        notes = max(1, ops_held // 3)
        chain = [r.staged() for r in iter_chain(author, cluster.dna.hash, notes, body_bytes=40)]
        withheld = max(1, differ // 3)
        for protocol, records in ((a, chain), (b, chain[:-withheld])):
            protocol.conductor.store.store_received(records)
            protocol.members.add(author.public_key)
            protocol._refresh_ring()
            for record in records:
                protocol._index(record.signed, op_mask_for(record.signed.action))
        differing = len(a.held_op_ids() ^ b.held_op_ids())
        rng = Random(seed)
        protocol_bytes = record_bytes = 0
        queue: list[tuple[NodeProtocol, Outgoing]] = [(a, o) for o in a._start_sync(rng, 0)]
        by_agent = {a.agent: a, b.agent: b}
        for _ in range(64):  # an exchange is a handful of frames; bounded anyway
            if not queue:
                break
            sender, item = queue.pop(0)
            frame = encode_message(cluster.dna.hash, item.message)
            if isinstance(item.message, SyncOffer | SyncReply) and not getattr(
                    item.message, "records", ()):
                protocol_bytes += len(frame)
            elif isinstance(item.message, SyncReply):
                protocol_bytes += len(encode_message(cluster.dna.hash, SyncReply(
                    item.message.session, item.message.retry_cells, item.message.want, ())))
                record_bytes += len(frame)
            elif isinstance(item.message, Records):
                record_bytes += len(frame)
            receiver = by_agent[item.peer]
            queue.extend((receiver, o) for o in receiver.on_message(sender.agent, item.message,
                                                                    0))
        converged = a.held_op_ids() == b.held_op_ids()
        for protocol in (a, b):
            protocol.conductor.store.close()
    return {"ops_held": ops_held, "differing_ops": differing,
            "protocol_bytes": protocol_bytes, "record_bytes": record_bytes,
            "bytes_per_diff_op": round(protocol_bytes / max(differing, 1), 1),
            "converged": converged}


def sync_table_ms(ops_held: int, seed: int = 5, repeats: int = 5) -> dict[str, float]:
    """Milliseconds to build the table of the ops held in half the ring, as each sync offer
    made or answered does: the node's kernel and the numpy reference, timed in alternation
    (best of ``repeats`` each), on random op ids and locations."""
    rng = np.random.default_rng(seed)
    held = HeldOps()
    for op, location in zip(rng.integers(0, 2**64, size=ops_held, dtype=np.uint64).tolist(),
                            rng.integers(0, 2**32, size=ops_held, dtype=np.uint64).tolist(),
                            strict=True):
        held.add(op, location, b"")
    ids, locations = held.arrays()
    region = ((0, 1 << 31),)
    warm_up_sync()
    kernel = reference = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fast = region_iblt(ids, locations, region, (0, 0), CELLS_MIN, seed)
        kernel = min(kernel, time.perf_counter() - start)
        start = time.perf_counter()
        slow = build_iblt(ids_in_region(ids, locations, region), CELLS_MIN, seed)
        reference = min(reference, time.perf_counter() - start)
        if fast.to_bytes() != slow.to_bytes():
            raise RuntimeError("the sync table kernel and its reference disagree")
    return {"kernel_ms": round(kernel * 1000, 2), "reference_ms": round(reference * 1000, 1),
            "speedup": round(reference / kernel, 1)}


def large_network(nodes: int, seed: int = 1, commits: int = 50) -> SimReport:
    """A warm-started network of ``nodes`` on 50 ms links with 1% loss."""
    return run(SimConfig(nodes=nodes, seed=seed, commits=commits, fault_ms=5_000,
                         settle_ms=15_000, tick_ms=500, loss=0.01, delay_min_ms=50,
                         delay_max_ms=50, warm=True))
