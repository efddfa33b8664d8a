"""Zome API pieces shared by all zomes: remote callers, writes through another zome, reading
cited evidence in validation, and the DNA code hash over shared rule modules."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from builders import build_conductor, build_dna, with_coordinator

from dna.loader import code_hash
from nodeapp._core.hashing import ActionHash
from nodeapp._core.integrity import must_get_entry_of
from nodeapp.coordinator import Coordinator
from nodeapp.errors import ZomeCallError
from nodeapp.keystore import generate_agent_key
from nodeapp.zome_api import LocalContext, Scratch, ZomeApi
from zomes.example.integrity import ZOME, Note

CALLS = Coordinator(ZOME)


@CALLS.remote
def who_asks(api: ZomeApi) -> str:
    """Answers peers: who is calling."""
    return str(api.caller)


@CALLS.remote
def remote_write(api: ZomeApi) -> ActionHash:
    """A remote function that tries to write (refused)."""
    return api.create_entry(Note(title="from afar"))


@CALLS.function
def local_only(api: ZomeApi) -> str:
    """Not open to peers."""
    return "ok"


@CALLS.function
def write_via_other_zome(api: ZomeApi) -> ActionHash:
    """Writes through ``api.zome(...)``, as a zome that logs another zome's entry does."""
    return api.zome("example").create_entry(Note(title="via"))


def _conductor(tmp_path: Path):
    key = generate_agent_key()
    dna = with_coordinator(build_dna(stewards=[key]), CALLS)
    return build_conductor(tmp_path, key=key, dna=dna)


def test_remote_calls_see_their_caller_and_cannot_write(tmp_path: Path) -> None:
    conductor = _conductor(tmp_path)
    peer = generate_agent_key().public_key
    assert conductor.call_json("example", "who_asks") == str(conductor.call("example", "who_asks"))
    assert conductor.call_json("example", "who_asks", caller=peer).startswith("agent_")
    assert conductor.call_json("example", "who_asks", caller=peer) != conductor.call_json(
        "example", "who_asks")
    length = conductor.store.chain_head(conductor.agent).seq
    with pytest.raises(ZomeCallError, match="read-only"):
        conductor.call("example", "remote_write", caller=peer)
    with pytest.raises(ZomeCallError, match="not open to calls from other agents"):
        conductor.call("example", "local_only", caller=peer)
    assert conductor.store.chain_head(conductor.agent).seq == length
    assert conductor.call("example", "local_only") == "ok"


def test_a_call_writes_through_another_zome_and_reads_evidence_back(tmp_path: Path) -> None:
    conductor = _conductor(tmp_path)
    created = conductor.call("example", "write_via_other_zome")
    ctx = conductor._context(Scratch(None, 0))
    assert isinstance(ctx, LocalContext) and ctx.zome_names[0] == "example"
    found = must_get_entry_of(ctx, created.raw, ZOME, "Note")
    assert found is not None and found[1] == Note(title="via")
    assert must_get_entry_of(ctx, created.raw, ZOME, "PrivateNote") is None


def test_code_hash_covers_listed_dependencies(tmp_path: Path) -> None:
    rules = tmp_path / "rules.py"
    zome = tmp_path / "zome.py"
    rules.write_text("A = 1\n")
    zome.write_text("B = 2\n")
    dep = types.ModuleType("rules")
    dep.__file__ = str(rules)
    module = types.ModuleType("zome")
    module.__file__ = str(zome)
    alone = code_hash(module)
    module.CODE_DEPENDENCIES = (dep,)  # type: ignore[attr-defined]
    before = code_hash(module)
    rules.write_text("A = 2\n")
    assert alone != before != code_hash(module)
