"""Helpers every zome test uses: share chains between conductors, and sign records outside any
conductor, as a node running modified code would publish them, to show that peers refuse them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from builders import export_chain

from nodeapp.conductor import Conductor
from nodeapp.zome_api import Scratch, ZomeApi

Record = tuple[bytes, bytes, bytes | None]  # action bytes, signature, entry bytes


def sync_chains(nodes: Sequence[Conductor], rounds: int = 3) -> None:
    """Every node receives every other node's chain; all of it must be accepted. Later
    records may cite records of a third chain, so this repeats until nothing is unresolved."""
    for _round in range(rounds):
        pending = False
        for dst in nodes:
            for src in nodes:
                if src is not dst:
                    report = dst.ingest(export_chain(src))
                    assert report.rejected == [], report.rejected
                    pending = pending or bool(report.unresolved)
        if not pending:
            return
    raise AssertionError(f"records still unresolved after {rounds} rounds")


def forge(node: Conductor, fn: str, payload: Any, zome: str) -> list[Record]:
    """Run ``zome.fn`` on ``node``'s chain without validating or committing what it writes:
    the records, signed by ``node``'s agent, as a modified node would publish them."""
    head = node.store.chain_head(node.agent)
    assert head is not None
    found = node.store.get_action(head.hash)
    assert found is not None
    function = node.coordinator(zome).get(fn)
    index = node.dna.zome_index(zome)
    scratch = Scratch(head, found[0].action.timestamp_us)
    api = ZomeApi(zome=node.dna.zomes[index], zome_index=index, agent=node.agent,
                  sign=node.sign, now_us=node.clock_us(), store=node.store, scratch=scratch,
                  all_zomes=node.dna.zomes, dna_properties=node.dna.manifest.properties)
    function.fn(api, function.parse_input(payload))
    return [(r.signed.action_bytes, r.signed.signature, r.entry) for r in scratch.records]


def refused_by_peer(peer: Conductor, items: list[Record]) -> str:
    """Offer forged records to ``peer`` (which holds their author's chain); the reason it
    rejected the first of them for, without the ``app: `` stage prefix. Nothing is stored."""
    report = peer.ingest(items)
    assert report.stored == 0 and report.rejected, report
    return report.rejected[0][1].removeprefix("app: ")
