"""Hold-out metrics under the names of the model contract, shared by the model, the baselines and the oracle."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15, weight: np.ndarray | None = None) -> float:
    """ECE over equal-count bins: the weighted gap between mean prediction and observed rate.

    Tied predictions share a bin (the bin of their first position), so the figure does not depend on the
    order of rows that the model cannot tell apart.
    """
    w = np.ones(len(p)) if weight is None else np.asarray(weight, dtype=float)
    bin_of = equal_count_bins(p, bins)
    gaps = []
    for b in np.unique(bin_of):
        inside = bin_of == b
        mass = w[inside].sum()
        if mass > 0:
            gaps.append(abs(np.average(p[inside], weights=w[inside]) - np.average(y[inside], weights=w[inside])) * mass)
    return float(np.sum(gaps) / w.sum())


def equal_count_bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Bin index per prediction: equal counts by rank, ties kept together."""
    order = np.argsort(p, kind="stable")
    sorted_p = p[order]
    position_bin = (np.arange(len(p)) * bins) // max(len(p), 1)
    _, first, inverse = np.unique(sorted_p, return_index=True, return_inverse=True)
    out = np.empty(len(p), dtype=np.int64)
    out[order] = position_bin[first][inverse]
    return out


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Positive rate among the top 10% of scores over the overall positive rate."""
    n = max(1, int(np.ceil(0.1 * len(p))))
    top = np.argsort(-p, kind="stable")[:n]
    return float(y[top].mean() / y.mean()) if y.mean() > 0 else float("nan")


def top_decile_capture(y: np.ndarray, p: np.ndarray) -> float:
    """Share of all positives found in the top 10% of scores: what a team working that list would catch."""
    n = max(1, int(np.ceil(0.1 * len(p))))
    top = np.argsort(-p, kind="stable")[:n]
    return float(y[top].sum() / y.sum()) if y.sum() > 0 else float("nan")


def binary_metrics(y: np.ndarray, p: np.ndarray, prefix: str, bins: int = 15) -> dict[str, float]:
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 1e-15, 1 - 1e-15)
    both = 0 < y.sum() < len(y)  # ranking metrics need both outcomes among the rows
    return {
        f"{prefix}roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        f"{prefix}pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        f"{prefix}brier": float(brier_score_loss(y, p)),
        f"{prefix}log_loss": float(log_loss(y, p, labels=[0, 1])),
        f"{prefix}ece": expected_calibration_error(y, p, bins),
        f"{prefix}top_decile_lift": top_decile_lift(y, p),
        f"{prefix}top_decile_capture": top_decile_capture(y, p),
    }


def weighted_metrics(y: np.ndarray, p: np.ndarray, weight: np.ndarray, prefix: str,
                     bins: int = 15) -> dict[str, float]:
    """The same metrics with each row weighted (by ARR for renewal): losing a large account costs more."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 1e-15, 1 - 1e-15)
    w = np.nan_to_num(np.asarray(weight, dtype=float), nan=0.0).clip(min=0)
    return {
        f"{prefix}roc_auc": float(roc_auc_score(y, p, sample_weight=w)),
        f"{prefix}pr_auc": float(average_precision_score(y, p, sample_weight=w)),
        f"{prefix}brier": float(brier_score_loss(y, p, sample_weight=w)),
        f"{prefix}log_loss": float(log_loss(y, p, sample_weight=w, labels=[0, 1])),
        f"{prefix}ece": expected_calibration_error(y, p, bins, w),
    }
