"""The whole journey on a small generated company: train, register, serve through the pyfunc, score, write.

Slow-ish (a minute): both models are trained once per module and shared by the tests below.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from features.contract import MODELS
from serving.batch import SCORE_COLUMNS, TAIL_COLUMNS
from serving.scoring import load_serving_model, model_inputs
from serving.sinks import count_rows
from signalscore.cli import app
from signalscore.config import load_settings
from signalscore.journey import ScoreRequest, run_features, run_score, run_train
from signalscore.workspace import REGISTERED_NAME, Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(small_company, tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("ws") / "workspace")
    settings = load_settings(None, ["training.threads=1", "training.tuning.trials=3",
                                    "training.evaluation.backtest_months=2"])
    results = {m: run_train(settings, ws, m, small_company) for m in MODELS}
    return ws, settings, results


@pytest.mark.parametrize("model", MODELS)
def test_model_beats_a_constant_predictor_on_its_hold_out(trained, model):
    m = trained[2][model].metrics
    assert m["test_brier"] < m["baseline_constant_brier"]
    assert m["test_log_loss"] < m["baseline_constant_log_loss"]
    assert m["test_roc_auc"] > 0.65
    assert 0.5 < m["oracle_roc_auc"] <= 1.0  # the generator's truth scored the same rows


@pytest.mark.parametrize("model", MODELS)
def test_first_model_of_a_name_becomes_champion(trained, model):
    result = trained[2][model]
    client = MlflowClient()
    assert result.promoted and result.version == "1"
    assert str(client.get_model_version_by_alias(REGISTERED_NAME[model], "champion").version) == "1"
    run = client.get_run(result.run_id)
    assert {"test_roc_auc", "test_pr_auc", "test_brier", "test_log_loss", "test_ece", "test_top_decile_lift",
            "oracle_roc_auc", "oracle_brier", "oracle_ece"} <= set(run.data.metrics)


def test_pyfunc_takes_features_as_written_and_returns_contributions(trained, small_company):
    ws, settings, _ = trained
    ws.connect_mlflow()
    pyfunc, _ = load_serving_model(REGISTERED_NAME["renewal"], "champion")
    frame = run_features(settings, small_company, "renewal", ["2024-06-01"])
    names = model_inputs(pyfunc)
    assert names == [c for c in frame.columns if c not in ("entity_id", "as_of", "label")]
    rows = frame[names].head(50).copy()
    rows.loc[rows.index[0], "plan"] = "a plan never seen in training"
    rows.loc[rows.index[1], "plan"] = None
    out = pyfunc.predict(rows)
    contrib = out[[f"contrib_{n}" for n in names]].to_numpy()
    assert {"probability", "expected_value"} <= set(out.columns)
    assert out.probability.between(0, 1).all() and np.isfinite(contrib).all()
    # Higher total contribution means a higher probability: the calibration is monotone.
    margin = contrib.sum(axis=1) + out.expected_value
    assert (np.diff(out.probability.to_numpy()[np.argsort(margin)]) >= -1e-12).all()


def test_score_writes_the_serving_table_and_the_crm_idempotently(trained, small_company):
    ws = trained[0]
    runner = CliRunner()
    base = ["--workspace", str(ws.root)]
    first = runner.invoke(app, ["score", "--model", "renewal", "--data", str(small_company), "--as-of",
                                "2025-10-01", "--sink", ws.crm_url, *base])
    assert first.exit_code == 0, first.output
    counts = []
    for _ in range(2):
        again = runner.invoke(app, ["score", "--model", "renewal", "--data", str(small_company), "--sink",
                                    ws.crm_url, *base])
        assert again.exit_code == 0, again.output
        counts.append(count_rows(ws.crm_url, "renewal"))
    horizon = json.loads((small_company / "_meta.json").read_text())["horizon"][:10]
    table = pd.read_parquet(ws.scores("renewal") / f"{horizon}.parquet")
    earlier = pd.read_parquet(ws.scores("renewal") / "2025-10-01.parquet")
    groups = [c for c in table.columns if c.startswith("points_")]
    assert list(table.columns) == SCORE_COLUMNS + groups + TAIL_COLUMNS
    assert table.entity_id.is_unique and len(table) > 50
    assert (table[groups].sum(axis=1) - (table.score - table.baseline_score)).abs().max() < 1e-9
    # One row per entity ever scored (accounts that churned since keep their last score); a rerun adds none.
    assert counts[0] == counts[1] == len(set(table.entity_id) | set(earlier.entity_id))
    assert table.score_change.notna().mean() > 0.5  # most accounts were scored a quarter earlier
    reasons = json.loads(table.reasons.iloc[0])
    assert reasons and all({"feature", "group", "value", "points", "sentence"} <= set(r) for r in reasons)
    changed = table[table.score_change.abs() > 1].iloc[0]
    shown = runner.invoke(app, ["explain", changed.entity_id, "--model", "renewal", *base])
    assert shown.exit_code == 0, shown.output
    assert f"score {changed.score:.1f}" in shown.output and "What changed since 2025-10-01" in shown.output
    assert json.loads(changed.reasons)[0]["sentence"] in shown.output
    moved = json.loads(changed.change_reasons)["features"]
    assert moved and moved[0]["feature"] in shown.output


def test_dry_run_writes_nothing(trained, small_company):
    ws, settings, _ = trained
    before = sorted(ws.scores("conversion").glob("*")) if ws.scores("conversion").exists() else []
    result = run_score(settings, ws, ScoreRequest("conversion", small_company, dry_run=True, sinks=(ws.crm_url,)))
    assert len(result.table) > 0 and result.written == {}
    after = sorted(ws.scores("conversion").glob("*")) if ws.scores("conversion").exists() else []
    assert before == after


def test_a_retrain_that_does_not_beat_the_champion_stays_challenger(trained, small_company):
    ws, settings, _ = trained
    again = run_train(settings, ws, "conversion", small_company)
    client = MlflowClient()
    assert again.version == "2" and not again.promoted  # same data and seed: equal, not better
    assert str(client.get_model_version_by_alias(REGISTERED_NAME["conversion"], "champion").version) == "1"
    assert str(client.get_model_version_by_alias(REGISTERED_NAME["conversion"], "challenger").version) == "2"
    assert "does not beat" in again.promotion_reason


def test_runs_and_artifacts_stay_inside_the_workspace(trained):
    ws, _, results = trained
    run = MlflowClient().get_run(results["renewal"].run_id)
    assert run.info.artifact_uri.startswith(ws.artifacts.resolve().as_uri())
    assert (ws.artifacts / "signalscore-renewal").is_dir()
