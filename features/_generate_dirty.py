"""`--dirty`: append defective rows so validation has something real to reject.

Defects are only ever appended (copies of clean rows, then broken), never edits of clean rows, so the
accepted part of a dirty folder is exactly the clean company and `_truth/` stays valid for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNKNOWN_ACCOUNT = "A999999"
UNKNOWN_LEAD = "L999999"


def _copies(df: pd.DataFrame, rng: np.random.Generator, n: int) -> pd.DataFrame:
    idx = np.sort(rng.choice(len(df), size=min(n, len(df)), replace=False))
    return df.take(idx).reset_index(drop=True)


def _nulls_like(column: pd.Series) -> pd.Series:
    """Nulls of the column's own dtype, so the clean rows' types survive the append."""
    return pd.Series([None] * len(column), index=column.index, dtype=column.dtype)


def _after(moment: pd.Timestamp, seconds: np.ndarray) -> pd.Series:
    return pd.Series(moment + pd.to_timedelta(seconds, unit="s")).astype("datetime64[us, UTC]")


def inject_defects(tables: dict[str, pd.DataFrame], rng: np.random.Generator, horizon_us: int,
                   rate: float = 0.0005) -> dict:
    """Append a few rows of each kind of defect the data contract names; returns {table: {defect: rows}}.

    `rate` is the share of each event table appended again as exact duplicates: the knob that turns a few
    defects into a flood (e.g. 0.1) for testing what the scoring job does with too many bad rows.
    """
    added: dict[str, list[pd.DataFrame]] = {name: [] for name in tables}
    counts: dict[str, dict[str, int]] = {}
    horizon = pd.Timestamp(horizon_us * 1000, tz="UTC")

    def add(table: str, kind: str, rows: pd.DataFrame) -> None:
        added[table].append(rows)
        counts.setdefault(table, {})[kind] = counts.get(table, {}).get(kind, 0) + len(rows)

    for table in ("marketing_activities", "product_events", "conversations", "service_usage", "feedback"):
        add(table, "duplicate_row", _copies(tables[table], rng, max(3, int(len(tables[table]) * rate))))

    pe = _copies(tables["product_events"], rng, 5)
    pe["account_id"] = UNKNOWN_ACCOUNT
    add("product_events", "unknown_account", pe)
    pe = _copies(tables["product_events"], rng, 5)
    pe["occurred_at"] = _after(horizon, rng.integers(60, 30 * 86_400, len(pe)))
    add("product_events", "after_horizon", pe)
    pe = _copies(tables["product_events"], rng, 3)
    pe["duration_s"] = -pe["duration_s"].abs().fillna(1.0)
    add("product_events", "negative_duration", pe)

    ma = _copies(tables["marketing_activities"][tables["marketing_activities"]["lead_id"].notna()], rng, 5)
    ma["lead_id"] = UNKNOWN_LEAD
    add("marketing_activities", "unknown_lead", ma)

    fb = _copies(tables["feedback"][tables["feedback"]["survey"] == "nps"], rng, 4)
    fb["score"] = np.where(np.arange(len(fb)) % 2 == 0, 11.0, -1.0)
    add("feedback", "score_out_of_range", fb)
    fb = _copies(tables["feedback"][tables["feedback"]["survey"] == "csat"], rng, 3)
    fb["score"] = 0.0
    add("feedback", "score_out_of_range", fb)

    cv = _copies(tables["conversations"], rng, 4)
    cv["sentiment"] = np.where(np.arange(len(cv)) % 2 == 0, 1.5, -2.0)
    add("conversations", "sentiment_out_of_range", cv)

    su = _copies(tables["service_usage"], rng, 3)
    su["quantity"] = -2.0
    add("service_usage", "negative_quantity", su)

    tk = _copies(tables["tickets"][tables["tickets"]["closed_at"].notna()], rng, 4)
    tk["ticket_id"] = [f"T9{i:05d}" for i in range(len(tk))]
    tk["closed_at"] = tk["opened_at"] - pd.Timedelta(hours=3)
    add("tickets", "closed_before_opened", tk)
    tk = _copies(tables["tickets"], rng, 3)
    tk["ticket_id"] = [f"T8{i:05d}" for i in range(len(tk))]
    tk["csat"] = 7.0
    add("tickets", "csat_out_of_range", tk)

    ct = _copies(tables["contracts"], rng, 3)
    ct["contract_id"] = [f"C9{i:05d}" for i in range(len(ct))]
    ct["end_date"] = ct["start_date"] - pd.Timedelta(days=1)
    add("contracts", "end_before_start", ct)
    ct = _copies(tables["contracts"], rng, 3)
    ct["contract_id"] = [f"C8{i:05d}" for i in range(len(ct))]
    ct["account_id"] = UNKNOWN_ACCOUNT
    add("contracts", "unknown_account", ct)

    ld = _copies(tables["leads"], rng, 3)
    ld["company"] = ld["company"] + " (duplicate)"
    add("leads", "duplicate_key", ld)

    # Nulls in required columns: an export that lost a field.
    ma = _copies(tables["marketing_activities"], rng, 3)
    ma["activity"] = _nulls_like(ma["activity"])
    add("marketing_activities", "missing_activity", ma)
    tk = _copies(tables["tickets"], rng, 2)
    tk["ticket_id"] = [f"T7{i:05d}" for i in range(len(tk))]
    tk["priority"] = _nulls_like(tk["priority"])
    add("tickets", "missing_priority", tk)

    ac = _copies(tables["accounts"], rng, 2)
    ac["account_id"] = [f"A9{i:05d}" for i in range(len(ac))]
    ac["employees"] = 0
    add("accounts", "employees_out_of_range", ac)

    tables.update(
        {name: pd.concat([tables[name], *parts], ignore_index=True) for name, parts in added.items() if parts}
    )
    return counts
