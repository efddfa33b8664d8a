"""Shared setup of the real-network tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _quiet_libp2p() -> None:
    # identify logs routine departures of short-lived peers at ERROR (notes/libp2p.md, 8)
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
