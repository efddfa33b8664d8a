"""Builders for fixtures, benchmarks and simulations (py-evm style): real signed data, fast.

Nothing here is a mock: chains are signed with real keys and pass the same validation as any.
"""

from __future__ import annotations

import platform
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from nodeapp._core.actions import (
    AgentValidationPkg,
    Create,
    Dna,
    InitZomesComplete,
    SignedAction,
    Visibility,
    sign_action,
)
from nodeapp._core.hashing import blake2b_256
from nodeapp._core.integrity import encode_entry
from nodeapp.build import COMPILED_MODULES, compiled_modules, stale_compiled_modules, stale_message
from nodeapp.conductor import make_signer
from nodeapp.keystore import AgentKey
from nodeapp.store import StagedRecord
from zomes.example.integrity import Note


class FakeClock:
    """A deterministic microsecond clock: each call returns the current value, then steps on.

    Thread-safe, so one clock can be shared by conductors running in several threads.
    """

    def __init__(self, start_us: int = 1_700_000_000_000_000, step_us: int = 1_000) -> None:
        self.now_us = start_us
        self.step_us = step_us
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            now = self.now_us
            self.now_us += self.step_us
            self.calls += 1
            return now

    def advance(self, us: int) -> None:
        """Jump forward (or, with a negative ``us``, back: a clock that stepped back)."""
        with self._lock:
            self.now_us += us


@dataclass(frozen=True)
class BuiltRecord:
    """A signed action and its entry bytes (None when it has none)."""

    signed: SignedAction
    entry: bytes | None

    def staged(self) -> StagedRecord:
        """As the store takes it."""
        return StagedRecord(self.signed, self.entry)

    def wire(self) -> tuple[bytes, bytes, bytes | None]:
        """As a frame carries it: (action bytes, signature, entry bytes or None)."""
        return self.signed.action_bytes, self.signed.signature, self.entry


def iter_chain(key: AgentKey, dna_hash: bytes, notes: int, *, zome_index: int = 0,
               body_bytes: int = 480, start_us: int = 1_700_000_000_000_000,
               membrane_proof: bytes | None = None) -> Iterator[BuiltRecord]:
    """A valid chain: genesis, then ``notes`` Creates of example ``Note`` entries."""
    sign = make_signer(key)
    author = key.public_key
    now = start_us
    prev: bytes | None = None
    genesis = (
        lambda p: Dna(author, 0, None, now, dna_hash),
        lambda p: AgentValidationPkg(author, 1, p, now, membrane_proof),
        lambda p: InitZomesComplete(author, 2, p, now),
    )
    for build in genesis:
        signed = sign_action(build(prev), sign)
        prev = signed.hash
        yield BuiltRecord(signed, None)
    filler = "x" * body_bytes
    for index in range(notes):
        entry = encode_entry(Note(title=f"note {index}", body=filler))
        action = Create(author, 3 + index, prev, now + index, zome_index, 0, Visibility.PUBLIC,
                        blake2b_256(entry))
        signed = sign_action(action, sign)
        prev = signed.hash
        yield BuiltRecord(signed, entry)


def build_chain(key: AgentKey, dna_hash: bytes, notes: int, **options: object
                ) -> list[BuiltRecord]:
    """:func:`iter_chain` as a list."""
    return list(iter_chain(key, dna_hash, notes, **options))  # type: ignore[arg-type]


def build_label() -> str:
    """Whether the hot path runs compiled (nodeapp/build.py) or as source; refuses (exits)
    when compiled modules are older than their source, whose figures would mislead."""
    stale = stale_compiled_modules()
    if stale:
        raise SystemExit(f"error: {stale_message(stale)}")
    compiled = compiled_modules()
    if not compiled:
        return "source (not compiled)"
    return f"compiled with mypyc: {len(compiled)} of {len(COMPILED_MODULES)} hot-path modules"


def interpreter_label() -> str:
    """Which Python ran a benchmark. Its build matters: a CPython built without profile-guided
    optimisation runs the node's Python-bound paths 10-15% slower (docs/operations.md)."""
    return f"{platform.python_implementation()} {platform.python_version()} {sys.executable}"
