"""DNAs this node can run: which zomes exist, and how a manifest is bound to their code."""

from dna.catalog import COORDINATORS, INTEGRITY_ZOMES, PRODUCTION_ZOMES
from dna.loader import LoadedDna, build_manifest, code_hash, load_dna

__all__ = [
    "COORDINATORS",
    "INTEGRITY_ZOMES",
    "PRODUCTION_ZOMES",
    "LoadedDna",
    "build_manifest",
    "code_hash",
    "load_dna",
]
