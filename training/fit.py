"""Fit LightGBM on the training periods, stop early on the latest of them, calibrate on a later slice."""

from __future__ import annotations

import os
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.calibrate import choose_calibrator
from training.config import TrainingConfig
from training.model import CategoryEncoder, Scorer
from training.splits import TimeSplit

TUNABLE = ("learning_rate", "num_leaves", "min_child_samples", "feature_fraction", "bagging_fraction", "lambda_l2")


def lightgbm_params(cfg: TrainingConfig, n_train: int, tuned: dict | None = None) -> dict:
    """LightGBM parameters: the configured ones, overridden by tuned values.

    The leaf size is capped at 5% of the training rows so small data still splits.
    """
    chosen = {name: getattr(cfg.lightgbm, name) for name in TUNABLE} | (tuned or {})
    return {
        "objective": "binary",
        **chosen,
        "min_child_samples": max(5, min(int(chosen["min_child_samples"]), n_train // 20)),
        "bagging_freq": cfg.lightgbm.bagging_freq,
        "num_threads": cfg.threads,
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "feature_pre_filter": False,  # one Dataset serves trials with different leaf sizes
        "verbosity": -1,
    }


@dataclass
class FitData:
    """The encoded training and early-stopping sets, built once and shared by every tuning trial."""

    encoder: CategoryEncoder
    train: lgb.Dataset
    early_stop: lgb.Dataset
    n_train: int


def fit_data(frame: pd.DataFrame, split: TimeSplit, features: list[str], categorical: list[str]) -> FitData:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    y = frame["label"].to_numpy(dtype=np.float64)
    encoder = CategoryEncoder(categorical).fit(frame.loc[split.train, features])
    cat_idx = [features.index(c) for c in categorical]

    def dataset(mask: pd.Series, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        x = encoder.transform(frame.loc[mask], features)
        return lgb.Dataset(x, y[mask.to_numpy()], feature_name=features, categorical_feature=cat_idx,
                           reference=reference, free_raw_data=False, params={"feature_pre_filter": False})

    train = dataset(split.train)
    return FitData(encoder, train, dataset(split.early_stop, train), int(split.train.sum()))


def train_booster(data: FitData, cfg: TrainingConfig, tuned: dict | None = None,
                  callbacks: list | None = None) -> lgb.Booster:
    """One booster; early stopping on the later periods picks the number of trees."""
    return lgb.train(
        lightgbm_params(cfg, data.n_train, tuned), data.train, num_boost_round=cfg.lightgbm.max_rounds,
        valid_sets=[data.early_stop], valid_names=["early_stop"],
        callbacks=[lgb.early_stopping(cfg.lightgbm.early_stopping_rounds, verbose=False), *(callbacks or [])],
    )


def fit_scorer(frame: pd.DataFrame, split: TimeSplit, features: list[str], categorical: list[str],
               cfg: TrainingConfig, tuned: dict | None = None, data: FitData | None = None) -> tuple[Scorer, dict]:
    """The booster learns on `train`, picks its size on `early_stop` and is calibrated on `calibration`."""
    data = data or fit_data(frame, split, features, categorical)
    booster = train_booster(data, cfg, tuned)
    scorer = Scorer(booster, data.encoder, None, features, categorical)
    cal = frame.loc[split.calibration]
    calibrator, comparison = choose_calibrator(scorer.margin(cal), cal["label"].to_numpy(dtype=np.float64),
                                               cfg.calibration, cfg.seed)
    scorer.calibrator = calibrator
    info = {"best_iteration": booster.best_iteration, "num_trees": booster.num_trees(),
            "calibration_method": calibrator.method, "calibration_cv_log_loss": comparison}
    return scorer, info
