"""Configuration owned by `training/`: splits, LightGBM, calibration and the registry rules."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LightGBMConfig(_Section):
    """Fixed, sensible parameters; early stopping picks the number of trees.

    Small trees with large leaves: deeper ones learn to recognise individual accounts by their
    firmographics and ARR, which does not carry over to the next months.
    """

    learning_rate: float = Field(0.05, gt=0)
    max_rounds: int = Field(2000, ge=1)
    num_leaves: int = Field(7, ge=2)
    min_child_samples: int = Field(400, ge=1, description="capped at 5% of the training rows")
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(100, ge=1)


class RoutingConfig(_Section):
    """How the lead route (sales / nurture) threshold is chosen on the calibration slice, stored with the model.

    `capacity`: sales takes the `sales_share` of leads most likely to convert; `precision`: the lowest threshold
    whose leads convert at `min_precision` or better (so sales is not flooded with cold leads).
    """

    policy: Literal["capacity", "precision"] = "capacity"
    sales_share: float = Field(0.2, gt=0, lt=1, description="capacity: share of open leads sales can take")
    min_precision: float = Field(0.3, gt=0, lt=1, description="precision: conversion rate the sales route must reach")


class RegistryConfig(_Section):
    """When a new version takes the champion alias from the current one."""

    min_roc_auc_gain: float = Field(0.0, description="a challenger must beat the champion's hold-out ROC AUC by this")
    max_ece: float = Field(0.05, ge=0, description="a challenger with a worse hold-out ECE is never promoted")


class TuningConfig(_Section):
    """Optuna's search. The trial budget decides the result; the time cap only stops a runaway search."""

    trials: int = Field(25, ge=0, description="trials per study; 0 trains with the fixed lightgbm parameters")
    timeout_minutes: float | None = Field(60, gt=0, description="safety cap; hitting it is logged as a warning")
    startup_trials: int = Field(8, ge=1, description="random trials before TPE starts modelling")
    pruning: bool = Field(True, description="stop trials whose validation loss trails the median early")
    resume: bool = Field(True, description="continue a study stored in the workspace for the same data and space")


class CalibrationConfig(_Section):
    """Fitted on a time slice after the training data; `auto` picks by cross-validated log loss on that slice."""

    method: Literal["auto", "sigmoid", "isotonic"] = "auto"
    isotonic_min_class_rows: int = Field(500, ge=1, description="isotonic needs this many positives and negatives")
    folds: int = Field(5, ge=2, description="folds over the calibration slice that compare the methods")


class BaselinesConfig(_Section):
    """What the model must beat on the same hold-out: a logistic regression and a rule scorecard."""

    logreg_c: float = Field(1.0, gt=0, description="inverse L2 strength of the logistic regression")
    scorecard_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "Fit": 0.5, "Engagement": 0.5,
            "Product Usage": 0.35, "Support History": 0.15, "Service Utilization": 0.1,
            "Customer Feedback": 0.2, "Commercial": 0.2, "Marketing Engagement": 0.0,
        },
        description="weight of each factor group in the scorecard; groups not listed weigh as the mean weight",
    )


class EvaluationConfig(_Section):
    """Slices of the hold-out and the rolling backtest."""

    segments: dict[str, list[str]] = Field(
        default_factory=lambda: {"conversion": ["industry", "lead_source", "employee_band"],
                                 "renewal": ["plan", "industry", "segment"]},
        description="columns the hold-out metrics are also reported by (features or entity attributes)",
    )
    weight_column: dict[str, str] = Field(default_factory=lambda: {"renewal": "arr"},
                                          description="a column whose value weighs each row (ARR for renewal)")
    min_segment_rows: int = Field(100, ge=1, description="smaller segments are reported without metrics")
    backtest_months: int = Field(6, ge=0, description="latest labelled months each tested by a model trained before")
    flag_share: float = Field(0.2, gt=0, lt=1, description="share of entities a team acts on: the flagged ones")


class TrainingConfig(_Section):
    seed: int = 42
    threads: int = Field(1, ge=1, description="LightGBM threads; 1 keeps a shared 2-core machine responsive")
    test_periods: int = Field(3, ge=1, description="latest labelled as-of dates held out for the test")
    calibration_periods: int = Field(3, ge=1, description="as-of dates, after a gap, that fit the calibration")
    early_stopping_periods: int = Field(3, ge=1, description="latest training as-of dates used to stop early")
    early_stopping_gap: bool = Field(True, description="a label horizon between training and early-stopping periods")
    ece_bins: int = Field(15, ge=2)
    lightgbm: LightGBMConfig = LightGBMConfig()
    tuning: TuningConfig = TuningConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    routing: RoutingConfig = RoutingConfig()
    registry: RegistryConfig = RegistryConfig()

