"""Shared fixtures: temporary workspaces only, never the default one; quiet, single-threaded numerics."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("MLFLOW_TRACKING_URI", None)  # tests always track into their own temporary workspace
sys.path.insert(0, str(Path(__file__).parent))


def small_config():
    """Big enough for every split and label horizon, small enough to generate in seconds."""
    from features.config import GenerateConfig

    return GenerateConfig(seed=11, accounts=300, leads=4000, months=40)


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    from tiny import write_tiny

    return write_tiny(tmp_path / "tiny")


@pytest.fixture(scope="session")
def small_company(tmp_path_factory) -> Path:
    """A small generated company, shared by the data and model tests."""
    from features.generate import generate, write_company

    root = tmp_path_factory.mktemp("company") / "data"
    write_company(generate(small_config()), root)
    return root
