"""What changed since the entity's previous score: by factor group and by the features that moved most."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.special import expit

from features.catalog import features_for
from serving.batch import POINTS, VALUE, _json_value, assemble_chunks, assemble_with_details
from serving.config import ServingConfig
from serving.explain import group_column, sentence
from serving.scoring import _predict

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


# ------------------------------------------------------------- the columnar path against the row-by-row rule


def _reference_change_reasons(table: pd.DataFrame, now: pd.DataFrame, previous: pd.DataFrame,
                              previous_details: pd.DataFrame, top: int = 3) -> list[str | None]:
    """The straightforward rule, entity by entity: what change_reasons must say, character for character."""
    groups = [c for c in table.columns if c.startswith("points_")]
    prev = previous.drop_duplicates("entity_id").set_index("entity_id")
    before = previous_details.drop_duplicates("entity_id").set_index("entity_id")
    by_name = {f.name: f for f in CATALOG}
    group_name = {group_column(f.group): f.group for f in CATALOG}
    moved = [n for n in NAMES if POINTS + n in before.columns]
    out: list[str | None] = []
    for i, entity in enumerate(table.entity_id):
        if entity not in prev.index:
            out.append(None)
            continue
        shared = [g for g in groups if g in prev.columns]
        delta = table.loc[i, shared].to_numpy(dtype=float) - prev.loc[entity, shared].to_numpy(dtype=float)
        items = [{"group": group_name.get(shared[j], shared[j].removeprefix("points_")),
                  "points": round(float(delta[j]), 4)}
                 for j in np.argsort(-np.abs(delta), kind="stable")[:top]]
        features = []
        if entity in before.index and moved:
            change = (now.loc[i, [POINTS + n for n in moved]].to_numpy(dtype=float)
                      - before.loc[entity, [POINTS + n for n in moved]].to_numpy(dtype=float))
            for j in np.argsort(-np.abs(np.nan_to_num(change)), kind="stable")[:top]:
                if not abs(change[j]) > 1e-9:
                    continue
                f, column = by_name[moved[j]], VALUE + moved[j]
                after = _json_value(now.at[i, column])
                was = _json_value(before.at[entity, column]) if column in before else None
                features.append({"feature": f.name, "group": f.group, "before": was, "after": after,
                                 "points": round(float(change[j]), 4), "sentence": sentence(f, after)})
        out.append(json.dumps({"groups": items, "features": features}))
    return out


def _awkward_frame(n: int, seed: int) -> pd.DataFrame:
    """Feature values with repeats, zeros, -0.0, missing, ±inf and categories; entity ids A0, A1, ..."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"entity_id": [f"A{i}" for i in range(n)],
                          "as_of": pd.Timestamp("2025-06-01", tz="UTC")}, index=np.arange(1000, 1000 + n))
    for f in CATALOG:
        if f.categorical:
            frame[f.name] = pd.Series(rng.choice(["growth", "enterprise", "detractor", None], n), dtype="str",
                                      index=frame.index)
        else:
            pool = np.array([0.0, -0.0, 1.0, 0.5, 2.5, 12.0, 30.0, np.nan, np.inf, -np.inf])
            frame[f.name] = np.where(rng.random(n) < 0.6, rng.choice(pool, n), rng.gamma(2.0, 20.0, n))
    return frame


def _awkward_output(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contrib = rng.normal(0, 0.3, (n, len(NAMES)))
    contrib[:, 10:20] = 0.0  # features that never move
    contrib[::3, 2] = contrib[::3, 1]  # equal points, and (both runs alike) equal moves
    out = pd.DataFrame(contrib, columns=[f"contrib_{c}" for c in NAMES])
    out["probability"] = expit(contrib.sum(axis=1) + 1.0)
    out["expected_value"] = 1.0
    out["baseline_probability"] = expit(1.0)
    return out


def _round_trip(frame: pd.DataFrame, path) -> pd.DataFrame:
    frame.to_parquet(path)
    return pd.read_parquet(path)


def test_columnar_change_reasons_say_exactly_what_the_row_by_row_rule_says(tmp_path):
    n = 300
    first, first_details = _score(_awkward_frame(n, 1), _awkward_output(n, 1))
    previous = _round_trip(first.iloc[:250], tmp_path / "scores.parquet")  # the last 50 are new since then
    previous_details = _round_trip(first_details.iloc[20:].drop(columns=VALUE + "arr"), tmp_path / "details.parquet")
    later = _awkward_frame(n, 2)
    later.iloc[::2, 2:] = _awkward_frame(n, 1).iloc[::2, 2:]  # half the entities with the same values
    second, second_details = _score(later, _awkward_output(n, 2), previous, previous_details)
    expected = _reference_change_reasons(second, second_details, previous, previous_details)
    got = [None if pd.isna(text) else text for text in second.change_reasons]
    assert got == expected
    assert sum(text is None for text in got) == 50 and any('"features": []' in text for text in got[:20])


class _Pyfunc:
    """Stands in for the MLflow model: the output rows of the entities asked for, and the calls made."""

    def __init__(self, output: pd.DataFrame):
        self.output, self.calls = output, []

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(len(rows))
        return self.output.iloc[rows.index].set_axis(rows.index)


def test_scoring_in_chunks_gives_the_same_table_and_details_as_one_pass(tmp_path):
    n = 250
    first, first_details = _score(_awkward_frame(n, 1), _awkward_output(n, 1))
    frame, output = _awkward_frame(n, 3), _awkward_output(n, 3)
    at = pd.Timestamp("2025-06-01 02:00", tz="UTC")
    kw = dict(model="renewal", version="1", catalog=CATALOG, cfg=ServingConfig(), scored_at=at,
              previous=_round_trip(first.iloc[:30], tmp_path / "s.parquet"),  # later chunks: only new entities
              previous_details=_round_trip(first_details, tmp_path / "d.parquet"))
    whole, whole_details = assemble_with_details(frame, output, **kw)
    pyfunc, seen = _Pyfunc(output), []
    chunks = _predict(pyfunc, frame[NAMES].reset_index(drop=True), 37,
                      lambda *_, **progress: seen.append(progress.get("completed")), taper_from=20)
    table, details = assemble_chunks(frame, chunks, **kw)
    pd.testing.assert_frame_equal(table, whole, check_exact=True)
    pd.testing.assert_frame_equal(details, whole_details, check_exact=True)
    assert pyfunc.calls == [37] * 6 + [14, 7, 3, 4]  # the last chunk in pieces: little left to explain at the end
    assert seen == [37, 74, 111, 148, 185, 222, 236, 243, 246, 250]
    assert table.change_reasons.notna().sum() == 30 and table.percentile.max() == 100.0


def test_small_populations_score_in_one_call_and_large_ones_end_in_smaller_pieces():
    output = _awkward_output(3000, 1)
    for n, chunk, calls in ((0, 100, [0]), (999, 20_000, [999]), (3000, 20_000, [1500, 750, 375, 375]),
                            (2500, 1000, [1000, 1000, 500])):
        pyfunc = _Pyfunc(output)
        chunks = list(_predict(pyfunc, pd.DataFrame(index=range(n)), chunk, lambda *_, **__: None))
        assert pyfunc.calls == calls and [stop - start for start, stop, _ in chunks] == calls
        assert [len(out) for *_, out in chunks] == calls
