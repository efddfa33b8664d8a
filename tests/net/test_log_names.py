"""Log lines name an agent one way, whichever part of the node logs it."""

from __future__ import annotations

from nodeapp._core.hashing import AgentPubKey
from nodeapp.protocol_common import agent_label


def test_an_agent_is_named_by_the_start_of_its_printable_key() -> None:
    agent = bytes(range(32))
    assert agent_label(agent) == str(AgentPubKey(agent))[:20]
    assert agent_label(agent).startswith("agent_")
    # lines about a connection add its peer id
    assert agent_label(agent, "12D3KooW") == f"{agent_label(agent)} (12D3KooW)"


def test_bytes_that_are_no_agent_key_are_named_in_hex_without_raising() -> None:
    assert agent_label(b"\x01\xab") == "01ab"
    assert agent_label(bytes(40)) == "00" * 10
