"""What a zome call wants from the network: reads this node could not answer from its store.

A zome call on a running node runs against the local store. Each read the store cannot answer
(a record not held, links from a base this node is not an authority for, another agent's
activity) is noted here instead of failing, and the function runs on with what is held. If
anything was noted, the runtime discards the call's writes, fetches what was wanted from the
authorities, validates and stores it like any received record, and runs the call again: a
call sees the network through the same validated store as everything else, and its reads are
consistent within one run. Each thing is asked for once per call, so the number of rounds is
bounded by how deep the call's reads go (links, then their targets, then theirs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nodeapp._core.messages import Record

LinkKey = tuple[bytes, int, int, bytes]  # (tagged base, zome index, link type, tag prefix)


@dataclass
class NetworkView:
    """One zome call's reads that need the network, across its rounds."""

    # whether this node is an authority for a DHT location (its store is then complete)
    is_authority: Callable[[int], bool] = lambda _location: False
    final: bool = False  # last round: misses stay misses, the call completes with them
    wanted_records: set[bytes] = field(default_factory=set)
    wanted_links: set[LinkKey] = field(default_factory=set)
    wanted_activity: set[bytes] = field(default_factory=set)
    asked: set[object] = field(default_factory=set)
    # fetched records that could not be validated yet (their own dependencies are missing)
    pending: list[Record] = field(default_factory=list)

    def want_record(self, target: bytes) -> None:
        """A record (by action or entry hash) or a member's genesis (by agent key)."""
        if not self.final and target not in self.asked:
            self.wanted_records.add(target)

    def want_links(self, key: LinkKey) -> None:
        """Links of one type from a base (with a tag prefix)."""
        if not self.final and key not in self.asked:
            self.wanted_links.add(key)

    def want_activity(self, agent: bytes) -> None:
        """An agent's whole chain of actions."""
        if not self.final and ("activity", agent) not in self.asked:
            self.wanted_activity.add(agent)

    @property
    def wants(self) -> bool:
        """Whether this round noted anything to fetch."""
        return bool(self.wanted_records or self.wanted_links or self.wanted_activity)

    def take_wants(self) -> tuple[list[bytes], list[LinkKey], list[bytes]]:
        """This round's wants, sorted (a replay asks in the same order), now marked asked."""
        records = sorted(self.wanted_records)
        links = sorted(self.wanted_links)
        activity = sorted(self.wanted_activity)
        self.asked.update(records, links, (("activity", a) for a in activity))
        self.wanted_records.clear()
        self.wanted_links.clear()
        self.wanted_activity.clear()
        return records, links, activity


class NetworkReadsNeeded(Exception):  # noqa: N818 - control flow, not an error
    """Raised by the conductor when a call read something only the network has: the caller
    fetches the view's wants and runs the call again."""
