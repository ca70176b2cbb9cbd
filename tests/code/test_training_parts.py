"""Splits keep a label horizon between periods; metrics match their definitions; configuration composes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from signalscore.config import ConfigError, flatten, load_settings
from training.metrics import binary_metrics, expected_calibration_error, top_decile_lift
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
