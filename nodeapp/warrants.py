"""Warrants: proof that an agent broke the rules, checked by everyone who hears of it.

A mixin of :class:`~nodeapp.protocol.NodeProtocol`. Rules: an authority that finds an invalid
record by its (authentic) author issues an InvalidChainOp warrant carrying the record; one that
sees two actions at one seq issues a ChainFork warrant carrying both. A node believes a warrant
only after re-checking its proof itself (the issuer need not be known: a wrong proof convicts
nobody), then blocks the agent, keeps the warrant across restarts and passes it on. A proof
that cites data this node does not hold (an invalid entry's evidence) is kept pending, if it
names a member, while the data is asked for and the proof judged again, for as long as a parked
record may wait (``parked_ttl_us``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nodeapp._core.actions import signed_action_from_parts
from nodeapp._core.canonical import encode_flat
from nodeapp._core.integrity import Unresolved
from nodeapp._core.messages import Record, Warrant, encode_message
from nodeapp.errors import MalformedData
from nodeapp.protocol_common import Outgoing, agent_label, verify_detached
from nodeapp.store import Status

log = logging.getLogger("nodeapp.net")

WARRANT_INVALID_OP = 0
WARRANT_CHAIN_FORK = 1
WARRANT_TAG = b"nodeapp-warrant/1"
WARRANT_META = "warrant/"  # store meta key prefix of believed warrants
WARRANTS_PENDING_MAX = 1_000  # warrants whose proof waits for data, judged again later


class Warrants:
    """Issuing, believing and spreading warrants."""

    # provided by NodeProtocol
    agent: bytes
    conductor: Any
    dna_hash: bytes
    members: set[bytes]
    settings: Any
    blocked: set[bytes]
    warrants: dict[bytes, Warrant]

    # agent -> (from, warrant, when first kept pending)
    _warrants_pending: dict[bytes, tuple[bytes, Warrant, int]]

    def _refresh_ring(self) -> None:
        raise NotImplementedError

    if TYPE_CHECKING:  # a stub at run time would hide Dependencies' method (it comes later)
        def _ask_for_dependencies(self, deps: Sequence[bytes], now_us: int
                                  ) -> list[Outgoing]: ...

    def _issue_warrant(self, kind: int, proof: tuple[Record, ...], reason: str
                       ) -> list[Outgoing]:
        try:
            agent = signed_action_from_parts(proof[0][0], proof[0][1]).action.author
        except MalformedData:
            return []
        if agent == self.agent or agent in self.warrants:
            return []
        body = encode_flat([kind, agent, [list(r) for r in proof]])
        warrant = Warrant(kind, agent, proof, self.agent,
                          self.conductor.sign(WARRANT_TAG + body))
        log.warning("warranting %s: %s", agent_label(agent), reason)
        return self._believe(warrant)

    def _believe(self, warrant: Warrant) -> list[Outgoing]:
        self.warrants[warrant.agent] = warrant
        # kept across restarts: a node that forgot a warrant would serve the offender again
        self.conductor.store.set_meta(WARRANT_META + warrant.agent.hex(),
                                      encode_message(self.dna_hash, warrant))
        self.blocked.add(warrant.agent)
        self._refresh_ring()
        if warrant.kind == WARRANT_INVALID_OP:  # an agent-activity authority may hold it
            proven = signed_action_from_parts(warrant.proof[0][0], warrant.proof[0][1])
            self.conductor.store.set_status(proven.hash, Status.REJECTED)
        return [Outgoing(peer, warrant) for peer in sorted(self.members - self.blocked)
                if peer != self.agent]

    def _on_warrant(self, peer: bytes, warrant: Warrant, now_us: int) -> list[Outgoing]:
        if warrant.agent in self.warrants or warrant.agent == self.agent:
            return []
        body = encode_flat([warrant.kind, warrant.agent, [list(r) for r in warrant.proof]])
        # the proof is checked here, so the issuer need not be a member we know: it came
        # through a member (``peer``), and a wrong proof convicts nobody
        if not verify_detached(warrant.issuer, WARRANT_TAG + body, warrant.signature):
            return []
        verdict = self.conductor.judge_proof(warrant.kind, warrant.agent, warrant.proof)
        if isinstance(verdict, Unresolved):
            # the invalid record cites what we do not hold: fetch it and judge again later,
            # for a member only (a warrant naming made-up agents must not fill the pending
            # list and the wanted list), and within the TTL of what waits for data
            pending = self._warrants_pending.get(warrant.agent)
            since = now_us if pending is None else pending[2]
            if warrant.agent not in self.members or (
                    now_us - since >= self.settings.parked_ttl_us) or (
                    pending is None and len(self._warrants_pending) >= WARRANTS_PENDING_MAX):
                self._warrants_pending.pop(warrant.agent, None)
                return []
            self._warrants_pending[warrant.agent] = (peer, warrant, since)
            return self._ask_for_dependencies(verdict.deps, now_us)
        self._warrants_pending.pop(warrant.agent, None)
        if not verdict:
            log.info("ignored a warrant from %s whose proof does not hold",
                     agent_label(warrant.issuer))
            return []
        return self._believe(warrant)

    def _retry_pending_warrants(self, now_us: int) -> list[Outgoing]:
        """Judge again the warrants whose proof waited for data (now perhaps held)."""
        out: list[Outgoing] = []
        for peer, warrant, _since in list(self._warrants_pending.values()):
            out.extend(self._on_warrant(peer, warrant, now_us))
        return out

