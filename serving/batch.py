"""Batch scoring: model output → the serving table, one row per entity and as_of.

Explaining is columnar (serving/explain.py) and each row's explanation depends on that row alone, so a population
can be explained chunk by chunk while the model scores the next chunk (`assemble_chunks`, fed by
`serving.scoring._predict`); only the percentile needs every row and is taken at the end. One chunk or many,
the table and the details are the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalog import Feature
from serving.config import ServingConfig
from serving.explain import (
    Sentences,
    Values,
    by_column,
    column_values,
    contributions,
    distinct,
    float_texts,
    group_column,
    group_sums,
    join_lists,
    json_points,
    point_arrays,
    reason_texts,
    smallest_stable,
)

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


class Previous:
    """The latest earlier scoring and its details, indexed by entity once for the whole run."""

    def __init__(self, previous: pd.DataFrame | None, previous_details: pd.DataFrame | None, names: list[str]):
        self.scores: pd.DataFrame | None = None
        self.details: pd.Index | None = None
        if previous is None or previous.empty:
            return
        self.scores = previous.drop_duplicates("entity_id").set_index("entity_id")
        self.score = self.scores["score"].to_numpy(dtype=np.float64)
        if previous_details is None or previous_details.empty:
            return
        before = previous_details.drop_duplicates("entity_id").set_index("entity_id")
        self.details = before.index
        self.moved = [n for n in names if POINTS + n in before.columns]  # catalog order
        self.points = before[[POINTS + n for n in self.moved]].to_numpy(dtype=float)
        self.values = {n: column_values(before[VALUE + n]) for n in self.moved if VALUE + n in before.columns}


_JSON_NUMBER = {"nan": "null", "inf": "Infinity", "-inf": "-Infinity"}  # `_json_value` keeps ±inf


def _json_texts(values: Values) -> tuple[np.ndarray, np.ndarray | list[object], list[str]]:
    """Codes per element and, per code, a value that reads as change_reasons' value does (an array of floats,
    where NaN reads as None does: missing) and its JSON."""
    codes, reps = distinct(values)
    if isinstance(reps, np.ndarray) and reps.dtype == np.float64:
        return codes, reps, float_texts(reps, _JSON_NUMBER)
    plain = [_json_value(value) for value in reps]
    return codes, plain, [json.dumps(value) for value in plain]


def _feature_moves(rows: np.ndarray, before_rows: np.ndarray, values: dict[str, Values], points: np.ndarray,
                   names: list[str], catalog: list[Feature], prev: Previous, top: int,
                   sentences: dict[str, Sentences]) -> list[str]:
    """Per entity with earlier details (`rows` in the chunk, `before_rows` in them): the JSON list of the `top`
    features whose points moved most, with their values then and now."""
    if not prev.moved or not len(rows):
        return ["[]"] * len(rows)
    position = {n: j for j, n in enumerate(names)}
    delta = points[rows][:, [position[n] for n in prev.moved]] - prev.points[before_rows]
    order = smallest_stable(-np.abs(np.nan_to_num(delta)), top)
    moved = np.take_along_axis(delta, order, axis=1)
    keep = np.abs(moved) > 1e-9
    items, feats = np.nonzero(keep)[0], order[keep]
    by_name = {f.name: f for f in catalog}
    lead, after, sentence = (np.empty(len(items), dtype=np.intp) for _ in range(3))
    leads: list[str] = []
    afters: list[str] = []
    tails: list[str] = []
    by_feature, bounds = by_column(feats, len(prev.moved))
    for j in np.flatnonzero(np.diff(bounds)):
        at = by_feature[bounds[j]:bounds[j + 1]]
        feature = by_name[prev.moved[j]]
        head = f'{{"feature": {json.dumps(feature.name)}, "group": {json.dumps(feature.group)}, "before": '
        if feature.name in prev.values:
            codes, _, texts = _json_texts(prev.values[feature.name][before_rows[items[at]]])
        else:
            codes, texts = np.zeros(len(at), dtype=np.intp), ["null"]
        lead[at] = len(leads) + codes
        leads += [head + text for text in texts]
        codes, plain, texts = _json_texts(values[feature.name][rows[items[at]]])
        after[at] = len(afters) + codes
        afters += [f', "after": {text}, "points": ' for text in texts]
        said = sentences.setdefault(feature.name, Sentences(feature))
        said_codes, pieces = (said.floats(plain) if isinstance(plain, np.ndarray)
                              else (np.arange(len(plain)), [said.piece(v) for v in plain]))
        sentence[at] = len(tails) + said_codes[codes]
        tails += pieces
    integer, fraction = json_points(moved[keep])
    texts = (np.array(afters, dtype=object), np.array(tails, dtype=object))
    return join_lists(len(rows), items, (lead, np.array(leads, dtype=object)),
                      [(after, texts[0]), integer, fraction, (sentence, texts[1])])


def _changes(ids: np.ndarray, score: np.ndarray, groups: list[str], sums: np.ndarray, values: dict[str, Values],
             points: np.ndarray, names: list[str], catalog: list[Feature], prev: Previous, top: int,
             sentences: dict[str, Sentences]) -> tuple[np.ndarray, list[str | None]]:
    """score_change, and change_reasons: the factor groups and the features that moved the score most.

    change_reasons is a JSON object {"groups": [{group, points}], "features": [{feature, group, before, after,
    points, sentence}]}, biggest moves first; points are the change in that group's or feature's points.
    """
    n = len(ids)
    if prev.scores is None:
        return np.full(n, np.nan), [None] * n
    position = prev.scores.index.get_indexer(ids)
    known = position >= 0
    at = np.flatnonzero(known)
    matched = np.where(known, prev.score[position], np.nan)
    shared = [g for g in groups if g in prev.scores.columns]
    was = prev.scores[shared].to_numpy(dtype=float)[position[known]]
    group_delta = sums[known][:, [groups.index(g) for g in shared]] - was
    group_name = {group_column(f.group): f.group for f in catalog}
    heads = np.array([f'{{"group": {json.dumps(group_name.get(g, g.removeprefix("points_")))}, "points": '
                      for g in shared], dtype=object)
    order = np.argsort(-np.abs(group_delta), axis=1, kind="stable")[:, :top]
    integer, fraction = json_points(np.take_along_axis(group_delta, order, axis=1).ravel())
    moved_groups = join_lists(len(at), np.repeat(np.arange(len(at)), order.shape[1]), (order.ravel(), heads),
                              [integer, fraction, "}"])
    moved_features = ["[]"] * len(at)
    if prev.details is not None:
        before_rows = prev.details.get_indexer(ids[known])
        has_before = np.flatnonzero(before_rows >= 0)
        for slot, text in zip(has_before, _feature_moves(at[has_before], before_rows[has_before], values, points,
                                                         names, catalog, prev, top, sentences), strict=True):
            moved_features[slot] = text
    texts: list[str | None] = [None] * n
    for i, g, f in zip(at.tolist(), moved_groups, moved_features, strict=True):
        texts[i] = f'{{"groups": {g}, "features": {f}}}'
    return score - matched, texts


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
    return assemble_chunks(frame, [(0, len(frame), output)], model=model, version=version, catalog=catalog, cfg=cfg,
                           previous=previous, scored_at=scored_at, model_metadata=model_metadata,
                           previous_details=previous_details)


@dataclass
class _Explained:
    """One chunk's rows explained: everything of the table but the percentile, band and route."""

    probability: np.ndarray
    score: np.ndarray
    baseline: np.ndarray
    sums: np.ndarray
    reasons: pd.api.extensions.ExtensionArray
    score_change: np.ndarray
    change_reasons: pd.api.extensions.ExtensionArray | None  # None: no entity of the chunk was scored before


def _text_column(texts: list[str | None]) -> pd.api.extensions.ExtensionArray:
    """Texts as the table's text columns hold them (pandas' "str"), built chunk by chunk while the next scores."""
    return pd.Series(texts, dtype="str").array


class _Run:
    """What every chunk needs: the frame's ids and columns, the previous scoring, the points of every row."""

    def __init__(self, frame: pd.DataFrame, catalog: list[Feature], cfg: ServingConfig, previous: pd.DataFrame | None,
                 previous_details: pd.DataFrame | None):
        self.catalog, self.cfg = catalog, cfg
        self.names = [f.name for f in catalog]
        self.entity_ids = frame["entity_id"].astype(str)
        self.ids = self.entity_ids.to_numpy()
        self.columns = {name: column_values(frame[name]) for name in self.names}
        self.previous = Previous(previous, previous_details, self.names)
        self.points = np.empty((len(frame), len(self.names)))  # details keep every row's points
        self.group_columns: list[str] = []
        self.sentences: dict[str, Sentences] = {}  # rendered once per run

    def explain(self, start: int, stop: int, output: pd.DataFrame) -> _Explained:
        values = {name: column[start:stop] for name, column in self.columns.items()}
        probability = output["probability"].astype("float64").to_numpy()
        points, score, baseline = point_arrays(contributions(output, self.names), probability,
                                               output["baseline_probability"].to_numpy(),
                                               out=self.points[start:stop])
        groups, sums = group_sums(points, self.names, self.catalog)
        self.group_columns = [group_column(g) for g in groups]
        texts = reason_texts(points, [values[n] for n in self.names],
                             [values.get(f.previous) if f.previous else None for f in self.catalog], self.catalog,
                             self.cfg.top_reasons, self.sentences)
        change, change_texts = _changes(self.ids[start:stop], score, self.group_columns, sums, values, points,
                                        self.names, self.catalog, self.previous, self.cfg.top_reasons, self.sentences)
        return _Explained(probability, score, baseline, sums, _text_column(texts), change,
                          _text_column(change_texts) if any(t is not None for t in change_texts) else None)


def assemble_chunks(frame: pd.DataFrame, outputs: Iterable[tuple[int, int, pd.DataFrame]], *, model: str,
                    version: str, catalog: list[Feature], cfg: ServingConfig, previous: pd.DataFrame | None = None,
                    scored_at: pd.Timestamp | None = None, model_metadata: dict | None = None,
                    previous_details: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`assemble_with_details` from the pyfunc's output in chunks: (start, stop, output of frame rows start:stop).

    Chunks come in order and cover the frame; each is explained as it arrives (the next may be scoring
    meanwhile), then the table is put together and every row's percentile taken over the whole population.
    """
    run = _Run(frame, catalog, cfg, previous, previous_details)  # while the first chunk scores, if it does
    parts: list[_Explained] = []
    expected = 0
    for start, stop, output in outputs:
        if start != expected or stop < start or len(output) != stop - start:
            raise ValueError(f"chunk {start}:{stop} ({len(output)} rows) does not follow row {expected}")
        parts.append(run.explain(start, stop, output))
        expected = stop
    if expected != len(frame):
        raise ValueError(f"the chunks cover {expected} of {len(frame)} rows")
    return _table(frame, run, parts, model=model, version=version, cfg=cfg, scored_at=scored_at,
                  model_metadata=model_metadata)


def _as_is(column: pd.Series) -> object:
    """Datetimes as they are (no round trip through Timestamp objects); anything else as a NumPy array."""
    return column.array if column.dtype.kind == "M" else column.to_numpy()


def _texts(arrays: list[pd.api.extensions.ExtensionArray]) -> pd.api.extensions.ExtensionArray:
    return type(arrays[0])._concat_same_type(arrays)


def _table(frame: pd.DataFrame, run: _Run, parts: list[_Explained], *, model: str, version: str,
           cfg: ServingConfig, scored_at: pd.Timestamp | None,
           model_metadata: dict | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    def joined(field: str) -> np.ndarray:
        return np.concatenate([getattr(p, field) for p in parts])

    table = pd.DataFrame({
        "entity_id": run.entity_ids.array if len(frame) else run.ids,
        "as_of": _as_is(frame["as_of"]),
        "model": model,
        "model_version": str(version),
        "probability": joined("probability"),
        "score": joined("score"),
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
    table["baseline_score"] = joined("baseline")
    sums = joined("sums")
    for i, column in enumerate(run.group_columns):
        table[column] = sums[:, i]
    table["reasons"] = _texts([p.reasons for p in parts]) if len(frame) else []
    changed = [p.change_reasons for p in parts]
    if run.previous.scores is None:
        table["score_change"] = np.nan
        table["change_reasons"] = np.full(len(table), None, dtype=object)
    else:
        table["score_change"] = joined("score_change").astype("float64")
        # text, or missing for an entity new since then; no text at all: None throughout, as a list of them reads
        table["change_reasons"] = (np.full(len(table), None, dtype=object) if all(c is None for c in changed)
                                   else _texts([c if c is not None else _text_column([None] * len(p.score))
                                                for c, p in zip(changed, parts, strict=True)]))
    table["scored_at"] = scored_at or pd.Timestamp.now(tz="UTC")
    return table, details(frame, pd.DataFrame(run.points, columns=run.names, copy=False), run.names)
