"""Fixtures for the server tests (helpers live in serve_helpers.py)."""

from __future__ import annotations

import pytest
from serve_helpers import make_tiny_G

from waifugan.networks.generator import Generator


@pytest.fixture(scope="session")
def tiny_G() -> Generator:
    """A randomly initialised 16 px generator (fixed seed), eval mode."""
    return make_tiny_G()
