"""Property: whatever sequence of judgements, updates and forked judgements members attempt,
a facility's status only ever moves as the lifecycle allows, and nothing follows revocation.

The expected behaviour is an independent model here (a table of legal moves), not the zome's
own lifecycle module."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from builders import export_chain
from facility_net import Net, build_net, facility_input
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeapp.conductor import Conductor
from nodeapp.errors import AppValidationError

LEGAL = {("pending", "verified"), ("pending", "revoked"), ("verified", "suspended"),
         ("verified", "revoked"), ("suspended", "verified"), ("suspended", "revoked")}
JUDGEMENTS = {"verify": "verified", "suspend": "suspended", "revoke": "revoked"}

judgement = st.tuples(st.sampled_from(sorted(JUDGEMENTS)),
                      st.sampled_from(["stella", "vera", "mallory", "maker"]))
update = st.just(("update", "maker"))
# vera cites an earlier judgement (by index; None: the start) instead of the newest one
fork = st.tuples(st.just("fork"), st.sampled_from(sorted(JUDGEMENTS.values())),
                 st.integers(min_value=-1, max_value=8))
operations = st.lists(st.one_of(judgement, update, fork), min_size=1, max_size=10)


@dataclass
class Model:
    """What the facility's status must be, from the legal-moves table alone."""

    version: int = 0
    verdicts: list[tuple[str, str, int]] = field(default_factory=list)  # (hash, status, version)
    status: str = "pending"
    revoked: bool = False

    def status_after(self, verdict: tuple[str, str, int] | None) -> str:
        """The status a judgement left, read against the newest version."""
        if verdict is None:
            return "pending"
        _, status, version = verdict
        return "pending" if status == "verified" and version < self.version else status

    def accept(self, action: str, status: str) -> None:
        self.verdicts.append((action, status, self.version))
        self.revoked = self.revoked or status == "revoked"
        self.status = "revoked" if self.revoked else status


def spread(net: Net, src: Conductor) -> None:
    for dst in net.nodes:
        if dst is not src:
            report = dst.ingest(export_chain(src))
            assert report.rejected == [] and report.unresolved == [], report


def attempt(node: Conductor, fn: str, payload: dict[str, object]) -> str | None:
    """The new action's hash, or None when validation refused the call (naming a rule)."""
    try:
        return node.call_json("facility", fn, payload)
    except AppValidationError as refused:
        assert refused.detail.startswith(("facility.", "person.")), refused.detail
        return None


def run(net: Net, ops: list[tuple[str, ...]]) -> None:
    facility = net.maker.call_json("facility", "register_facility",
                                   facility_input(net.clock.now_us))
    spread(net, net.maker)
    model = Model()
    evidence = {"stella": None, "vera": net.vera_role, "mallory": net.vera_role, "maker": None}
    for op in ops:
        before = model.status
        if op[0] == "update":
            made = attempt(net.maker, "update_facility_equipment",
                           {"facility": facility, "equipment": []})
            assert made is not None
            model.version += 1
            if model.status == "verified":
                model.status = "pending"
            actor = net.maker
        elif op[0] == "fork":
            _, status, index = op
            cited = model.verdicts[index] if 0 <= index < len(model.verdicts) else None
            current = net.vera.call_json("facility", "get_facility", {"facility": facility})
            made = attempt(net.vera, "write_verification", {
                "facility": facility, "facility_version": current["version"],
                "previous": None if cited is None else cited[0], "status": status,
                "reason": "fork", "role_evidence": net.vera_role})
            legal = (model.status_after(cited), status) in LEGAL
            assert (made is not None) == legal, (op, model)
            if made is not None:
                net.vera.call_json("facility", "link", {
                    "base": facility, "target": made, "link_type": "FacilityVerifications"})
                model.accept(made, status)
            actor = net.vera
        else:
            name, who = op
            actor = getattr(net, who)
            made = attempt(actor, f"{name}_facility", {
                "facility": facility, "reason": name, "role_evidence": evidence[who]})
            allowed = who in ("stella", "vera") and (before, JUDGEMENTS[name]) in LEGAL
            assert (made is not None) == allowed, (op, model)
            if made is not None:
                model.accept(made, JUDGEMENTS[name])
        spread(net, actor)
        for node in (net.maker, net.mallory):
            seen = node.call_json("facility", "get_facility", {"facility": facility})["status"]
            assert seen == model.status, (op, model)
        # the invariant itself, on top of agreeing with the model
        assert before != "revoked" or model.status == "revoked"
        assert (model.status == before or (before, model.status) in LEGAL
                or (before, model.status) == ("verified", "pending") and op[0] == "update"
                or op[0] == "fork"), (op, before, model.status)


@settings(max_examples=40, deadline=None)
@given(ops=operations)
def test_random_operations_never_leave_the_lifecycle(ops: list[tuple[str, ...]]) -> None:
    with tempfile.TemporaryDirectory() as home:
        run(build_net(Path(home)), ops)
