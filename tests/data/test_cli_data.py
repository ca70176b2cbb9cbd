"""The door as a user meets it: `signalscore validate` on defective data, and missing tables as one message."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from signalscore.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    root = tmp_path_factory.mktemp("dirty") / "data"
    result = runner.invoke(app, ["generate", "--out", str(root), "--accounts", "150", "--leads", "1500",
                                 "--months", "14", "--seed", "5", "--dirty"])
    assert result.exit_code == 0, result.output
    return root


def test_validate_reports_every_injected_defect_and_keeps_every_row(dirty, tmp_path):
    result = runner.invoke(app, ["validate", "--data", str(dirty), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 3, result.output  # rows were rejected
    defects = json.loads((dirty / "_meta.json").read_text())["defects"]
    for table, kinds in defects.items():
        injected = sum(kinds.values())
        rejected = pd.read_parquet(tmp_path / "ws" / "rejected" / f"{table}.parquet")
        assert len(rejected) == injected, table
        assert rejected["reason"].str.len().gt(0).all()
        accepted_line = next(line for line in result.output.splitlines() if line.startswith(f"│ {table} "))
        numbers = [int(x.replace(",", "")) for x in accepted_line.split("│")[2:5]]
        assert numbers[0] == numbers[1] + numbers[2] and numbers[2] == injected, table


def test_a_missing_required_table_is_one_clear_message(dirty, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(dirty, copy)
    (copy / "contracts.parquet").unlink()
    result = runner.invoke(app, ["features", "--data", str(copy), "--model", "renewal", "--out",
                                 str(tmp_path / "f.parquet"), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "contracts" in result.output and "Traceback" not in result.output


def test_features_on_dirty_data_use_only_accepted_rows(dirty, tmp_path):
    out = tmp_path / "features.parquet"
    result = runner.invoke(app, ["features", "--data", str(dirty), "--model", "renewal", "--as-of", "2025-10-01",
                                 "--out", str(out), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert not frame.entity_id.str.startswith("A9").any()  # injected unknown / broken accounts never appear
    assert (frame.filter(like="tickets").fillna(0) >= 0).all().all()
