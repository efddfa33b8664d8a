"""Compiled (numba) bulk kernels over columnar data read straight from the store."""

from nodeapp.kernels.chain_audit import (
    AuditResult,
    audit_chains,
    audit_chains_reference,
    warm_up,
)

__all__ = ["AuditResult", "audit_chains", "audit_chains_reference", "warm_up"]
