"""Shared fixtures: where ../shared is, and skips with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WAIFUGAN_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder (data and assets), or skip."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED} (set WAIFUGAN_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def assets_dir(shared_dir: Path) -> Path:
    """../shared/assets, also exported as WAIFUGAN_ASSETS for the code under test."""
    path = shared_dir / "assets"
    if not path.is_dir():
        pytest.skip(f"assets folder not found at {path}")
    os.environ["WAIFUGAN_ASSETS"] = str(path)
    return path


def pytest_configure(config: pytest.Config) -> None:
    """One intra-op thread: tiny networks gain nothing from more, and deterministic results
    should not depend on how busy the machine is (OpenMP threads thrash when oversubscribed)."""
    import torch

    torch.set_num_threads(1)
