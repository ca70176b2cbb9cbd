"""Feature values on a hand-made company, checked by hand: windows, filters, late values, missing tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from tiny import ts

from features.config import FeaturesConfig
from features.dataset import build_dataset
from features.sources import open_data


@pytest.fixture
def built(tiny_data):
    source = open_data(tiny_data)
    dates = [ts("2025-04-01"), ts("2025-06-01")]

    def get(model: str) -> pd.DataFrame:
        frame = build_dataset(source, model, dates, FeaturesConfig())
        return frame.set_index(["entity_id", frame.as_of.dt.strftime("%Y-%m-%d")])

    return get


def test_lead_engagement_counts_only_rows_before_as_of(built):
    leads = built("conversion")
    l1 = leads.loc[("L1", "2025-04-01")]
    assert l1.email_open_30d == 1
    assert l1.pricing_page_visit_30d == 1 and l1.pricing_page_visit_7d == 1
    assert l1.demo_request_90d == 0  # the demo request at exactly 00:00 on as_of is not visible
    assert l1.engaged_activities_30d == 2
    assert l1.web_visit_90d == 1 and l1.web_visit_30d == 0
    assert l1.engagement_trend == 2.0  # 2 in the last 30 days, 1 (a web visit) in the 30 before
    assert l1.days_since_last_activity == pytest.approx(1 / 1440)
    assert l1.lead_age_days == 81
    assert l1.industry == "software" and l1.employees == 120 and l1.employee_band == "51-200"
    # Three engaged rows, 1 minute, 11 days 15 hours and 44 days 12 hours old, halved per 14 days of age.
    expected = 0.5 ** ((1 / 1440) / 14) + 0.5 ** ((11 + 15 / 24) / 14) + 0.5 ** (44.5 / 14)
    assert l1.engagement_score == pytest.approx(expected)
    assert math.isnan(l1.email_open_rate_90d)  # no email was sent: a rate does not exist
    assert l1.days_since_demo_request != l1.days_since_demo_request  # never asked (the 00:00 request is later)


def test_job_function_is_read_from_the_title(tiny_data):
    from tiny import frame, tiny_tables, write_tiny

    tables = tiny_tables()
    titles = ["VP Marketing", "IT Manager", "Student"]
    tables["leads"] = frame("leads", [dict(row, job_title=t) for row, t in
                                      zip(tables["leads"].to_dict("records"), titles, strict=True)])
    source = open_data(write_tiny(tiny_data.parent / "titles", tables))
    leads = build_dataset(source, "conversion", [ts("2025-03-10")], FeaturesConfig(), names=["job_function"])
    assert dict(zip(leads.entity_id, leads.job_function, strict=True)) == {
        "L1": "marketing", "L2": "data_and_it", "L3": "other"}


def test_account_usage_support_feedback_and_contract(built):
    a1 = built("renewal").loc[("A1", "2025-04-01")]
    assert a1.logins_30d == 2
    assert a1.login_trend == 2.0
    assert a1.active_users_30d == 2
    assert a1.time_in_product_hours_30d == pytest.approx((600 + 1200 + 60) / 3600)
    assert a1.feature_breadth_30d == 1
    assert a1.seats == 12 and a1.active_users_per_seat == pytest.approx(2 / 12)
    assert a1.tickets_90d == 2 and a1.urgent_tickets_90d == 1 and a1.normal_tickets_30d == 1
    assert a1.open_tickets == 1 and a1.open_urgent_tickets == 0  # T2 closes after as_of: still open then
    assert a1.median_days_to_close_90d == 2.0  # only T1 had closed by as_of
    assert a1.mean_csat_90d == 2.0  # T2's CSAT arrives with its close, after as_of
    assert a1.latest_nps == 4.0  # the 10 answered after as_of is invisible
    assert a1.nps_category == "detractor" and a1.mean_nps_365d == 6.5
    assert a1.contract_days == 365
    assert a1.arr == 15000 and a1.plan == "growth" and a1.prior_renewals == 1
    assert a1.days_to_renewal == pytest.approx(289.5)


def test_missing_table_stays_missing_and_no_rows_is_zero(built):
    accounts = built("renewal")
    a9 = accounts.loc[("A9", "2025-06-01")]
    assert math.isnan(a9.training_sessions_90d)  # no service_usage table: unknown, not zero
    assert math.isnan(a9.mean_sentiment_90d)
    assert a9.logins_30d == 0  # the product_events table exists; this account simply has none
    assert math.isnan(a9.days_since_last_login)
    assert accounts.loc[("A1", "2025-06-01")].latest_nps == 10.0


def test_labels_follow_the_horizons(built):
    leads = built("conversion")
    assert leads.loc[("L1", "2025-04-01")].label == 1  # converts on 20 May, within 90 days
    assert leads.loc[("L2", "2025-04-01")].label == 0
    assert math.isnan(leads.loc[("L2", "2025-06-01")].label)  # 90 days not yet over at the horizon
    assert ("L3", "2025-04-01") not in leads.index  # disqualified before as_of: not eligible
    assert ("L1", "2025-06-01") not in leads.index  # converted before as_of: not eligible
    accounts = built("renewal")
    assert set(accounts.index) == {("A1", "2025-04-01"), ("A1", "2025-06-01"), ("A9", "2025-06-01")}
    assert accounts.label.isna().all()  # no contract ends within 180 days of an as_of whose 180 days are over


def test_a_subset_of_the_catalog_builds_with_its_dependencies(tiny_data):
    source = open_data(tiny_data)
    frame = build_dataset(source, "renewal", [ts("2025-04-01")], FeaturesConfig(), names=["active_users_per_seat"])
    assert list(frame.columns) == ["entity_id", "as_of", "active_users_per_seat", "label"]
    assert frame.active_users_per_seat.iloc[0] == pytest.approx(2 / 12)


def test_a_fractional_as_of_is_refused_rather_than_rounded_silently(tiny_data):
    from features.catalog import features_for
    from features.engine import build_features

    snaps = pd.DataFrame({"entity_id": ["A1"], "as_of": [ts("2025-04-01") - pd.Timedelta(microseconds=1)]})
    with pytest.raises(ValueError, match="whole second"):
        build_features(open_data(tiny_data), snaps, "account", features_for("account", ["logins_30d"]))


def test_offset_windows_and_any_event_recency(built):
    a1 = built("renewal").loc[("A1", "2025-04-01")]
    assert a1.logins_prev_30d == 1  # the login of 20 February, 40 days before as_of
    assert a1.events_30d == 3
    assert a1.days_since_last_event == pytest.approx(5 + 14 / 24 - 5 / 1440)  # report_export at 10:05
