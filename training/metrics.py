"""Hold-out metrics under the names of the model contract, shared by the model, the baselines and the oracle."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """ECE over equal-count bins: the weighted gap between mean prediction and observed rate.

    Tied predictions share a bin (the bin of their first position), so the figure does not depend on the
    order of rows that the model cannot tell apart.
    """
    bin_of = equal_count_bins(p, bins)
    gaps = [abs(p[bin_of == b].mean() - y[bin_of == b].mean()) * (bin_of == b).sum() for b in np.unique(bin_of)]
    return float(np.sum(gaps) / len(p))


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


def binary_metrics(y: np.ndarray, p: np.ndarray, prefix: str, bins: int = 15) -> dict[str, float]:
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 1e-15, 1 - 1e-15)
    return {
        f"{prefix}roc_auc": float(roc_auc_score(y, p)),
        f"{prefix}pr_auc": float(average_precision_score(y, p)),
        f"{prefix}brier": float(brier_score_loss(y, p)),
        f"{prefix}log_loss": float(log_loss(y, p, labels=[0, 1])),
        f"{prefix}ece": expected_calibration_error(y, p, bins),
        f"{prefix}top_decile_lift": top_decile_lift(y, p),
    }
