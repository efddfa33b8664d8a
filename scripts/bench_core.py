#!/usr/bin/env python3
"""Benchmark of the node core: commits, validation, chain audit, commit latency at 1M actions.

Prints one JSON object with ``--json``. Every figure that has a physical ceiling is given with
that ceiling measured in the same run (raw PyNaCl verify), so the ratio means something on a
noisy machine. Single core: nothing here uses threads.

    python scripts/bench_core.py --json                 # full run (about 3-5 minutes)
    python scripts/bench_core.py --json --quick         # smaller sizes, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import nacl.signing
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dna import PRODUCTION_ZOMES, build_manifest, load_dna  # noqa: E402
from nodeapp._core.canonical import decode_shallow, encode_flat  # noqa: E402
from nodeapp._core.hashing import AgentPubKey  # noqa: E402
from nodeapp._core.membrane import invite_to_bytes, make_invite  # noqa: E402
from nodeapp.conductor import Conductor  # noqa: E402
from nodeapp.kernels import audit_chains, audit_chains_reference, warm_up  # noqa: E402
from nodeapp.keystore import generate_agent_key  # noqa: E402
from nodeapp.store import SqliteStore  # noqa: E402
from nodeapp.testing import build_label, interpreter_label, iter_chain  # noqa: E402

BODY = "x" * 480  # with the title and CBOR framing the entry is ~500 bytes

# Bare PyNaCl rates measured on the machine the targets were set for (shared/notes/limits.md:
# sign 57-64k/s, verify 22.5k/s). Each run divides its own bare rates by these, so a reader
# can tell a slow machine (or a slow phase of a shared VM) from a slow node.
REFERENCE_SIGN_PER_S = 60_500
REFERENCE_VERIFY_PER_S = 22_500


def percentile(values: list[float], q: float) -> float:
    """q-th percentile (0-100) of a list."""
    return float(np.percentile(np.asarray(values), q))


def new_conductor(root: Path, name: str, durability: str) -> Conductor:
    key = generate_agent_key()
    dna = load_dna(build_manifest("bench", "seed", [AgentPubKey(key.public_key)],
                                  PRODUCTION_ZOMES))
    conductor = Conductor(SqliteStore(root / f"{name}.db", durability=durability), dna, key)
    conductor.genesis()
    return conductor


_TITLES = iter(range(10**12))


def _next_titles(count: int) -> list[int]:
    """Numbers never used before in this process, so every benchmark entry is distinct."""
    return [next(_TITLES) for _ in range(count)]


def time_commits(conductor: Conductor, calls: int) -> tuple[float, list[float]]:
    """(calls per second, per-call latencies in ms) for one-entry zome calls."""
    # a new title each call: identical entries would be stored once, and skip the entry row
    payloads = [{"title": f"t{n}", "body": BODY, "index_by_author": False}
                for n in _next_titles(calls)]
    latencies = []
    start = time.perf_counter()
    for payload in payloads:
        t0 = time.perf_counter()
        conductor.call("example", "create_note", payload)
        latencies.append((time.perf_counter() - t0) * 1000)
    return calls / (time.perf_counter() - start), latencies


def bench_commits(root: Path, calls: int, durability: str, rounds: int = 6
                  ) -> dict[str, float]:
    """Zome calls that each commit one entry, and bare signatures (their ceiling), timed in
    alternating rounds: this VM's speed drifts by ~1.5x within seconds, and a commit figure
    and a sign figure taken at different moments would not be comparable."""
    conductor = new_conductor(root, f"commit-{durability}", durability)
    time_commits(conductor, min(200, calls))  # warm caches and statement cache
    per_round = max(1, calls // rounds)
    commit_s = sign_s = 0.0
    latencies: list[float] = []
    for _ in range(rounds):
        rate, lat = time_commits(conductor, per_round)
        commit_s += per_round / rate
        latencies += lat
        sign_s += per_round / raw_sign_rate(per_round)
    conductor.store.close()
    return {"rate": per_round * rounds / commit_s, "sign_rate": per_round * rounds / sign_s,
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def raw_sign_rate(calls: int) -> float:
    """Bare PyNaCl signatures per second of a 200-byte message: the ceiling of commits."""
    key = nacl.signing.SigningKey.generate()
    message = b"x" * 200
    start = time.perf_counter()
    for _ in range(calls):
        key.sign(message)
    return calls / (time.perf_counter() - start)


def bench_validate(root: Path, actions: int, batch: int) -> dict[str, float]:
    """Ingest another agent's chain from CBOR frames of ``batch`` records; compare with bare
    verify of the same bytes. The two are timed in alternation, batch by batch, so that a
    change in machine speed during the run affects both the same way."""
    receiver = new_conductor(root, "validate", "normal")
    author = generate_agent_key()
    # the author joined with an invite from the receiver, the network's steward
    invite = make_invite(dna_manifest=receiver.dna.manifest.to_bytes(),
                         inviter=receiver.agent, invite_id=bytes(16),
                         expires_us=receiver.clock_us() + 10**12, uses_max=1, bootstrap=(),
                         sign=receiver.sign)
    records = [r.wire() for r in iter_chain(author, receiver.dna.hash, actions,
                                             start_us=receiver.clock_us(),
                                             membrane_proof=invite_to_bytes(invite))]
    frames = [encode_flat([list(r) for r in records[i:i + batch]])
              for i in range(0, len(records), batch)]
    verify_key = nacl.signing.VerifyKey(author.public_key)
    validate_s = verify_s = 0.0
    stored = 0
    for frame, offset in zip(frames, range(0, len(records), batch), strict=True):
        start = time.perf_counter()
        report = receiver.ingest(decode_shallow(frame, size_max=64 << 20))
        validate_s += time.perf_counter() - start
        if report.rejected or report.unresolved:
            raise SystemExit(f"benchmark chain was not accepted: {report.rejected[:1]}")
        stored += report.stored
        start = time.perf_counter()
        for action_bytes, signature, _entry in records[offset:offset + batch]:
            verify_key.verify(action_bytes, signature)
        verify_s += time.perf_counter() - start
    receiver.store.close()
    return {"validate_per_s": stored / validate_s, "raw_verify_per_s": len(records) / verify_s}


def audit_columns(authors: int, per_author: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Valid synthetic chains as the store's audit columns (hash values are random bytes)."""
    rng = np.random.default_rng(seed)
    n = authors * per_author
    own = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    prev = np.zeros_like(own)
    prev[1:] = own[:-1]
    prev[::per_author] = 0
    closes = np.zeros(n, dtype=np.bool_)
    closes[per_author - 1::per_author] = True  # every chain ends closed, so the check runs
    return {
        "author_id": np.repeat(np.arange(authors, dtype=np.int64), per_author),
        "seq": np.tile(np.arange(per_author, dtype=np.int64), authors),
        "prev_hash": prev,
        "own_hash": own,
        "timestamp": np.tile(np.arange(per_author, dtype=np.int64) * 1000, authors),
        "closes": closes,
    }


def bench_audit(rows: int, reference_rows: int) -> dict[str, float]:
    warm_up()
    cols = audit_columns(rows // 1000, 1000)
    best = min(_timed(lambda: audit_chains(**cols)) for _ in range(5))
    ref_cols = audit_columns(reference_rows // 1000, 1000)
    ref = _timed(lambda: audit_chains_reference(**ref_cols))
    return {"numba": rows / best, "python": reference_rows / ref}


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def conductor_with_chain(root: Path, chain_actions: int) -> Conductor:
    """A conductor whose store already holds a chain of ``chain_actions`` actions."""
    key = generate_agent_key()
    dna = load_dna(build_manifest("bench", "seed", [AgentPubKey(key.public_key)],
                                  PRODUCTION_ZOMES))
    store = SqliteStore(root / "chain.db")
    chunk: list = []
    head = None
    for record in iter_chain(key, dna.hash, chain_actions - 3):
        chunk.append(record.staged())
        if len(chunk) == 20_000:
            store.commit_own(key.public_key, chunk, head)
            head = store.chain_head(key.public_key)
            chunk = []
    if chunk:
        store.commit_own(key.public_key, chunk, head)
    store.close()
    return Conductor(SqliteStore(root / "chain.db"), dna, key)


def bench_commit_at_sizes(root: Path, small_actions: int, big_actions: int, calls: int,
                          rounds: int = 10) -> dict[str, float]:
    """Commit latency on a small chain and on a big one. The two are timed in alternation,
    ``calls / rounds`` commits at a time, so a change in machine speed during the run affects
    both the same way (as the validate benchmark does with its baseline)."""
    (root / "small").mkdir()
    (root / "big").mkdir()
    small = conductor_with_chain(root / "small", small_actions)
    big = conductor_with_chain(root / "big", big_actions)
    latencies: dict[str, list[float]] = {"small": [], "big": []}
    for conductor in (small, big):
        time_commits(conductor, min(200, calls))  # warm caches and statement cache
    for _ in range(rounds):
        for name, conductor in (("small", small), ("big", big)):
            latencies[name] += time_commits(conductor, max(1, calls // rounds))[1]
    held = big.store.counts()["action"]
    small.store.close()
    big.store.close()
    return {"small_p50": percentile(latencies["small"], 50),
            "big_p50": percentile(latencies["big"], 50), "held": held}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = parser.parse_args()
    build = build_label()
    size = {
        "calls": 600 if args.quick else 6000,
        "validate": 2000 if args.quick else 20_000,
        "audit_rows": 100_000 if args.quick else 1_000_000,
        "audit_ref_rows": 20_000 if args.quick else 200_000,
        "big_chain": 20_000 if args.quick else 1_000_000,
    }
    with tempfile.TemporaryDirectory(prefix="bench-core-") as tmp:
        root = Path(tmp)
        normal = bench_commits(root, size["calls"], "normal")
        full = bench_commits(root, size["calls"] // 3, "full")
        validate = bench_validate(root, size["validate"], batch=500)
        audit = bench_audit(size["audit_rows"], size["audit_ref_rows"])
        at_size = bench_commit_at_sizes(root, 3 + 1000, size["big_chain"], size["calls"])
    result = {
        "commits_per_s": round(normal["rate"]),
        "commit_p50_ms": round(normal["p50"], 4),
        "commit_p99_ms": round(normal["p99"], 4),
        "raw_sign_per_s": round(normal["sign_rate"]),
        "commit_to_sign_ratio": round(normal["rate"] / normal["sign_rate"], 3),
        "commits_per_s_fsync_each": round(full["rate"]),
        "commit_p50_ms_fsync_each": round(full["p50"], 4),
        "validate_per_s": round(validate["validate_per_s"]),
        "raw_verify_per_s": round(validate["raw_verify_per_s"]),
        "validate_ratio": round(validate["validate_per_s"] / validate["raw_verify_per_s"], 3),
        "audit_rows_per_s_numba": round(audit["numba"]),
        "audit_rows_per_s_python": round(audit["python"]),
        "audit_speedup": round(audit["numba"] / audit["python"], 1),
        "commit_p50_ms_small_chain": round(at_size["small_p50"], 4),
        "commit_p50_ms_at_1m": round(at_size["big_p50"], 4),
        "chain_actions_at_1m": at_size["held"],
        "commit_at_1m_ratio": round(at_size["big_p50"] / at_size["small_p50"], 3),
        "machine_speed_vs_reference": {
            "sign": round(normal["sign_rate"] / REFERENCE_SIGN_PER_S, 2),
            "verify": round(validate["raw_verify_per_s"] / REFERENCE_VERIFY_PER_S, 2)},
        "quick": args.quick,
        "python": interpreter_label(),
        "build": build,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
