"""Splits keep a label horizon between periods; metrics match their definitions; configuration composes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from signalscore.config import ConfigError, flatten, load_settings
from training.calibrate import choose_calibrator
from training.config import CalibrationConfig, RoutingConfig
from training.evaluate import flagged, segment_table
from training.metrics import binary_metrics, expected_calibration_error, top_decile_lift, weighted_metrics
from training.routing import choose_route_threshold, route_metrics
from training.splits import SplitError, time_split


def _dates(n: int) -> pd.Series:
    months = pd.date_range("2023-02-01", periods=n, freq="MS", tz="UTC")
    return pd.Series(np.repeat(months, 3))


def test_time_split_leaves_a_label_horizon_between_periods():
    as_of = _dates(30)
    split = time_split(as_of, pd.Timedelta(days=180), test_periods=3, calibration_periods=3,
                       early_stopping_periods=1)
    d = split.dates
    assert d["test"] == sorted(as_of.unique())[-3:]
    assert d["calibration"][-1] <= d["test"][0] - pd.Timedelta(days=180)
    assert d["early_stop"][-1] <= d["calibration"][0] - pd.Timedelta(days=180)
    assert max(d["train"]) <= min(d["early_stop"]) - pd.Timedelta(days=180)
    masks = [split.train, split.early_stop, split.calibration, split.test]
    assert (sum(m.astype(int) for m in masks) <= 1).all()  # no row in two periods


def test_time_split_says_plainly_when_history_is_too_short():
    with pytest.raises(SplitError, match="too few"):
        time_split(_dates(8), pd.Timedelta(days=180), 3, 3, 1)


def test_metrics_follow_their_definitions():
    y = np.array([0, 0, 1, 1] * 50, dtype=float)
    perfect = y * 0.9 + 0.05
    m = binary_metrics(y, perfect, "test_")
    assert m["test_roc_auc"] == 1.0 and m["test_top_decile_lift"] == pytest.approx(2.0)
    assert expected_calibration_error(y, np.full(len(y), 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(len(y), 0.8)) == pytest.approx(0.3)
    assert math.isnan(top_decile_lift(np.zeros(10), np.arange(10.0)))  # no positives: lift is undefined


def test_settings_compose_defaults_file_and_overrides(tmp_path):
    path = tmp_path / "signalscore.yaml"
    path.write_text("training:\n  threads: 2\nfeatures:\n  generate:\n    seed: 11\n")
    settings = load_settings(path, ["training.lightgbm.num_leaves=63", "serving.route_to_sales_at=0.4"])
    assert settings.training.threads == 2 and settings.features.generate.seed == 11
    assert settings.training.lightgbm.num_leaves == 63 and settings.serving.route_to_sales_at == 0.4
    assert flatten(settings)["training.lightgbm.num_leaves"] == "63"
    with pytest.raises(ConfigError, match="tracks"):
        load_settings(None, ["training.tracks=1"])


def _margins(n: int, rng: np.random.Generator, truth) -> tuple[np.ndarray, np.ndarray]:
    margin = rng.normal(0, 2, n)
    return margin, (rng.random(n) < truth(margin)).astype(float)


def test_calibration_tries_isotonic_only_with_enough_of_both_outcomes():
    rng = np.random.default_rng(0)
    margin, y = _margins(600, rng, lambda m: 1 / (1 + np.exp(-m)))
    calibrator, losses = choose_calibrator(margin, y, CalibrationConfig(isotonic_min_class_rows=500), seed=0)
    assert calibrator.method == "sigmoid" and losses == {}  # ~300 positives: isotonic would overfit


def test_calibration_picks_the_method_with_the_lower_held_out_log_loss():
    rng = np.random.default_rng(1)
    step = lambda m: np.where(m > 0.5, 0.9, 0.2)  # noqa: E731 — a shape no sigmoid can follow
    margin, y = _margins(20_000, rng, step)
    calibrator, losses = choose_calibrator(margin, y, CalibrationConfig(), seed=0)
    assert calibrator.method == "isotonic" and losses["isotonic"] < losses["sigmoid"]
    margin, y = _margins(20_000, rng, lambda m: 1 / (1 + np.exp(-0.7 * m + 0.3)))
    calibrator, losses = choose_calibrator(margin, y, CalibrationConfig(), seed=0)
    assert calibrator.method == "sigmoid" and losses["sigmoid"] <= losses["isotonic"]


def test_weighted_metrics_equal_the_plain_ones_under_equal_weights():
    rng = np.random.default_rng(2)
    y = (rng.random(500) < 0.3).astype(float)
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.1, 500), 0.01, 0.99)
    plain = binary_metrics(y, p, "")
    weighted = weighted_metrics(y, p, np.full(500, 7.0), "")
    for key in weighted:
        assert weighted[key] == pytest.approx(plain[key])
    heavy_misses = np.where((y == 1) & (p < 0.3), 100.0, 1.0)  # big accounts the model got wrong
    assert weighted_metrics(y, p, heavy_misses, "")["roc_auc"] < plain["roc_auc"]


def test_segments_too_small_keep_counts_but_no_metrics():
    y = np.array([0, 1] * 150, dtype=float)
    p = np.linspace(0.1, 0.9, 300)
    segments = pd.DataFrame({"plan": ["starter"] * 250 + ["enterprise"] * 50})
    table = segment_table(y, p, segments, min_rows=100).set_index("value")
    assert table.loc["enterprise", "rows"] == 50 and np.isnan(table.loc["enterprise", "roc_auc"])
    assert 0 <= table.loc["starter", "roc_auc"] <= 1


def test_the_flagged_share_is_the_riskiest_for_the_event_a_team_acts_on():
    p = np.array([0.9, 0.1, 0.5, 0.3, 0.8])
    assert flagged(p, 0.4, event_label=0).tolist() == [False, True, False, True, False]  # churn: lowest renewal
    assert flagged(p, 0.4, event_label=1).tolist() == [True, False, False, False, True]  # conversion: highest


def test_the_route_threshold_follows_the_configured_policy():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 5000)
    y = (rng.random(5000) < p).astype(float)  # calibrated: a lead at p converts with probability p
    threshold, _ = choose_route_threshold(y, p, RoutingConfig(policy="capacity", sales_share=0.2))
    assert (p >= threshold).mean() == pytest.approx(0.2, abs=0.002)
    threshold, how = choose_route_threshold(y, p, RoutingConfig(policy="precision", min_precision=0.7))
    routed = route_metrics(y, p, threshold, "")
    assert routed["precision"] >= 0.7 and routed["sales_share"] > 0.5  # as many leads as still convert at 70%
    assert "70%" in how
    _, how = choose_route_threshold(np.zeros(100), np.linspace(0, 1, 100), RoutingConfig(policy="precision"))
    assert "no threshold reaches" in how
