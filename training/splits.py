"""Time splits with a gap of one label horizon, so no training label overlaps the period it is judged on."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


class SplitError(ValueError):
    """Too few labelled periods to train, calibrate and test with the gaps the labels need."""


@dataclass(frozen=True)
class TimeSplit:
    train: pd.Series  # boolean masks over the labelled rows
    early_stop: pd.Series
    calibration: pd.Series
    test: pd.Series
    dates: dict[str, list[pd.Timestamp]]


def time_split(as_of: pd.Series, gap: pd.Timedelta, test_periods: int, calibration_periods: int,
               early_stopping_periods: int) -> TimeSplit:
    """[train | early stop] gap [calibration] gap [test], newest dates last."""
    dates = sorted(pd.Series(as_of.unique()))
    need = test_periods + calibration_periods + early_stopping_periods + 1
    test = dates[-test_periods:]
    calibration = [d for d in dates if d <= test[0] - gap][-calibration_periods:]
    fit = [d for d in dates if calibration and d <= calibration[0] - gap]
    if len(fit) <= early_stopping_periods or len(calibration) < calibration_periods:
        raise SplitError(
            f"{len(dates)} labelled as-of dates ({dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}) are too few "
            f"for {test_periods} test + {calibration_periods} calibration + training periods separated by "
            f"gaps of {gap.days} days (need at least {need} dates spread over more time)"
        )
    early = fit[-early_stopping_periods:]
    train = fit[:-early_stopping_periods]
    named = {"train": train, "early_stop": early, "calibration": calibration, "test": test}
    masks = {k: as_of.isin(v) for k, v in named.items()}
    return TimeSplit(dates=named, **masks)
