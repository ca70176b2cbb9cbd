"""Without a time column the split is random but stratified, seeded, and never separates identical rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.splits import PARTS, SplitError, random_split, row_keys


def table(rows: int = 2000, copies: int = 0, seed: int = 1) -> pd.DataFrame:
    """Distinct rows, with a 20% positive rate, and `copies` extra copies of the first rows."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "plan": rng.choice(["a", "b", None], rows),
                          "label": (rng.random(rows) < 0.2).astype(float)})
    return pd.concat([frame, frame.head(copies)], ignore_index=True)


def masks(split) -> list[pd.Series]:
    return [getattr(split, name) for name in PARTS]


def test_fractions_are_met_and_every_row_is_in_one_part():
    frame = table()
    split, duplicates = random_split(frame.label, row_keys(frame, ["x", "plan"]))
    parts = masks(split)
    assert duplicates == 0 and split.dates == {name: [] for name in PARTS}
    assert (sum(m.astype(int) for m in parts) == 1).all()
    for mask, share in zip(parts, (0.6, 0.1, 0.15, 0.15), strict=True):
        assert mask.mean() == pytest.approx(share, abs=0.01)


def test_each_part_keeps_the_overall_positive_rate():
    frame = table()
    split, _ = random_split(frame.label.to_numpy(), row_keys(frame, ["x", "plan"]), seed=7)
    overall = frame.label.mean()
    for mask in masks(split):
        assert frame.label[mask].mean() == pytest.approx(overall, abs=0.01)


def test_identical_rows_stay_together_and_are_counted():
    frame = table(copies=150)
    frame.loc[len(frame) - 1, "label"] = 1 - frame.loc[0, "label"]  # identical features, another label
    keys = row_keys(frame, ["x", "plan"])
    split, duplicates = random_split(frame.label, keys, seed=3)
    assert duplicates == 300
    part = np.select(masks(split), range(len(PARTS)))
    assert (pd.Series(part).groupby(keys.to_numpy()).nunique() == 1).all()


def test_the_same_seed_gives_the_same_split_whatever_the_row_order():
    frame = table(copies=40)
    keys = row_keys(frame, ["x", "plan"])
    first, _ = random_split(frame.label, keys, seed=5)
    again, _ = random_split(frame.label, keys, seed=5)
    other, _ = random_split(frame.label, keys, seed=6)
    assert all(a.equals(b) for a, b in zip(masks(first), masks(again), strict=True))
    assert not first.test.equals(other.test)
    shuffled = frame.sample(frac=1, random_state=0)
    moved, _ = random_split(shuffled.label, row_keys(shuffled, ["x", "plan"]).set_axis(shuffled.index), seed=5)
    assert moved.test.sort_index().equals(first.test)


def test_small_strata_still_reach_every_part_or_fail_plainly():
    frame = table(rows=200)
    frame["label"] = 0.0
    frame.loc[:3, "label"] = 1.0  # four positives: one for each part
    split, _ = random_split(frame.label, row_keys(frame, ["x", "plan"]))
    assert all(frame.label[m].sum() == 1 for m in masks(split))
    frame.loc[3, "label"] = 0.0
    with pytest.raises(SplitError, match="too few"):
        random_split(frame.label, row_keys(frame, ["x", "plan"]))
