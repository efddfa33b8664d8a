"""Run one simulation and check its invariants.

A run has a fault phase (commits, loss, duplication, delay, a partition, crashes and restarts,
Byzantine nodes) and then a settle phase with healthy links in which anti-entropy must repair
everything. Afterwards:

* every op of an honest record is held by each of its authorities that is up (convergence);
* no honest node holds an invalid record as valid;
* every Byzantine node that forked or wrote invalid data is blocked by every honest node;
* a non-member (a node without an invite) received no data, only refusals.

A failing run reports its seed; the same seed reproduces it exactly.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nodeapp._core.actions import SignedAction
from nodeapp._core.dht import Ring
from nodeapp._core.hashing import location_of
from nodeapp._core.messages import Got, Publish, Records, SyncReply
from nodeapp._core.ops import basis_of, op_hash, op_types_for
from nodeapp._core.reconcile import op_id
from nodeapp.protocol import ProtocolSettings
from nodeapp.store import Status
from sims.cluster import Cluster, SimNode
from sims.network import LinkFaults

_DATA_MESSAGES = (Publish, Records, Got, SyncReply)


@dataclass
class SimConfig:
    """One simulation (times in virtual milliseconds)."""

    nodes: int = 20
    seed: int = 1
    commits: int = 40
    fault_ms: int = 20_000
    settle_ms: int = 60_000
    tick_ms: int = 200
    loss: float = 0.0
    duplicate: float = 0.0
    delay_min_ms: int = 5
    delay_max_ms: int = 50
    partition: bool = False
    crashes: int = 0
    byzantine_fork: int = 0
    byzantine_invalid: int = 0
    intruder: bool = False
    replication_factor: int = 5
    sync_interval_ms: int = 1_000
    events_max: int = 20_000_000
    warm: bool = False  # start with membership formed (large simulations)


@dataclass
class SimReport:
    """What a run did and whether its invariants held."""

    config: dict
    ok: bool
    violations: list[str] = field(default_factory=list)
    sync_lag_p50_s: float | None = None
    sync_lag_p99_s: float | None = None
    unconverged_ops: int = 0
    events: int = 0
    frames: int = 0
    bytes: int = 0
    wall_s: float = 0.0
    events_per_s: float = 0.0

    def summary(self) -> str:
        """One line for people."""
        state = "ok" if self.ok else "FAILED"
        return (f"{state}: seed {self.config['seed']}, {self.config['nodes']} nodes, "
                f"sync lag p50 {self.sync_lag_p50_s} s p99 {self.sync_lag_p99_s} s, "
                f"{self.events} events ({self.events_per_s:.0f}/s), "
                f"{len(self.violations)} violations")


def run(config: SimConfig, root: Path | None = None) -> SimReport:
    """Run one simulation in ``root`` (a temporary directory by default)."""
    if root is None:
        with tempfile.TemporaryDirectory(prefix="nodeapp-sim-") as tmp:
            return run(config, Path(tmp))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    byzantine = {}
    order = list(range(1, config.nodes))
    for kind, count in (("fork", config.byzantine_fork), ("invalid", config.byzantine_invalid)):
        for _ in range(count):
            byzantine[order.pop()] = kind
    settings = ProtocolSettings(sync_interval_us=config.sync_interval_ms * 1000)
    cluster = Cluster(root, config.seed, config.nodes, config.replication_factor, settings,
                      byzantine)
    cluster.net.faults = LinkFaults(config.loss, config.duplicate, config.delay_min_ms * 1000,
                                    config.delay_max_ms * 1000)
    intruder = _add_intruder(cluster) if config.intruder else None
    probe = _LagProbe(cluster)
    _schedule(cluster, config, probe)
    cluster.start(config.tick_ms * 1000, warm=config.warm)
    end_us = (config.fault_ms + config.settle_ms) * 1000
    cluster.net.run_until(end_us, config.events_max)
    report = _check(cluster, config, probe, intruder)
    report.wall_s = round(time.perf_counter() - started, 3)
    report.events_per_s = round(cluster.net.events_run / max(report.wall_s, 1e-9), 1)
    for node in cluster.nodes:
        node.crash()
    return report


def _schedule(cluster: Cluster, config: SimConfig, probe: _LagProbe) -> None:
    rng, net = cluster.rng, cluster.net
    fault_us = config.fault_ms * 1000
    honest = [n for n in cluster.nodes if not n.byzantine]
    for index in range(config.commits):
        node = honest[rng.randrange(len(honest))]
        when = rng.randint(fault_us // 10, fault_us)

        def commit(node: SimNode = node, index: int = index) -> None:
            if node.up:
                node.commit_note(f"note {index}")
                probe.committed(node)

        net.at(when, commit)
    for node in cluster.nodes:
        if node.byzantine:
            net.at(rng.randint(fault_us // 5, fault_us), node.misbehave)
    if config.partition:
        agents = [n.agent for n in cluster.nodes]
        half = set(agents[: len(agents) // 2])

        def split() -> None:
            net.partition = [half, set(agents) - half]

        def heal() -> None:
            net.partition = []

        net.at(fault_us // 4, split)
        net.at(fault_us * 3 // 4, heal)

    def links_heal() -> None:  # the settle phase runs on healthy links
        net.faults = LinkFaults()

    net.at(fault_us, links_heal)
    for _ in range(config.crashes):
        node = honest[1 + rng.randrange(len(honest) - 1)] if len(honest) > 1 else honest[0]
        down_at = rng.randint(fault_us // 5, fault_us // 2)
        net.at(down_at, node.crash)
        # down for 1 s or more, but back before the faults end (short fault windows: half of it)
        net.at(down_at + rng.randint(min(1_000_000, fault_us // 2), fault_us // 2), node.start)
    step = 100_000
    for when in range(step, (config.fault_ms + config.settle_ms) * 1000, step):
        net.at(when, probe.check)


class _LagProbe:
    """Measures commit -> held by every authority that is up, in virtual time."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.pending: dict[int, tuple[int, int]] = {}  # op id -> (commit time, basis location)
        self.lags_us: list[int] = []
        self._seen_heads: dict[bytes, int] = {}

    def committed(self, node: SimNode) -> None:
        assert node.protocol is not None
        store = node.protocol.conductor.store
        start = self._seen_heads.get(node.agent, 3)
        for signed, _ in store.chain(node.agent, start_seq=start):
            for op_type in op_types_for(signed.action):
                basis = basis_of(op_type, signed.action, signed.hash)
                self.pending[op_id(op_hash(op_type, signed.hash))] = (
                    self.cluster.net.now_us, location_of(basis[1:]))
            self._seen_heads[node.agent] = signed.action.seq + 1

    def check(self) -> None:
        if not self.pending:
            return
        ring = ideal_ring(self.cluster)
        held = {n.agent: n.protocol.held_op_ids() for n in self.cluster.honest_up()
                if n.protocol is not None}
        done = []
        for oid, (when, loc) in self.pending.items():
            authorities = [a for a in ring.authorities(loc) if a in held]
            if all(oid in held[a] for a in authorities):
                done.append(oid)
                self.lags_us.append(self.cluster.net.now_us - when)
        for oid in done:
            del self.pending[oid]


def ideal_ring(cluster: Cluster) -> Ring:
    """The ring every honest node should converge on: all members but the Byzantine."""
    agents = [n.agent for n in cluster.nodes if not n.byzantine]
    return Ring(agents, cluster.replication_factor)


def _add_intruder(cluster: Cluster) -> SimNode:
    """A node with no invite: it may say hello and ask for data, and must get nothing."""
    from sims.cluster import _key

    key = _key(cluster.rng)
    node = SimNode(key, cluster.root / "intruder.db", cluster.dna, None, cluster.settings,
                   cluster, byzantine="intruder")
    cluster.nodes.append(node)
    cluster.by_agent[node.agent] = node
    deliver = cluster._deliver

    def watching_deliver(src: bytes, dst: bytes, frame: bytes) -> None:
        if dst == node.agent:
            from nodeapp._core.messages import decode_message

            message = decode_message(cluster.dna.hash, frame)
            if isinstance(message, _DATA_MESSAGES) and _carries_data(message):
                node.sent_to_nonmembers += 1
        deliver(src, dst, frame)

    cluster._deliver = watching_deliver  # type: ignore[method-assign]
    return node


def _carries_data(message: object) -> bool:
    records = getattr(message, "records", ())
    return bool(records)


def _check(cluster: Cluster, config: SimConfig, probe: _LagProbe, intruder: SimNode | None
           ) -> SimReport:
    violations: list[str] = []
    honest = cluster.honest_up()
    ring = ideal_ring(cluster)
    # 1. convergence of every honest op at its up authorities
    held = {n.agent: n.protocol.held_op_ids() for n in honest if n.protocol is not None}
    missing = 0
    for node in honest:
        assert node.protocol is not None
        for signed, _status in node.protocol.conductor.store.chain(node.agent):
            for op_type in op_types_for(signed.action):
                basis = basis_of(op_type, signed.action, signed.hash)
                oid = op_id(op_hash(op_type, signed.hash))
                for authority in ring.authorities(location_of(basis[1:])):
                    if authority in held and oid not in held[authority]:
                        missing += 1
    if missing:
        violations.append(f"{missing} (op, authority) pairs not converged")
    # 2. nothing invalid held as valid, 3. every Byzantine author blocked
    byzantine = [n for n in cluster.nodes if n.byzantine in ("fork", "invalid")]
    for bad in byzantine:
        for node in honest:
            assert node.protocol is not None
            if bad.agent not in node.protocol.blocked:
                violations.append(f"honest node {node.agent.hex()[:8]} did not block "
                                  f"{bad.byzantine} node {bad.agent.hex()[:8]}")
            for signed, status in node.protocol.conductor.store.chain(bad.agent, start_seq=3):
                if status == Status.VALID and _is_misbehaviour(bad, signed, node):
                    violations.append(f"node {node.agent.hex()[:8]} holds an invalid record "
                                      f"of {bad.agent.hex()[:8]} as valid")
    # 4. the non-member got nothing
    if intruder is not None and intruder.sent_to_nonmembers:
        violations.append(f"a non-member received {intruder.sent_to_nonmembers} data messages")
    lags = np.array(probe.lags_us, dtype=float) / 1e6 if probe.lags_us else None
    report = SimReport(
        config=asdict(config), ok=not violations, violations=violations,
        sync_lag_p50_s=None if lags is None else round(float(np.percentile(lags, 50)), 3),
        sync_lag_p99_s=None if lags is None else round(float(np.percentile(lags, 99)), 3),
        unconverged_ops=len(probe.pending), events=cluster.net.events_run,
        frames=cluster.net.sent_frames, bytes=cluster.net.sent_bytes)
    return report


def _is_misbehaviour(bad: SimNode, signed: SignedAction, judge: SimNode) -> bool:
    """An invalid node's post-genesis records are all invalid; a forker's are not (each of the
    two is valid alone: the fork is the offence, and the warrant covers it)."""
    return bad.byzantine == "invalid"
