"""Points add up to the score, keep each feature's sign, and reasons read as sentences with real values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.special import expit

from features.catalog import features_for
from serving.batch import assemble
from serving.config import ServingConfig
from serving.explain import feature_points, sentence

CATALOG = features_for("account")
NAMES = [f.name for f in CATALOG]


def _fake_output(n: int, seed: int = 0) -> pd.DataFrame:
    """Model output shaped like the pyfunc's: log-odds contributions, a monotone calibration."""
    rng = np.random.default_rng(seed)
    contrib = rng.normal(0, 0.4, size=(n, len(NAMES)))
    expected = np.full(n, 1.7)
    margin = contrib.sum(axis=1) + expected
    out = pd.DataFrame(contrib, columns=[f"contrib_{c}" for c in NAMES])
    out["probability"] = expit(0.9 * margin + 0.1)
    out["expected_value"] = expected
    out["baseline_probability"] = expit(0.9 * expected + 0.1)
    return out


def test_points_add_up_to_score_minus_baseline_on_every_row():
    output = _fake_output(5000)
    points, score, baseline = feature_points(output, NAMES)
    assert np.abs(points.sum(axis=1) - (score - baseline)).max() < 1e-9
    contrib = output[[f"contrib_{c}" for c in NAMES]].to_numpy()
    assert (np.sign(points.to_numpy()) == np.sign(contrib)).mean() > 0.999


def _features_frame(n: int) -> pd.DataFrame:
    frame = pd.DataFrame({f.name: np.arange(n, dtype=float) for f in CATALOG if not f.categorical})
    for f in CATALOG:
        if f.categorical:
            frame[f.name] = "growth" if f.name == "plan" else "a category"
    frame["latest_nps"] = np.nan
    frame.insert(0, "entity_id", [f"A{i}" for i in range(n)])
    frame.insert(1, "as_of", pd.Timestamp("2025-06-01", tz="UTC"))
    return frame


def test_group_points_add_up_and_reasons_carry_values():
    n = 200
    table = assemble(_features_frame(n), _fake_output(n), model="renewal", version="3", catalog=CATALOG,
                     cfg=ServingConfig())
    groups = [c for c in table.columns if c.startswith("points_")]
    assert set(groups) == {"points_product_usage", "points_support_history", "points_service_utilization",
                           "points_customer_feedback", "points_commercial", "points_marketing_engagement"}
    gap = table[groups].sum(axis=1) - (table.score - table.baseline_score)
    assert gap.abs().max() < 1e-9
    assert table.baseline_score.nunique() == 1
    first = json.loads(table.reasons.iloc[5])
    points = [r["points"] for r in first]
    negatives = [p for p in points if p < 0]
    assert points[: len(negatives)] == negatives  # negative reasons come first
    for reason in first:
        if reason["feature"] == "latest_nps":
            assert reason["sentence"] == "No NPS answer in the last year"
        elif reason["feature"] == "logins_30d":
            assert reason["sentence"] == "5 logins in the last 30 days"
    assert set(table.band) <= {"healthy", "at_risk", "critical"}
    assert table.score_change.isna().all()


def test_sentences_use_the_entity_values_and_say_when_data_is_missing():
    by_name = {f.name: f for f in CATALOG}
    assert sentence(by_name["logins_30d"], 12.0) == "12 logins in the last 30 days"
    assert sentence(by_name["active_users_per_seat"], 0.25) == "25% of seats active in the last 30 days"
    assert sentence(by_name["plan"], "enterprise") == "On the enterprise plan"
    assert sentence(by_name["mean_csat_90d"], float("nan")) == "No CSAT rating in the last 90 days"


def test_score_change_against_the_previous_run():
    n = 50
    frame = _features_frame(n)
    first = assemble(frame, _fake_output(n, seed=1), model="renewal", version="1", catalog=CATALOG,
                     cfg=ServingConfig())
    second = assemble(frame, _fake_output(n, seed=2), model="renewal", version="1", catalog=CATALOG,
                      cfg=ServingConfig(), previous=first)
    assert np.allclose(second.score_change, second.score - first.score)
    moved = json.loads(second.change_reasons.iloc[0])
    assert 1 <= len(moved) <= 3 and {"group", "points"} <= set(moved[0])
