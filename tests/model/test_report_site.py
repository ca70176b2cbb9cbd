"""`signalscore report` end to end: two renewal scorings and a conversion scoring of a small company, the site they
make, its numbers against the scoring output, and the pages in headless Chromium (skipped without it)."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from report_pages import island_rows, parse
from typer.testing import CliRunner

from features.sources import read_meta
from serving.explain import group_column
from serving.report.render import page_name
from signalscore.cli import app
from signalscore.config import load_settings
from signalscore.journey import run_train
from signalscore.workspace import Workspace

pytestmark = pytest.mark.slow
FAST = ["training.threads=1", "training.tuning.trials=2", "training.evaluation.backtest_months=0"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLE = 25


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def site(small_company, tmp_path_factory) -> Workspace:
    """Both models trained quickly; renewal scored 28 days before the horizon and at it; leads at it; the report."""
    ws = Workspace(tmp_path_factory.mktemp("report") / "ws")
    settings = load_settings(None, FAST)
    for model in ("renewal", "conversion"):
        run_train(settings, ws, model, small_company)
    earlier = f"{pd.Timestamp(read_meta(small_company)['horizon']) - pd.Timedelta(days=28):%Y-%m-%d}"
    common = ["--data", str(small_company), "--workspace", str(ws.root)]
    _cli("score", "--model", "renewal", "--as-of", earlier, *common)
    _cli("score", "--model", "renewal", *common)
    _cli("score", "--model", "conversion", *common)
    assert "report: file://" in _cli("report", *common)
    return ws


def _latest(ws: Workspace, model: str) -> pd.DataFrame:
    return pd.read_parquet(sorted(ws.scores(model).glob("*.parquet"))[-1]).set_index("entity_id")


def _sample(ids: list[str]) -> list[str]:
    return random.Random(7).sample(ids, min(SAMPLE, len(ids)))


# ------------------------------------------------------------------------------------- numbers on the pages


def test_the_portfolio_lists_every_scored_account_with_its_numbers(site):
    table = _latest(site, "renewal")
    details = pd.read_parquet(sorted((site.scores("renewal") / "details").glob("*.parquet"))[-1]).set_index(
        "entity_id")
    every = island_rows(site.report / "index.html", "accounts-data")
    first_page = [e for e in parse(site.report / "index.html") if e["tag"] == "tr" and "data-risk" in e]
    assert first_page == every[:100]  # rendered on the server for readers without script
    rows = {e["data-id"]: e for e in every}
    assert len(rows) == len(every) and set(rows) == set(table.index)
    for entity in _sample(sorted(rows)):
        row, scored = rows[entity], table.loc[entity]
        assert float(row["data-score"]) == scored.score and float(row["data-probability"]) == scored.probability
        assert row["data-band"] == scored.band
        assert float(row["data-arr"]) == details.value__arr[entity]
        assert float(row["data-risk"]) == pytest.approx((1 - scored.probability) * details.value__arr[entity])
        assert (row["data-change"] == "") == pd.isna(scored.score_change)
        if row["data-change"]:
            assert float(row["data-change"]) == scored.score_change
    risk = [float(r["data-risk"]) for r in every]
    assert risk == sorted(risk, reverse=True)  # the order a CSM works in
    main = next(e for e in parse(site.report / "index.html") if e.get("id") == "portfolio")
    at_risk = details.value__arr[table.index[table.band.isin(["at_risk", "critical"])]].sum()
    assert float(main["data-arr-at-risk"]) == pytest.approx(at_risk)


def test_account_pages_show_the_score_the_points_the_reasons_and_the_change(site):
    table = _latest(site, "renewal")
    groups = {c: c for c in table.columns if c.startswith("points_")}
    history = pd.concat(pd.read_parquet(p) for p in sorted(site.scores("renewal").glob("*.parquet")))
    for entity in _sample(sorted(table.index)):
        scored = table.loc[entity]
        elements = parse(site.report / "accounts" / page_name(entity))
        main = next(e for e in elements if e.get("id") == "account")
        assert float(main["data-score"]) == scored.score and main["data-band"] == scored.band
        assert float(main["data-baseline"]) == scored.baseline_score
        svg = next(e for e in elements if e.get("id") == "waterfall")
        assert float(svg["data-baseline"]) == scored.baseline_score and float(svg["data-score"]) == scored.score
        points = {e["data-group"]: float(e["data-points"]) for e in elements
                  if e["tag"] == "g" and "data-group" in e}
        assert {group_column(g): p for g, p in points.items()} == {c: scored[c] for c in groups}
        reasons = [(e["data-feature"], float(e["data-points"])) for e in elements if e["tag"] == "li"]
        expected = [(r["feature"], r["points"]) for r in json.loads(scored.reasons)]
        assert sorted(reasons) == sorted(expected)
        said = [(e["data-as-of"], float(e["data-score"])) for e in elements if e["tag"] == "tr" and "data-as-of" in e]
        mine = history[history.entity_id == entity]
        assert said == [(f"{a:%Y-%m-%d}", s) for a, s in zip(mine.as_of, mine.score, strict=True)]
        changed = [(e["data-group"], float(e["data-points"])) for e in elements if e["tag"] == "tr"
                   and "data-group" in e and "data-points" in e]
        if pd.isna(scored.score_change):
            assert main["data-change"] == ""
        else:
            moved = json.loads(scored.change_reasons)["groups"]
            assert set((g["group"], g["points"]) for g in moved) <= set(changed)


def test_the_lead_queue_lists_every_open_lead_by_grade(site):
    table = _latest(site, "conversion")
    rows = island_rows(site.report / "leads.html", "lead-data")
    assert sorted(r["data-id"] for r in rows) == sorted(table.index)
    for r in rows:
        assert float(r["data-probability"]) == table.probability[r["data-id"]]
        assert r["data-grade"] == table.band[r["data-id"]] and r["data-route"] == table.route[r["data-id"]]
    probabilities = [float(r["data-probability"]) for r in rows]
    assert probabilities == sorted(probabilities, reverse=True)  # grade by grade, most likely first


def test_without_data_the_report_still_shows_every_score(site, tmp_path):
    bare = Workspace(tmp_path / "bare")
    shutil.copytree(site.root / "scores", bare.root / "scores")
    result = CliRunner().invoke(app, ["report", "--workspace", str(bare.root)])
    assert result.exit_code == 0, result.output
    assert "no data" in result.output
    table = _latest(bare, "renewal")
    rows = {e["data-id"]: float(e["data-score"]) for e in island_rows(bare.report / "index.html", "accounts-data")}
    assert rows == table.score.to_dict()
    page = (bare.report / "accounts" / page_name(table.index[0])).read_text()
    assert "No data source was given" in page and 'data-trend="' not in page


# ------------------------------------------------------------------------------------------------ browser


@pytest.fixture(scope="module")
def artifacts(request) -> Path:
    """Where screenshots go: $SIGNALSCORE_TEST_ARTIFACTS, else a temporary folder; said in the test output."""
    folder = Path(os.environ.get("SIGNALSCORE_TEST_ARTIFACTS") or tempfile.mkdtemp(prefix="signalscore-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nreport screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium): browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A 1366×768 page that records console errors, script errors and any request that leaves the disk."""
    view = browser.new_page(viewport={"width": 1366, "height": 768})
    view.problems = []
    view.on("console", lambda m: m.type == "error" and view.problems.append(f"console: {m.text}"))
    view.on("pageerror", lambda e: view.problems.append(f"script: {e}"))
    view.on("request", lambda r: r.url.startswith(("file:", "data:")) or view.problems.append(f"request: {r.url}"))
    yield view
    view.close()


def test_pages_open_from_disk_without_errors_or_network(site, page, artifacts):
    account = _latest(site, "renewal").index[0]
    for name, path in (("portfolio", site.report / "index.html"), ("leads", site.report / "leads.html"),
                       ("account", site.report / "accounts" / page_name(account))):
        page.goto(path.as_uri(), wait_until="load")
        page.screenshot(path=str(artifacts / f"{name}.png"))
        page.screenshot(path=str(artifacts / f"{name}-full.png"), full_page=True)
    assert page.problems == []


def _column(page, attribute: str) -> list[float]:
    return page.evaluate(f"""() => [...document.querySelectorAll('#accounts tbody tr')]
        .map(r => r.getAttribute('{attribute}')).filter(v => v !== '').map(Number)""")


def test_the_portfolio_table_sorts_when_a_header_is_clicked(site, page, artifacts):
    page.goto((site.report / "index.html").as_uri(), wait_until="load")
    scores = sorted(_latest(site, "renewal").score)
    shown = page.locator("#accounts tbody tr").count()
    assert 0 < shown <= len(scores)
    header = page.locator("#accounts th", has_text="Score")
    header.get_by_role("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    assert _column(page, "data-score") == scores[::-1][:shown]  # the best of every account, not of the page
    header.get_by_role("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert _column(page, "data-score") == scores[:shown]
    page.locator("#accounts th", has_text="Account").get_by_role("button").click()
    names = page.evaluate("() => [...document.querySelectorAll('#accounts tbody tr td:first-child a')]"
                          ".map(a => a.textContent.trim().toLowerCase())")
    assert names == sorted(names)
    page.screenshot(path=str(artifacts / "portfolio-sorted.png"))
    assert page.problems == []


def test_the_portfolio_filters_by_band(site, page):
    page.goto((site.report / "index.html").as_uri(), wait_until="load")
    page.select_option("select[data-attr=band]", "critical")
    shown = page.evaluate("() => [...document.querySelectorAll('#accounts tbody tr:not([hidden])')]"
                          ".map(r => r.dataset.band)")
    critical = int((_latest(site, "renewal").band == "critical").sum())
    assert shown == ["critical"] * min(critical, 100)
    assert f"of {critical:,} matching" in page.locator("form.filters output").inner_text()
    if critical > 100:
        page.get_by_role("button", name="Show all").click()
        assert page.locator("#accounts tbody tr").count() == critical


def test_an_account_page_shows_its_score_waterfall_and_reasons(site, page, artifacts):
    page.goto((site.report / "index.html").as_uri(), wait_until="load")
    first = page.locator("#accounts tbody tr").first
    entity = first.get_attribute("data-id")
    first.locator("a").first.click()
    page.wait_for_load_state("load")
    scored = _latest(site, "renewal").loc[entity]
    assert page.locator("#score").inner_text() == f"{scored.score:,.1f}"
    waterfall = page.locator("svg#waterfall")
    assert waterfall.is_visible() and waterfall.locator("g.wf-row").count() == 2 + sum(
        c.startswith("points_") for c in scored.index)
    assert "Points per factor group" in waterfall.locator("title").text_content()
    reasons = page.locator("#reasons li")
    assert reasons.count() == len(json.loads(scored.reasons)) and reasons.first.is_visible()
    assert json.loads(scored.reasons)[0]["sentence"] in reasons.first.inner_text()
    assert page.locator("#signals .trend").count() >= 1
    page.screenshot(path=str(artifacts / "account-from-portfolio.png"), full_page=True)
    assert page.problems == []
