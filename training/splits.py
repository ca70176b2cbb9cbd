"""Time splits with a gap of one label horizon, so no training label overlaps the period it is judged on.

A prepared table without a time column cannot be split by time; `random_split` then splits at random, stratified by
label, and keeps identical rows together so a memorised row cannot score itself on the test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.config import TrainingConfig

PARTS = ("train", "early_stop", "calibration", "test")


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
               early_stopping_periods: int, early_stop_gap: bool = True) -> TimeSplit:
    """[train] gap [early stop] gap [calibration] gap [test], newest dates last.

    The gap before the early-stopping periods keeps the validation honest: consecutive monthly snapshots of
    the same account are nearly the same row, so a validation set right after the training periods rewards
    models that memorise accounts (small leaves, many trees) — and tuning would chase that.
    """
    dates = sorted(pd.Series(as_of.unique()))
    test = dates[-test_periods:]
    calibration = [d for d in dates if d <= test[0] - gap][-calibration_periods:]
    before_calibration = [d for d in dates if calibration and d <= calibration[0] - gap]
    early = before_calibration[-early_stopping_periods:]
    before_early = [d for d in before_calibration if d not in early]
    train = [d for d in before_early if d <= early[0] - gap] if early_stop_gap and early else before_early
    if not train or len(early) < early_stopping_periods or len(calibration) < calibration_periods:
        gaps = 3 if early_stop_gap else 2
        raise SplitError(
            f"{len(dates)} labelled as-of dates ({dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}) are too few "
            f"for training, {early_stopping_periods} early-stopping, {calibration_periods} calibration and "
            f"{test_periods} test periods separated by {gaps} gaps of {gap.days} days (the label horizon); "
            "use more history or fewer periods (training.test_periods, training.calibration_periods, "
            "training.early_stopping_periods)"
        )
    named = {"train": train, "early_stop": early, "calibration": calibration, "test": test}
    masks = {k: as_of.isin(v) for k, v in named.items()}
    return TimeSplit(dates=named, **masks)


def split_by_time(as_of: pd.Series, gap: pd.Timedelta, cfg: TrainingConfig,
                  test_periods: int | None = None) -> TimeSplit:
    """The configured time split; the backtest passes `test_periods=1` to test one month at a time."""
    return time_split(as_of, gap, test_periods or cfg.test_periods, cfg.calibration_periods,
                      cfg.early_stopping_periods, cfg.early_stopping_gap)


def row_keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One 64-bit hash per row of `columns`: equal rows get equal keys (missing values hash alike).

    Pass the feature columns (not the label) so that rows a model cannot tell apart stay on one side of the split
    even when their labels differ; add entity_id to keep every snapshot of one entity together.
    """
    return pd.util.hash_pandas_object(frame[columns], index=False)


def random_split(y: np.ndarray | pd.Series, row_keys: pd.Series,
                 fractions: tuple[float, float, float, float] = (0.6, 0.1, 0.15, 0.15),
                 seed: int = 0) -> tuple[TimeSplit, int]:
    """Train / early stop / calibration / test at random, stratified by label, whole groups of equal keys at a time.

    Returns the split (masks indexed like `row_keys`; `dates` holds empty lists, as there are no dates) and the
    number of rows whose key some other row shares. Groups are ordered by key before the seeded shuffle, so the
    result depends on the rows and the seed, not on the order of the rows. A group whose rows disagree on the label
    is stratified by its majority label (a tie counts as negative).
    """
    labels = np.asarray(y, dtype="float64")
    keys = row_keys if isinstance(row_keys, pd.Series) else pd.Series(row_keys)
    shares = np.asarray(fractions, dtype="float64")
    if len(labels) != len(keys):
        raise ValueError(f"{len(labels)} labels but {len(keys)} row keys")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1 (drop rows with a missing label first)")
    if shares.shape != (len(PARTS),) or (shares <= 0).any() or not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"fractions must be four positive shares adding up to 1, got {fractions}")
    codes, uniques = pd.factorize(keys, sort=True, use_na_sentinel=False)
    size = np.bincount(codes, minlength=len(uniques))
    positives = np.bincount(codes, weights=labels, minlength=len(uniques))
    majority = (2 * positives > size).astype(int)
    rng = np.random.default_rng(seed)
    part_of_group = np.zeros(len(uniques), dtype=int)
    for stratum in (0, 1):
        order = rng.permutation(np.flatnonzero(majority == stratum))
        part_of_group[order] = _fill_parts(size[order], shares)
    part = part_of_group[codes]

    pos = np.array([int(labels[part == k].sum()) for k in range(len(PARTS))])
    neg = np.array([int((part == k).sum()) for k in range(len(PARTS))]) - pos
    if (pos == 0).any() or (neg == 0).any():
        counts = ", ".join(f"{name} {p}+/{n}-" for name, p, n in zip(PARTS, pos, neg, strict=True))
        raise SplitError(
            f"{int(labels.sum())} positive and {int(len(labels) - labels.sum())} negative rows (in {len(uniques)} "
            f"groups of identical rows) are too few for a random split that gives train, early stop, calibration "
            f"and test at least one of each ({counts})"
        )
    masks = {name: pd.Series(part == k, index=keys.index) for k, name in enumerate(PARTS)}
    duplicates = int(size[size > 1].sum())
    return TimeSplit(dates={name: [] for name in PARTS}, **masks), duplicates


def _fill_parts(sizes: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """The part of each group, in the given (shuffled) order: each part receives about its share of the rows.

    A group goes to the part its middle row falls in; with at least one group per part, an empty part then takes
    the smallest group of the part that is furthest over its share, so small strata still reach every part.
    """
    if len(sizes) == 0:
        return np.zeros(0, dtype=int)
    total = sizes.sum()
    middle = (np.cumsum(sizes) - sizes / 2) / total
    parts = np.searchsorted(np.cumsum(shares)[:-1], middle, side="right")
    if len(sizes) >= len(shares):
        for empty in range(len(shares)):
            if (parts == empty).any():
                continue
            rows = np.bincount(parts, weights=sizes, minlength=len(shares))
            groups = np.bincount(parts, minlength=len(shares))
            surplus = np.where(groups > 1, rows - shares * total, -np.inf)
            donor = np.flatnonzero(parts == int(np.argmax(surplus)))
            parts[donor[np.argmin(sizes[donor])]] = empty
    return parts
