"""Shared pieces of the generator: the daily time grid, fast column builders and name lists.

Everything here is deterministic given its random generator, and avoids per-row Python work so that the
default-size company (millions of events) builds in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

DAY_US = 86_400_000_000
SEC_US = 1_000_000
NAT = np.iinfo(np.int64).min  # viewed as datetime64 this is NaT

# Product and marketing activity is lower at weekends (Mon..Sun).
WEEKDAY_FACTOR = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.15, 0.1])


@dataclass(frozen=True)
class Grid:
    """The daily grid: day d covers [start + d days, start + d + 1 days); the horizon is the end of the last day."""

    start_us: int
    horizon_us: int
    days: int
    weekday: np.ndarray  # 0 = Monday, per day
    season: np.ndarray  # multiplicative activity factor per day (holiday dip)
    doy: np.ndarray  # day of year per day, for seasonality of lead arrivals

    @classmethod
    def build(cls, end: date, months: int) -> Grid:
        horizon = pd.Timestamp(end, tz="UTC")
        start = horizon - pd.DateOffset(months=months)
        start_us = int(start.value // 1000)
        horizon_us = int(horizon.value // 1000)
        days = (horizon_us - start_us) // DAY_US
        dates = pd.date_range(start.tz_localize(None), periods=days, freq="D")
        month = dates.month.to_numpy()
        dom = dates.day.to_numpy()
        holiday = ((month == 12) & (dom >= 22)) | ((month == 1) & (dom <= 2))
        return cls(
            start_us=start_us,
            horizon_us=horizon_us,
            days=int(days),
            weekday=dates.day_of_week.to_numpy().astype(np.int64),
            season=np.where(holiday, 0.45, 1.0),
            doy=dates.day_of_year.to_numpy().astype(np.int64),
        )

    def day_us(self, day: np.ndarray | int) -> np.ndarray:
        return self.start_us + np.asarray(day, dtype=np.int64) * DAY_US

    def activity(self) -> np.ndarray:
        """Per-day multiplier for human activity: weekly rhythm times the year-end dip."""
        return WEEKDAY_FACTOR[self.weekday] * self.season

    def month_starts(self) -> list[pd.Timestamp]:
        """Snapshot dates: month starts after the first full month of data, up to the horizon's month start."""
        start = pd.Timestamp(self.start_us * 1000, tz="UTC")
        horizon = pd.Timestamp(self.horizon_us * 1000, tz="UTC")
        month_start = start.normalize().replace(day=1)
        first_full = month_start if month_start == start else month_start + pd.DateOffset(months=1)
        first = first_full + pd.DateOffset(months=1)
        last = horizon.replace(day=1).normalize()
        return list(pd.date_range(first, last, freq="MS")) if first <= last else []


def business_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Second of the day, shaped like office hours (mostly 7–21 h) with a uniform night-time floor; never 0."""
    core = rng.normal(13.5 * 3600, 2.6 * 3600, n)
    flat = rng.uniform(0, 86_400, n)
    sec = np.where(rng.random(n) < 0.8, core, flat)
    return np.clip(sec, 1, 86_399).astype(np.int64)


def times_on_days(
    rng: np.random.Generator, day: np.ndarray, grid: Grid, lo_sec: np.ndarray | None = None
) -> np.ndarray:
    """µs timestamps inside the given days; where lo_sec is given (>= 0), strictly after that second of the day.

    lo_sec lets an entity's first day only carry events after its creation moment, so nothing precedes the
    row that created it.
    """
    n = len(day)
    sec = business_seconds(rng, n)
    if lo_sec is not None:
        bound = lo_sec >= 0
        late = rng.random(n)
        redraw = bound & (sec <= lo_sec)
        span = 86_399 - lo_sec
        sec = np.where(redraw, lo_sec + 1 + np.floor(late * np.maximum(span, 0)).astype(np.int64), sec)
        sec = np.minimum(sec, 86_399)
    return grid.day_us(day) + sec * SEC_US


def within_day(t_us: np.ndarray, delay_us: np.ndarray) -> np.ndarray:
    """t + delay, kept inside t's day so a reaction (an open after a send) belongs to the same day's state."""
    day_end = (t_us // DAY_US + 1) * DAY_US - SEC_US
    return np.minimum(t_us + delay_us, np.maximum(day_end, t_us))


def str_col(codes: np.ndarray, labels: Sequence[str] | np.ndarray) -> pd.Series:
    """Plain pandas `str` column from integer codes into `labels` (-1 = missing), without per-row Python."""
    codes = np.asarray(codes)
    dictionary = pa.array(list(labels), type=pa.string())
    idx = pa.array(codes.astype(np.int32), mask=codes < 0)
    arr = pa.DictionaryArray.from_arrays(idx, dictionary).cast(pa.string())
    return pd.Series(arr, dtype="str")


def id_labels(prefix: str, n: int, width: int) -> np.ndarray:
    """Ids such as A000123 for 1..n, in order."""
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def ts_col(us: np.ndarray) -> pd.Series:
    """datetime64[us, UTC] column from µs since the epoch (NAT = missing)."""
    return pd.Series(np.asarray(us, dtype=np.int64).view("M8[us]")).dt.tz_localize("UTC")


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def choice_codes(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix (rows need not be normalised)."""
    cum = np.cumsum(p, axis=1)
    u = rng.random(len(p)) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1).astype(np.int64)


INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Media",
    "Logistics",
    "Professional Services",
    "Public Sector",
)
INDUSTRY_P = np.array([0.2, 0.12, 0.1, 0.11, 0.1, 0.07, 0.07, 0.08, 0.1, 0.05])

COUNTRIES = ("US", "GB", "DE", "FR", "CA", "AU", "NL", "SE", "IN", "BR", "ES", "JP")
COUNTRY_P = np.array([0.38, 0.11, 0.09, 0.06, 0.06, 0.05, 0.04, 0.03, 0.07, 0.05, 0.03, 0.03])

_NAME_A = (
    "Blue", "North", "Bright", "Silver", "Apex", "Cedar", "Nova", "Iron", "Summit", "Harbor", "Quantum",
    "Pioneer", "Granite", "Maple", "Vertex", "Crimson", "Lumen", "Atlas", "Orbit", "Prairie", "Falcon",
    "Coral", "Delta", "Evergreen", "Horizon", "Juniper", "Keystone", "Meridian", "Onyx", "Polar",
)  # fmt: skip
_NAME_B = (
    "Labs", "Systems", "Analytics", "Logistics", "Health", "Capital", "Works", "Dynamics", "Networks",
    "Foods", "Media", "Robotics", "Energy", "Partners", "Solutions", "Retail", "Learning", "Bio", "Cloud",
    "Data", "Motors", "Supply", "Studio", "Group", "Industries",
)  # fmt: skip
_NAME_C = ("Inc", "Ltd", "GmbH", "LLC", "SA", "BV", "AB", "Co", "Corp", "PLC")


def company_names(rng: np.random.Generator, n: int) -> np.ndarray:
    a = np.array(_NAME_A, dtype=object)[rng.integers(0, len(_NAME_A), n)]
    b = np.array(_NAME_B, dtype=object)[rng.integers(0, len(_NAME_B), n)]
    c = np.array(_NAME_C, dtype=object)[rng.integers(0, len(_NAME_C), n)]
    return a + " " + b + " " + c
