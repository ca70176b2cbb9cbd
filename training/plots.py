"""Pictures a reviewer would rather look at than read: ROC and reliability on the hold-out."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from training.metrics import equal_count_bins


def _reliability(y: np.ndarray, p: np.ndarray, bins: int = 15) -> tuple[np.ndarray, np.ndarray]:
    bin_of = equal_count_bins(p, bins)
    chunks = [bin_of == b for b in np.unique(bin_of)]
    return np.array([p[c].mean() for c in chunks]), np.array([y[c].mean() for c in chunks])


def evaluation_figure(y: np.ndarray, p: np.ndarray, oracle: np.ndarray | None = None) -> Figure:
    """A bare Figure (no pyplot): no global backend state, safe in servers and tests."""
    fig = Figure(figsize=(10, 4.5))
    roc_ax, rel_ax = fig.subplots(1, 2)
    for name, scores, style in (("model", p, "-"), ("oracle", oracle, "--")):
        if scores is None:
            continue
        fpr, tpr, _ = roc_curve(y, scores)
        roc_ax.plot(fpr, tpr, style, label=name)
        mean_p, rate = _reliability(y, scores)
        rel_ax.plot(mean_p, rate, style + "o", ms=4, label=name)
    roc_ax.plot([0, 1], [0, 1], ":", color="grey")
    roc_ax.set(title="ROC on the time hold-out", xlabel="false positive rate", ylabel="true positive rate")
    rel_ax.plot([0, 1], [0, 1], ":", color="grey")
    rel_ax.set(title="Reliability (15 equal-count bins)", xlabel="mean predicted", ylabel="observed rate")
    roc_ax.legend()
    rel_ax.legend()
    fig.tight_layout()
    return fig
