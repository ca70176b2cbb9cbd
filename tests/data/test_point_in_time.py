"""No feature sees data at or after its as_of, and nothing under _truth/ or any label reaches a feature.

The full data contains everything up to the horizon; the cut data is what existed at as_of. Identical
feature values on both prove that nothing later leaked in, whatever the feature's definition.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cut import cut_at
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from features.config import FeaturesConfig
from features.contract import ENTITY_OF_MODEL, MODELS
from features.dataset import build_dataset, model_features
from features.engine import build_features
from features.labels import month_starts
from features.sources import open_data


def _write(tables: dict[str, pd.DataFrame], root, meta: str) -> None:
    root.mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_parquet(root / f"{name}.parquet", index=False)
    (root / "_meta.json").write_text(meta)


@pytest.mark.parametrize("model", MODELS)
def test_features_equal_on_data_cut_at_as_of(small_company, model):
    """A property over as_of dates (any day, any time of day): full data and data cut at as_of agree."""
    full = open_data(small_company)
    tables = {name: pd.read_parquet(path) for name, path in full.tables.items()}
    meta = (small_company / "_meta.json").read_text()
    start = pd.Timestamp(full.meta["start"])
    days = (full.horizon - start).days
    cfg = FeaturesConfig()

    @settings(max_examples=4, deadline=None, derandomize=True)
    @given(day=st.integers(min_value=60, max_value=days - 1), second=st.integers(0, 86399))
    def check(day: int, second: int) -> None:
        as_of = start + pd.Timedelta(days=day, seconds=second)
        on_full = build_dataset(full, model, [as_of], cfg).drop(columns="label")
        assume(len(on_full) > 20)
        later_rows = sum(int((t[_time(n)] >= as_of).sum()) for n, t in tables.items())
        assert later_rows > 0  # the full data really does hold the future
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "cut"
            _write(cut_at(tables, as_of), root, meta)
            on_cut = build_features(open_data(root), on_full[["entity_id", "as_of"]], ENTITY_OF_MODEL[model],
                                    model_features(model))
        pd.testing.assert_frame_equal(on_full.reset_index(drop=True), on_cut.reset_index(drop=True),
                                      check_dtype=False, check_exact=False, rtol=1e-12)

    check()


def _time(name: str) -> str:
    from features.contract import TABLES

    return TABLES[name].event_time


@pytest.mark.parametrize("model", MODELS)
def test_truth_and_labels_never_reach_features(small_company, tmp_path, model):
    copy = tmp_path / "copy"
    shutil.copytree(small_company, copy)
    shutil.rmtree(copy / "_truth")
    cfg = FeaturesConfig()
    with_truth = open_data(small_company)
    as_ofs = month_starts(pd.Timestamp(with_truth.meta["start"]), with_truth.horizon)[6:9]
    a = build_dataset(with_truth, model, as_ofs, cfg)
    b = build_dataset(open_data(copy), model, as_ofs, cfg)
    pd.testing.assert_frame_equal(a, b)
    names = [f.name for f in model_features(model)]
    assert "label" not in names and not {"p_true", "outcome", "converted_at"} & set(names)
    # A feature that copied the label would be perfectly correlated with it.
    labelled = a[a.label.notna()]
    for name in names:
        column = labelled[name]
        if column.dtype == object or column.nunique() < 2:
            continue
        assert abs(np.corrcoef(column.fillna(column.median()), labelled.label)[0, 1]) < 0.95, name
