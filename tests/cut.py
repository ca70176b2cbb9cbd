"""The data as it stood at a moment: what a point-in-time feature is allowed to see (docs/concepts.md)."""

from __future__ import annotations

import pandas as pd

from features.contract import TABLES

# Values that arrive after the row itself: hidden until their own time has passed.
LATE_VALUES: dict[str, dict[str, list[str]]] = {
    "leads": {"converted_at": ["converted_at", "account_id"], "disqualified_at": ["disqualified_at"]},
    "tickets": {"closed_at": ["closed_at", "csat"], "escalated_at": ["escalated_at"]},
    "contracts": {"outcome_at": ["outcome", "outcome_at"]},
}


def cut_at(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Drop rows whose time is at or after as_of and blank the values that were not known yet."""
    cut = {}
    for name, frame in tables.items():
        time = TABLES[name].event_time
        kept = frame[frame[time] < as_of].copy()
        for column, hidden in LATE_VALUES.get(name, {}).items():
            unknown = ~(kept[column] < as_of)
            for h in hidden:
                kept.loc[unknown, h] = None
        cut[name] = kept
    return cut
