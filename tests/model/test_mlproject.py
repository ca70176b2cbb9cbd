"""`mlflow run` drives the entry points: training logs into the run MLflow created and nests its own runs under it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_every_entry_point_is_declared_with_typed_parameters():
    spec = yaml.safe_load((ROOT / "MLproject").read_text())
    assert {"generate", "features", "train", "score", "report", "main"} <= set(spec["entry_points"])
    types = {p["type"] for e in spec["entry_points"].values() for p in e["parameters"].values()}
    assert "int" in types  # seeds and budgets are numbers, not strings


def test_mlflow_run_train_nests_the_training_run_under_the_project_run(small_company, tmp_path):
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    done = subprocess.run(
        [str(mlflow_cli), "run", str(ROOT), "-e", "train", "--env-manager", "local", "--experiment-name", "projects",
         "-P", f"data={small_company}", "-P", "model=renewal", "-P", "trials=2", "-P", f"workspace={tmp_path / 'ws'}"],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(tracking_uri=tracking)
    project = client.get_experiment_by_name("projects")
    (parent,) = client.search_runs([project.experiment_id])
    assert parent.data.params["trials"] == "2"  # MLflow's own record of the entry point's parameters
    child_id = parent.data.tags["renewal_run_id"]
    assert "renewal_test_roc_auc" in parent.data.metrics
    child = client.get_run(child_id)
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert client.get_experiment(child.info.experiment_id).name == "signalscore-renewal"
