"""The baselines learn the signal they are given, cope with messy columns, and the scorecard obeys its rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from training.baselines import LogisticBaseline, Scorecard

FEATURES = ["events", "tickets", "noise", "plan", "empty"]
GROUP_OF = {"events": "Engagement", "tickets": "Support History", "noise": "Fit", "plan": "Fit", "empty": "Fit"}


def _signal(n: int = 3000, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Heavy-tailed events raise the odds, tickets lower them, plan shifts them; some values are missing."""
    rng = np.random.default_rng(seed)
    events = rng.lognormal(2.0, 1.5, n).round()
    tickets = rng.normal(0.0, 1.0, n)
    plan = rng.choice(["basic", "pro", "enterprise"], n, p=[0.5, 0.3, 0.2])
    logit = 0.9 * np.log1p(events) - 1.0 * tickets + np.select([plan == "enterprise", plan == "basic"], [1.0, -0.5])
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit - 2.0)))).astype(int)
    frame = pd.DataFrame({
        "events": np.where(rng.random(n) < 0.1, np.nan, events),
        "tickets": tickets,
        "noise": rng.normal(size=n),
        "plan": pd.Series(plan, dtype=object).where(rng.random(n) > 0.1, None),
        "empty": np.full(n, np.nan),
        "unrelated_extra": rng.normal(size=n),
    })
    return frame, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return _signal()


def _halves(frame: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
    return frame.iloc[:2000], y[:2000], frame.iloc[2000:], y[2000:]


def test_logistic_baseline_learns_the_signal_from_messy_columns(data):
    frame, y = data
    train, y_train, test, y_test = _halves(frame, y)
    before = train.copy()
    model = LogisticBaseline(FEATURES, ["plan"], c=1.0, seed=0).fit(train, y_train)
    p = model.predict_proba(test)
    assert p.shape == (len(test),) and ((p > 0) & (p < 1)).all()
    assert roc_auc_score(y_test, p) > 0.7
    assert model.dropped_ == ["empty"]
    pd.testing.assert_frame_equal(train, before)  # the input is not mutated
    shuffled = test.sample(frac=1.0, random_state=1)[["unrelated_extra", *reversed(FEATURES)]]
    np.testing.assert_allclose(model.predict_proba(shuffled), pd.Series(p, index=test.index)[shuffled.index])
    again = LogisticBaseline(FEATURES, ["plan"], c=1.0, seed=0).fit(train, y_train)
    np.testing.assert_array_equal(again.predict_proba(test), p)  # deterministic


def test_logistic_baseline_takes_unseen_categories_and_no_categorical_columns(data):
    frame, y = data
    train, y_train, test, _ = _halves(frame, y)
    model = LogisticBaseline(FEATURES, ["plan"]).fit(train, y_train)
    unseen = test.assign(plan="startup")
    p = model.predict_proba(unseen)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    numeric_only = LogisticBaseline(["events", "tickets", "empty"], []).fit(train, y_train)
    assert ((numeric_only.predict_proba(test) > 0) & (numeric_only.predict_proba(test) < 1)).all()


def test_scorecard_reads_directions_and_scores_within_0_100(data):
    frame, y = data
    train, y_train, test, y_test = _halves(frame, y)
    card = Scorecard(FEATURES, GROUP_OF, {"Engagement": 0.5, "Support History": 0.3, "Fit": 0.2}).fit(train, y_train)
    assert card.directions_["events"] == 1 and card.directions_["tickets"] == -1
    assert "plan" in card.skipped_ and "empty" in card.dropped_ and "empty" not in card.directions_
    assert sum(card.weights_.values()) == pytest.approx(1.0)
    points = card.points(test)
    assert points.min() >= 0 and points.max() <= 100
    assert roc_auc_score(y_test, points) > 0.6
    with pytest.raises(NotFittedError, match="calibrate"):
        card.predict_proba(test)
    p = card.calibrate(test, y_test).predict_proba(test)
    assert ((p > 0) & (p < 1)).all() and roc_auc_score(y_test, p) == pytest.approx(roc_auc_score(y_test, points))


def test_missing_measures_score_neutral(data):
    frame, y = data
    card = Scorecard(["events", "tickets"], GROUP_OF, {}).fit(frame, y)
    blank = frame.iloc[:5].assign(events=np.nan, tickets=np.nan)
    assert (card.measure_points(blank).to_numpy() == 50.0).all()
    np.testing.assert_allclose(card.points(blank), 50.0)


def test_a_zero_weight_group_does_not_move_the_score(data):
    frame, y = data
    weights = {"Engagement": 1.0, "Support History": 0.0}
    card = Scorecard(["events", "tickets"], GROUP_OF, weights).fit(frame, y)
    assert card.weights_ == {"Engagement": 1.0, "Support History": 0.0}
    moved = frame.assign(tickets=frame["tickets"] * -3 + 5)
    np.testing.assert_array_equal(card.points(moved), card.points(frame))
    alone = Scorecard(["events"], GROUP_OF, weights).fit(frame, y)
    np.testing.assert_allclose(card.points(frame), alone.points(frame))


def test_unlisted_groups_weigh_as_the_mean_and_all_zero_weighs_equally(data):
    frame, y = data
    unlisted = Scorecard(["events", "tickets"], GROUP_OF, {"Engagement": 0.6, "Fit": 0.2}).fit(frame, y)
    assert unlisted.weights_["Support History"] == pytest.approx(0.4 / 1.0)
    zero = Scorecard(["events", "tickets"], GROUP_OF, {"Engagement": 0.0, "Support History": 0.0}).fit(frame, y)
    assert zero.weights_ == {"Engagement": 0.5, "Support History": 0.5}
