"""The chain audit kernel against its plain-Python reference, on valid and corrupted chains."""

from __future__ import annotations

import hashlib
import random
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodeapp.kernels import AuditResult, audit_chains, audit_chains_reference, warm_up
from nodeapp.kernels.chain_audit import FIELDS

ZERO = bytes(32)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Row(NamedTuple):
    author: int
    seq: int
    prev: bytes
    own: bytes
    ts: int
    closes: bool = False  # a CloseChain


def action_hash(author: int, seq: int, variant: int = 0) -> bytes:
    """Distinct per (author, seq, variant), so chains never collide by accident."""
    return hashlib.blake2b(f"{author}/{seq}/{variant}".encode(), digest_size=32).digest()


def columns(rows: list[Row], rnd: random.Random | None = None) -> tuple[np.ndarray, ...]:
    """Columns sorted by (author, seq); rows sharing a seq end up in random order."""
    rows = list(rows)
    if rnd is not None:
        rnd.shuffle(rows)
    rows.sort(key=lambda r: (r.author, r.seq))
    return (
        np.array([r.author for r in rows], dtype=np.int64),
        np.array([r.seq for r in rows], dtype=np.int64),
        np.frombuffer(b"".join(r.prev for r in rows), dtype=np.uint8).reshape(-1, 32),
        np.frombuffer(b"".join(r.own for r in rows), dtype=np.uint8).reshape(-1, 32),
        np.array([r.ts for r in rows], dtype=np.int64),
        np.array([r.closes for r in rows], dtype=np.bool_),
    )


def audit_both(rows: list[Row], n_authors: int, rnd: random.Random | None = None) -> AuditResult:
    *cols, closes = columns(rows, rnd)
    fast = audit_chains(*cols, n_authors=n_authors, closes=closes)
    slow = audit_chains_reference(*cols, n_authors=n_authors, closes=closes)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)
    assert fast == slow
    return fast


@st.composite
def valid_chains(draw: st.DrawFn, max_authors: int = 6, max_len: int = 25) -> list[list[Row]]:
    """Valid chains, one per author (some empty); timestamps never decrease, ties included;
    some end with a CloseChain."""
    n_authors = draw(st.integers(1, max_authors))
    chains = []
    for a in range(n_authors):
        length = draw(st.integers(0, max_len))
        ts = draw(st.integers(0, 2**50))
        steps = draw(st.lists(st.integers(0, 3), min_size=length, max_size=length))
        prev, chain = ZERO, []
        for s, step in enumerate(steps):
            ts += step
            chain.append(Row(a, s, prev, action_hash(a, s), ts))
            prev = chain[-1].own
        if chain and draw(st.booleans()):
            chain[-1] = chain[-1]._replace(closes=True)
        chains.append(chain)
    return chains


def clean_expectation(length: int) -> dict[str, int]:
    expected = dict.fromkeys(FIELDS, 0)
    expected.update({name: -1 for name in FIELDS[1::2]})
    expected.update(rows=length, head_seq=length - 1)
    return expected


@st.composite
def corrupt(draw: st.DrawFn, chain: list[Row]) -> tuple[list[Row], dict[str, int]]:
    """Apply one random corruption (or none) to a chain; return it and the exact expected audit."""
    length = len(chain)
    kinds = ["none"]
    if length >= 1:
        kinds += ["broken", "fork", "genesis_dup"]
    if length >= 2:
        kinds += ["gap", "regression", "after_close"]
    kind = draw(st.sampled_from(kinds))
    chain, expected = list(chain), clean_expectation(length)
    if kind == "gap":
        s = draw(st.integers(0, length - 2))  # dropping the head would leave no trace
        del chain[s]
        expected.update(rows=length - 1, gap_count=1, first_gap_seq=s)
        expected.update(broken_count=1, first_broken_seq=s + 1)
    elif kind == "broken":
        s, byte = draw(st.integers(0, length - 1)), draw(st.integers(0, 31))
        prev = bytearray(chain[s].prev)
        prev[byte] ^= draw(st.integers(1, 255))
        chain[s] = chain[s]._replace(prev=bytes(prev))
        expected.update(broken_count=1, first_broken_seq=s)
    elif kind == "regression":
        s = draw(st.integers(1, length - 1))
        chain[s] = chain[s]._replace(ts=chain[s - 1].ts - draw(st.integers(1, 10**6)))
        expected.update(ts_regression_count=1, first_ts_regression_seq=s)
    elif kind == "after_close":
        s = draw(st.integers(0, length - 2))
        chain[s] = chain[s]._replace(closes=True)
        expected.update(after_close_count=length - 1 - s, first_after_close_seq=s + 1)
    elif kind == "fork":
        s = draw(st.integers(0, length - 1))
        chain.append(chain[s]._replace(own=action_hash(chain[s].author, s, variant=1)))
        expected.update(rows=length + 1, fork_count=1, first_fork_seq=s)
    elif kind == "genesis_dup":
        twin = chain[0]
        if draw(st.booleans()):  # a second genesis rather than the same row twice
            twin = twin._replace(own=action_hash(twin.author, 0, variant=2))
        chain.append(twin)
        expected.update(rows=length + 1, fork_count=1, first_fork_seq=0)
    return chain, expected


@PROPERTY
@given(chains=valid_chains(), rnd=st.randoms(use_true_random=False))
def test_valid_chains_are_clean(chains: list[list[Row]], rnd: random.Random) -> None:
    result = audit_both([r for chain in chains for r in chain], len(chains), rnd)
    for a, chain in enumerate(chains):
        assert {name: int(getattr(result, name)[a]) for name in FIELDS} == clean_expectation(
            len(chain)
        )
        assert result.problems(a) == []
    assert result.clean_authors().tolist() == [a for a, c in enumerate(chains) if c]


@PROPERTY
@given(data=st.data(), chains=valid_chains(), rnd=st.randoms(use_true_random=False))
def test_corruptions_are_found_where_applied(
    data: st.DataObject, chains: list[list[Row]], rnd: random.Random
) -> None:
    rows, expectations = [], []
    for chain in chains:
        corrupted, expected = data.draw(corrupt(chain))
        rows += corrupted
        expectations.append(expected)
    result = audit_both(rows, len(chains), rnd)
    for a, expected in enumerate(expectations):
        assert {name: int(getattr(result, name)[a]) for name in FIELDS} == expected, a


@PROPERTY
@given(
    raw=st.lists(
        st.tuples(
            st.integers(0, 3),  # author
            st.integers(0, 6),  # seq
            st.integers(0, 3),  # prev, from a tiny pool so links, forks and collisions happen
            st.integers(0, 3),  # own
            st.integers(0, 5),  # timestamp
            st.booleans(),  # a CloseChain
        ),
        max_size=40,
    ),
    rnd=st.randoms(use_true_random=False),
)
def test_kernel_matches_reference_on_messy_rows(
    raw: list[tuple[int, int, int, int, int, bool]], rnd: random.Random
) -> None:
    pool = [ZERO] + [action_hash(0, 0, v) for v in range(1, 4)]
    rows = [Row(a, s, pool[p], pool[o], t, c) for a, s, p, o, t, c in raw]
    audit_both(rows, 4, rnd)


def test_empty_input() -> None:
    assert audit_chains([], [], [], [], []).n_authors == 0
    empty = np.zeros((0, 32), dtype=np.uint8)
    result = audit_chains(np.zeros(0, np.int64), [], empty, empty, [], n_authors=3)
    assert result == audit_chains_reference([], [], empty, empty, [], n_authors=3)
    assert result.rows.tolist() == [0, 0, 0]
    assert result.head_seq.tolist() == [-1, -1, -1]
    assert result.first_fork_seq.tolist() == [-1, -1, -1]
    assert result.clean_authors().tolist() == []


def test_single_author_findings_and_messages() -> None:
    chain = [Row(0, s, ZERO, action_hash(0, s), 10 * s) for s in range(6)]
    for s in range(1, 6):
        chain[s] = chain[s]._replace(prev=chain[s - 1].own)
    chain[4] = chain[4]._replace(ts=5)  # regression at 4
    chain.append(chain[2]._replace(own=action_hash(0, 2, 1)))  # fork at 2
    del chain[1]  # gap at 1, so seq 2 (both rows) is broken
    result = audit_both(chain, 1)
    assert result.problems(0) == [
        "1 missing seq, first at seq 1",
        "2 broken links, first at seq 2",
        "1 timestamp regression, first at seq 4",
        "1 fork, first at seq 2",
    ]
    assert result.head_seq.tolist() == [5]
    assert result.clean_authors().tolist() == []
    with pytest.raises(IndexError):
        result.problems(1)


def test_three_rows_sharing_a_prev_count_two_forks() -> None:
    genesis = Row(0, 0, ZERO, action_hash(0, 0), 0)
    rows = [genesis] + [Row(0, 1, genesis.own, action_hash(0, 1, v), 1) for v in range(3)]
    result = audit_both(rows, 1)
    assert (result.fork_count[0], result.first_fork_seq[0]) == (2, 1)


def test_unsorted_input_raises() -> None:
    rows = [Row(a, s, ZERO, action_hash(a, s), 0) for a, s in [(0, 0), (0, 1), (1, 0)]]
    author, seq, prev, own, ts, _closes = columns(rows)
    for audit in (audit_chains, audit_chains_reference):
        with pytest.raises(ValueError, match="sorted"):
            audit(author[[0, 2, 1]], seq[[0, 2, 1]], prev, own, ts)  # author 0, 1, 0
        with pytest.raises(ValueError, match="sorted"):
            audit(author[:2], seq[[1, 0]], prev[:2], own[:2], ts[:2])  # seq 1, 0


@pytest.mark.parametrize(
    "change",
    [
        {"prev_hash": np.zeros((2, 31), np.uint8)},
        {"own_hash": np.zeros((2, 32, 1), np.uint8)},
        {"own_hash": np.zeros((3, 32), np.uint8)},
        {"seq": [0, 1, 2]},
        {"author_id": [[0], [0]]},
        {"timestamp": [0.5, 1.0]},
        {"prev_hash": np.full((2, 32), 300)},
        {"seq": [-1, 0]},
        {"n_authors": 0},
        {"closes": [True]},
        {"closes": [0, 1]},
    ],
)
def test_malformed_input_raises(change: dict[str, object]) -> None:
    args: dict[str, object] = {
        "author_id": [0, 0],
        "seq": [0, 1],
        "prev_hash": np.zeros((2, 32), np.uint8),
        "own_hash": np.zeros((2, 32), np.uint8),
        "timestamp": [0, 1],
    }
    args.update(change)
    for audit in (audit_chains, audit_chains_reference):
        with pytest.raises(ValueError):
            audit(**args)


def test_result_is_read_only_and_warm_up_runs() -> None:
    warm_up()
    result = audit_chains([0], [0], np.zeros((1, 32), np.uint8), np.ones((1, 32), np.uint8), [7])
    with pytest.raises(ValueError):
        result.rows[0] = 5
    assert result.clean_authors().tolist() == [0]
    assert result != audit_chains([], [], [], [], [], n_authors=1)


def test_actions_after_a_close_are_found_and_named() -> None:
    chain = [Row(0, 0, ZERO, action_hash(0, 0), 0)]
    for s in range(1, 6):
        chain.append(Row(0, s, chain[-1].own, action_hash(0, s), s))
    chain[2] = chain[2]._replace(closes=True)
    chain[3] = chain[3]._replace(closes=True)  # a second close counts as a write after the first
    result = audit_both(chain, 1)
    assert result.problems(0) == ["3 actions after close, first at seq 3"]
    only_one = audit_both(chain[:4], 1)
    assert only_one.problems(0) == ["1 action after close, first at seq 3"]
    assert audit_both(chain[:3], 1).problems(0) == []  # closed as its last action: clean


def test_a_close_on_one_branch_of_a_fork_flags_what_the_other_branch_writes_later() -> None:
    genesis = Row(0, 0, ZERO, action_hash(0, 0), 0)
    closed = Row(0, 1, genesis.own, action_hash(0, 1), 1, closes=True)
    other = Row(0, 1, genesis.own, action_hash(0, 1, 1), 1)
    after = Row(0, 2, other.own, action_hash(0, 2, 1), 2)
    result = audit_both([genesis, closed, other, after], 1)
    assert (result.fork_count[0], result.after_close_count[0]) == (1, 1)
    assert result.first_after_close_seq[0] == 2
