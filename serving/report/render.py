"""The report's pages: Jinja2 templates filled with the numbers of `data.py` and the charts of `charts.py`.

Every page is one self-contained HTML file (CSS, script and charts inline) that opens from disk with no server
and no network; a Content-Security-Policy in each page forbids loading anything from elsewhere. Numbers are also
written to data-* attributes at full precision, so tests (and scripts) read them without parsing prose.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup

from features.catalog import features_for
from serving.report import charts, fmt
from serving.report.data import group_points, parse_changes, parse_reasons, plays
from serving.report.signals import TRENDS, Trends, feature_trends
from serving.report_config import ReportConfig

TEMPLATES = Path(__file__).parent / "templates"
Progress = Callable[..., None]  # progress(description, completed=None, total=None), as the scoring job's


def page_name(entity_id: str) -> str:
    """A file name for any id: letters, digits, '.' and '-' kept, anything else written as _hex_ (no clashes)."""
    return re.sub(r"[^A-Za-z0-9.\-]", lambda m: f"_{ord(m.group()):x}_", str(entity_id)) + ".html"


@cache
def environment() -> Environment:
    """One Jinja2 environment: autoescaped HTML, strict about missing values, the report's number filters."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(signed=fmt.signed, number=fmt.number, compact=fmt.compact, money=fmt.money,
                       percent=fmt.percent, day=fmt.day, value=fmt.value_text, full=fmt.full,
                       words=lambda s: "" if fmt.missing(s) else str(s).replace("_", " "), missing=fmt.missing)
    env.globals["zip"] = zip
    env.globals["css"] = (TEMPLATES / "report.css").read_text()
    env.globals["js"] = (TEMPLATES / "report.js").read_text()
    return env


def template(name: str) -> Template:
    return environment().get_template(name)


@dataclass
class AccountPages:
    """What every account page shares: the run, the bands, the signals, the playbook."""

    cfg: ReportConfig
    as_of: pd.Timestamp
    previous_as_of: pd.Timestamp | None
    group_names: dict[str, str]
    colours: dict[str, str]
    history: dict[str, list[tuple[pd.Timestamp, float, str]]]
    trends: Trends
    cut_offs: dict[str, float] | None = None
    site: dict = field(default_factory=dict)  # title, nav, generated_at: the frame of every page
    feature_trend: dict[str, str] = field(default_factory=lambda: feature_trends("account"), repr=False)

    def context(self, row: dict) -> dict:
        """Everything one account page shows, from its row of the portfolio."""
        ident = row["entity_id"]
        groups = group_points(row, self.group_names)
        reasons = parse_reasons(row["reasons"])
        colour = self.colours.get(row["band"], charts.INK)
        return {
            **self.site, "a": row, "file": page_name(ident), "previous_as_of": self.previous_as_of,
            "cfg_new_days": self.cfg.new_account_days,
            "groups": groups,
            "waterfall": charts.waterfall(row["baseline_score"], groups, row["score"], "waterfall", colour),
            "history_svg": charts.history_chart(self.history.get(ident, []), "history", self.colours, self.cut_offs),
            "history": self.history.get(ident, []),
            "down": [r for r in reasons if r["points"] < 0], "up": [r for r in reasons if r["points"] > 0],
            "changes": parse_changes(row["change_reasons"]),
            "trends": self.signal_charts(ident, reasons),
            "plays": plays(groups, self.cfg.playbook, self.cfg.plays_per_account),
        }

    def signal_charts(self, ident: str, reasons: list[dict]) -> list[dict]:
        """The raw signal behind each top reason (worst first), one chart per signal, as many as configured."""
        chosen: list[tuple[str, str]] = []
        for reason in reasons:
            trend = self.feature_trend.get(reason["feature"])
            if trend and trend not in {t for t, _ in chosen}:
                chosen.append((trend, reason["feature"]))
        out = []
        for k, (trend, feature) in enumerate(chosen[:self.cfg.trends_per_account]):
            spec = TRENDS[trend]
            values = self.trends.series(trend, ident)
            if values is None:
                why = self.trends.absent.get(trend, "no rows for this account")
                out.append({"spec": spec, "feature": feature, "absent": why,
                            "svg": charts.no_data_chart(spec.title, why, f"trend{k}")})
                continue
            labels = self.trends.labels
            out.append({"spec": spec, "feature": feature, "absent": None, "summary": _trend_summary(spec.kind, values),
                        "svg": charts.trend_chart(spec.title, spec.kind, labels, values, f"trend{k}", spec.low,
                                                  spec.high),
                        "table": charts.values_table(labels, values, spec.unit, 2 if spec.kind == "level" else 0)})
        return out


def _trend_summary(kind: str, values: np.ndarray) -> str:
    """One line under a trend chart, so the chart is never the only way to read it."""
    finite = values[np.isfinite(values)]
    if kind == "count":
        if not finite.any():
            return "0 in every week shown (data present, nothing recorded)"
        return f"latest week {values[-1]:g}; weekly mean {finite.mean():.1f}; highest {finite.max():g}"
    if not finite.size:
        return "nothing recorded in these weeks (no answers or rows; not zero)"
    weeks = "1 week" if finite.size == 1 else f"{finite.size} weeks"
    return f"{weeks} with data; latest {finite[-1]:.2f}; mean {finite.mean():.2f}"


def account_features() -> dict[str, str]:
    """feature name → its description, for the "what changed" table's labels."""
    return {f.name: f.description for f in features_for("account")}


def write_page(path: Path, name: str, context: dict) -> None:
    path.write_text(template(name).render(**context), encoding="utf-8")


# ------------------------------------------------------------------------------------ the big tables' rows


def _key(value: object) -> object:
    """A sort key JSON can carry: None for missing (sorted last), numbers as floats, text in lower case."""
    if fmt.missing(value):
        return None
    if isinstance(value, str):
        return value.lower()
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def island(entries: list[dict]) -> Markup:
    """Rows as JSON inside <script type="application/json">: nothing in it can close the script element."""
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("</", "<\\/").replace("<!--", "\\u003c!--"))


def account_rows(rows: list[dict], band_order: list[str], currency: str) -> list[dict]:
    """Per account: its table row (HTML), sort keys in column order, filter values, search text, expected loss."""
    macro = template("rows.html").module.account_row
    rank = {b: i for i, b in enumerate(band_order)}
    return [{"h": str(macro(r, band_order, currency)),
             "k": [_key(r["name"] if isinstance(r["name"], str) else r["entity_id"]), _key(r["owner"]),
                   _key(r["segment"]), _key(r["score"]), _key(rank.get(r["band"])), _key(r["score_change"]),
                   _key(r["arr"]), _key(r["risk_arr"]), _key(r["days_to_renewal"]), _key(r["weakest_group"] or None)],
             "f": {"owner": _text(r["owner"]), "segment": _text(r["segment"]), "band": r["band"]},
             "s": " ".join((r["entity_id"], _text(r["name"]), _text(r["owner"]))).lower(),
             "v": _key(r["risk_arr"])} for r in rows]


def lead_rows(rows: list[dict], grades: list[str], colours: dict[str, str]) -> list[dict]:
    """Per lead: its table row (HTML), sort keys in column order, filter values and search text."""
    macro = template("rows.html").module.lead_row
    rank = {g: i for i, g in enumerate(grades)}
    return [{"h": str(macro(r, colours)),
             "k": [_key(_text(r.get("company")) or r["entity_id"]), _key(rank.get(r["band"])), _key(r["route"]),
                   _key(r["probability"]), _key(r.get("lead_source"))],
             "f": {"grade": r["band"], "route": _text(r["route"]), "source": _text(r.get("lead_source"))},
             "s": " ".join((r["entity_id"], _text(r.get("company")))).lower()} for r in rows]


def table_context(entries: list[dict], page_rows: int) -> dict:
    """The first page, rendered on the server (what a reader without script sees), and every row as data."""
    first = entries[:page_rows]
    return {"first_rows": Markup("".join(e["h"] for e in first)), "first_count": len(first),
            "island": island(entries), "page_rows": page_rows}
