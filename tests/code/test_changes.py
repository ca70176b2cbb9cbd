"""What changed since the entity's previous score: by factor group and by the features that moved most."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.special import expit

from features.catalog import features_for
from serving.batch import POINTS, VALUE, assemble_with_details
from serving.config import ServingConfig

CATALOG = features_for("account")
NAMES = [f.name for f in CATALOG]


def _frame(n: int, logins: float) -> pd.DataFrame:
    frame = pd.DataFrame({f.name: np.ones(n) for f in CATALOG if not f.categorical})
    for f in CATALOG:
        if f.categorical:
            frame[f.name] = "growth"
    frame["logins_30d"] = logins
    frame.insert(0, "entity_id", [f"A{i}" for i in range(n)])
    frame.insert(1, "as_of", pd.Timestamp("2025-06-01", tz="UTC"))
    return frame


def _output(n: int, logins_push: float) -> pd.DataFrame:
    """Every feature pushes a little; logins push by `logins_push` log-odds."""
    contrib = np.full((n, len(NAMES)), 0.01)
    contrib[:, NAMES.index("logins_30d")] = logins_push
    out = pd.DataFrame(contrib, columns=[f"contrib_{c}" for c in NAMES])
    out["probability"] = expit(contrib.sum(axis=1) + 1.0)
    out["expected_value"] = 1.0
    out["baseline_probability"] = expit(1.0)
    return out


def _score(frame: pd.DataFrame, output: pd.DataFrame, previous=None, previous_details=None):
    return assemble_with_details(frame, output, model="renewal", version="1", catalog=CATALOG, cfg=ServingConfig(),
                                 previous=previous, previous_details=previous_details)


def test_the_feature_that_moved_the_score_is_named_with_its_values_then_and_now():
    n = 20
    first, first_details = _score(_frame(n, logins=40.0), _output(n, 0.5))
    assert first.change_reasons.isna().all()  # nothing to compare with yet
    assert {POINTS + "logins_30d", VALUE + "logins_30d"} <= set(first_details.columns)
    second, _ = _score(_frame(n, logins=3.0), _output(n, -0.8), first, first_details)
    assert np.allclose(second.score_change, second.score - first.score) and (second.score_change < 0).all()
    change = json.loads(second.change_reasons.iloc[0])
    assert change["groups"][0]["group"] == "Product Usage" and change["groups"][0]["points"] < 0
    top = change["features"][0]
    assert top["feature"] == "logins_30d" and top["before"] == 40.0 and top["after"] == 3.0
    assert top["points"] < 0  # fewer logins took points away
    assert len(change["features"]) <= 3


def test_entities_new_since_the_last_run_have_no_change():
    first, first_details = _score(_frame(5, 10.0), _output(5, 0.2))
    grown = pd.concat([_frame(5, 10.0), _frame(2, 10.0).assign(entity_id=["NEW1", "NEW2"])], ignore_index=True)
    second, _ = _score(grown, _output(7, 0.2), first, first_details)
    assert second.score_change.iloc[:5].notna().all() and second.score_change.iloc[5:].isna().all()
    assert second.change_reasons.iloc[5:].isna().all()
    unchanged = json.loads(second.change_reasons.iloc[0])
    assert unchanged["features"] == []  # same values, same points: no feature moved
