"""Training a data scientist can trust: reproducible, compared with baselines, promoted only when better.

One small generated company; the conversion training set is built once and trained several times under
different registered names, so each test sees the registry state it needs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from features.dataset import build_dataset, default_as_ofs, model_features
from features.sources import read_truth
from signalscore.cli import app
from signalscore.config import flatten, load_settings
from signalscore.journey import label_horizon_days, open_for
from signalscore.workspace import Workspace
from training.pipeline import TrainingData, train_model
from training.registry import champion_history

pytestmark = pytest.mark.slow
FAST = ["training.threads=1", "training.tuning.trials=3", "training.evaluation.backtest_months=2"]


@pytest.fixture(scope="module")
def conversion_set(small_company):
    settings = load_settings(None, FAST)
    source = open_for(settings, small_company, "conversion")
    dataset = build_dataset(source, "conversion", default_as_ofs(source, settings.features), settings.features,
                            labelled_only=True)
    return settings, dataset, read_truth(small_company, "conversion")


def _train(settings, dataset, truth, ws: Workspace, name: str, only: list[str] | None = None):
    """Train under `name`; `only` limits the model to a few weak features: a clearly worse model."""
    ws.connect_mlflow()
    catalog = model_features("conversion", only)
    td = TrainingData(dataset, "conversion", catalog, label_horizon_days(settings, "conversion"), truth=truth)
    return train_model(td, settings.training, registered_name=name, artifact_root=ws.artifacts,
                       study_storage=ws.studies_url, params=flatten(settings))


WEAK = ["country", "seniority"]


@pytest.fixture(scope="module")
def first(conversion_set, tmp_path_factory):
    settings, dataset, truth = conversion_set
    ws = Workspace(tmp_path_factory.mktemp("first") / "ws")
    return ws, _train(settings, dataset, truth, ws, "conv")


def test_same_seed_data_and_budget_give_identical_metrics(conversion_set, first, tmp_path):
    settings, dataset, truth = conversion_set
    again = _train(settings, dataset, truth, Workspace(tmp_path / "fresh"), "conv")
    assert again.metrics["tuning_trials_run"] == 3  # a fresh workspace searched again...
    assert again.metrics == first[1].metrics  # ...and found the same model


def test_a_rerun_in_the_same_workspace_resumes_the_finished_study(conversion_set, first):
    settings, dataset, truth = conversion_set
    ws, before = first
    rerun = _train(settings, dataset, truth, ws, "conv-rerun")
    assert rerun.metrics["tuning_trials_run"] == 0
    assert rerun.metrics["test_roc_auc"] == before.metrics["test_roc_auc"]


def test_the_run_answers_a_reviewers_questions(first):
    _, result = first
    client = MlflowClient()
    run = client.get_run(result.run_id)
    metrics, tags, params = run.data.metrics, run.data.tags, run.data.params
    for prefix in ("test_", "baseline_logreg_", "baseline_scorecard_", "oracle_"):
        assert {f"{prefix}roc_auc", f"{prefix}brier", f"{prefix}ece"} <= set(metrics)
    assert {"test_top_decile_capture", "test_ece_uncalibrated", "rows_test"} <= set(metrics)
    assert {"data_fingerprint", "git_commit", "as_of_range", "catalog_hash", "calibration_method",
            "promotion"} <= set(tags)
    assert "training.tuning.trials" in params and "lightgbm.num_leaves" in params
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"model_card.md", "evaluation.png", "reliability.png", "gains.png", "shap_by_feature.png",
            "shap_by_group.png", "segments.csv", "backtest.csv", "backtest.png", "catalog.json",
            "tuning_trials.csv", "tuning_history.png"} <= artifacts
    card = Path(client.download_artifacts(result.run_id, "model_card.md")).read_text()
    assert f"{metrics['test_roc_auc']:.3f}" in card and "logistic regression" in card and "Backtest" in card


def test_the_model_beats_both_baselines_and_the_scorecard_clearly(first):
    m = first[1].metrics
    assert m["test_roc_auc"] >= m["baseline_logreg_roc_auc"] - 0.01  # small data: at least on par
    assert m["test_roc_auc"] >= m["baseline_scorecard_roc_auc"] + 0.02


def test_a_better_challenger_is_promoted_and_a_worse_one_is_not(conversion_set, tmp_path):
    settings, dataset, truth = conversion_set
    ws = Workspace(tmp_path / "ws")
    weak = _train(settings, dataset, truth, ws, "conv-ladder", only=WEAK)
    assert weak.promoted and weak.version == "1"  # the first is champion by default
    better = _train(settings, dataset, truth, ws, "conv-ladder")
    assert better.promoted and "beats" in better.promotion_reason
    worse = _train(settings, dataset, truth, ws, "conv-ladder", only=WEAK)
    assert not worse.promoted and "does not beat" in worse.promotion_reason
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("conv-ladder", "champion").version) == better.version
    assert str(client.get_model_version_by_alias("conv-ladder", "challenger").version) == worse.version
    run = client.get_run(worse.run_id)
    assert run.data.tags["promoted"] == "false" and "does not beat" in run.data.tags["promotion"]


def test_promote_and_rollback_move_the_champion_with_a_note(conversion_set, tmp_path):
    settings, dataset, truth = conversion_set
    ws = Workspace(tmp_path / "ws")
    for only in (None, WEAK):
        _train(settings, dataset, truth, ws, "conv-hand", only=only)
    runner = CliRunner()
    common = ["--model", "conversion", "--model-name", "conv-hand", "--workspace", str(ws.root)]
    promoted = runner.invoke(app, ["promote", *common, "--version", "2", "--note", "reviewed by hand"])
    assert promoted.exit_code == 0, promoted.output
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("conv-hand", "champion").version) == "2"
    back = runner.invoke(app, ["rollback", *common, "--note", "v2 looked wrong in the CRM"])
    assert back.exit_code == 0, back.output
    assert str(client.get_model_version_by_alias("conv-hand", "champion").version) == "1"
    history = champion_history(client, "conv-hand")
    assert [h["version"] for h in history] == ["1", "2", "1"]
    assert history[-1]["note"] == "v2 looked wrong in the CRM" and "rolled back" in history[-1]["how"]
    missing = runner.invoke(app, ["promote", *common, "--version", "9", "--note", "x"])
    assert missing.exit_code == 2 and "no version 9" in missing.output
    json.dumps(history)  # the history stays plain JSON for other tools
