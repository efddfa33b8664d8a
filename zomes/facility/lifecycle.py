"""The facility status lifecycle, pure: which moves are allowed and what status a facility is in.

Rules:
* pending -> verified | revoked; verified -> suspended | revoked; suspended -> verified | revoked;
  revoked is final. A verifier may revoke from any live status (fraud need not wait for a
  suspension first).
* A verification judges one version of a facility's registration. Once the registrant publishes
  a newer version (other equipment or certifications), a ``verified`` judgement no longer covers
  it: the facility is ``pending`` again. Suspended and revoked judgements stay as they are, so
  editing the registration never lifts a suspension.
Integrity validation and the coordinator's reads both use these functions, so a status that
reads as X is exactly the status from which validation allows X's moves.
"""

from __future__ import annotations

from enum import StrEnum


class FacilityStatus(StrEnum):
    """Where a facility is in its verification lifecycle."""

    PENDING = "pending"
    VERIFIED = "verified"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


ALLOWED_MOVES: dict[FacilityStatus, frozenset[FacilityStatus]] = {
    FacilityStatus.PENDING: frozenset({FacilityStatus.VERIFIED, FacilityStatus.REVOKED}),
    FacilityStatus.VERIFIED: frozenset({FacilityStatus.SUSPENDED, FacilityStatus.REVOKED}),
    FacilityStatus.SUSPENDED: frozenset({FacilityStatus.VERIFIED, FacilityStatus.REVOKED}),
    FacilityStatus.REVOKED: frozenset(),
}


def effective_status(judged: FacilityStatus | None, judged_version_seq: int,
                     current_version_seq: int) -> FacilityStatus:
    """The status of a facility whose last judgement was ``judged`` (None: never judged) of the
    version at chain seq ``judged_version_seq``, now that its newest version is at
    ``current_version_seq``."""
    if judged is None:
        return FacilityStatus.PENDING
    if judged is FacilityStatus.VERIFIED and current_version_seq > judged_version_seq:
        return FacilityStatus.PENDING
    return judged


def move_problem(current: FacilityStatus, new: FacilityStatus) -> str | None:
    """Why moving from ``current`` to ``new`` is not allowed, or None if it is; the text starts
    with the rule's name."""
    if current is FacilityStatus.REVOKED:
        return f"facility.revoked_is_final: a revoked facility cannot become {new}"
    if new not in ALLOWED_MOVES[current]:
        return f"facility.transition_allowed: a {current} facility cannot become {new}"
    return None
