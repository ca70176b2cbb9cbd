"""`write_report`: the workspace's latest scorings (and their history) into a static site under `report/`.

The site is written to a new folder next to `report/` and swapped in at the end, so a reader never opens a
half-written report and accounts no longer scored leave no stale page behind.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.sources import DataSource
from serving.report import charts, data, signals
from serving.report.render import (
    AccountPages,
    Progress,
    account_features,
    account_rows,
    lead_rows,
    page_name,
    table_context,
    write_page,
)
from serving.report_config import ReportConfig

RENEWAL, CONVERSION = "renewal", "conversion"
PAGE_STEP = 25  # the progress bar moves every so many account pages


@dataclass
class Bands:
    """The serving configuration's cut-offs, when the caller has them (band lines on the history chart)."""

    health: dict[str, float] | None = None
    grades: dict[str, float] | None = None


def _quiet(*_: object, **__: object) -> None:
    return None


def _site(cfg: ReportConfig, as_of: pd.Timestamp | None, has_leads: bool, has_accounts: bool, depth: int) -> dict:
    up = "../" * depth
    nav = ([("Portfolio", f"{up}index.html")] if has_accounts else []) + \
          ([("Lead queue", f"{up}leads.html")] if has_leads else [])
    return {"title": cfg.title, "nav": nav, "current": "Portfolio" if has_accounts else "Lead queue",
            "as_of": as_of, "generated_at": pd.Timestamp.now(tz="UTC"), "currency": cfg.currency, "up": up}


def write_report(workspace_root: Path, source: DataSource | None, cfg: ReportConfig | None = None,
                 progress: Progress | None = None, bands: Bands | None = None, out: Path | None = None) -> Path:
    """Write the report of the latest scorings and return the path of its first page.

    `source` (the data the scores came from) adds names, owners, segments and the raw signal trends; without it
    the report still shows every score and says that the signals are not there. Raises `data.ReportError` when
    the workspace holds no scoring at all.
    """
    cfg = cfg or ReportConfig()
    bands = bands or Bands()
    note = progress or _quiet
    root = Path(workspace_root)
    target = out or root / "report"
    note("reading the scorings")
    latest, previous = data.latest_two(root / "scores" / RENEWAL)
    leads_run, _ = data.latest_two(root / "scores" / CONVERSION)
    if latest is None and leads_run is None:
        raise data.ReportError(f"no scorings in {root / 'scores'}: run `signalscore score --model renewal` "
                               "(and --model conversion for the lead queue) first")
    building = target.with_name(f".{target.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    (building / "accounts").mkdir(parents=True)
    if leads_run is not None:
        note("writing the lead queue")
        _leads_page(building, leads_run, source, cfg, bands,
                    _site(cfg, leads_run.as_of, True, latest is not None, 0))
    first = building / ("leads.html" if latest is None else "index.html")
    if latest is not None:
        _account_pages(building, root / "scores" / RENEWAL, latest, previous, source, cfg, bands,
                       leads_run is not None, note)
    note("finishing", completed=None, total=None)
    _swap(building, target)
    return target / first.name


def _swap(building: Path, target: Path) -> None:
    """Replace the old report with the new one in two renames."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    building.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _account_pages(folder: Path, scores: Path, latest: data.Scoring, previous: data.Scoring | None,
                   source: DataSource | None, cfg: ReportConfig, bands: Bands, has_leads: bool,
                   note: Progress) -> None:
    """The portfolio page and one page per scored account."""
    note("reading the accounts and their signals")
    deals = signals.contracts(source)
    accounts = data.account_frame(latest, previous, signals.account_attributes(source),
                                  data.contract_arr(deals, latest.as_of), cfg.new_account_days)
    order = data.band_order(latest.table, bands.health)
    colours = charts.band_colours(order)
    names = data.group_names(latest.table.columns)
    families = {g: t for g, t in signals.group_tables().items() if g in set(names.values())}
    fresh = signals.freshness(source, families, latest.as_of, cfg.stale_after_days)
    note("reading the score history")
    history = data.history_by_entity(data.score_history(scores))
    note("reading the signal trends")
    trends = signals.trends(source, list(accounts.entity_id), latest.as_of, cfg.trend_weeks, deals)
    rows = accounts.to_dict("records")
    for row in rows:
        row["file"] = page_name(row["entity_id"])
    falls, rises = data.movers(accounts, cfg.movers)
    site = _site(cfg, latest.as_of, has_leads, True, 0)
    write_page(folder / "index.html", "index.html", {
        **site, "rows": rows, **table_context(account_rows(rows, order, cfg.currency), cfg.page_rows),
        "headline": data.headline(accounts, order), "bands": data.band_summary(accounts, order),
        "band_order": order, "colours": colours, "previous_as_of": previous.as_of if previous else None,
        "band_svg": charts.band_chart(data.band_summary(accounts, order), colours, "bands", cfg.currency),
        "falls": _records(falls), "rises": _records(rises), "freshness": fresh, "has_source": source is not None,
        "model_version": _version(latest.table), "owners": _choices(accounts.owner),
        "segments": _choices(accounts.segment), "group_names": names,
        "stale_after_days": cfg.stale_after_days,
    })
    pages = AccountPages(cfg, latest.as_of, previous.as_of if previous else None, names, colours, history, trends,
                         bands.health, _site(cfg, latest.as_of, has_leads, True, 1))
    shared = {"descriptions": account_features(), "model_version": _version(latest.table),
              "has_source": source is not None}
    for i, row in enumerate(rows, 1):
        context = pages.context(row)
        context.update(shared)
        write_page(folder / "accounts" / row["file"], "account.html", context)
        if i % PAGE_STEP == 0 or i == len(rows):
            note("writing account pages", completed=i, total=len(rows))


def _leads_page(folder: Path, run: data.Scoring, source: DataSource | None, cfg: ReportConfig, bands: Bands,
                site: dict) -> None:
    grades = data.band_order(run.table, bands.grades)
    leads = data.lead_queue(run, signals.lead_attributes(source), grades)
    families = {"Fit": ["leads"], "Engagement": ["marketing_activities"]}
    rows = leads.to_dict("records")
    colours = charts.band_colours(grades)
    write_page(folder / "leads.html", "leads.html", {
        **site, "current": "Lead queue", "rows": rows, **table_context(lead_rows(rows, grades, colours),
                                                                        cfg.page_rows),
        "grades": data.grade_summary(leads, grades), "colours": colours, "model_version": _version(run.table),
        "freshness": signals.freshness(source, families, run.as_of, cfg.stale_after_days),
        "has_source": source is not None, "sources": _choices(leads.get("lead_source", pd.Series(dtype=object))),
    })


def _records(frame: pd.DataFrame) -> list[dict]:
    records = frame.to_dict("records")
    for r in records:
        r["file"] = page_name(r["entity_id"])
    return records


def _choices(values: pd.Series) -> list[str]:
    """The distinct values a filter offers, sorted; missing values are not a choice."""
    return sorted({str(v) for v in values.dropna()})


def _version(table: pd.DataFrame) -> str:
    versions = sorted({str(v) for v in table.get("model_version", pd.Series(dtype=object)).dropna()})
    return ", ".join(versions)
