"""Batch scoring: model output → the serving table of the serving table, one row per entity and as_of."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from features.catalog import Feature
from serving.config import ServingConfig
from serving.explain import feature_points, group_points, reasons

SCORE_COLUMNS = ["entity_id", "as_of", "model", "model_version", "probability", "score", "percentile", "band",
                 "route", "baseline_score"]
TAIL_COLUMNS = ["reasons", "score_change", "change_reasons", "scored_at"]


def _band(probability: pd.Series, cut_offs: dict[str, float]) -> pd.Series:
    """The highest band whose lower cut-off the probability reaches."""
    ordered = sorted(cut_offs.items(), key=lambda kv: kv[1], reverse=True)
    conditions = [probability >= low for _, low in ordered]
    return pd.Series(np.select(conditions, [name for name, _ in ordered], default=ordered[-1][0]),
                     index=probability.index, dtype=object)


def _changes(current: pd.DataFrame, previous: pd.DataFrame | None, groups: list[str]) -> pd.DataFrame:
    """score_change and the factor groups that moved it most, against the entity's previous score."""
    empty = pd.DataFrame({"score_change": np.nan, "change_reasons": None}, index=current.index)
    if previous is None or previous.empty:
        return empty
    prev = previous.set_index("entity_id")
    matched = current.entity_id.map(prev["score"])
    change = current["score"] - matched
    texts: list[str | None] = []
    for i, entity in enumerate(current.entity_id):
        if pd.isna(matched.iat[i]):
            texts.append(None)
            continue
        moves = {g: float(current[g].iat[i] - prev.at[entity, g]) for g in groups if g in prev.columns}
        top = sorted(moves.items(), key=lambda kv: -abs(kv[1]))[:3]
        texts.append(json.dumps([{"group": g.removeprefix("points_"), "points": round(v, 4)} for g, v in top]))
    return pd.DataFrame({"score_change": change.astype("float64"), "change_reasons": texts}, index=current.index)


def assemble(frame: pd.DataFrame, output: pd.DataFrame, *, model: str, version: str, catalog: list[Feature],
             cfg: ServingConfig, previous: pd.DataFrame | None = None,
             scored_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """The serving table from the feature rows and the pyfunc's output for them."""
    names = [f.name for f in catalog]
    points, score, baseline = feature_points(output, names)
    by_group = group_points(points, catalog)
    probability = output["probability"].astype("float64")
    table = pd.DataFrame({
        "entity_id": frame["entity_id"].astype(str).to_numpy(),
        "as_of": frame["as_of"].to_numpy(),
        "model": model,
        "model_version": str(version),
        "probability": probability.to_numpy(),
        "score": score.to_numpy(),
    })
    table["percentile"] = table["score"].rank(pct=True, method="average") * 100.0
    if model == "renewal":
        table["band"] = _band(table["probability"], cfg.health_bands).to_numpy()
        table["route"] = None
    else:
        table["band"] = _band(table["probability"], cfg.lead_grades).to_numpy()
        table["route"] = np.where(table["probability"] >= cfg.route_to_sales_at, "sales", "nurture")
    table["baseline_score"] = baseline.to_numpy()
    for column in by_group.columns:
        table[column] = by_group[column].to_numpy()
    table["reasons"] = reasons(points.reset_index(drop=True), frame[names].reset_index(drop=True), catalog,
                               cfg.top_reasons)
    changes = _changes(table, previous, list(by_group.columns))
    table["score_change"] = changes["score_change"].to_numpy()
    table["change_reasons"] = changes["change_reasons"].to_numpy()
    table["scored_at"] = scored_at or pd.Timestamp.now(tz="UTC")
    return table


