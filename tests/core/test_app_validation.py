"""A zome's ``validate`` is code of the zome's author: whatever it does wrong (raises, returns
something that is no verdict) judges the op Invalid with a reason naming the zome, never crashes
the node or lets the op through."""

from __future__ import annotations

from typing import Any

import pytest
from builders import build_genesis

from nodeapp._core.app_validation import app_validate
from nodeapp._core.integrity import IntegrityZome, Invalid, Op, Valid, ValidateContext
from nodeapp._core.ops import op_types_for
from nodeapp.keystore import generate_agent_key


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
