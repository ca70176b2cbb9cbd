"""Points add up to the score, keep each feature's sign, and reasons read as sentences with real values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from scipy.special import expit

from features.catalog import CATALOG as FULL_CATALOG
from features.catalog import features_for
from serving import explain
from serving.batch import assemble
from serving.config import ServingConfig
from serving.explain import (
    PRINTS_ALONE,
    display_classes,
    feature_points,
    json_points,
    reasons,
    rounded,
    sentence,
    smallest_stable,
    top_columns,
    top_indices,
)

CATALOG = features_for("account")
NAMES = [f.name for f in CATALOG]


def _fake_output(n: int, seed: int = 0) -> pd.DataFrame:
    """Model output shaped like the pyfunc's: log-odds contributions, a monotone calibration."""
    rng = np.random.default_rng(seed)
    contrib = rng.normal(0, 0.4, size=(n, len(NAMES)))
    expected = np.full(n, 1.7)
    margin = contrib.sum(axis=1) + expected
    out = pd.DataFrame(contrib, columns=[f"contrib_{c}" for c in NAMES])
    out["probability"] = expit(0.9 * margin + 0.1)
    out["expected_value"] = expected
    out["baseline_probability"] = expit(0.9 * expected + 0.1)
    return out


def test_points_add_up_to_score_minus_baseline_on_every_row():
    output = _fake_output(5000)
    points, score, baseline = feature_points(output, NAMES)
    assert np.abs(points.sum(axis=1) - (score - baseline)).max() < 1e-9
    contrib = output[[f"contrib_{c}" for c in NAMES]].to_numpy()
    assert (np.sign(points.to_numpy()) == np.sign(contrib)).mean() > 0.999


def _features_frame(n: int) -> pd.DataFrame:
    frame = pd.DataFrame({f.name: np.arange(n, dtype=float) for f in CATALOG if not f.categorical})
    for f in CATALOG:
        if f.categorical:
            frame[f.name] = "growth" if f.name == "plan" else "a category"
    frame["latest_nps"] = np.nan
    frame.insert(0, "entity_id", [f"A{i}" for i in range(n)])
    frame.insert(1, "as_of", pd.Timestamp("2025-06-01", tz="UTC"))
    return frame


def test_group_points_add_up_and_reasons_carry_values():
    n = 200
    table = assemble(_features_frame(n), _fake_output(n), model="renewal", version="3", catalog=CATALOG,
                     cfg=ServingConfig())
    groups = [c for c in table.columns if c.startswith("points_")]
    assert set(groups) == {"points_product_usage", "points_support_history", "points_service_utilization",
                           "points_customer_feedback", "points_commercial", "points_marketing_engagement"}
    gap = table[groups].sum(axis=1) - (table.score - table.baseline_score)
    assert gap.abs().max() < 1e-9
    assert table.baseline_score.nunique() == 1
    first = json.loads(table.reasons.iloc[5])
    points = [r["points"] for r in first]
    negatives = [p for p in points if p < 0]
    assert points[: len(negatives)] == negatives  # negative reasons come first
    for reason in first:
        if reason["feature"] == "latest_nps":
            assert reason["sentence"] == "No NPS answer in the last year"
        elif reason["feature"] == "logins_30d":  # logins_prev_30d is 5 too in this frame
            assert reason["sentence"] == "Logins held at 5 in the last 30 days, the same as the 30 days before"
    assert set(table.band) <= {"healthy", "at_risk", "critical"}
    assert table.score_change.isna().all()


def test_sentences_use_the_entity_values_and_say_when_data_is_missing():
    by_name = {f.name: f for f in CATALOG}
    assert sentence(by_name["logins_30d"], 12.0) == "12 logins in the last 30 days"
    assert sentence(by_name["active_users_per_seat"], 0.25) == "25% of seats active in the last 30 days"
    assert sentence(by_name["plan"], "enterprise") == "On the enterprise plan"
    assert sentence(by_name["mean_csat_90d"], float("nan")) == "No CSAT rating in the last 90 days"


def test_score_change_against_the_previous_run():
    n = 50
    frame = _features_frame(n)
    first = assemble(frame, _fake_output(n, seed=1), model="renewal", version="1", catalog=CATALOG,
                     cfg=ServingConfig())
    second = assemble(frame, _fake_output(n, seed=2), model="renewal", version="1", catalog=CATALOG,
                      cfg=ServingConfig(), previous=first)
    assert np.allclose(second.score_change, second.score - first.score)
    moved = json.loads(second.change_reasons.iloc[0])["groups"]
    assert 1 <= len(moved) <= 3 and {"group", "points"} <= set(moved[0])


BY_NAME = {f.name: f for f in FULL_CATALOG}
NAN = float("nan")


def test_logins_against_the_30_days_before():
    logins = BY_NAME["logins_30d"]
    assert sentence(logins, 12.0, 30.0) == "Logins fell to 12 in the last 30 days, 60% fewer than the 30 days before"
    assert sentence(logins, 45.0, 30.0) == "Logins rose to 45 in the last 30 days, 50% more than the 30 days before"
    assert sentence(logins, 12.0, 12.0) == "Logins held at 12 in the last 30 days, the same as the 30 days before"
    assert sentence(logins, 5.0, 0.0) == "Logins rose to 5 in the last 30 days, up from none in the 30 days before"
    assert sentence(logins, 0.0, 30.0) == "Logins fell to 0 in the last 30 days, down from 30 in the 30 days before"
    assert sentence(logins, 0.0, 0.0) == "No logins in the last 30 days"
    assert sentence(logins, 1200.0, 1201.0) == ("Logins held at 1,200 in the last 30 days, about the same as the 30 "
                                                "days before")
    # Without the window before (not a model input, or missing), the plain sentence.
    assert sentence(logins, 12.0) == sentence(logins, 12.0, NAN) == "12 logins in the last 30 days"
    assert sentence(logins, NAN, 30.0) == "Logins in the last 30 days not known (no product usage data)"


def test_zeros_ones_and_missing_values_read_naturally():
    assert sentence(BY_NAME["open_tickets"], 0) == "No open tickets"
    assert sentence(BY_NAME["open_tickets"], 1.0) == "1 ticket open"
    assert sentence(BY_NAME["open_tickets"], 3.0) == "3 tickets open"
    assert sentence(BY_NAME["tickets_90d"], np.int64(0)) == "No support tickets in the last 90 days"
    assert sentence(BY_NAME["tickets_90d"], NAN) == "Support tickets in the last 90 days not known (no ticket data)"
    assert sentence(BY_NAME["days_since_last_login"], 0.3) == "Last login less than a day ago"
    assert sentence(BY_NAME["days_since_last_login"], 1.2) == "Last login 1 day ago"
    assert sentence(BY_NAME["days_since_last_login"], 14.6) == "Last login 15 days ago"
    assert sentence(BY_NAME["latest_nps"], None) == "No NPS answer in the last year"
    assert sentence(BY_NAME["latest_nps"], 0.0) == "Latest NPS answer: 0 of 10"  # a score of 0 is an answer
    assert sentence(BY_NAME["nps_category"], NAN) == "No NPS answer in the last year"
    assert sentence(BY_NAME["plan"], pd.NA) == "Plan unknown"
    assert sentence(BY_NAME["industry"], None) == "Industry unknown"
    assert sentence(BY_NAME["logins_per_seat_30d"], float("inf")).startswith("Logins per seat not known")


def test_categories_print_as_words():
    assert sentence(BY_NAME["job_function"], "data_and_it") == "Works in data and IT"
    assert sentence(BY_NAME["lead_source"], "paid_search") == "Came in through paid search"
    assert sentence(BY_NAME["seniority"], "c_level") == "Seniority: C-level"
    assert sentence(BY_NAME["plan"], "growth") == "On the growth plan"
    assert sentence(BY_NAME["industry"], "Financial Services") == "Industry: Financial Services"


def test_changes_and_trends_say_which_way_they_moved():
    nps = BY_NAME["nps_change"]
    assert sentence(nps, -0.4) == "NPS fell by 0.4 points on the 180 days before"
    assert sentence(nps, 1.25) == "NPS rose by 1.2 points on the 180 days before"
    assert sentence(nps, 0.0) == sentence(nps, -0.02) == "NPS unchanged on the 180 days before"
    trend = BY_NAME["login_trend"]
    assert sentence(trend, 0.4) == "Logins fell to 40% of the 30 days before"
    assert sentence(trend, 1.5) == "Logins rose to 150% of the 30 days before"
    assert sentence(trend, 1.0) == "Logins held at 100% of the 30 days before"
    assert sentence(trend, NAN) == "No logins in the 30 days before to compare with"


def test_reasons_quote_the_rows_own_values_and_the_window_before():
    names = ["logins_30d", "logins_prev_30d", "plan", "latest_nps", "open_tickets"]
    catalog = [BY_NAME[n] for n in names]
    values = pd.DataFrame({"logins_30d": [12.0, 3.0], "logins_prev_30d": [30.0, NAN], "plan": ["growth", None],
                           "latest_nps": [NAN, 9.0], "open_tickets": [0.0, 1.0]})
    points = pd.DataFrame([[-4.0, 1.0, 0.5, -2.0, 3.0], [2.0, -1.0, -0.5, 6.0, -3.0]], columns=names)
    first, second = (json.loads(r) for r in reasons(points, values, catalog, top=2))
    assert [r["feature"] for r in first] == ["logins_30d", "latest_nps", "open_tickets", "logins_prev_30d"]
    assert first[0] == {"feature": "logins_30d", "group": "Product Usage", "value": 12.0, "points": -4.0,
                        "sentence": "Logins fell to 12 in the last 30 days, 60% fewer than the 30 days before"}
    assert first[1]["value"] is None and first[1]["sentence"] == "No NPS answer in the last year"
    assert first[2]["sentence"] == "No open tickets"
    assert [r["feature"] for r in second] == ["open_tickets", "logins_prev_30d", "latest_nps", "logins_30d"]
    assert second[0]["sentence"] == "1 ticket open"
    assert second[3]["sentence"] == "3 logins in the last 30 days"  # the window before is missing
    # Without the paired column among the values, the plain sentence.
    alone = json.loads(reasons(points[["logins_30d"]], values[["logins_30d"]], catalog, top=1)[0])
    assert alone[0]["sentence"] == "12 logins in the last 30 days"


def _typical(f) -> object:
    if f.categorical:
        return (f.labels or ("growth",))[0] if f.kind == "band" or f.name == "plan" else next(iter(f.words), "Other")
    return {"ratio": 0.42, "trend": 0.6, "change": 0.8, "mean": 3.4}.get(f.kind, 17.0)


def test_every_catalog_sentence_renders_for_typical_zero_negative_and_missing_values():
    for f in FULL_CATALOG:
        cases: list[tuple[object, object]] = [(_typical(f), None), (None, None), (NAN, None), (pd.NA, None)]
        if not f.categorical:
            cases += [(0.0, None), (0, None), (1.0, None), (np.float64(0.4), None), (2.5e6, None)]
            if f.kind == "change" or "−" in f.unit:  # a move, or sentiment (−1..1)
                cases.append((-0.7, None))
        if f.previous:
            cases += [(12.0, 30.0), (30.0, 12.0), (12.0, 12.0), (5.0, 0.0), (0.0, 0.0), (0.0, 7.0), (4.0, NAN)]
        for value, previous in cases:
            text = sentence(f, value, previous)
            assert text and text[0] == text[0].upper(), (f.name, value, text)
            for bad in ("nan", "None", "<NA>", "{", "}", "inf"):
                assert bad not in text, (f.name, value, previous, text)
        assert f.missing, f.name  # every feature says what missing means for it
        if f.kind in ("count", "nunique", "open_at_as_of", "prior_outcomes"):
            assert f.zero and f.one, f.name  # counts: "No logins", "1 login"
        if f.previous:
            assert f.previous in BY_NAME and BY_NAME[f.previous].entity == f.entity, f.name
        if f.change_template:
            assert "{moved}" in f.change_template, f.name


# ------------------------------------------------------------------- the columnar path against the row-by-row rule


def _reference_reasons(points: pd.DataFrame, values: pd.DataFrame, catalog, top: int) -> list[str]:
    """The straightforward rule, row by row: what `reasons` must say, character for character."""
    by_name = {f.name: f for f in catalog}
    out = []
    for i, row in enumerate(points.to_numpy(dtype=float)):
        items = []
        for j in top_indices(row, top):
            f = by_name[points.columns[j]]
            previous = values.iat[i, values.columns.get_loc(f.previous)] if f.previous in values.columns else None
            items.append(explain.reason(f, values.iat[i, values.columns.get_loc(f.name)], row[j], previous))
        out.append(json.dumps(items, default=str))
    return out


def _awkward_values(n: int, seed: int) -> pd.DataFrame:
    """Every account feature with repeats, zeros, -0.0, missing, ±inf, halves and categories (some unknown)."""
    rng = np.random.default_rng(seed)
    frame = {}
    for f in CATALOG:
        if f.categorical:
            known = list(f.words) or list(f.labels) or ["growth"]
            frame[f.name] = pd.Series(rng.choice([*known, "brand_new", None], n), dtype="str")
            continue
        pool = np.array([0.0, -0.0, 1.0, 0.5, 1.5, 2.5, 0.004, 0.995, 12.0, 30.0, 1200.0, 1201.0, np.nan, np.inf])
        column = np.where(rng.random(n) < 0.5, rng.choice(pool, n), rng.gamma(2.0, 20.0, n))
        frame[f.name] = column * np.where(rng.random(n) < 0.1, -1, 1) if f.kind in ("change", "mean") else column
    frame["tenure_days"] = rng.integers(0, 2000, n)  # an integer column
    return pd.DataFrame(frame)


def _awkward_points(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    points = rng.normal(0, 2, (n, len(NAMES)))
    points[rng.random(points.shape) < 0.3] = 0.0  # many features with no points at all
    points[::5, 1] = points[::5, 2]  # exact ties
    points[::7, :6] = -1.25  # a tie of six at the top
    points[::9, 4] = 0.00005  # rounds to a half at 4 decimals
    points[::11, 5] = -0.00001  # prints as -0.0
    points[3, 7], points[4, 8], points[6] = np.nan, np.inf, 0.0  # NaN, inf, a row without reasons
    return pd.DataFrame(points, columns=NAMES)


def test_columnar_reasons_say_exactly_what_the_row_by_row_rule_says():
    n = 400
    values, points = _awkward_values(n, seed=3), _awkward_points(n, seed=4)
    for top in (1, 3, len(NAMES) + 2):
        assert reasons(points, values, CATALOG, top) == _reference_reasons(points, values, CATALOG, top), top
    # without the window before among the values, and with an object column of mixed types
    alone = values.drop(columns="logins_prev_30d").assign(plan=pd.Series(["growth", 1, 1.0, True, None] * 80,
                                                                         dtype=object))
    shown_points = points.drop(columns="logins_prev_30d")
    assert reasons(shown_points, alone, CATALOG, 3) == _reference_reasons(shown_points, alone, CATALOG, 3)


def test_points_print_as_json_prints_them_rounded_by_python():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 30, 20000), rng.integers(-10**6, 10**6, 5000) / 1e4 + 0.00005,
                        [0.0, -0.0, -0.00001, 0.00004, 0.00005, 0.00015, 2.675, -2.675, 999.99995, 1000.0, -1000.0,
                         123456.78905, 1e300, np.nan, np.inf, -np.inf]])
    integer, fraction = json_points(x)
    assert [a + b for a, b in zip(integer, fraction, strict=True)] == [json.dumps(round(float(v), 4)) for v in x]
    r = rounded(x)
    expected = np.array([round(float(v), 4) for v in x])
    assert np.array_equal(r, expected, equal_nan=True) and np.array_equal(np.signbit(r), np.signbit(expected))


def test_top_columns_are_the_stable_sort_s_first_and_last():
    rng = np.random.default_rng(6)
    points = rng.integers(-3, 4, (500, 9)).astype(float)  # ties everywhere
    for k in (1, 3, 9):
        smallest, largest = top_columns(points, k)
        order = np.argsort(points, axis=1, kind="stable")
        assert np.array_equal(smallest, order[:, :k]) and np.array_equal(largest, order[:, ::-1][:, :k])
        assert np.array_equal(smallest_stable(points, k), order[:, :k])


def test_values_in_one_display_class_print_alike():
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(0, 50, 20000), rng.integers(-2000, 2000, 4000) / 200 + 0.0025,
                             rng.integers(-2000, 2000, 4000) / 20, [0.0, -0.0, -0.004, 0.004, 0.005, -0.005, 0.995,
                                                                    2.675, 1e12, -1e15, np.nan, np.inf, -np.inf]])
    for spec in (",.0f", ".0f", ".1f", ",.1f", "+.1f", "+.2f", ".0%", ".1%"):
        classes = display_classes(values, spec)
        texts = pd.Series([format(v, spec) for v in values.tolist()])
        assert (texts.groupby(classes).nunique() == 1).all(), spec
        sure = classes < PRINTS_ALONE  # the rest (near a half, not finite, huge) print by themselves
        assert texts[sure].groupby(classes[sure]).first().is_unique and sure.mean() > 0.8, spec
    assert display_classes(values, "") is None and display_classes(values, ">8.1f") is None
