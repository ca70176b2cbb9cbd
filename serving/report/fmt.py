"""How numbers read on the pages: one place, so a chart label and a table cell never disagree."""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

MINUS = "−"  # U+2212: a real minus sign, as wide as the plus


def missing(value: object) -> bool:
    """None, NaN and NaT are "no data" (never 0)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def signed(value: float | None, digits: int = 1) -> str:
    """+2.2 / −7.7; a value that rounds to zero reads ±0.0."""
    if missing(value):
        return "—"
    text = f"{float(value):+.{digits}f}"
    if float(text) == 0:
        return "±" + text[1:]
    return text.replace("-", MINUS)


def number(value: float | None, digits: int = 1) -> str:
    if missing(value):
        return "—"
    return f"{float(value):,.{digits}f}".replace("-", MINUS)


def compact(value: float | None) -> str:
    """12.3k, 4.5M: amounts in tiles and chart labels."""
    if missing(value):
        return "—"
    v = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return f"{v / size:.1f}{suffix}".replace("-", MINUS)
    return f"{v:,.0f}".replace("-", MINUS)


def money(value: float | None, currency: str = "", whole: bool = True) -> str:
    if missing(value):
        return "—"
    return f"{currency}{float(value):,.0f}" if whole else f"{currency}{compact(value)}"


def percent(share: float | None, digits: int = 0) -> str:
    if missing(share):
        return "—"
    return f"{100 * float(share):.{digits}f}%"


def day(ts: object) -> str:
    """YYYY-MM-DD; called for every week of every chart, so plain datetimes skip pandas."""
    if isinstance(ts, datetime):
        return ts.strftime("%Y-%m-%d") if not isinstance(ts, type(pd.NaT)) else "—"
    if missing(ts):
        return "—"
    return f"{pd.Timestamp(ts):%Y-%m-%d}"


def value_text(value: object) -> str:
    """A feature value as a reason shows it: 'no data' for missing, whole numbers without decimals."""
    if missing(value):
        return "no data"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        v = float(value)
        if math.isinf(v):
            return "∞" if v > 0 else MINUS + "∞"
        if v == round(v):
            return f"{v:,.0f}".replace("-", MINUS)
        return f"{v:,.2f}".replace("-", MINUS) if abs(v) < 100 else f"{v:,.0f}".replace("-", MINUS)
    return str(value).replace("_", " ")


def full(value: object) -> str:
    """A machine-readable number for data-* attributes: full precision, '' for missing."""
    if missing(value):
        return ""
    return repr(float(value))
