"""Points that add up: TreeSHAP contributions rescaled from log-odds to score points.

The model's contributions add up to `margin − expected_value` in log-odds; the score is 100 × g(margin) for
a monotone calibration g. Multiplying every contribution by (score − baseline_score) / (margin −
expected_value) keeps each feature's share and sign and makes the points add up to the score exactly.
Reasons are the features with the most negative and most positive points, each said in a sentence from the
catalog (`sentence`: missing, zero, one, a move against the window before); docs/explanations.md has the rules.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from string import Formatter

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


def is_missing(value: object) -> bool:
    """None, NaN, NA and ±inf are "no data" (a ratio over nothing); everything else is a value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and not math.isfinite(value)


def _number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@lru_cache(maxsize=4096)
def value_spec(template: str) -> str:
    """The format spec of the template's first {value} ("" when it has none): how the sentence shows a number."""
    for _, name, spec, _ in Formatter().parse(template):
        if name == "value":
            return spec or ""
    return ""


def shown(value: float, spec: str) -> str:
    """The number as a sentence prints it with `spec`; a negative zero ("-0.0") prints as zero."""
    try:
        text = format(value, spec) if spec else str(value)
        zero = format(0, spec) if spec else "0"
    except (ValueError, TypeError):
        return str(value)
    return zero if text.lstrip("+-") == zero.lstrip("+-") else text


def shows_as(value: float, n: float, spec: str) -> bool:
    """Whether `value` prints like `n`: with ".0f", 0.3 days shows as 0 and 1.2 as 1; with ".0%", 0.004 as 0%."""
    if not spec:
        return value == n
    return shown(value, spec) == shown(n, spec)


def _fill(text: str, **words: object) -> str:
    """`text.format(**words)`; a value of an unexpected type (text where a number was expected) drops the specs."""
    try:
        return text.format(**words)
    except (ValueError, TypeError):
        return re.sub(r"\{(\w+)(?:![rsa])?:[^{}]*\}", r"{\1}", text).format(**words)


def movement(value: float, before: float, spec: str, fewer: str = "fewer") -> dict[str, object]:
    """The words of a change from `before` to `value`, shown with `spec`: {moved}, {compared}, {change}, ...

    Rises and falls are relative to `before` ("60% fewer than"); from nothing it is "up from none in", to
    nothing "down from 30 in"; a change that prints as no change, or rounds to 0%, "held at".
    """
    words: dict[str, object] = {"previous": before, "change": 0.0, "more_or_fewer": "more"}
    if shows_as(value, before, spec):
        return words | {"moved": "held at", "compared": "the same as"}
    up = value > before
    words |= {"moved": "rose to" if up else "fell to", "more_or_fewer": "more" if up else fewer}
    if up and shows_as(before, 0, spec):
        return words | {"compared": "up from none in"}
    if before <= 0 or value <= 0 or shows_as(value, 0, spec):
        return words | {"compared": f"{'up' if up else 'down'} from {shown(before, spec)} in"}
    change = abs(value - before) / before
    words["change"] = change
    if format(change, ".0%") == "0%":
        return words | {"moved": "held at", "compared": "about the same as"}
    return words | {"compared": f"{change:,.0%} {words['more_or_fewer']} than"}


def sentence(feature: Feature, value: object, previous_value: object = None) -> str:
    """The catalog's sentence for one value of a feature (and the same measure's value in the window before).

    Missing → `missing` (never "nan", never 0). A change/trend or a value with its previous one → the change
    wording; both showing as 0 → `zero`. Otherwise `zero` or `one` when the value shows as 0 or 1, else
    `template`. Categorical values are said with the feature's `words`. Pure: the same inputs give the same text.
    """
    if is_missing(value):
        return feature.missing or f"{feature.description}: no data"
    if isinstance(value, np.generic):
        value = value.item()
    if not _number(value):
        if isinstance(value, str):
            value = feature.words.get(value, value)
        return _fill(feature.template, value=value)
    spec = value_spec(feature.template)
    zero = bool(feature.zero) and shows_as(value, 0, spec)
    if feature.change_template:
        if feature.kind == "change":
            if shows_as(value, 0, spec):
                return _fill(feature.zero or feature.template, value=value)
            return _fill(feature.change_template, value=value, size=abs(value),
                         moved="rose by" if value > 0 else "fell by")
        if feature.kind == "trend":  # a ratio to the window before: the window before is 1
            before: float | None = 1.0
        elif feature.previous and _number(previous_value) and not is_missing(previous_value):
            before = float(previous_value)
        else:
            before = None  # no window before to compare with: the plain sentences below
        if before is not None and not (zero and (feature.kind == "trend" or shows_as(before, 0, spec))):
            return _fill(feature.change_template, value=value, **movement(value, before, spec, feature.fewer))
    if zero:
        return _fill(feature.zero, value=value)
    if feature.one and shows_as(value, 1, spec):
        return _fill(feature.one, value=value)
    return _fill(feature.template, value=value)


def json_value(value: object) -> object:
    """A value JSON can hold: None for missing, Python numbers for numpy ones."""
    if is_missing(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def top_indices(row: np.ndarray, top: int) -> list[int]:
    """Columns of the `top` most negative points (most negative first), then the `top` most positive."""
    order = np.argsort(row, kind="stable")
    negative = [int(j) for j in order[:top] if row[j] < 0]
    positive = [int(j) for j in order[::-1][:top] if row[j] > 0]
    return negative + positive


def reason(feature: Feature, value: object, points: float, previous_value: object = None) -> dict[str, object]:
    """One reason: {feature, group, value, points, sentence}."""
    return {"feature": feature.name, "group": feature.group, "value": json_value(value),
            "points": round(float(points), 4), "sentence": sentence(feature, value, previous_value)}


def reasons(points: pd.DataFrame, values: pd.DataFrame, catalog: list[Feature], top: int) -> list[str]:
    """A JSON list per row: the `top` most negative reasons first, then the `top` most positive.

    `values` holds the rows' feature values (rows aligned with `points`); where it also holds a feature's
    `previous` column, the sentence compares the two windows.
    """
    by_name = {f.name: f for f in catalog}
    features = [by_name[name] for name in points.columns]
    column = {name: i for i, name in enumerate(values.columns)}
    value_at = [column[f.name] for f in features]
    previous_at = [column.get(f.previous) if f.previous else None for f in features]
    matrix = points.to_numpy(dtype=np.float64)
    out = []
    for i, row in enumerate(matrix):
        items = [reason(features[j], values.iat[i, value_at[j]], row[j],
                        None if previous_at[j] is None else values.iat[i, previous_at[j]])
                 for j in top_indices(row, top)]
        out.append(json.dumps(items, default=str))
    return out
