"""Choose and fit the map from the booster's margin to a probability on the calibration slice.

Sigmoid (Platt) has two parameters and cannot overfit much; isotonic follows any monotone shape but needs
many positives and negatives to be steady. Which one is better is a question for held-out data, so both are
compared by log loss over folds of the calibration slice, and the winner is refitted on the whole slice.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from training.config import CalibrationConfig
from training.model import MarginCalibrator


def candidate_methods(y: np.ndarray, cfg: CalibrationConfig) -> list[str]:
    if cfg.method != "auto":
        return [cfg.method]
    smaller_class = int(min(y.sum(), len(y) - y.sum()))
    return ["sigmoid", "isotonic"] if smaller_class >= cfg.isotonic_min_class_rows else ["sigmoid"]


def cross_validated_log_loss(margin: np.ndarray, y: np.ndarray, method: str, folds: int, seed: int) -> float:
    out_of_fold = np.empty(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_rows in splitter.split(margin.reshape(-1, 1), y):
        calibrator = MarginCalibrator(method).fit(margin[fit_rows], y[fit_rows])
        out_of_fold[held_rows] = calibrator.predict(margin[held_rows])
    return float(log_loss(y, np.clip(out_of_fold, 1e-15, 1 - 1e-15), labels=[0, 1]))


def choose_calibrator(margin: np.ndarray, y: np.ndarray, cfg: CalibrationConfig,
                      seed: int) -> tuple[MarginCalibrator, dict[str, float]]:
    """The method with the lowest held-out log loss, refitted on the whole slice; and each method's loss."""
    methods = candidate_methods(y, cfg)
    if len(methods) == 1:
        return MarginCalibrator(methods[0]).fit(margin, y), {}
    losses = {m: cross_validated_log_loss(margin, y, m, cfg.folds, seed) for m in methods}
    best = min(methods, key=losses.__getitem__)
    return MarginCalibrator(best).fit(margin, y), losses
