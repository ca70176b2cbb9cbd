"""The sales / nurture threshold for leads, chosen on validation data by a policy, not picked by hand.

The threshold is fitted on the calibration slice (after the training data, before the test), stored with the
model version, and judged on the hold-out like every other number: the share of leads routed to sales, and
how many of them convert.
"""

from __future__ import annotations

import numpy as np

from training.config import RoutingConfig


def choose_route_threshold(y: np.ndarray, p: np.ndarray, cfg: RoutingConfig) -> tuple[float, str]:
    """The threshold and a sentence saying how it was chosen."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    if cfg.policy == "capacity":
        threshold = float(np.quantile(p, 1 - cfg.sales_share, method="higher"))
        return threshold, f"sales takes the {cfg.sales_share:.0%} most likely leads (validation)"
    order = np.argsort(-p, kind="stable")
    precision = np.cumsum(y[order]) / np.arange(1, len(y) + 1)
    meets = np.flatnonzero(precision >= cfg.min_precision)
    if len(meets) == 0:
        best = int(np.argmax(precision))
        return float(p[order][best]), (f"no threshold reaches a {cfg.min_precision:.0%} conversion rate on validation; "
                                       f"the best, {precision[best]:.0%}, is used")
    deepest = int(meets[-1])  # the most leads that still convert at the required rate
    return float(p[order][deepest]), f"the most leads that convert at ≥ {cfg.min_precision:.0%} on validation"


def route_metrics(y: np.ndarray, p: np.ndarray, threshold: float, prefix: str = "route_test_") -> dict[str, float]:
    """On the hold-out: share routed to sales, their conversion rate, and the share of all converters they hold."""
    sales = np.asarray(p) >= threshold
    y = np.asarray(y, dtype=float)
    return {
        f"{prefix}sales_share": float(sales.mean()),
        f"{prefix}precision": float(y[sales].mean()) if sales.any() else float("nan"),
        f"{prefix}recall": float(y[sales].sum() / y.sum()) if y.sum() else float("nan"),
    }
