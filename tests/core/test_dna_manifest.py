"""DNA manifests are read from files and from invites anyone can hand out: any bytes there get
MalformedData naming the problem, and a real manifest reads back exactly."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from builders import build_dna
from hypothesis import given
from hypothesis import strategies as st

from nodeapp._core.dna import manifest_from_bytes
from nodeapp.errors import MalformedData

GOOD = build_dna().manifest


def manifest_with(**changes: Any) -> bytes:
    """The canonical bytes of a manifest map with some fields changed (None: removed)."""
    fields = cbor2.loads(GOOD.to_bytes())
    fields.update(changes)
    return cbor2.dumps({k: v for k, v in fields.items() if v is not None}, canonical=True)


def test_a_manifest_reads_back_as_written() -> None:
    assert manifest_from_bytes(GOOD.to_bytes()) == GOOD


@pytest.mark.parametrize("data, text", [
    (cbor2.dumps("a string"), "is a map, not a str"),
    (cbor2.dumps([1, 2]), "is a map, not a list"),
    (manifest_with(network_seed=None, properties=None), "has no network_seed, properties"),
    (manifest_with(format="nodeapp-dna/9"), "unknown DNA manifest format"),
    (manifest_with(name=5), "name must be text"),
    (manifest_with(integrity_zomes=5), "integrity_zomes must list"),
    (manifest_with(integrity_zomes=[["person", "1"]]), "integrity_zomes must list"),
    # bytes(n) of this integer would try to allocate a terabyte
    (manifest_with(integrity_zomes=[["person", "1", 2**40]]), "integrity_zomes must list"),
    (manifest_with(properties=[]), "properties must be a map"),
    # properties the node reads: a network that passes can be joined and run
    (manifest_with(properties={"stewards": 5}), "stewards must be a list"),
    (manifest_with(properties={"stewards": [True]}), "stewards: a printable hash is a string"),
    (manifest_with(properties={"stewards": ["agent_x"]}), "stewards: 'agent_x'"),
    (manifest_with(properties={"replication_factor": "5"}), "replication_factor must be"),
    (manifest_with(properties={"replication_factor": 0}), "replication_factor must be"),
    (manifest_with(properties={"replication_factor": 51}), "replication_factor must be"),
    (manifest_with(properties={"replication_factor": True}), "replication_factor must be"),
    (cbor2.dumps(dict(reversed(cbor2.loads(GOOD.to_bytes()).items()))),  # keys out of order
     "not canonical"),
])
def test_malformed_manifests_are_named(data: bytes, text: str) -> None:
    with pytest.raises(MalformedData, match=text):
        manifest_from_bytes(data)


cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**64 + 1, 2**64 - 1) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=6),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["format", "name", "network_seed", "integrity_zomes",
                                        "properties", "other"]), cbor_values))
def test_any_map_is_a_manifest_or_malformed_data(fields: dict[str, Any]) -> None:
    data = cbor2.dumps(fields, canonical=True)
    try:
        manifest = manifest_from_bytes(data)
    except MalformedData:
        return
    assert manifest.to_bytes() == data
