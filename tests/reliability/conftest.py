"""Fixtures of the reliability suite: the tiny 16 px dataset the training tests use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.conftest import write_blob_zip


@pytest.fixture(scope="session")
def blob_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 smooth colour-blob images at 16 px (tests/train/conftest.py)."""
    return write_blob_zip(tmp_path_factory.mktemp("data") / "blobs.zip")
