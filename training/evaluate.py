"""What a reviewer asks of a model beyond one hold-out number: which segments it fails, and the backtest.

The backtest replays the past: for each of the latest labelled months, a model is trained only on snapshots
whose labels had closed before that month's gap, with the tuned parameters, then scored on that month. The
question it answers is the one a customer-success lead asks: would last quarter's churners (or a sales lead:
converters) have been flagged?
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from training.config import TrainingConfig
from training.fit import fit_scorer
from training.metrics import binary_metrics
from training.splits import SplitError, split_by_time

SEGMENT_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "top_decile_lift")


def segment_table(y: np.ndarray, p: np.ndarray, segments: pd.DataFrame, min_rows: int, bins: int = 15,
                  oracle: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (segment column, value) with the hold-out metrics; small segments keep counts only."""
    rows = []
    for column in segments.columns:
        values = segments[column].astype(object).where(segments[column].notna(), "(missing)").astype(str)
        for value in sorted(values.unique()):
            inside = (values == value).to_numpy()
            row = {"segment": column, "value": value, "rows": int(inside.sum()),
                   "positive_rate": float(y[inside].mean()), "mean_probability": float(p[inside].mean())}
            if inside.sum() >= min_rows:
                m = binary_metrics(y[inside], p[inside], "", bins)
                row |= {k: m[k] for k in SEGMENT_METRICS}
                if oracle is not None:
                    row["oracle_roc_auc"] = binary_metrics(y[inside], oracle[inside], "o_", bins)["o_roc_auc"]
            rows.append(row)
    return pd.DataFrame(rows)


def flagged(p: np.ndarray, share: float, event_label: int) -> np.ndarray:
    """The `share` of entities most likely to have the event (churn: lowest renewal probability)."""
    risk = p if event_label == 1 else 1 - p
    n = max(1, int(np.ceil(share * len(p))))
    out = np.zeros(len(p), dtype=bool)
    out[np.argsort(-risk, kind="stable")[:n]] = True
    return out


def rolling_backtest(labelled: pd.DataFrame, features: list[str], categorical: list[str], cfg: TrainingConfig,
                     gap: pd.Timedelta, tuned: dict, event_label: int, oracle: pd.Series | None = None,
                     progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per tested month: rows, events, how many of them the flagged share caught, and the metrics."""
    months = sorted(labelled.as_of.unique())[-cfg.evaluation.backtest_months:] if cfg.evaluation.backtest_months else []
    rows = []
    for i, month in enumerate(months, 1):
        if progress is not None:
            progress(f"backtest: month {i}/{len(months)} ({pd.Timestamp(month):%Y-%m})")
        rows.append(_backtest_month(labelled, pd.Timestamp(month), features, categorical, cfg, gap, tuned,
                                    event_label, oracle))
    return pd.DataFrame(rows)


def _backtest_month(labelled: pd.DataFrame, month: pd.Timestamp, features: list[str], categorical: list[str],
                    cfg: TrainingConfig, gap: pd.Timedelta, tuned: dict, event_label: int,
                    oracle: pd.Series | None) -> dict:
    past = labelled[labelled.as_of <= month]
    row: dict = {"month": f"{month:%Y-%m-%d}", "flag_share": cfg.evaluation.flag_share}
    try:
        split = split_by_time(past.as_of, gap, cfg, test_periods=1)
    except SplitError as error:
        return row | {"skipped": str(error).split(" (")[0]}
    scorer, _ = fit_scorer(past, split, features, categorical, cfg, tuned)
    test = past[split.test]
    y = test.label.to_numpy(dtype=float)
    p = scorer.predict_proba(test)
    events = y == event_label
    hit = flagged(p, cfg.evaluation.flag_share, event_label)
    m = binary_metrics(y, p, "", cfg.ece_bins)
    row |= {"trained_through": split.dates["train"][-1].strftime("%Y-%m-%d"), "rows": len(test),
            "events": int(events.sum()), "flagged": int(hit.sum()), "caught": int((hit & events).sum()),
            "catch_rate": float((hit & events).sum() / max(events.sum(), 1)),
            "roc_auc": m["roc_auc"], "brier": m["brier"], "ece": m["ece"]}
    if oracle is not None:
        o = oracle.loc[test.index].to_numpy()
        row["oracle_roc_auc"] = binary_metrics(y, o, "", cfg.ece_bins)["roc_auc"]
        row["oracle_catch_rate"] = float((flagged(o, cfg.evaluation.flag_share, event_label) & events).sum()
                                         / max(events.sum(), 1))
    return row
