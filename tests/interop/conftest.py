"""Foreign model files built once per test session (tiny networks, 16-32 px)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.nvlabs_builder import write_nvlabs
from tests.interop.rosinality_builder import write_rosinality
from tests.interop.tf_builders import write_stylegan1, write_stylegan2

RESOLUTION = 16


@pytest.fixture(scope="session")
def foreign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the built files and the never-to-exist marker live."""
    return tmp_path_factory.mktemp("foreign")


@pytest.fixture(scope="session")
def marker(foreign_dir: Path) -> Path:
    """The file embedded source code would create if anything ever executed it."""
    return foreign_dir / "EXECUTED"


@pytest.fixture(scope="session")
def tf2_nets(foreign_dir: Path, marker: Path) -> dict:
    """TF StyleGAN2 variables {"Gs", "G", "D"}; their pickle is tf2.pkl."""
    return write_stylegan2(foreign_dir / "tf2.pkl", marker, resolution=RESOLUTION)


@pytest.fixture(scope="session")
def stylegan2_files(foreign_dir: Path, marker: Path, tf2_nets: dict) -> dict[str, Path]:
    """The same StyleGAN2 networks in the three StyleGAN2 formats."""
    nvlabs = write_nvlabs(foreign_dir / "network-snapshot-000000.pkl", tf2_nets, marker, RESOLUTION)
    rosinality = write_rosinality(foreign_dir / "000000.pt", tf2_nets, RESOLUTION)
    return {
        "tf-stylegan2": foreign_dir / "tf2.pkl",
        "nvlabs-pytorch": nvlabs,
        "rosinality": rosinality,
    }


@pytest.fixture(scope="session")
def tf1_file(foreign_dir: Path, marker: Path) -> tuple[Path, dict]:
    """A TF StyleGAN1 pickle at 16 px and its Gs variables."""
    path = foreign_dir / "stylegan1.pkl"
    return path, write_stylegan1(path, marker, resolution=RESOLUTION)
