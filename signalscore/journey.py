"""The steps of the user journey, wired from the three packages; the CLI and `demo` both call these."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.dataset import build_dataset, default_as_ofs, entity_attributes, model_features
from features.generate import generate, write_company
from features.sources import DataError, DataSource, is_database_url, open_data, read_meta, read_truth, to_utc
from features.table import read_prepared_table
from features.validate import Validation, validate, write_rejected
from serving.scoring import ScoreResult, ScoringJob, resume_scoring, run_scoring
from signalscore.config import Settings, flatten
from signalscore.workspace import REGISTERED_NAME, Workspace
from training.pipeline import TrainingData, TrainResult, train_model
from training.splits import random_split, row_keys

Progress = Callable[[str], None]
Report = Callable[[Validation], None]


def run_generate(settings: Settings, out: Path, progress: Progress | None = None) -> dict:
    company = generate(settings.features.generate, progress)
    write_company(company, out)
    return company.meta


def ensure_generated(settings: Settings, ws: Workspace, progress: Progress | None = None) -> bool:
    """Generate the company into the workspace's data/ unless the same generator settings made what is there.

    Generation is deterministic, so equal settings mean equal data; returns True when the data was reused.
    """
    meta = read_meta(ws.data) if (ws.data / "_meta.json").exists() else {}
    if meta.get("config") == settings.features.generate.model_dump(mode="json"):
        return True
    run_generate(settings, ws.data, progress)
    return False


def open_for(settings: Settings, data: Path | str, model: str | None, horizon: str | None = None,
             ws: Workspace | None = None, report: Report | None = None) -> DataSource:
    """Open the data and validate it at the door: later steps only ever see the accepted rows.

    Rejected rows go to the workspace's `rejected/<table>.parquet` with their reason; the report callback
    (the CLI prints it) says what was rejected and why.
    """
    source = open_data(data, model=model, horizon=horizon, threads=settings.features.threads,
                       memory_limit=settings.features.memory_limit)
    checked = validate(source, horizon=source.horizon if source.horizon_given else None, model=model)
    if ws is not None:
        ws.create()
        write_rejected(checked, ws.rejected)
    if report is not None:
        report(checked)
    source.replace_tables(checked.accepted)
    source.validation = checked
    return source


def run_features(settings: Settings, data: Path | str, model: str, as_ofs: list[str] | None,
                 ws: Workspace | None = None, report: Report | None = None,
                 names: list[str] | None = None) -> pd.DataFrame:
    source = open_for(settings, data, model, ws=ws, report=report)
    dates = [to_utc(d) for d in as_ofs] if as_ofs else default_as_ofs(source, settings.features)
    try:
        return build_dataset(source, model, dates, settings.features, names=names or None)
    except KeyError as error:
        raise DataError(f"--feature: {error.args[0]} (see docs/features.md)") from None


def label_horizon_days(settings: Settings, model: str) -> int:
    f = settings.features
    return f.conversion_horizon_days if model == "conversion" else f.renewal_horizon_days


def run_train(settings: Settings, ws: Workspace, model: str, data: Path | str, registered_name: str | None = None,
              progress: Progress | None = None, report: Report | None = None) -> TrainResult:
    ws.connect_mlflow()
    note = progress or (lambda _: None)
    source = open_for(settings, data, model, ws=ws, report=report)
    rejected = sum(c["rejected"] for c in source.validation.counts.values())
    note(f"{model}: building the training set")
    started = time.perf_counter()
    dataset = build_dataset(source, model, default_as_ofs(source, settings.features), settings.features,
                            labelled_only=True)
    feature_seconds = time.perf_counter() - started
    catalog = model_features(model)
    training = TrainingData(
        dataset, model, catalog, label_horizon_days(settings, model),
        truth=None if is_database_url(data) else read_truth(Path(data), model),
        segments=_segment_columns(source, model, dataset, settings),
        tags={"data": _where(data), "data_horizon": f"{source.horizon:%Y-%m-%dT%H:%M:%SZ}",
              "feature_seconds": f"{feature_seconds:.1f}", "rows_rejected": str(rejected)},
    )
    return train_model(training, settings.training, registered_name=registered_name or REGISTERED_NAME[model],
                       artifact_root=ws.artifacts if ws.uses_local_store() else None, params=flatten(settings),
                       study_storage=ws.studies_url, progress=note)


def _segment_columns(source: DataSource, model: str, dataset: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Segment columns that are not features (an account's industry), aligned with the dataset's rows."""
    wanted = [c for c in settings.training.evaluation.segments.get(model, []) if c not in dataset.columns]
    attributes = entity_attributes(source, model, wanted)
    return dataset[["entity_id"]].merge(attributes, on="entity_id", how="left").drop(columns="entity_id")


def _where(data: Path | str) -> str:
    """Where the data came from, without credentials."""
    return str(data).split("@")[-1] if is_database_url(data) else str(Path(data).resolve())


@dataclass
class ScoreRequest:
    model: str
    data: Path | str | None
    as_of: str | None = None
    sinks: tuple[str, ...] = ()
    dry_run: bool = False
    registered_name: str | None = None
    alias: str | None = None
    entity_ids: list[str] | None = None
    resume: str | None = None  # a run id: finish that run's sinks instead of scoring


def run_score(settings: Settings, ws: Workspace, request: ScoreRequest, report: Report | None = None,
              progress: Callable[..., None] | None = None) -> ScoreResult:
    """Score under the model's lock with a ledger in runs/; raises LockedError / GuardError for the CLI's codes."""
    if request.resume:
        return resume_scoring(request.resume, runs_folder=ws.runs, state_folder=ws.sinks, cfg=settings.serving,
                              sinks=request.sinks, progress=progress)
    if request.data is None:
        raise DataError("--data is required (only --resume works without it)")
    ws.connect_mlflow()
    source = open_for(settings, request.data, request.model, ws=None if request.dry_run else ws, report=report)
    job = ScoringJob(
        model=request.model, registered_name=request.registered_name or REGISTERED_NAME[request.model],
        as_of=to_utc(request.as_of) if request.as_of else source.horizon, scores_folder=ws.scores(request.model),
        runs_folder=ws.runs, features_cfg=settings.features, cfg=settings.serving, sinks=request.sinks,
        dry_run=request.dry_run, entity_ids=request.entity_ids, alias=request.alias, data_label=_where(request.data),
        state_folder=ws.sinks,
    )
    return run_scoring(source, job, progress)


@dataclass
class TableRequest:
    """`signalscore train --table`: a prepared table, one row per entity snapshot."""

    model: str
    table: Path
    label: str
    positive: str | None = None
    id_column: str | None = None
    time_column: str | None = None
    groups: Path | None = None
    registered_name: str | None = None


def table_model_name(request: TableRequest) -> str:
    """Its own registered name by default: a table's model cannot take the champion seat of the catalog's."""
    slug = "".join(c if c.isalnum() else "-" for c in request.table.name.split(".")[0].lower()).strip("-")
    return request.registered_name or f"{REGISTERED_NAME[request.model]}-{slug}"


def run_train_table(settings: Settings, ws: Workspace, request: TableRequest,
                    progress: Progress | None = None) -> TrainResult:
    ws.connect_mlflow()
    prepared = read_prepared_table(request.table, request.model, request.label, request.positive,
                                   request.id_column, request.time_column, request.groups)
    notes = list(prepared.notes)
    if not prepared.rejected.empty:
        aside = ws.rejected / f"{request.table.name.split('.')[0]}.parquet"
        prepared.rejected.astype({c: str for c in prepared.rejected.columns if c != "row"}).to_parquet(aside)
        notes.append(f"The rows set aside are in {aside}.")
    frame = prepared.frame
    split = None
    if prepared.has_time:
        month = frame.as_of.dt.tz_convert(None).dt.to_period("M").dt.start_time
        frame = frame.assign(as_of=month.dt.tz_localize("UTC"))
        notes.append("Snapshots are grouped by the month of the time column for the time split.")
    else:
        names = [f.name for f in prepared.catalog]
        keys = row_keys(frame, names)
        split, duplicates = random_split(frame.label, keys, seed=settings.training.seed)
        if duplicates:
            notes.append(f"{duplicates:,} rows have an identical twin in the table; each set of twins was kept on one "
                         "side of the split so no row is tested on its own copy.")
    training = TrainingData(frame, request.model, prepared.catalog, label_horizon_days(settings, request.model),
                            split=split, notes=notes,
                            tags={"data": str(request.table.resolve()), "table_label": request.label,
                                  "table_positive": str(request.positive),
                                  "rows_rejected": str(len(prepared.rejected))})
    return train_model(training, settings.training, registered_name=table_model_name(request),
                       artifact_root=ws.artifacts if ws.uses_local_store() else None, params=flatten(settings),
                       study_storage=ws.studies_url, progress=progress)
