"""The scoring job: the serving alias's model, the eligible entities at as_of, the §7 table, the sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient

from features.config import FeaturesConfig
from features.dataset import build_dataset, model_features
from features.sources import DataSource
from serving.batch import assemble_with_details
from serving.config import ServingConfig
from serving.sinks import upsert_sql, write_parquet


@dataclass
class ScoreResult:
    model: str
    version: str
    as_of: pd.Timestamp
    table: pd.DataFrame
    written: dict[str, int] = field(default_factory=dict)


def load_serving_model(name: str, alias: str) -> tuple[mlflow.pyfunc.PyFuncModel, str]:
    """The version behind the alias, loaded by number so a moving alias cannot change it mid-run."""
    version = MlflowClient().get_model_version_by_alias(name, alias).version
    return mlflow.pyfunc.load_model(f"models:/{name}/{version}"), str(version)


def model_inputs(pyfunc: mlflow.pyfunc.PyFuncModel) -> list[str]:
    return list(pyfunc.metadata.get_input_schema().input_names())


def previous_scores(folder: Path, as_of: pd.Timestamp) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The latest earlier scoring of this model and its details: the reference for what changed."""
    earlier = sorted(p for p in folder.glob("*.parquet") if p.stem < f"{as_of:%Y-%m-%d}")
    if not earlier:
        return None, None
    details = details_file(folder, pd.Timestamp(earlier[-1].stem))
    return pd.read_parquet(earlier[-1]), (pd.read_parquet(details) if details.exists() else None)


def details_file(folder: Path, as_of: pd.Timestamp) -> Path:
    return folder / "details" / f"{as_of:%Y-%m-%d}.parquet"


def score_file(folder: Path, as_of: pd.Timestamp) -> Path:
    return folder / f"{as_of:%Y-%m-%d}.parquet"


def score(source: DataSource, model: str, as_of: pd.Timestamp, registered_name: str, scores_folder: Path,
          features_cfg: FeaturesConfig, cfg: ServingConfig, sinks: tuple[str, ...] = (),
          dry_run: bool = False) -> ScoreResult:
    pyfunc, version = load_serving_model(registered_name, cfg.alias)
    names = model_inputs(pyfunc)
    catalog = model_features(model, names)
    frame = build_dataset(source, model, [as_of], features_cfg, names=names)
    output = pyfunc.predict(frame[names])
    previous, previous_details = previous_scores(scores_folder, as_of)
    table, details = assemble_with_details(frame, output, model=model, version=version, catalog=catalog, cfg=cfg,
                                           previous=previous, previous_details=previous_details,
                                           model_metadata=pyfunc.metadata.metadata)
    result = ScoreResult(model, version, as_of, table)
    if dry_run:
        return result
    path = write_parquet(table, score_file(scores_folder, as_of))
    write_parquet(details, details_file(scores_folder, as_of))
    result.written[str(path)] = len(table)
    for url in sinks:
        result.written[url] = upsert_sql(table, url, model)
    return result
