"""A record whose prev is not held waits for it (Unresolved), but only once every rule that
does not need the prev has passed: the network layer parks waiting records in memory, so a
forged or oversize one must be refused at once, not kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import build_chain, build_conductor, build_dna, create_after, note_bytes

from nodeapp._core.canonical import encode
from nodeapp._core.limits import ENTRY_BYTES_MAX
from nodeapp.conductor import Conductor
from nodeapp.keystore import AgentKey, generate_agent_key


@pytest.fixture
def receiver(tmp_path: Path) -> Conductor:
    return build_conductor(tmp_path, dna=build_dna())


def test_a_sound_record_without_its_prev_waits_for_it(receiver: Conductor) -> None:
    chain = build_chain(generate_agent_key(), 4, receiver.dna.hash)
    report = receiver.ingest(chain.items()[5:6])  # seq 5; seq 4 is not held
    assert report.unresolved == [(chain[5].hash, (chain[4].hash,))] and not report.rejected


def test_a_forged_record_without_its_prev_is_refused_not_kept_waiting(
        receiver: Conductor) -> None:
    chain = build_chain(generate_agent_key(), 4, receiver.dna.hash)
    action_bytes, signature, entry = chain.items()[5]
    forged = bytes([signature[0] ^ 1]) + signature[1:]
    report = receiver.ingest([(action_bytes, forged, entry)])
    assert not report.unresolved
    assert [reason for _, reason in report.rejected] == [
        "signature: signature does not verify for the author"]


def test_an_oversize_entry_without_its_prev_is_refused_not_kept_waiting(
        receiver: Conductor) -> None:
    key: AgentKey = generate_agent_key()
    chain = build_chain(key, 2, receiver.dna.hash)
    entry = encode({"title": "big", "body": "x" * ENTRY_BYTES_MAX})  # signed; over the limit
    big = create_after(key, create_after(key, chain.head, note_bytes("gap")), entry)
    report = receiver.ingest([(big.action_bytes, big.signature, entry)])
    assert not report.unresolved
    assert len(report.rejected) == 1 and report.rejected[0][1].startswith("entry_size")
