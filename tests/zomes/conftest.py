"""Makes ``tests/zomes/zome_testing.py`` importable as ``zome_testing`` from every zome test
directory (``tests/zomes`` is not a package: ``zomes`` names the project's zomes)."""

from __future__ import annotations

import sys
from pathlib import Path

_ZOME_TESTS = str(Path(__file__).resolve().parent)
if _ZOME_TESTS not in sys.path:
    sys.path.insert(0, _ZOME_TESTS)
