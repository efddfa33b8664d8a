"""Fixtures for the facility zome tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from facility_net import Net, build_net


@pytest.fixture
def net(tmp_path: Path) -> Net:
    """Steward, makerspace, verifier and plain member on four nodes, roles in place."""
    return build_net(tmp_path)
