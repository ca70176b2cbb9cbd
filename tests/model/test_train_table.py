"""`signalscore train --table`: a churn export with string categories, gaps and a Yes/No label trains end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from telco import telco, write
from typer.testing import CliRunner

from signalscore.cli import app

pytestmark = pytest.mark.slow
FAST = ["--set", "training.threads=1", "--set", "training.tuning.trials=2"]


@pytest.fixture(scope="module")
def churn_csv(tmp_path_factory) -> Path:
    raw = telco(rows=2500, seed=5)
    rng = np.random.default_rng(1)
    raw.loc[rng.random(len(raw)) < 0.05, "PaymentMethod"] = np.nan  # gaps in a category
    raw.loc[rng.random(len(raw)) < 0.03, "MonthlyCharges"] = np.nan  # and in a number
    raw.loc[[7, 8], "Churn"] = np.nan  # two rows nobody labelled
    twins = raw.iloc[10:30].copy()
    twins["customerID"] = [f"copy-{i}" for i in range(len(twins))]  # the same customers exported twice
    return write(tmp_path_factory.mktemp("table"), pd.concat([raw, twins], ignore_index=True))


def test_a_churn_export_trains_registers_and_reports_what_it_did(churn_csv, tmp_path):
    ws = tmp_path / "ws"
    groups = tmp_path / "groups.yaml"
    groups.write_text("Commercial: [Contract, MonthlyCharges, TotalCharges, PaymentMethod]\nProduct Usage: [tenure]\n")
    result = CliRunner().invoke(app, ["train", "--model", "renewal", "--table", str(churn_csv), "--label", "Churn",
                                      "--positive", "No", "--id", "customerID", "--groups", str(groups),
                                      "--workspace", str(ws), *FAST])
    assert result.exit_code == 0, result.output
    assert "signalscore-renewal-telco version 1" in result.output
    assert "identical twin" in result.output  # the exported-twice customers were kept on one side
    assert (ws / "rejected" / "telco.parquet").exists()  # the two unlabelled rows, with their reason
    client = MlflowClient(tracking_uri=f"sqlite:///{(ws / 'mlflow.db').resolve()}")
    version = client.get_model_version_by_alias("signalscore-renewal-telco", "champion")
    run = client.get_run(version.run_id)
    assert run.data.tags["split"].startswith("random") and "warning_split" in run.data.tags
    assert run.data.metrics["test_roc_auc"] > 0.65  # Contract drives churn in this table
    assert run.data.metrics["rows_test"] + run.data.metrics["rows_train"] < 2520


@pytest.mark.parametrize("args, message", [
    (["--label", "Churned"], "Churn"),  # no such column: the closest one is named
    (["--label", "Contract"], "binary"),  # three values
])
def test_a_missing_or_non_binary_label_is_one_clear_error(churn_csv, tmp_path, args, message):
    result = CliRunner().invoke(app, ["train", "--model", "renewal", "--table", str(churn_csv), *args,
                                      "--workspace", str(tmp_path / "ws"), *FAST])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_table_with_a_time_column_is_split_by_time_with_a_backtest(tmp_path):
    raw = telco(rows=3000, seed=8)
    months = pd.date_range("2022-01-01", periods=30, freq="MS")
    raw["snapshot"] = [f"{months[i % 30]:%Y-%m-%d}" for i in range(len(raw))]
    path = write(tmp_path, raw, "monthly.parquet")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["train", "--model", "renewal", "--table", str(path), "--label", "Churn",
                                      "--positive", "No", "--id", "customerID", "--time", "snapshot",
                                      "--workspace", str(ws), *FAST, "--set", "features.renewal_horizon_days=60",
                                      "--set", "training.evaluation.backtest_months=2"])
    assert result.exit_code == 0, result.output
    client = MlflowClient(tracking_uri=f"sqlite:///{(ws / 'mlflow.db').resolve()}")
    version = client.get_model_version_by_alias("signalscore-renewal-monthly", "champion")
    run = client.get_run(version.run_id)
    assert run.data.tags["split"] == "time" and run.data.tags["as_of_range"] == "2022-01-01..2024-06-01"
    assert "backtest.csv" in {a.path for a in client.list_artifacts(run.info.run_id)}
