"""Everything a reviewer reads in the MLflow run: pictures, tables and a short model card.

The card is written from the same numbers that are logged as metrics, so the two cannot disagree.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from features.catalog import Feature
from training.config import TrainingConfig
from training.plots import (
    backtest_figure,
    evaluation_figure,
    gains_figure,
    reliability_figure,
    shap_summary_figures,
    study_figures,
)
from training.splits import TimeSplit
from training.tune import TuningResult


@dataclass
class Evaluation:
    model: str
    catalog: list[Feature]
    test: pd.DataFrame
    y: np.ndarray
    p: np.ndarray
    p_raw: np.ndarray
    oracle: np.ndarray | None
    baselines: dict[str, np.ndarray]
    baseline_details: dict
    explained: pd.DataFrame
    segments: pd.DataFrame
    backtest: pd.DataFrame
    tuning: TuningResult
    split: TimeSplit
    metrics: dict[str, float]
    calibration_method: str
    notes: list[str]
    params: dict
    cfg: TrainingConfig
    promotion: tuple[bool, str] = (False, "")
    figures: dict[str, Figure] = field(default_factory=dict)


def figures(ev: Evaluation) -> dict[str, Figure]:
    names = [f.name for f in ev.catalog]
    contrib = ev.explained[[f"contrib_{n}" for n in names]].set_axis(names, axis=1)
    by_feature, by_group = shap_summary_figures(contrib, ev.test[names], {f.name: f.group for f in ev.catalog})
    scores = {"LightGBM": ev.p, **ev.baselines}
    if ev.oracle is not None:
        scores["oracle"] = ev.oracle
    out = {"evaluation": evaluation_figure(ev.y, ev.p, ev.oracle),
           "reliability": reliability_figure(ev.y, ev.p_raw, ev.p, ev.cfg.ece_bins),
           "gains": gains_figure(ev.y, scores), "shap_by_feature": by_feature, "shap_by_group": by_group}
    if not ev.backtest.empty and "roc_auc" in ev.backtest:
        tested = ev.backtest.dropna(subset=["roc_auc"])
        if not tested.empty:
            out["backtest"] = backtest_figure(tested)
    if ev.tuning.study is not None:
        out |= {f"tuning_{k}": v for k, v in study_figures(ev.tuning.study).items()}
    return out


def log_evaluation(ev: Evaluation, split_dates: dict) -> None:
    """Write the artifacts into a temporary folder and log them into the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name, fig in figures(ev).items():
            fig.savefig(out / f"{name}.png", dpi=100, bbox_inches="tight")
        (out / "catalog.json").write_text(json.dumps([asdict(f) for f in ev.catalog], indent=2, default=str))
        (out / "split.json").write_text(json.dumps(split_dates, indent=2))
        ev.segments.to_csv(out / "segments.csv", index=False)
        if not ev.backtest.empty:
            ev.backtest.to_csv(out / "backtest.csv", index=False)
        if ev.tuning.study is not None:
            ev.tuning.study.trials_dataframe().to_csv(out / "tuning_trials.csv", index=False)
            (out / "tuning_summary.json").write_text(json.dumps(tuning_summary(ev.tuning), indent=2))
        (out / "baselines.json").write_text(json.dumps(ev.baseline_details, indent=2, default=str))
        (out / "model_card.md").write_text(model_card(ev))
        mlflow.log_artifacts(str(out))


def tuning_summary(tuning: TuningResult) -> dict:
    """The study in a few numbers: how many trials finished or were pruned, and the best one."""
    study = tuning.study
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    return {"study": study.study_name, "trials": len(study.trials), "states": states,
            "run_now": tuning.trials_run, "stopped_by_time_cap": tuning.stopped_by_time,
            "best_trial": study.best_trial.number, "best_validation_log_loss": study.best_value,
            "best_params": study.best_trial.params,
            "best_iteration": study.best_trial.user_attrs.get("best_iteration")}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _comparison(m: dict[str, float]) -> str:
    rows = [("LightGBM (calibrated)", "test_"), ("logistic regression", "baseline_logreg_"),
            ("rule scorecard", "baseline_scorecard_"), ("oracle (generator's truth)", "oracle_")]
    lines = ["| scorer | ROC AUC | PR AUC | Brier | log loss | ECE | top-decile lift | top-decile capture |",
             "|---|---|---|---|---|---|---|---|"]
    for label, prefix in rows:
        if f"{prefix}roc_auc" not in m:
            continue
        cells = [_fmt(m.get(f"{prefix}{k}"), 4 if k in ("brier", "ece") else 3)
                 for k in ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "top_decile_lift", "top_decile_capture")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    shown = [c for c in columns if c in frame.columns]
    if frame.empty or not shown:
        return "(none)"
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for _, row in frame[shown].iterrows():
        cells = [_fmt(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _routing(m: dict[str, float]) -> str:
    if "route_threshold" not in m:
        return ""
    return (f"\nRouting to sales at probability ≥ {m['route_threshold']:.3f} (chosen on the calibration slice): on the "
            f"hold-out {m['route_test_sales_share']:.0%} of leads go to sales, {_fmt(m['route_test_precision'], 2)} "
            f"of them convert, and they hold {_fmt(m['route_test_recall'], 2)} of all converters.\n")


def model_card(ev: Evaluation) -> str:
    """A one-page summary: what the model is for, what it was trained on, how good it is and where it is weak."""
    m = ev.metrics
    dates = {k: [f"{d:%Y-%m-%d}" for d in v] for k, v in ev.split.dates.items()}
    span = {k: f"{v[0]} … {v[-1]} ({len(v)} dates)" if v else "random rows" for k, v in dates.items()}
    purpose = ("probability that an open lead converts within the label horizon" if ev.model == "conversion"
               else "probability that a customer account renews (×100: the health score)")
    promoted, reason = ev.promotion
    groups = sorted({f.group for f in ev.catalog})
    weighted = ""
    if "test_arr_weighted_roc_auc" in m:
        weighted = (f"\nARR-weighted (each account weighs its ARR): ROC AUC {_fmt(m['test_arr_weighted_roc_auc'])}, "
                    f"Brier {_fmt(m['test_arr_weighted_brier'], 4)}, ECE {_fmt(m['test_arr_weighted_ece'], 4)}.\n")
    notes = "\n".join(f"- {n}" for n in ev.notes) or "- none"
    return f"""# Model card: {ev.model}

**Predicts** the {purpose}. Inputs: {len(ev.catalog)} features in the factor groups {", ".join(groups)}.
**Decision:** {"champion" if promoted else "challenger only"} — {reason}.

## Data and split
- train: {span["train"]}, {int(m["rows_train"]):,} rows
- early stopping / tuning validation: {span["early_stop"]}, {int(m["rows_early_stop"]):,} rows
- calibration: {span["calibration"]}, {int(m["rows_calibration"]):,} rows
- hold-out test: {span["test"]}, {int(m["rows_test"]):,} rows, positive rate {_fmt(m["test_positive_rate"])}

## Training
- LightGBM, {int(m["best_iteration"])} trees (early stopping); tuned with Optuna TPE (seed {ev.cfg.seed}),
  {ev.cfg.tuning.trials} trials budget, {int(m["tuning_trials_run"])} run now.
- parameters: {", ".join(f"{k}={_fmt(v, 4) if isinstance(v, float) else v}" for k, v in ev.params.items()
                           if k in ("learning_rate", "num_leaves", "min_child_samples", "feature_fraction",
                                    "bagging_fraction", "lambda_l2"))}
- calibration: {ev.calibration_method} on the calibration slice; hold-out ECE {_fmt(m["test_ece_uncalibrated"], 4)}
  before, {_fmt(m["test_ece"], 4)} after.

## Hold-out performance
{_comparison(m)}
{weighted}{_routing(m)}
## By segment
{_table(ev.segments, ["segment", "value", "rows", "positive_rate", "mean_probability", "roc_auc", "brier", "ece"])}

## Backtest (each month scored by a model trained only on labels closed before it)
{_table(ev.backtest, ["month", "trained_through", "rows", "events", "flagged", "caught", "catch_rate",
                      "roc_auc", "oracle_roc_auc", "skipped"])}

## Notes and limits
{notes}
- Scores are calibrated on recent data; a market shift after the calibration slice shows up as a rising ECE.
- Explanations are TreeSHAP contributions in log-odds, rescaled to points in serving; they describe the model,
  not causes.
"""
