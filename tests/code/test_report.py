"""The CSM report's pure parts: the numbers it gathers, the playbook, the charts, and a site from synthetic scores."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_pages import island_rows, parse

from features.sources import open_data
from serving.report import Bands, ReportConfig, ReportError, charts, data, signals, write_report
from serving.report.render import page_name

AS_OF, EARLIER = pd.Timestamp("2025-06-01", tz="UTC"), pd.Timestamp("2025-05-01", tz="UTC")
BANDS = {"healthy": 0.75, "at_risk": 0.5, "critical": 0.0}


def _band(p: float) -> str:
    return "healthy" if p >= 0.75 else "at_risk" if p >= 0.5 else "critical"


def scores(ids: list[str], probabilities: list[float], as_of: pd.Timestamp,
           before: pd.DataFrame | None = None) -> pd.DataFrame:
    """A §7 renewal table: points that add up, a reason each (one with a missing value), changes when `before`."""
    score = 100 * np.asarray(probabilities)
    baseline = 80.0
    usage = (score - baseline) * 0.7
    rows = []
    for i, entity in enumerate(ids):
        reasons = [{"feature": "logins_30d", "group": "Product Usage", "value": None if i == 0 else 10.0 + i,
                    "points": round(float(usage[i]), 4), "sentence": f"{10 + i} logins in the last 30 days"}]
        previous = before.set_index("entity_id").score.get(entity) if before is not None else None
        change = None if previous is None else float(score[i] - previous)
        change_reasons = None if previous is None else json.dumps(
            {"groups": [{"group": "Product Usage", "points": change}],
             "features": [{"feature": "logins_30d", "group": "Product Usage", "before": 3.0, "after": 10.0 + i,
                           "points": change, "sentence": f"{10 + i} logins in the last 30 days"}]})
        rows.append({"entity_id": entity, "as_of": as_of, "model": "renewal", "model_version": "1",
                     "probability": probabilities[i], "score": score[i], "percentile": 50.0,
                     "band": _band(probabilities[i]), "route": None, "baseline_score": baseline,
                     "points_product_usage": usage[i], "points_service_utilization": score[i] - baseline - usage[i],
                     "reasons": json.dumps(reasons), "score_change": change, "change_reasons": change_reasons,
                     "scored_at": as_of})
    return pd.DataFrame(rows)


def details(ids: list[str], arr: list[float | None], tenure: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": ids, "value__arr": arr, "value__days_to_renewal": 100.0,
                         "value__tenure_days": tenure})


def leads(as_of: pd.Timestamp) -> pd.DataFrame:
    reasons = json.dumps([{"feature": "days_since_pricing_page_visit", "group": "Engagement", "value": 1.0,
                           "points": 9.5, "sentence": "Last looked at pricing 1 day ago"}])
    return pd.DataFrame({"entity_id": ["L1", "L2", "L3"], "as_of": as_of, "model": "conversion",
                         "model_version": "2", "probability": [0.5, 0.2, 0.01], "score": [50.0, 20.0, 1.0],
                         "percentile": [99.0, 50.0, 1.0], "band": ["A", "B", "D"],
                         "route": ["sales", "nurture", "nurture"], "baseline_score": 10.0,
                         "points_fit": [20.0, 5.0, -4.0], "points_engagement": [20.0, 5.0, -5.0],
                         "reasons": reasons, "score_change": np.nan, "change_reasons": None, "scored_at": as_of})


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Two renewal scorings (A4 new in the second) with details, and one conversion scoring; no model, no data."""
    root = tmp_path / "ws"
    folder = root / "scores" / "renewal"
    (folder / "details").mkdir(parents=True)
    first = scores(["A1", "A2", "A3"], [0.9, 0.6, 0.3], EARLIER)
    second = scores(["A1", "A2", "A3", "A/4"], [0.8, 0.7, 0.2, 0.95], AS_OF, before=first)
    first.to_parquet(folder / "2025-05-01.parquet")
    second.to_parquet(folder / "2025-06-01.parquet")
    details(["A1", "A2", "A3"], [1000.0, 5000.0, 2000.0], [400, 400, 400]).to_parquet(
        folder / "details" / "2025-05-01.parquet")
    details(["A1", "A2", "A3", "A/4"], [1000.0, 5000.0, None, 300.0], [430, 430, 430, 10]).to_parquet(
        folder / "details" / "2025-06-01.parquet")
    conversion = root / "scores" / "conversion"
    conversion.mkdir(parents=True)
    leads(AS_OF).to_parquet(conversion / "2025-06-01.parquet")
    return root


# ---------------------------------------------------------------------------------------------- numbers


def test_accounts_are_ordered_by_expected_arr_loss_and_a_missing_arr_stays_missing(workspace):
    latest, previous = data.latest_two(workspace / "scores" / "renewal")
    frame = data.account_frame(latest, previous, pd.DataFrame(columns=["entity_id"]),
                               data.contract_arr(None, AS_OF), new_account_days=90)
    assert list(frame.entity_id) == ["A2", "A1", "A/4", "A3"]  # 0.3×5000, 0.2×1000, 0.05×300, unknown last
    assert frame.risk_arr.iloc[0] == pytest.approx(0.3 * 5000)
    assert frame.set_index("entity_id").arr.isna().to_dict() == {"A2": False, "A1": False, "A/4": False, "A3": True}
    new = frame.set_index("entity_id")[["is_new", "first_scoring"]]
    assert new.loc["A/4"].tolist() == [True, True] and not new.loc["A1"].is_new


def test_the_contract_active_at_as_of_gives_arr_when_the_details_lack_it():
    deals = pd.DataFrame({"account_id": ["A1", "A1", "A2"],
                          "start_date": pd.to_datetime(["2024-01-01", "2025-01-01", "2025-07-01"], utc=True),
                          "end_date": pd.to_datetime(["2025-01-01", "2026-01-01", "2026-07-01"], utc=True),
                          "arr": [100.0, 150.0, 999.0]})
    assert data.contract_arr(deals, AS_OF).to_dict("records") == [{"entity_id": "A1", "contract_arr": 150.0}]


def test_headline_counts_every_band_but_the_best_as_at_risk(workspace):
    latest, previous = data.latest_two(workspace / "scores" / "renewal")
    frame = data.account_frame(latest, previous, pd.DataFrame(columns=["entity_id"]),
                               data.contract_arr(None, AS_OF), 90)
    order = data.band_order(latest.table, BANDS)
    numbers = data.headline(frame, order)
    assert order == ["healthy", "at_risk", "critical"]
    assert numbers["arr_at_risk"] == 5000.0  # A2 at risk; A3 critical but without ARR
    assert numbers["accounts_at_risk"] == 2 and numbers["arr_unknown"] == 1
    assert numbers["expected_loss"] == pytest.approx(0.3 * 5000 + 0.2 * 1000 + 0.05 * 300)


def test_bands_are_ordered_by_probability_when_no_cut_offs_are_given():
    table = pd.DataFrame({"band": ["C", "A", "B", "A"], "probability": [0.05, 0.6, 0.2, 0.4]})
    assert data.band_order(table) == ["A", "B", "C"]


def test_movers_name_their_main_reason(workspace):
    latest, previous = data.latest_two(workspace / "scores" / "renewal")
    frame = data.account_frame(latest, previous, pd.DataFrame(columns=["entity_id"]),
                               data.contract_arr(None, AS_OF), 90)
    falls, rises = data.movers(frame, 5)
    assert list(falls.entity_id) == ["A1", "A3"] and list(rises.entity_id) == ["A2"]
    main = falls.iloc[0].main_change
    assert main["feature"] == "logins_30d" and main["before"] == 3.0 and main["points"] == pytest.approx(-10.0)


def test_plays_cover_the_weakest_groups_from_a_merged_playbook():
    cfg = ReportConfig(playbook={"Service Utilization": "Offer training", "Commercial": ""})
    assert cfg.playbook["Service Utilization"] == "Offer training" and cfg.playbook["Commercial"] == ""
    assert "Product Usage" in cfg.playbook  # the defaults stay
    points = [("Product Usage", -2.0), ("Service Utilization", -5.0), ("Commercial", -1.0), ("Custom", -0.5),
              ("Support History", 3.0)]
    chosen = data.plays(points, cfg.playbook, 4)
    assert [p["group"] for p in chosen] == ["Service Utilization", "Product Usage", "Custom"]
    assert chosen[0]["play"] == "Offer training" and chosen[2]["play"] == cfg.playbook["default"]


def test_page_names_are_safe_and_distinct():
    names = [page_name(i) for i in ("A1", "A/1", "A_2f_1", "../x", "a b")]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9._\-]+\.html", n) for n in names)


# ----------------------------------------------------------------------------------------------- charts


def test_the_waterfall_runs_from_the_baseline_through_every_group_to_the_score():
    svg = str(charts.waterfall(80.0, [("Product Usage", -7.5), ("Commercial", 2.25)], 74.75, "wf"))
    points = [float(p) for p in re.findall(r'data-group="[^"]+" data-points="([^"]+)"', svg)]
    assert 80.0 + sum(points) == pytest.approx(74.75)
    assert "<title id=\"wf-title\">" in svg and "<desc id=\"wf-desc\">" in svg and 'role="img"' in svg
    assert "Product Usage −7.5" in svg  # the text alternative names every step


def test_no_data_is_drawn_differently_from_zero():
    ends = signals.week_ends(AS_OF, 4)
    zero = str(charts.trend_chart("Logins", "count", ends, np.zeros(4), "t0"))
    missing = str(charts.no_data_chart("Logins", "no product usage data", "t1"))
    assert 'data-no-data="true"' in missing and "No data" in missing
    assert "no-data" not in zero and "latest week 0" in zero


def test_okabe_ito_colours_for_bands_and_grades():
    assert charts.band_colours(["healthy", "at_risk", "critical"]) == {
        "healthy": "#009E73", "at_risk": "#E69F00", "critical": "#D55E00"}
    assert set(charts.band_colours(list("ABCD")).values()) <= set(charts.OKABE_ITO.values())


# ---------------------------------------------------------------------------------------------- signals


def test_freshness_and_weekly_trends_from_the_data(tiny_data):
    source = open_data(tiny_data)
    as_of = pd.Timestamp("2025-04-01", tz="UTC")
    fresh = {f["table"]: f for f in signals.freshness(
        source, {"Product Usage": ["product_events"], "Support History": ["tickets"],
                 "Service Utilization": ["service_usage"]}, as_of, 7)}
    assert fresh["product_events"]["status"] == "fresh"  # 2025-03-26 10:05, the 04-01 login is not visible yet
    assert fresh["product_events"]["latest"] == pd.Timestamp("2025-03-26 10:05", tz="UTC")
    assert fresh["tickets"]["status"] == "stale" and fresh["service_usage"]["status"] == "no data"
    trends = signals.trends(source, ["A1", "A9"], as_of, 8)
    assert trends.series("logins", "A1").tolist() == [0, 0, 1, 0, 0, 0, 0, 2]  # 02-20 and 03-25/26
    assert trends.series("active_users", "A1")[-1] == 2 and trends.series("logins", "A9").sum() == 0
    assert trends.series("open_tickets", "A1")[-3:].tolist() == [0, 1, 1]  # T2 open from 03-20
    nps = trends.series("nps", "A1")
    assert nps[-1] == 4.0 and np.isnan(nps[:-1]).all()  # weeks without an answer are gaps, not zeros
    assert trends.series("arr", "A1")[-1] == 15000.0
    assert trends.series("service", "A1") is None and "service_usage" in trends.absent["service"]


# ------------------------------------------------------------------------------------------------- site


def test_a_site_from_scores_alone_carries_the_scoring_numbers(workspace):
    index = write_report(workspace, None, ReportConfig(), bands=Bands(BANDS))
    assert index == workspace / "report" / "index.html"
    table = pd.read_parquet(workspace / "scores" / "renewal" / "2025-06-01.parquet").set_index("entity_id")
    rows = island_rows(index, "accounts-data")
    assert [r["data-id"] for r in rows] == ["A2", "A1", "A/4", "A3"]
    assert rows == [e for e in parse(index) if e["tag"] == "tr" and "data-risk" in e]  # the first page, server-side
    for r in rows:
        assert float(r["data-score"]) == table.score[r["data-id"]]
        assert r["data-band"] == table.band[r["data-id"]]
    assert rows[-1]["data-arr"] == ""  # no data, not 0
    page = workspace / "report" / "accounts" / page_name("A/4")
    main = next(e for e in parse(page) if e.get("id") == "account")
    assert float(main["data-score"]) == table.score["A/4"] and main["data-new"] == "true"
    assert "No data source was given" in page.read_text()
    assert [e["data-grade"] for e in island_rows(workspace / "report" / "leads.html", "lead-data")] == ["A", "B", "D"]


def test_the_json_island_cannot_end_its_script_element():
    from serving.report.render import island

    text = str(island([{"h": "<a>x</a><!-- y --></script>"}]))
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == [{"h": "<a>x</a><!-- y --></script>"}]


def test_a_second_report_replaces_the_first_without_stale_pages(workspace):
    write_report(workspace, None)
    (workspace / "report" / "accounts" / "gone.html").write_text("old")
    write_report(workspace, None)
    assert not (workspace / "report" / "accounts" / "gone.html").exists()
    assert len(list((workspace / "report" / "accounts").glob("*.html"))) == 4


def test_no_scoring_at_all_says_what_to_run(tmp_path):
    with pytest.raises(ReportError, match="signalscore score"):
        write_report(tmp_path, None)
    assert not (tmp_path / "report").exists()


def test_the_report_section_reads_from_yaml_and_keeps_the_default_plays():
    import yaml

    tree = yaml.safe_load("""
    currency: "$"
    plays_per_account: 3
    playbook:
      Service Utilization: "Offer the two-hour admin training."
      Commercial: ""
    """)
    cfg = ReportConfig.model_validate(tree)
    assert cfg.currency == "$" and cfg.plays_per_account == 3
    assert cfg.playbook["Service Utilization"] == "Offer the two-hour admin training."
    assert data.plays([("Commercial", -3.0)], cfg.playbook, 2) == []  # an empty play: nothing suggested
    with pytest.raises(ValueError):
        ReportConfig.model_validate({"trend_weeks": 1})
