"""The raw signals behind the scores, read from the data source: CRM attributes, freshness and weekly trends.

All optional: without a data source (or without a table) the report still shows every score, and says which
signal is not there rather than drawing it as zero. Queries run where the data is (Ibis), one per table and
trend for the whole portfolio, so a page costs no query of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import ibis
import numpy as np
import pandas as pd

from features.catalog import Feature, features_for
from features.contract import TABLES
from features.dataset import entity_attributes
from features.sources import DataSource

WEEK = pd.Timedelta(days=7)


@dataclass(frozen=True)
class TrendSpec:
    """One raw signal drawn per account and week: what it counts (or averages), from which table."""

    name: str
    table: str
    title: str
    unit: str
    kind: Literal["count", "level"]  # count: a week without rows is 0; level: a week without rows is a gap
    low: float | None = None  # the fixed axis of a level (NPS 0–10), when it has one
    high: float | None = None


TRENDS: dict[str, TrendSpec] = {s.name: s for s in (
    TrendSpec("logins", "product_events", "Logins per week", "logins", "count"),
    TrendSpec("active_users", "product_events", "Active users per week", "users", "count"),
    TrendSpec("open_tickets", "tickets", "Open tickets at the end of each week", "tickets", "count"),
    TrendSpec("service", "service_usage", "Service use per week (training, consulting, knowledge base, webinars)",
              "uses", "count"),
    TrendSpec("nps", "feedback", "NPS answers (mean of the week, 0–10)", "NPS", "level", 0.0, 10.0),
    TrendSpec("sentiment", "conversations", "Conversation sentiment (mean of the week, −1 to +1)", "sentiment",
              "level", -1.0, 1.0),
    TrendSpec("marketing", "marketing_activities", "Marketing touches per week", "touches", "count"),
    TrendSpec("arr", "contracts", "ARR of the contract active at the end of each week", "ARR", "level", 0.0),
)}
TABLE_WORDS = {"product_events": "product usage", "tickets": "ticket", "service_usage": "service usage",
               "feedback": "feedback", "conversations": "conversation", "marketing_activities": "marketing",
               "contracts": "contract", "accounts": "account", "leads": "lead"}


def trend_of(feature: Feature) -> str | None:
    """The raw signal that shows a feature's story: logins for usage counts, open tickets for support, ..."""
    if feature.source == "product_events":
        return "active_users" if "user" in feature.name else "logins"
    return next((s.name for s in TRENDS.values() if s.table == feature.source), None)


def feature_trends(entity: str = "account") -> dict[str, str]:
    """feature name → trend name, for the catalog's features that have one."""
    return {f.name: t for f in features_for(entity) if (t := trend_of(f)) is not None}


def group_tables(entity: str = "account") -> dict[str, list[str]]:
    """factor group → the source tables its features read, in catalog order: a group's signal family."""
    out: dict[str, list[str]] = {}
    for f in features_for(entity):
        tables = out.setdefault(f.group, [])
        if f.source not in tables:
            tables.append(f.source)
    return out


# ------------------------------------------------------------------------------------------- attributes


def account_attributes(source: DataSource | None) -> pd.DataFrame:
    """entity_id, name, owner, segment, industry, created_at from the CRM's accounts table (empty without it)."""
    if source is None:
        return pd.DataFrame(columns=["entity_id"])
    return entity_attributes(source, "renewal", ["name", "owner", "segment", "industry", "created_at"])


def lead_attributes(source: DataSource | None) -> pd.DataFrame:
    if source is None:
        return pd.DataFrame(columns=["entity_id"])
    return entity_attributes(source, "conversion", ["company", "industry", "employees", "country", "job_title",
                                                    "lead_source", "created_at"])


def contracts(source: DataSource | None) -> pd.DataFrame | None:
    """account_id, start_date, end_date, arr of every contract (ARR when the details file lacks it; the ARR trend)."""
    if source is None or not source.has("contracts"):
        return None
    frame = source.to_pandas("contracts", ["account_id", "start_date", "end_date", "arr"])
    frame["account_id"] = frame["account_id"].astype(str)
    return frame


# -------------------------------------------------------------------------------------------- freshness


def _literal(ts: pd.Timestamp) -> ibis.Value:
    return ibis.literal(ts.to_pydatetime())


def table_freshness(source: DataSource | None, table: str, as_of: pd.Timestamp, stale_after_days: float) -> dict:
    """The latest event of a table visible at as_of (time < as_of) and how old it is then."""
    row = {"table": table, "time_column": TABLES[table].event_time, "rows": 0, "latest": None, "lag_days": None}
    if source is None or not source.has(table):
        return {**row, "status": "no data", "note": "table not in the data"}
    expr = source.table(table)
    column = expr[row["time_column"]]
    seen = expr.filter(column < _literal(as_of)).aggregate(latest=column.max(), rows=ibis._.count()).to_pandas()
    rows, latest = int(seen.rows.iloc[0]), seen.latest.iloc[0]
    if rows == 0 or pd.isna(latest):
        return {**row, "status": "empty", "note": "no rows before as_of"}
    lag = (as_of - pd.Timestamp(latest)).total_seconds() / 86400
    status = "fresh" if lag <= stale_after_days else "stale"
    return {**row, "rows": rows, "latest": pd.Timestamp(latest), "lag_days": lag, "status": status, "note": ""}


def freshness(source: DataSource | None, families: dict[str, list[str]], as_of: pd.Timestamp,
              stale_after_days: float) -> list[dict]:
    """Per signal family (factor group) and table: how fresh the data behind it was at as_of."""
    cache: dict[str, dict] = {}
    out = []
    for family, tables in families.items():
        for table in tables:
            if table not in cache:
                cache[table] = table_freshness(source, table, as_of, stale_after_days)
            out.append({"family": family, **cache[table]})
    return out


# ----------------------------------------------------------------------------------------------- trends


@dataclass
class Trends:
    """Weekly series per account: one matrix (accounts × weeks) per trend, computed once for the portfolio.

    A trend whose table is not in the data is absent from `values` and named in `absent`: "no data", never 0.
    """

    week_ends: list[pd.Timestamp]
    index: dict[str, int]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)  # trend → why it is not there
    labels: list[str] = field(init=False)  # the week ends as dates, formatted once for every chart

    def __post_init__(self) -> None:
        self.labels = [f"{end:%Y-%m-%d}" for end in self.week_ends]

    def series(self, trend: str, entity_id: str) -> np.ndarray | None:
        if trend not in self.values or entity_id not in self.index:
            return None
        return self.values[trend][self.index[entity_id]]


def week_ends(as_of: pd.Timestamp, weeks: int) -> list[pd.Timestamp]:
    """The ends of the `weeks` 7-day windows before as_of, oldest first; the last one is as_of itself."""
    return [as_of - (weeks - 1 - k) * WEEK for k in range(weeks)]


def _fill(long: pd.DataFrame, index: dict[str, int], weeks: int, empty: float) -> np.ndarray:
    """A long frame (account_id, k weeks back, v) into an accounts × weeks matrix (oldest week first)."""
    matrix = np.full((len(index), weeks), empty, dtype=float)
    rows = long.account_id.astype(str).map(index)
    keep = rows.notna().to_numpy() & (long.k.to_numpy() >= 0) & (long.k.to_numpy() < weeks)
    matrix[rows[keep].astype(int).to_numpy(), weeks - 1 - long.k.to_numpy()[keep].astype(int)] = \
        long.v.to_numpy(dtype=float)[keep]
    return matrix


def _weekly(source: DataSource, spec: TrendSpec, as_of: pd.Timestamp, weeks: int) -> pd.DataFrame:
    """account_id, k (whole weeks before as_of), v: the spec's weekly aggregate, computed in the engine."""
    expr = source.table(spec.table)
    time = expr[TABLES[spec.table].event_time]
    start = as_of - weeks * WEEK
    expr = expr.filter(time < _literal(as_of), time >= _literal(start), expr.account_id.notnull())
    if spec.name == "logins":
        expr = expr.filter(expr.event == "login")
    elif spec.name == "nps":
        expr = expr.filter(expr.survey == "nps", expr.score.notnull())
    elif spec.name == "sentiment":
        expr = expr.filter(expr.sentiment.notnull())
    k = ((int(as_of.timestamp()) - expr[TABLES[spec.table].event_time].epoch_seconds()) // int(WEEK.total_seconds()))
    expr = expr.mutate(k=k)
    value = {"active_users": lambda t: t.user_id.nunique(), "nps": lambda t: t.score.mean(),
             "sentiment": lambda t: t.sentiment.mean()}.get(spec.name, lambda t: t.count())
    return expr.group_by(["account_id", "k"]).aggregate(v=value(expr)).to_pandas()


def _open_tickets(source: DataSource, as_of: pd.Timestamp, ends: list[pd.Timestamp]) -> pd.DataFrame:
    """Tickets open at each week end, as the `open_tickets` feature counts them (opened in the 365 days before)."""
    tickets = source.table("tickets")
    earliest = ends[0] - pd.Timedelta(days=365)
    tickets = tickets.filter(tickets.opened_at < _literal(as_of), tickets.opened_at >= _literal(earliest),
                             tickets.closed_at.isnull() | (tickets.closed_at >= _literal(ends[0])))
    frame = tickets.select("account_id", "opened_at", "closed_at").to_pandas()
    parts = []
    for k, end in enumerate(reversed(ends)):
        open_at = (frame.opened_at < end) & (frame.opened_at >= end - pd.Timedelta(days=365)) & \
                  ~(frame.closed_at < end)
        counts = frame[open_at].groupby("account_id").size()
        parts.append(pd.DataFrame({"account_id": counts.index, "k": k, "v": counts.to_numpy()}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["account_id", "k", "v"])


def _arr(deals: pd.DataFrame, ends: list[pd.Timestamp]) -> pd.DataFrame:
    """ARR of the contract active at each week end (the latest started, as the model's `arr` feature reads it)."""
    ordered = deals.sort_values("start_date")
    parts = []
    for k, end in enumerate(reversed(ends)):
        active = ordered[(ordered.start_date < end) & (ordered.end_date > end)]
        last = active.groupby("account_id").arr.last()
        parts.append(pd.DataFrame({"account_id": last.index, "k": k, "v": last.to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def _missing_column(source: DataSource, spec: TrendSpec) -> str | None:
    """The first column a trend needs that the table lacks (an optional column a vendor export left out)."""
    extra = {"logins": "event", "active_users": "user_id", "nps": "score", "sentiment": "sentiment",
             "open_tickets": "closed_at", "arr": "arr"}.get(spec.name)
    columns = source.table(spec.table).columns
    return next((c for c in ("account_id", extra) if c and c not in columns), None)


def trends(source: DataSource | None, entity_ids: list[str], as_of: pd.Timestamp, weeks: int,
           deals: pd.DataFrame | None = None, wanted: set[str] | None = None) -> Trends:
    """Every trend (or the `wanted` ones) for the given accounts over the `weeks` weeks before as_of."""
    ends = week_ends(as_of, weeks)
    out = Trends(ends, {e: i for i, e in enumerate(entity_ids)})
    for spec in TRENDS.values():
        if wanted is not None and spec.name not in wanted:
            continue
        if source is None:
            out.absent[spec.name] = "no data source was given to the report"
            continue
        if not source.has(spec.table):
            out.absent[spec.name] = f"no {TABLE_WORDS.get(spec.table, spec.table)} data (no {spec.table} table)"
            continue
        if (column := _missing_column(source, spec)) is not None:
            out.absent[spec.name] = f"no {spec.table}.{column} column in the data"
            continue
        if spec.name == "open_tickets":
            long = _open_tickets(source, as_of, ends)
        elif spec.name == "arr":
            long = _arr(deals if deals is not None else contracts(source), ends)
        else:
            long = _weekly(source, spec, as_of, weeks)
        out.values[spec.name] = _fill(long, out.index, weeks, 0.0 if spec.kind == "count" else np.nan)
    return out
