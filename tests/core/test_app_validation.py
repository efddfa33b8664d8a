"""A zome's ``validate`` is code of the zome's author: whatever it does wrong (raises, returns
something that is no verdict or a malformed one, reads with something that is no hash) judges
the op Invalid with a reason naming the zome, never crashes the node or lets the op through,
and every node (compiled build or not) judges it the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import build_genesis

from nodeapp._core.app_validation import app_validate
from nodeapp._core.integrity import (
    IntegrityZome,
    Invalid,
    MissingDependency,
    Op,
    Unresolved,
    Valid,
    ValidateContext,
)
from nodeapp._core.ops import op_types_for
from nodeapp.keystore import generate_agent_key
from nodeapp.store import SqliteStore
from nodeapp.zome_api import LocalContext, Scratch


def zome_answering(answer: Any) -> IntegrityZome:
    def validate(op: Op, ctx: ValidateContext) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    return IntegrityZome("judge", "1", (), (), validate)


def judge(answer: Any) -> object:
    """The verdict on a genesis action (every zome judges those) from a zome giving ``answer``."""
    signed = build_genesis(generate_agent_key(), bytes(32))[0]
    return app_validate(op_types_for(signed.action), signed, None, [zome_answering(answer)],
                        ctx=None)  # type: ignore[arg-type]  # genesis ops read nothing


@pytest.mark.parametrize("answer", [None, True, "valid", 1, Valid])
def test_an_answer_that_is_no_verdict_is_invalid(answer: Any) -> None:
    result = judge(answer)
    assert isinstance(result, Invalid)
    assert result.reason.startswith("judge.validate returned ")


def test_a_raise_is_invalid_and_named() -> None:
    result = judge(RuntimeError("boom"))
    assert result == Invalid("judge.validate raised RuntimeError: boom")


def test_a_verdict_is_passed_on() -> None:
    assert judge(Valid()) == Valid()
    assert judge(Invalid("no")) == Invalid("no")


def test_a_malformed_verdict_is_invalid() -> None:
    assert judge(Unresolved([bytes(32)])) == Invalid(
        "judge.validate gave an Unresolved whose deps are not 32-byte hashes")
    assert judge(Unresolved(())) == Invalid(
        "judge.validate gave an Unresolved whose deps are not 32-byte hashes")
    assert judge(Unresolved((b"short",))) == Invalid(
        "judge.validate gave an Unresolved whose deps are not 32-byte hashes")
    assert judge(Invalid(5)) == Invalid("judge.validate gave an Invalid whose reason is not text")


def test_a_missing_dependency_is_unresolved_only_for_a_hash() -> None:
    assert judge(MissingDependency(bytes(32))) == Unresolved((bytes(32),))
    assert judge(MissingDependency(bytearray(32))) == Invalid(
        "a MissingDependency raised in validation names no 32-byte hash")


@pytest.mark.parametrize("read", ["must_get_action", "must_get_entry", "must_get_valid_record"])
@pytest.mark.parametrize("given", ["agent_x", bytes(33), bytearray(32), None])
def test_validation_reads_take_32_byte_hashes_only(tmp_path: Path, read: str,
                                                   given: object) -> None:
    """A zome reading with something else than a raw hash is judged Invalid, not Unresolved
    for ever (a 33-byte tagged hash would never be found) nor crashed on."""
    with SqliteStore(tmp_path / "node.db") as store:
        ctx = LocalContext(store, Scratch(None, 0), {})
        with pytest.raises(TypeError, match=f"{read} takes a hash as 32 bytes, not "):
            getattr(ctx, read)(given)
        with pytest.raises(TypeError, match="must_get_agent_activity takes a hash"):
            ctx.must_get_agent_activity(bytes(32), given)
