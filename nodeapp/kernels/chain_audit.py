"""Bulk audit of many agents' source chains from columnar action headers.

Input rows are sorted by ``(author_id, seq)``; rows of one author with the same seq may come in
any order. For one author, "level s" is the set of its rows with ``seq == s``, ``max_seq`` the
largest seq present, and a *parent* of a row at level ``s > 0`` is a row at level ``s - 1``
whose ``own_hash`` equals the row's ``prev_hash``. Findings per author:

* rows, head_seq - number of rows and ``max_seq``.
* gaps - the seq values in ``0..max_seq`` with no row; ``first_gap_seq`` is the smallest.
* broken links - a seq-0 row whose ``prev_hash`` is not all zeros, or a row at seq ``s > 0``
  with no parent (always so when level ``s - 1`` is missing).
* timestamp regressions - a row at seq ``s > 0`` with a parent whose timestamp is strictly
  larger than its own (equal timestamps are fine). A row counts once.
* forks - per level, the rows whose ``prev_hash`` equals that of an earlier row of the same
  level, i.e. rows minus distinct ``prev_hash`` values (order within a level does not matter).
  Two seq-0 rows with all-zero ``prev_hash`` are a fork at seq 0.
* writes after close - with the optional ``closes`` column (true for a CloseChain row), the
  rows at a seq above the author's first CloseChain: a closed chain takes no more actions.

Every count has a ``first_*_seq``: the smallest seq with that finding, or -1 if there is none.
An author without rows has ``rows == 0``, ``head_seq == -1`` and zero counts.

Cost is O(n) when levels hold one row; a level of k rows costs O(k * (k + rows of the level
below)), so only heavily forked chains are slower.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numba
import numpy as np
from numpy.typing import ArrayLike

HASH_BYTES = 32
FIELDS = (
    "rows", "head_seq", "gap_count", "first_gap_seq", "broken_count", "first_broken_seq",
    "ts_regression_count", "first_ts_regression_seq", "fork_count", "first_fork_seq",
    "after_close_count", "first_after_close_seq",
)  # fmt: skip
# Row indices into the (len(FIELDS), n_authors) table; each count is followed by its first_*.
_ROWS, _HEAD, _GAPS, _BROKEN, _REGRESSIONS, _FORKS, _AFTER_CLOSE = 0, 1, 2, 4, 6, 8, 10
_FINDINGS = (  # (count field, first-seq field, label of one, label of several)
    ("gap_count", "first_gap_seq", "missing seq", "missing seqs"),
    ("broken_count", "first_broken_seq", "broken link", "broken links"),
    ("ts_regression_count", "first_ts_regression_seq", "timestamp regression",
     "timestamp regressions"),
    ("fork_count", "first_fork_seq", "fork", "forks"),
    ("after_close_count", "first_after_close_seq", "action after close", "actions after close"),
)


@dataclass(frozen=True, eq=False)
class AuditResult:
    """Per-author audit figures; every field is a read-only int64 array indexed by author id."""

    rows: np.ndarray
    head_seq: np.ndarray
    gap_count: np.ndarray
    first_gap_seq: np.ndarray
    broken_count: np.ndarray
    first_broken_seq: np.ndarray
    ts_regression_count: np.ndarray
    first_ts_regression_seq: np.ndarray
    fork_count: np.ndarray
    first_fork_seq: np.ndarray
    after_close_count: np.ndarray
    first_after_close_seq: np.ndarray

    def __post_init__(self) -> None:
        for f in fields(self):
            arr = np.array(getattr(self, f.name), dtype=np.int64)
            if arr.shape != (len(np.asarray(self.rows)),):
                raise ValueError(f"{f.name} must be a 1-D array as long as rows")
            arr.setflags(write=False)
            object.__setattr__(self, f.name, arr)

    @property
    def n_authors(self) -> int:
        """Number of author ids covered (including those without rows)."""
        return len(self.rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AuditResult):
            return NotImplemented
        return all(np.array_equal(getattr(self, f), getattr(other, f)) for f in FIELDS)

    def problems(self, author: int) -> list[str]:
        """Human-readable findings for one author; empty when its chain is clean or absent."""
        if not 0 <= author < self.n_authors:
            raise IndexError(f"author {author} out of range 0..{self.n_authors - 1}")
        found = []
        for count_name, first_name, one, several in _FINDINGS:
            count = int(getattr(self, count_name)[author])
            if count:
                first = int(getattr(self, first_name)[author])
                found.append(f"{count} {several if count > 1 else one}, first at seq {first}")
        return found

    def clean_authors(self) -> np.ndarray:
        """Ids of authors that have at least one row and no finding of any kind."""
        clean = self.rows > 0
        for count_name, *_labels in _FINDINGS:
            clean &= getattr(self, count_name) == 0
        return np.flatnonzero(clean)


def _blank_table(n_authors: int) -> np.ndarray:
    table = np.zeros((len(FIELDS), n_authors), dtype=np.int64)
    table[_HEAD] = -1
    table[_GAPS + 1 :: 2] = -1
    return table


def _int_column(name: str, values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} has values beyond int64")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _hash_column(name: str, values: ArrayLike, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if n == 0 and arr.size == 0:
        return np.zeros((0, HASH_BYTES), dtype=np.uint8)
    if arr.shape != (n, HASH_BYTES):
        raise ValueError(f"{name} must have shape ({n}, {HASH_BYTES}), got {arr.shape}")
    if arr.dtype != np.uint8 and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"{name} must hold bytes (uint8), got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.ctypes.data % 8:  # the kernel reads 8-byte words; keep them aligned
        arr = arr.copy()
    return arr


def _bool_column(name: str, values: ArrayLike | None, n: int) -> np.ndarray:
    if values is None:
        return np.zeros(n, dtype=np.bool_)
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{name} must be 1-D and as long as the other columns ({n}), "
                         f"got shape {arr.shape}")
    if arr.size and arr.dtype != np.bool_:
        raise ValueError(f"{name} must hold booleans, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.bool_)


def _prepare(
    author_id: ArrayLike,
    seq: ArrayLike,
    prev_hash: ArrayLike,
    own_hash: ArrayLike,
    timestamp: ArrayLike,
    n_authors: int | None,
    closes: ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Validate and convert the columns; raise ValueError on anything the audit cannot take."""
    author = _int_column("author_id", author_id)
    seqs = _int_column("seq", seq)
    ts = _int_column("timestamp", timestamp)
    n = len(author)
    closing = _bool_column("closes", closes, n)
    if len(seqs) != n or len(ts) != n:
        raise ValueError(
            f"columns differ in length: author_id {n}, seq {len(seqs)}, timestamp {len(ts)}"
        )
    prev = _hash_column("prev_hash", prev_hash, n)
    own = _hash_column("own_hash", own_hash, n)
    if n and (author.min() < 0 or seqs.min() < 0):
        raise ValueError("author_id and seq must be non-negative")
    needed = int(author.max()) + 1 if n else 0
    if n_authors is None:
        n_authors = needed
    elif int(n_authors) < needed:
        raise ValueError(f"n_authors={n_authors} is below max(author_id) + 1 = {needed}")
    out_of_order = (author[1:] < author[:-1]) | (
        (author[1:] == author[:-1]) & (seqs[1:] < seqs[:-1])
    )
    if out_of_order.any():
        i = int(np.argmax(out_of_order)) + 1
        raise ValueError(
            "rows must be sorted by (author_id, seq): row "
            f"{i} (author {author[i]}, seq {seqs[i]}) follows row {i - 1} "
            f"(author {author[i - 1]}, seq {seqs[i - 1]})"
        )
    return author, seqs, prev, own, ts, closing, int(n_authors)


@numba.njit(cache=True)
def _same(a: np.ndarray, i: int, b: np.ndarray, j: int) -> bool:
    return a[i, 0] == b[j, 0] and a[i, 1] == b[j, 1] and a[i, 2] == b[j, 2] and a[i, 3] == b[j, 3]


@numba.njit(cache=True)
def _note(table: np.ndarray, count_row: int, author: int, seq: int, amount: int) -> None:
    if table[count_row, author] == 0:
        table[count_row + 1, author] = seq
    table[count_row, author] += amount


@numba.njit(cache=True)
def _audit_kernel(author, seq, prev, own, ts, closes, table):
    """Fill ``table`` (from :func:`_blank_table`); hashes come in as (n, 4) uint64 words."""
    n = author.shape[0]
    start = 0
    while start < n:
        a = author[start]
        closed_at = -1  # seq of the author's first CloseChain, once one is met
        below_lo = 0  # rows [below_lo, below_hi) are the previous level present, at below_seq
        below_hi = 0
        below_seq = -1
        lo = start
        while lo < n and author[lo] == a:
            s = seq[lo]
            hi = lo + 1
            while hi < n and author[hi] == a and seq[hi] == s:
                hi += 1
            if s > below_seq + 1:
                _note(table, _GAPS, a, below_seq + 1, s - below_seq - 1)
            has_level_below = s > 0 and s == below_seq + 1
            if closed_at >= 0:
                _note(table, _AFTER_CLOSE, a, s, hi - lo)
            for r in range(lo, hi):
                if closes[r] and closed_at < 0:
                    closed_at = s
                if s == 0:
                    linked = prev[r, 0] == 0 and prev[r, 1] == 0 and prev[r, 2] == 0
                    linked = linked and prev[r, 3] == 0
                else:
                    linked = False
                    regressed = False
                    if has_level_below:
                        for q in range(below_lo, below_hi):
                            if _same(prev, r, own, q):
                                linked = True
                                if ts[q] > ts[r]:
                                    regressed = True
                    if regressed:
                        _note(table, _REGRESSIONS, a, s, 1)
                if not linked:
                    _note(table, _BROKEN, a, s, 1)
                for q in range(lo, r):
                    if _same(prev, r, prev, q):
                        _note(table, _FORKS, a, s, 1)
                        break
            below_lo, below_hi, below_seq = lo, hi, s
            lo = hi
        table[_ROWS, a] = lo - start
        table[_HEAD, a] = below_seq
        start = lo


def audit_chains(
    author_id: ArrayLike,
    seq: ArrayLike,
    prev_hash: ArrayLike,
    own_hash: ArrayLike,
    timestamp: ArrayLike,
    n_authors: int | None = None,
    *,
    closes: ArrayLike | None = None,
) -> AuditResult:
    """Audit every author's chain with the compiled kernel (see the module docstring)."""
    author, seqs, prev, own, ts, closing, count = _prepare(
        author_id, seq, prev_hash, own_hash, timestamp, n_authors, closes
    )
    table = _blank_table(count)
    _audit_kernel(author, seqs, prev.view(np.uint64), own.view(np.uint64), ts, closing, table)
    return AuditResult(*table)


def audit_chains_reference(
    author_id: ArrayLike,
    seq: ArrayLike,
    prev_hash: ArrayLike,
    own_hash: ArrayLike,
    timestamp: ArrayLike,
    n_authors: int | None = None,
    *,
    closes: ArrayLike | None = None,
) -> AuditResult:
    """Same result as :func:`audit_chains`, in plain Python: the readable specification."""
    author, seqs, prev, own, ts, closing, count = _prepare(
        author_id, seq, prev_hash, own_hash, timestamp, n_authors, closes
    )
    authors, seq_list, stamps = author.tolist(), seqs.tolist(), ts.tolist()
    closers = closing.tolist()
    prev_blob, own_blob = prev.tobytes(), own.tobytes()
    prevs = [prev_blob[i : i + HASH_BYTES] for i in range(0, len(prev_blob), HASH_BYTES)]
    owns = [own_blob[i : i + HASH_BYTES] for i in range(0, len(own_blob), HASH_BYTES)]
    no_prev = bytes(HASH_BYTES)

    result: dict[str, list[int]] = {name: [0] * count for name in FIELDS}
    for name in FIELDS[1::2]:
        result[name] = [-1] * count

    def note(count_name: str, first_name: str, a: int, s: int, amount: int = 1) -> None:
        result[count_name][a] += amount
        first = result[first_name][a]
        result[first_name][a] = s if first == -1 else min(first, s)

    levels: dict[int, dict[int, list[int]]] = {}
    for i, (a, s) in enumerate(zip(authors, seq_list, strict=True)):
        levels.setdefault(a, {}).setdefault(s, []).append(i)

    for a, by_seq in levels.items():
        present = sorted(by_seq)
        result["rows"][a] = sum(len(rows) for rows in by_seq.values())
        result["head_seq"][a] = present[-1]
        missing = present[-1] + 1 - len(present)
        if missing:
            first_gap = next(k for k, s in enumerate(present) if s != k)
            note("gap_count", "first_gap_seq", a, first_gap, missing)
        for s in present:
            seen_prevs: set[bytes] = set()
            for i in by_seq[s]:
                if s == 0:
                    parents: list[int] = []
                    linked = prevs[i] == no_prev
                else:
                    parents = [j for j in by_seq.get(s - 1, []) if owns[j] == prevs[i]]
                    linked = bool(parents)
                if not linked:
                    note("broken_count", "first_broken_seq", a, s)
                if any(stamps[j] > stamps[i] for j in parents):
                    note("ts_regression_count", "first_ts_regression_seq", a, s)
                if prevs[i] in seen_prevs:
                    note("fork_count", "first_fork_seq", a, s)
                seen_prevs.add(prevs[i])
        closed_at = next((s for s in present if any(closers[i] for i in by_seq[s])), None)
        for s in present:
            if closed_at is not None and s > closed_at:
                note("after_close_count", "first_after_close_seq", a, s, len(by_seq[s]))
    return AuditResult(**{name: np.asarray(values, dtype=np.int64)
                          for name, values in result.items()})


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernel using a two-row chain."""
    own = np.zeros((2, HASH_BYTES), dtype=np.uint8)
    own[:, 0] = [1, 2]
    prev = np.zeros_like(own)
    prev[1] = own[0]
    audit_chains(np.zeros(2, np.int64), np.arange(2), prev, own, np.arange(2))
