"""A coordinator that passes the zome API something of the wrong kind gets one ZomeCallError
naming the method and what it was given, writes nothing, and leaves the chain readable.

A hash of the wrong kind, or a tag that is not bytes, gets the same message from the compiled
build and the source build. Something that is no hash at all (a str where a Hash is typed) is
refused by the compiled build's own type check: the message then names the zome function and
the type given rather than the API method (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from builders import build_conductor, build_dna, with_coordinator

from nodeapp._core.hashing import ActionHash, EntryHash
from nodeapp.coordinator import Coordinator
from nodeapp.errors import ZomeCallError
from nodeapp.keystore import generate_agent_key
from nodeapp.zome_api import ZomeApi
from zomes.example.integrity import ZOME, Note

CALLS = Coordinator(ZOME)
LINK = "AuthorToNotes"
AN_ENTRY, AN_ACTION = EntryHash(bytes(32)), ActionHash(bytes(32))

MISUSES: dict[str, tuple[Callable[[ZomeApi], Any], str]] = {
    "tag_as_str": (lambda api: api.create_link(api.agent, api.agent, LINK, tag="x"),
                   "create_link takes its tag as bytes, not str"),
    "tag_as_bytearray": (lambda api: api.create_link(api.agent, api.agent, LINK,
                                                     tag=bytearray(b"x")),
                         "create_link takes its tag as bytes, not bytearray"),
    "link_base_as_str": (lambda api: api.create_link("agent_x", api.agent, LINK),
                         "create_link takes a Hash, not str"),
    "unknown_link_type": (lambda api: api.create_link(api.agent, api.agent, "Nope"),
                          "example has no link type 'Nope'"),
    "update_an_entry_hash": (lambda api: api.update_entry(AN_ENTRY, Note(title="x")),
                             "update_entry takes an ActionHash, not EntryHash"),
    "delete_an_agent": (lambda api: api.delete_entry(api.agent),
                        "delete_entry takes an ActionHash, not AgentPubKey"),
    "delete_link_of_an_entry": (lambda api: api.delete_link(AN_ENTRY),
                                "delete_link takes an ActionHash, not EntryHash"),
    "open_chain_from_an_entry": (lambda api: api.open_chain(api.agent, AN_ENTRY),
                                 "open_chain takes an ActionHash, not EntryHash"),
    "get_an_agent": (lambda api: api.get(api.agent),
                     "get takes an ActionHash or EntryHash, not AgentPubKey"),
    "get_entry_of_a_str": (lambda api: api.get_entry("x", Note),
                           "get takes an ActionHash or EntryHash, not str"),
    "is_deleted_a_str": (lambda api: api.is_deleted("x"),
                         "is_deleted takes an ActionHash, not str"),
    "activity_of_an_action": (lambda api: api.get_agent_activity(AN_ACTION),
                              "get_agent_activity takes an AgentPubKey, not ActionHash"),
    "links_of_unknown_type": (lambda api: api.get_links(api.agent, "Nope"),
                              "example has no link type 'Nope'"),
    "links_by_str_prefix": (lambda api: api.get_links(api.agent, LINK, tag_prefix="x"),
                            "get_links takes its tag as bytes, not str"),
    "query_unknown_type": (lambda api: api.query("Nope"), "example has no entry type 'Nope'"),
}

NOT_A_HASH = {"link_base_as_str", "get_entry_of_a_str", "is_deleted_a_str"}


def _register(name: str, misuse: Callable[[ZomeApi], Any]) -> None:
    def fn(api: ZomeApi) -> None:
        api.create_entry(Note(title="written before the mistake"))
        misuse(api)

    fn.__name__ = name
    CALLS.function(fn)


for _name, (_misuse, _message) in MISUSES.items():
    _register(_name, _misuse)


@CALLS.function
def chain_length(api: ZomeApi) -> int:
    """Reads every action of the own chain back (a bad tag once made that fail)."""
    return len(api.query())


@pytest.fixture(scope="module")
def conductor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    key = generate_agent_key()
    dna = with_coordinator(build_dna(stewards=[key]), CALLS)
    return build_conductor(Path(tmp_path_factory.mktemp("misuse")), key=key, dna=dna)


@pytest.mark.parametrize("name", sorted(MISUSES))
def test_a_wrong_argument_is_one_clear_error_and_writes_nothing(conductor: Any,
                                                                name: str) -> None:
    head = conductor.store.chain_head(conductor.agent)
    with pytest.raises(ZomeCallError) as raised:
        conductor.call("example", name)
    message = str(raised.value)
    expected = MISUSES[name][1]
    if name in NOT_A_HASH:
        assert message == expected or (f"example.{name} failed: TypeError" in message
                                       and message.endswith("Hash object expected; got str"))
    else:
        assert message == expected
    assert conductor.store.chain_head(conductor.agent) == head
    assert conductor.call("example", "chain_length") == head.seq + 1  # and reads back
