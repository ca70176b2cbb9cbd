"""Points that add up: TreeSHAP contributions rescaled from log-odds to score points.

The model's contributions add up to `margin − expected_value` in log-odds; the score is 100 × g(margin) for
a monotone calibration g. Multiplying every contribution by (score − baseline_score) / (margin −
expected_value) keeps each feature's share and sign and makes the points add up to the score exactly.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd

from features.catalog import Feature

CONTRIB = "contrib_"


def group_column(group: str) -> str:
    return "points_" + re.sub(r"[^a-z0-9]+", "_", group.lower()).strip("_")


def feature_points(output: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Per-feature points, the score and the baseline score, all float64."""
    contrib = output[[CONTRIB + f for f in features]].to_numpy(dtype=np.float64)
    score = 100.0 * output["probability"].to_numpy(dtype=np.float64)
    baseline = 100.0 * output["baseline_probability"].to_numpy(dtype=np.float64)
    log_odds = contrib.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(np.abs(log_odds) > 1e-12, (score - baseline) / log_odds, 0.0)
    points = contrib * scale[:, None]
    # Rounding leaves ~1e-14; hand it to the largest point so the sum is exact to the last bit that matters.
    residual = (score - baseline) - points.sum(axis=1)
    largest = np.abs(points).argmax(axis=1)
    points[np.arange(len(points)), largest] += residual
    frame = pd.DataFrame(points, columns=features, index=output.index)
    return frame, pd.Series(score, index=output.index), pd.Series(baseline, index=output.index)


def group_points(points: pd.DataFrame, catalog: list[Feature]) -> pd.DataFrame:
    groups = {f.name: f.group for f in catalog if f.name in points.columns}
    ordered = list(dict.fromkeys(groups.values()))
    summed = points.T.groupby(pd.Series(groups)).sum().T
    return pd.DataFrame({group_column(g): summed[g].astype("float64") for g in ordered}, index=points.index)


def sentence(feature: Feature, value: object) -> str:
    """The catalog's sentence with the entity's own value; a missing value says so instead of pretending 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return feature.missing or f"No data: {feature.description.lower()}"
    try:
        return feature.template.format(value=value)
    except (ValueError, TypeError):
        return feature.template.replace(":.0f", "").replace(":.1f", "").format(value=value)


def _plain(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def reasons(points: pd.DataFrame, values: pd.DataFrame, catalog: list[Feature], top: int) -> list[str]:
    """A JSON list per row: the `top` most negative reasons first, then the `top` most positive."""
    by_name = {f.name: f for f in catalog}
    names = np.array(points.columns)
    matrix = points.to_numpy()
    out = []
    for i, row in enumerate(matrix):
        order = np.argsort(row, kind="stable")
        negative = [j for j in order[:top] if row[j] < 0]
        positive = [j for j in order[::-1][:top] if row[j] > 0]
        items = []
        for j in negative + positive:
            f = by_name[names[j]]
            value = values.iat[i, values.columns.get_loc(f.name)]
            items.append({"feature": f.name, "group": f.group, "value": _plain(value),
                          "points": round(float(row[j]), 4), "sentence": sentence(f, value)})
        out.append(json.dumps(items))
    return out
