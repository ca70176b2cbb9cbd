"""Batch scoring: model output → the serving table of the serving table, one row per entity and as_of."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from features.catalog import Feature
from serving.config import ServingConfig
from serving.explain import feature_points, group_column, group_points, reasons, sentence

SCORE_COLUMNS = ["entity_id", "as_of", "model", "model_version", "probability", "score", "percentile", "band",
                 "route", "baseline_score"]
TAIL_COLUMNS = ["reasons", "score_change", "change_reasons", "scored_at"]
VALUE, POINTS = "value__", "points__"  # column prefixes of the details file


def _band(probability: pd.Series, cut_offs: dict[str, float]) -> pd.Series:
    """The highest band whose lower cut-off the probability reaches."""
    ordered = sorted(cut_offs.items(), key=lambda kv: kv[1], reverse=True)
    conditions = [probability >= low for _, low in ordered]
    return pd.Series(np.select(conditions, [name for name, _ in ordered], default=ordered[-1][0]),
                     index=probability.index, dtype=object)


def _json_value(value: object) -> object:
    """A value JSON can hold: None for missing, Python numbers for numpy ones."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value


def details(frame: pd.DataFrame, points: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Every feature's value and points per entity: kept beside the scores so the next run can say what moved."""
    values = frame[names].reset_index(drop=True).add_prefix(VALUE)
    pts = points.reset_index(drop=True).add_prefix(POINTS)
    return pd.concat([frame[["entity_id"]].astype(str).reset_index(drop=True), values, pts], axis=1)


def _feature_moves(now: pd.DataFrame, before: pd.DataFrame, catalog: list[Feature], top: int) -> list[list[dict]]:
    """Per entity (rows aligned): the `top` features whose points moved most, with their values then and now."""
    names = [f.name for f in catalog if POINTS + f.name in before.columns]
    if not names:
        return [[] for _ in range(len(now))]
    delta = (now[[POINTS + n for n in names]].to_numpy(dtype=float)
             - before[[POINTS + n for n in names]].to_numpy(dtype=float))
    order = np.argsort(-np.abs(np.nan_to_num(delta)), axis=1, kind="stable")[:, :top]
    by_name = {f.name: f for f in catalog}
    moves = []
    for i, row in enumerate(order):
        items = []
        for j in row:
            if not abs(delta[i, j]) > 1e-9:
                continue
            feature = by_name[names[j]]
            column = VALUE + feature.name
            after = _json_value(now.at[now.index[i], column])
            was = _json_value(before.at[before.index[i], column]) if column in before else None
            items.append({"feature": feature.name, "group": feature.group, "before": was, "after": after,
                          "points": round(float(delta[i, j]), 4), "sentence": sentence(feature, after)})
        moves.append(items)
    return moves


def _changes(current: pd.DataFrame, now_details: pd.DataFrame, previous: pd.DataFrame | None,
             previous_details: pd.DataFrame | None, groups: list[str], catalog: list[Feature],
             top: int) -> pd.DataFrame:
    """score_change, and change_reasons: the factor groups and the features that moved the score most.

    change_reasons is a JSON object {"groups": [{group, points}], "features": [{feature, group, before, after,
    points, sentence}]}, biggest moves first; points are the change in that group's or feature's points.
    """
    empty = pd.DataFrame({"score_change": np.nan, "change_reasons": None}, index=current.index)
    if previous is None or previous.empty:
        return empty
    prev = previous.drop_duplicates("entity_id").set_index("entity_id")
    known = current.entity_id.isin(prev.index).to_numpy()
    matched = current.entity_id.map(prev["score"])
    shared = [g for g in groups if g in prev.columns]
    was = prev.loc[current.entity_id[known], shared].to_numpy(dtype=float)
    group_delta = current.loc[known, shared].to_numpy(dtype=float) - was
    group_name = {group_column(f.group): f.group for f in catalog}
    feature_moves: list[list[dict]] = [[] for _ in range(int(known.sum()))]
    if previous_details is not None and not previous_details.empty:
        before = previous_details.drop_duplicates("entity_id").set_index("entity_id")
        has_before = current.entity_id[known].isin(before.index).to_numpy()
        now = now_details[known].reset_index(drop=True)[has_before]
        moved = _feature_moves(now, before.loc[current.entity_id[known][has_before]].reset_index(drop=True),
                               catalog, top)
        for slot, items in zip(np.flatnonzero(has_before), moved, strict=True):
            feature_moves[slot] = items
    texts: list[str | None] = [None] * len(current)
    for k, i in enumerate(np.flatnonzero(known)):
        order = np.argsort(-np.abs(group_delta[k]), kind="stable")[:top]
        moved_groups = [{"group": group_name.get(shared[j], shared[j].removeprefix("points_")),
                         "points": round(float(group_delta[k, j]), 4)} for j in order]
        texts[i] = json.dumps({"groups": moved_groups, "features": feature_moves[k]})
    return pd.DataFrame({"score_change": (current["score"] - matched).astype("float64"), "change_reasons": texts},
                        index=current.index)


def route_threshold(cfg: ServingConfig, model_metadata: dict | None) -> float | None:
    """The configured threshold when set; else the one the model version chose on validation data."""
    if cfg.route_to_sales_at is not None:
        return cfg.route_to_sales_at
    value = (model_metadata or {}).get("route_threshold")
    return None if value is None else float(value)


def assemble(frame: pd.DataFrame, output: pd.DataFrame, *, model: str, version: str, catalog: list[Feature],
             cfg: ServingConfig, previous: pd.DataFrame | None = None,
             scored_at: pd.Timestamp | None = None, model_metadata: dict | None = None,
             previous_details: pd.DataFrame | None = None) -> pd.DataFrame:
    """The serving table from the feature rows and the pyfunc's output for them."""
    return assemble_with_details(frame, output, model=model, version=version, catalog=catalog, cfg=cfg,
                                 previous=previous, scored_at=scored_at, model_metadata=model_metadata,
                                 previous_details=previous_details)[0]


def assemble_with_details(frame: pd.DataFrame, output: pd.DataFrame, *, model: str, version: str,
                          catalog: list[Feature], cfg: ServingConfig, previous: pd.DataFrame | None = None,
                          scored_at: pd.Timestamp | None = None, model_metadata: dict | None = None,
                          previous_details: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The serving table and the per-feature details (values and points) the next run compares against."""
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
        threshold = route_threshold(cfg, model_metadata)
        table["route"] = (None if threshold is None
                          else np.where(table["probability"] >= threshold, "sales", "nurture"))
    table["baseline_score"] = baseline.to_numpy()
    for column in by_group.columns:
        table[column] = by_group[column].to_numpy()
    table["reasons"] = reasons(points.reset_index(drop=True), frame[names].reset_index(drop=True), catalog,
                               cfg.top_reasons)
    now_details = details(frame, points, names)
    changes = _changes(table, now_details, previous, previous_details, list(by_group.columns), catalog,
                       cfg.top_reasons)
    table["score_change"] = changes["score_change"].to_numpy()
    table["change_reasons"] = changes["change_reasons"].to_numpy()
    table["scored_at"] = scored_at or pd.Timestamp.now(tz="UTC")
    return table, now_details


