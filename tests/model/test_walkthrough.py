"""docs/bring-your-own-data.md, followed literally: every `bash` block runs, in order, from a checkout's root."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
WALKTHROUGH = REPO / "docs" / "bring-your-own-data.md"


def bash_blocks(markdown: str) -> list[str]:
    """The ```bash blocks; ```sh blocks (installing, the nightly job against real services) are for reading."""
    return re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def test_the_walkthrough_has_runnable_steps():
    blocks = bash_blocks(WALKTHROUGH.read_text())
    text = "\n".join(blocks)
    for command in ("signalscore import", "signalscore validate", "signalscore train", "signalscore score",
                    "signalscore explain", "signalscore report"):
        assert command in text


def test_the_walkthrough_works_as_written(tmp_path):
    """Run in a folder that looks like a fresh checkout's root (the example exports under tests/fixtures)."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "fixtures").symlink_to(REPO / "tests" / "fixtures")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    for i, block in enumerate(bash_blocks(WALKTHROUGH.read_text()), 1):
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"block {i} failed:\n{block}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    workspace = tmp_path / "signalscore-workspace"
    assert (tmp_path / "my-health.csv").exists() and (workspace / "report" / "index.html").exists()
    assert (workspace / "rejected" / "feedback.parquet").exists()  # the NPS answer of 11, set aside
    assert (tmp_path / "my-salesforce.yaml").read_text().strip()
