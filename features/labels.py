"""Eligibility and labels (docs/concepts.md), from the entity tables only.

A label is known only once its whole horizon has passed before the data's horizon; until then it is
missing rather than 0, so a lead that may still convert is never taught as a loser.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeaturesConfig
from features.sources import DataSource

DAY = pd.Timedelta(days=1)


def month_starts(start: pd.Timestamp, end: pd.Timestamp, freq: str = "MS") -> list[pd.Timestamp]:
    """The default snapshot schedule: every period start strictly after `start`, up to and including `end`."""
    dates = pd.date_range(start.floor("D"), end, freq=freq, tz="UTC")
    return [d for d in dates if start < d <= end]


def _cross(entities: pd.DataFrame, as_ofs: list[pd.Timestamp]) -> pd.DataFrame:
    dates = pd.DataFrame({"as_of": pd.to_datetime(pd.Series(as_ofs), utc=True).astype("datetime64[us, UTC]")})
    return entities.merge(dates, how="cross")


def _known(as_of: pd.Series, horizon_days: int, data_horizon: pd.Timestamp) -> pd.Series:
    return as_of + horizon_days * DAY <= data_horizon


def conversion_snapshots(leads: pd.DataFrame, as_ofs: list[pd.Timestamp], cfg: FeaturesConfig,
                         data_horizon: pd.Timestamp) -> pd.DataFrame:
    """Open leads at each as_of, labelled 1 when they convert within the horizon after it."""
    grid = _cross(leads[["lead_id", "created_at", "converted_at", "disqualified_at"]], as_ofs)
    open_at = (
        (grid.created_at < grid.as_of)
        & ~(grid.converted_at < grid.as_of)
        & ~(grid.disqualified_at < grid.as_of)
        & (grid.as_of - grid.created_at < cfg.max_lead_age_days * DAY)
    )
    grid = grid[open_at]
    horizon = cfg.conversion_horizon_days * DAY
    converts = (grid.converted_at > grid.as_of) & (grid.converted_at <= grid.as_of + horizon)
    label = pd.Series(converts.astype("float64"), index=grid.index)
    label[~_known(grid.as_of, cfg.conversion_horizon_days, data_horizon)] = np.nan
    return _tidy(grid.lead_id, grid.as_of, label)


def renewal_snapshots(contracts: pd.DataFrame, as_ofs: list[pd.Timestamp], cfg: FeaturesConfig,
                      data_horizon: pd.Timestamp) -> pd.DataFrame:
    """Accounts holding a contract at each as_of; labelled by that contract's outcome when it ends soon."""
    columns = ["contract_id", "account_id", "start_date", "end_date", "outcome", "outcome_at"]
    grid = _cross(contracts[columns], as_ofs)
    grid = grid[(grid.start_date < grid.as_of) & (grid.end_date > grid.as_of)]
    # An account with overlapping contracts is judged on the one that started last.
    grid = grid.sort_values("start_date").drop_duplicates(["account_id", "as_of"], keep="last")
    horizon = cfg.renewal_horizon_days * DAY
    due = grid.end_date <= grid.as_of + horizon
    decided = grid.outcome.isin(["renewed", "churned"]) & (grid.outcome_at <= data_horizon)
    label = pd.Series(np.where(grid.outcome == "renewed", 1.0, 0.0), index=grid.index)
    label[~(due & decided & _known(grid.as_of, cfg.renewal_horizon_days, data_horizon))] = np.nan
    return _tidy(grid.account_id, grid.as_of, label)


def _tidy(entity_id: pd.Series, as_of: pd.Series, label: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"entity_id": entity_id.astype(str), "as_of": as_of, "label": label})
    return frame.sort_values(["as_of", "entity_id"], kind="stable").reset_index(drop=True)


def snapshots(source: DataSource, model: str, as_ofs: list[pd.Timestamp], cfg: FeaturesConfig) -> pd.DataFrame:
    """Eligible (entity_id, as_of, label) rows of a model at the given dates."""
    if model == "conversion":
        leads = source.to_pandas("leads", ["lead_id", "created_at", "converted_at", "disqualified_at"])
        return conversion_snapshots(leads, as_ofs, cfg, source.horizon)
    if model == "renewal":
        columns = ["contract_id", "account_id", "start_date", "end_date", "outcome", "outcome_at"]
        return renewal_snapshots(source.to_pandas("contracts", columns), as_ofs, cfg, source.horizon)
    raise ValueError(f"unknown model {model!r}: choose conversion or renewal")
