"""Every figure draws, saves and leaves no global state behind: the artefacts are logged unattended in MLflow runs."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.special import expit

from training.metrics import expected_calibration_error
from training.plots import (
    _gains_curve,
    _sample_rows,
    backtest_figure,
    evaluation_figure,
    gains_figure,
    reliability_figure,
    shap_summary_figures,
    study_figures,
)

matplotlib.use("Agg")  # only study_figures touches pyplot; keep it headless whatever the environment says
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _saves(fig: Figure, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=40)
    assert path.stat().st_size > 1000


def _outcome(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, an over-confident raw score and its calibrated version."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(-2.0, 1.2, n)
    y = (rng.random(n) < expit(logit)).astype(float)
    return y, expit(1.7 * logit + 0.5), expit(logit)


def test_evaluation_figure_keeps_its_pipeline_signature(tmp_path: Path) -> None:
    y, raw, calibrated = _outcome()
    assert len(evaluation_figure(y, calibrated).axes) == 2
    fig = evaluation_figure(y, calibrated, oracle=raw)
    assert len(fig.axes) == 2
    _saves(fig, tmp_path, "evaluation")


def test_reliability_figure_reports_each_ece(tmp_path: Path) -> None:
    y, raw, calibrated = _outcome()
    fig = reliability_figure(y, raw, calibrated, bins=10)
    assert len(fig.axes) == 2  # diagram and prediction histogram
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(f"{expected_calibration_error(y, raw, 10):.4f}" in t and "before" in t for t in legend)
    assert any(f"{expected_calibration_error(y, calibrated, 10):.4f}" in t and "after" in t for t in legend)
    _saves(fig, tmp_path, "reliability")


def test_gains_curve_runs_from_nothing_to_everything_and_treats_ties_fairly() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0], dtype=float)
    targeted, captured = _gains_curve(y, y.copy())  # the oracle: all positives within the first 30%
    assert (targeted[0], captured[0], targeted[-1], captured[-1]) == (0, 0, 1, 1)
    assert np.interp(0.3, targeted, captured) == pytest.approx(1.0)
    targeted, captured = _gains_curve(y, np.zeros_like(y))  # one tie group: exactly the random line
    np.testing.assert_allclose(captured, targeted)


def test_gains_figure_draws_every_scorer(tmp_path: Path) -> None:
    y, raw, calibrated = _outcome()
    scores = {"LightGBM": calibrated, "logistic regression": raw + 0.01, "scorecard": np.round(raw * 5),
              "oracle": y + calibrated}
    fig = gains_figure(y, scores)
    assert len(fig.axes) == 2
    gains_legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert gains_legend == [*scores, "random targeting"]
    _saves(fig, tmp_path, "gains")
    with pytest.raises(ValueError, match="positive"):
        gains_figure(np.zeros(10), {"model": np.arange(10.0)})


def _shap_inputs(n: int = 400, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(seed)
    names = [f"feature_{i}" for i in range(8)]
    contrib = pd.DataFrame(rng.normal(size=(n, 8)) * np.linspace(1.0, 0.1, 8), columns=names)
    values = pd.DataFrame(rng.normal(size=(n, 8)), columns=names)
    values.loc[::5, "feature_0"] = np.nan  # partly missing
    values["feature_1"] = rng.choice(["enterprise", "smb", None], n)  # categorical, strings and missing
    values["feature_2"] = np.nan  # entirely missing
    values["feature_3"] = pd.array(rng.integers(0, 3, n), dtype="Int64")  # nullable integer
    values.loc[::7, "feature_3"] = pd.NA
    values["unused"] = 1.0  # extra columns in values are ignored
    groups = {n: ("Fit" if i < 3 else "Engagement") for i, n in enumerate(names[:6])}  # two left ungrouped
    return contrib, values, groups


def test_shap_summary_figures_handle_missing_and_string_values(tmp_path: Path) -> None:
    contrib, values, groups = _shap_inputs()
    before = np.random.get_state()[1].copy()
    by_feature, by_group = shap_summary_figures(contrib, values, groups, max_features=5)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # shap's global jitter RNG is restored
    assert len(by_feature.axes) == 2  # beeswarm and its colour bar
    labels = [t.get_text() for t in by_feature.axes[0].get_yticklabels()]
    assert labels[-1] == "feature_0" and labels[0] == "sum of 3 other features"
    assert len(by_group.axes) == 2  # mean |group| bars and the per-row swarm
    bar_labels = {t.get_text() for t in by_group.axes[0].get_yticklabels()}
    assert bar_labels == {"Fit", "Engagement", "(ungrouped)"}
    _saves(by_feature, tmp_path, "shap_features")
    _saves(by_group, tmp_path, "shap_groups")


def test_shap_summary_rejects_misaligned_inputs() -> None:
    contrib, values, groups = _shap_inputs()
    with pytest.raises(ValueError, match="rows"):
        shap_summary_figures(contrib, values.iloc[:-1], groups)
    with pytest.raises(ValueError, match="lacks"):
        shap_summary_figures(contrib, values.drop(columns="feature_4"), groups)


def test_beeswarm_sample_is_deterministic_and_bounded() -> None:
    first = _sample_rows(50_000)
    assert len(first) == 5000 and np.all(np.diff(first) > 0)
    np.testing.assert_array_equal(first, _sample_rows(50_000))
    np.testing.assert_array_equal(_sample_rows(30), np.arange(30))


def test_backtest_figure_with_missing_oracle_and_text_months(tmp_path: Path) -> None:
    table = pd.DataFrame({
        "month": ["2024-03", "2024-01", "2024-02"],  # out of order on purpose
        "roc_auc": [0.74, 0.71, 0.73],
        "oracle_roc_auc": [np.nan, np.nan, np.nan],
        "catch_rate": [0.31, 0.0, 0.28],
        "flag_share": [0.1, 0.1, 0.12],
    })
    fig = backtest_figure(table)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["2024-01", "2024-02", "2024-03"]
    assert len(fig.axes[0].get_legend().get_texts()) == 2  # no oracle entry when it is all missing
    _saves(fig, tmp_path, "backtest")
    timestamps = table.drop(columns="oracle_roc_auc").assign(month=pd.to_datetime(table["month"]))
    _saves(backtest_figure(timestamps), tmp_path, "backtest_timestamps")


def _study(trials: int) -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2 + t.suggest_int("depth", 2, 6), n_trials=trials)
    return study


def test_study_figures_leave_pyplot_empty(tmp_path: Path) -> None:
    from matplotlib import pyplot as plt

    open_before = plt.get_fignums()
    figures = study_figures(_study(5))
    assert {"history", "importance"} <= set(figures)
    assert plt.get_fignums() == open_before
    for name, fig in figures.items():
        assert isinstance(fig, Figure) and fig.axes
        _saves(fig, tmp_path, f"study_{name}")


def test_study_figures_with_one_trial_give_only_history(tmp_path: Path) -> None:
    figures = study_figures(_study(1))
    assert set(figures) == {"history"}
    assert len(figures["history"].axes) == 1
    _saves(figures["history"], tmp_path, "study_history_one")


def test_study_figures_leave_the_process_style_alone() -> None:
    """optuna switches pyplot to ggplot; the next model's figures must not inherit it."""
    before = dict(matplotlib.rcParams)
    study_figures(_study(5))
    assert matplotlib.rcParams["axes.facecolor"] == before["axes.facecolor"]
    assert dict(matplotlib.rcParams) == before
