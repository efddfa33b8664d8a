"""Governance zome: events, commitments, claims, validations, economic processes."""
