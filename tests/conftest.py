"""Shared test setup: makes ``tests/builders.py`` importable as ``builders`` from every test dir."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)


def pytest_configure(config: object) -> None:
    """Refuse to test a compiled build older than its source: Python would load the old
    compiled modules, and the tests would pass or fail on code that is not in the tree."""
    from nodeapp.build import stale_compiled_modules, stale_message

    stale = stale_compiled_modules()
    if stale:
        import pytest

        pytest.exit(stale_message(stale), returncode=4)
