"""Training and scoring sets: eligible snapshots joined to their features (the `signalscore features` shape)."""

from __future__ import annotations

import pandas as pd

from features import labels
from features.catalog import Feature, features_for
from features.config import FeaturesConfig
from features.contract import ENTITY_OF_MODEL
from features.engine import build_features
from features.sources import DataSource, to_utc


def data_start(source: DataSource) -> pd.Timestamp:
    """When the data begins: `_meta.json`'s start, else the first time the entity table records."""
    if "start" in source.meta:
        return to_utc(source.meta["start"])
    table = "leads" if source.has("leads") else "contracts"
    column = "created_at" if table == "leads" else "start_date"
    return pd.Timestamp(source.table(table)[column].min().to_pandas())


def default_as_ofs(source: DataSource, cfg: FeaturesConfig) -> list[pd.Timestamp]:
    return labels.month_starts(data_start(source), source.horizon, cfg.as_of_frequency)


def model_features(model: str, names: list[str] | None = None) -> list[Feature]:
    return features_for(ENTITY_OF_MODEL[model], names)


def build_dataset(source: DataSource, model: str, as_ofs: list[pd.Timestamp], cfg: FeaturesConfig,
                  names: list[str] | None = None, entity_ids: list[str] | None = None,
                  labelled_only: bool = False) -> pd.DataFrame:
    """entity_id, as_of, the catalog's features in catalog order, and label (missing where not yet known).

    `labelled_only` skips the snapshots whose label is not known yet, so training does not pay for features
    it would throw away.
    """
    snaps = labels.snapshots(source, model, as_ofs, cfg)
    if entity_ids is not None:
        snaps = snaps[snaps.entity_id.isin(set(entity_ids))]
    if labelled_only:
        snaps = snaps[snaps.label.notna()].reset_index(drop=True)
    feats = model_features(model, names)
    frame = build_features(source, snaps[["entity_id", "as_of"]], ENTITY_OF_MODEL[model], feats,
                           catalog=model_features(model))
    frame["label"] = snaps["label"].to_numpy()
    return frame


ENTITY_TABLE = {"conversion": ("leads", "lead_id"), "renewal": ("accounts", "account_id")}


def entity_attributes(source: DataSource, model: str, columns: list[str]) -> pd.DataFrame:
    """entity_id and the named columns of the entity table (CRM attributes such as industry or segment).

    For slicing evaluation by segment only: these are today's values, not point-in-time features.
    """
    table_name, key = ENTITY_TABLE[model]
    if not source.has(table_name):
        return pd.DataFrame(columns=["entity_id"])
    table = source.table(table_name)
    present = [c for c in columns if c in table.columns]
    frame = table.select(key, *present).to_pandas().rename(columns={key: "entity_id"})
    frame["entity_id"] = frame["entity_id"].astype(str)
    return frame.drop_duplicates("entity_id")
