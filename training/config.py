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


class RegistryConfig(_Section):
    """When a new version takes the champion alias from the current one."""

    min_roc_auc_gain: float = Field(0.0, description="a challenger must beat the champion's hold-out ROC AUC by this")
    max_ece: float = Field(0.05, ge=0, description="a challenger with a worse hold-out ECE is never promoted")


class TrainingConfig(_Section):
    seed: int = 42
    threads: int = Field(1, ge=1, description="LightGBM threads; 1 keeps a shared 2-core machine responsive")
    test_periods: int = Field(3, ge=1, description="latest labelled as-of dates held out for the test")
    calibration_periods: int = Field(3, ge=1, description="as-of dates, after a gap, that fit the calibration")
    early_stopping_periods: int = Field(3, ge=1, description="latest training as-of dates used to stop early")
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"
    ece_bins: int = Field(15, ge=2)
    lightgbm: LightGBMConfig = LightGBMConfig()
    registry: RegistryConfig = RegistryConfig()

