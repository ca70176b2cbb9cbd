"""Fit LightGBM on the training periods, stop early on the latest of them, calibrate on a later slice."""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.config import TrainingConfig
from training.model import CategoryEncoder, MarginCalibrator, Scorer
from training.splits import TimeSplit


def lightgbm_params(cfg: TrainingConfig, n_train: int) -> dict:
    """LightGBM parameters; the leaf size is capped at 5% of the training rows so small data still splits."""
    p = cfg.lightgbm
    return {
        "objective": "binary",
        "learning_rate": p.learning_rate,
        "num_leaves": p.num_leaves,
        "min_child_samples": max(5, min(p.min_child_samples, n_train // 20)),
        "feature_fraction": p.feature_fraction,
        "bagging_fraction": p.bagging_fraction,
        "bagging_freq": p.bagging_freq,
        "lambda_l2": p.lambda_l2,
        "num_threads": cfg.threads,
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def fit_scorer(frame: pd.DataFrame, split: TimeSplit, features: list[str], categorical: list[str],
               cfg: TrainingConfig) -> tuple[Scorer, dict]:
    """The booster learns on `train`, picks its size on `early_stop` and is calibrated on `calibration`."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    y = frame["label"].to_numpy(dtype=np.float64)
    encoder = CategoryEncoder(categorical).fit(frame.loc[split.train, features])
    cat_idx = [features.index(c) for c in categorical]

    def dataset(mask: pd.Series, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        x = encoder.transform(frame.loc[mask], features)
        return lgb.Dataset(x, y[mask.to_numpy()], feature_name=features, categorical_feature=cat_idx,
                           reference=reference, free_raw_data=False)

    train_set = dataset(split.train)
    stop_set = dataset(split.early_stop, train_set)
    booster = lgb.train(
        lightgbm_params(cfg, int(split.train.sum())), train_set, num_boost_round=cfg.lightgbm.max_rounds,
        valid_sets=[stop_set],
        callbacks=[lgb.early_stopping(cfg.lightgbm.early_stopping_rounds, verbose=False)],
    )
    booster.free_dataset()
    method = "sigmoid" if cfg.calibration.method == "auto" else cfg.calibration.method
    scorer = Scorer(booster, encoder, MarginCalibrator(method), features, categorical)
    cal = frame.loc[split.calibration]
    scorer.calibrator.fit(scorer.margin(cal), y[split.calibration.to_numpy()])
    info = {"best_iteration": booster.best_iteration, "num_trees": booster.num_trees()}
    return scorer, info
