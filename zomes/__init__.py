"""Zomes: integrity (types + validation, part of the DNA) and coordinator (callable functions)."""
