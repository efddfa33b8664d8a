"""Every DNA pins each integrity zome by the hash of its code (dna/loader.py): a change to one
of these files, or to the rule modules it lists in CODE_DEPENDENCIES, is a change of the rules
that every network created before it runs, and those networks stop loading. This test makes
such a change deliberate: when it fails, either undo the change, or make it a new zome version
(bump ``version`` in the zome's ZOME, say in docs/ what existing networks must do) and record
the new hash here."""

from __future__ import annotations

from dna.catalog import INTEGRITY_ZOMES
from dna.loader import code_hash

PINNED = {  # name: (version, code hash)
    "example": ("1.0.0", "3511151b250f140fa836a00b9972a32b77b97f86dd3dfaffa40c5cb46936d8e9"),
    "facility": ("1.0.0", "2594645afcba0c43d0e4f2aa142cdf3a9973f48aefdcad5500f212c66b13c6b0"),
    "governance": ("1.0.0", "0c5877abb66d35685a2eb20665739da7dcb28e05dbe8fcd37f62510593491d7f"),
    "person": ("1.0.0", "c35a55be75f7ea7e25337dd7fe62b3f059302b93362ff537bfbdba484c78dba6"),
    "resource": ("1.0.0", "7dd20df035d36fa21232c4c073d35dc34be5481634c0cf8556635dfcf45e293e"),
}


def test_every_installed_integrity_zome_is_pinned_here() -> None:
    assert sorted(INTEGRITY_ZOMES) == sorted(PINNED)


def test_integrity_code_is_what_existing_networks_pinned() -> None:
    changed = {name: (module.ZOME.version, code_hash(module).hex())
               for name, module in INTEGRITY_ZOMES.items()
               if (module.ZOME.version, code_hash(module).hex()) != PINNED.get(name)}
    assert not changed, (
        f"integrity code changed for {sorted(changed)}: every existing network pins the old "
        f"code; see this module's docstring. Now: {changed}")
