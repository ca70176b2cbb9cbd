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


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    from tiny import write_tiny

    return write_tiny(tmp_path / "tiny")
