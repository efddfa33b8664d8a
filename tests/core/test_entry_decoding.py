"""Entry bytes into their model (``nodeapp._core.integrity.decode_entry``): ledger data holds
integers, so a float anywhere is refused, in any of CBOR's three float widths, while the same
byte values inside a byte string are data like any other."""

from __future__ import annotations

import cbor2
import pytest
from pydantic import BaseModel, ConfigDict

from nodeapp._core.actions import Visibility
from nodeapp._core.integrity import EntryDef, decode_entry
from nodeapp.errors import MalformedData


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    count: int
    samples: list[int] = []
    raw: bytes = b""


READING = EntryDef("Reading", Reading, Visibility.PUBLIC)


@pytest.mark.parametrize(("value", "first_byte"), [(3.0, 0xF9), (100_000.0, 0xFA), (0.1, 0xFB)],
                         ids=["half", "single", "double"])
def test_a_float_for_an_int_field_is_refused(value: float, first_byte: int) -> None:
    data = cbor2.dumps({"count": value}, canonical=True)
    assert first_byte in data  # the width under test
    with pytest.raises(MalformedData, match="Reading holds a float"):
        decode_entry(data, READING)


def test_a_float_nested_in_a_list_is_refused() -> None:
    data = cbor2.dumps({"count": 1, "samples": [1, 2, 3.0]}, canonical=True)
    with pytest.raises(MalformedData, match="holds a float"):
        decode_entry(data, READING)


def test_float_marker_bytes_inside_a_byte_string_are_data() -> None:
    data = cbor2.dumps({"count": 7, "raw": bytes([0xF9, 0xFA, 0xFB, 0x00])}, canonical=True)
    assert decode_entry(data, READING) == Reading(count=7, raw=bytes([0xF9, 0xFA, 0xFB, 0x00]))


def test_an_entry_without_floats_decodes() -> None:
    data = cbor2.dumps({"count": 2, "samples": [5, 6]}, canonical=True)
    assert decode_entry(data, READING) == Reading(count=2, samples=[5, 6])
