"""The scoring job: the serving alias's model, the eligible entities at as_of, the §7 table, the sinks.

An unattended run: one lock per model, a ledger in `runs/`, a guard that refuses to write when the input
looks broken, and an exit code that says what happened (`serving.runs.ExitCode`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from threadpoolctl import threadpool_limits

from features.config import FeaturesConfig
from features.dataset import build_dataset, model_features
from features.sources import DataSource
from serving.batch import assemble_chunks
from serving.config import ServingConfig
from serving.runs import (
    RUN_ID,
    ExitCode,
    GuardError,
    RunLedger,
    check_guard,
    new_run_id,
    redact_location,
    scoring_lock,
)
from serving.sinks import SinkError, open_sink, redact, write_parquet

Progress = Callable[..., None]  # progress(description, completed=None, total=None)


@dataclass
class ScoreResult:
    model: str
    version: str
    as_of: pd.Timestamp
    table: pd.DataFrame
    written: dict[str, int] = field(default_factory=dict)
    run_id: str = ""
    exit_code: ExitCode = ExitCode.OK
    unchanged: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    missing_ids: list[str] = field(default_factory=list)
    ledger: Path | None = None
    dead_letters: dict[str, str] = field(default_factory=dict)  # CRM target → file of the records not written


class ResumeError(ValueError):
    """A run that cannot be resumed as asked; the message says why and what to do instead."""


@dataclass
class ScoringJob:
    """Everything one run needs besides the data: which model, where results go, and the rules."""

    model: str
    registered_name: str
    as_of: pd.Timestamp
    scores_folder: Path
    runs_folder: Path
    features_cfg: FeaturesConfig
    cfg: ServingConfig
    sinks: tuple[str, ...] = ()
    dry_run: bool = False
    entity_ids: list[str] | None = None
    alias: str | None = None
    data_label: str = ""
    state_folder: Path | None = None  # CRM sinks' journals and dead-letter files


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


def predict(pyfunc: mlflow.pyfunc.PyFuncModel, rows: pd.DataFrame, threads: int | None = None) -> pd.DataFrame:
    """The pyfunc's output, with LightGBM on at most `threads` OpenMP threads (None: OpenMP's default).

    The logged model does not carry a thread count, and OpenMP takes every core by default, which collapses when
    another process holds one. threadpoolctl sets the limit in the calling thread, where OpenMP reads it, and
    restores it afterwards.
    """
    if threads is None:
        return pyfunc.predict(rows)
    with threadpool_limits(limits=threads, user_api="openmp"):
        return pyfunc.predict(rows)


def _predict(pyfunc: mlflow.pyfunc.PyFuncModel, rows: pd.DataFrame, chunk: int, progress: Progress,
             taper_from: int = 1000, threads: int | None = None) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """The pyfunc's output chunk by chunk, as (start, stop, output for rows start:stop), so a progress bar moves.

    Scoring runs in a worker thread one chunk ahead: the first chunk starts before this returns (the caller
    prepares meanwhile), and the next one while the caller explains this one. LightGBM lets go of the GIL while
    it predicts, so both run at once; it uses at most `threads` OpenMP threads (`predict`). The last chunk, from
    `taper_from` rows, is scored in pieces of 1/2, 1/4, 1/8 and 1/8 of it: the explaining left after the last
    prediction is short, and a population of one chunk is explained while it scores too.
    """
    if len(rows) == 0:
        return iter([(0, 0, predict(pyfunc, rows, threads))])
    bounds = [(start, min(start + chunk, len(rows))) for start in range(0, len(rows), chunk)]
    if bounds[-1][1] - bounds[-1][0] >= taper_from:
        start, stop = bounds.pop()
        size = stop - start
        cuts = [start, start + size // 2, start + 3 * size // 4, start + 7 * size // 8, stop]
        bounds += [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signalscore-predict")

    def score(i: int) -> pd.DataFrame:
        start, stop = bounds[i]
        return predict(pyfunc, rows.iloc[start:stop], threads)

    def chunks(pending: Future) -> Iterator[tuple[int, int, pd.DataFrame]]:
        try:
            for i, (start, stop) in enumerate(bounds):
                output = pending.result()
                if i + 1 < len(bounds):
                    pending = pool.submit(score, i + 1)
                progress("scoring and explaining", completed=stop, total=len(rows))
                yield start, stop, output
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return chunks(pool.submit(score, 0))


def compute(source: DataSource, job: ScoringJob, progress: Progress) -> tuple[ScoreResult, pd.DataFrame]:
    """Features, probabilities, points, reasons and changes for the population; writes nothing."""
    pyfunc, version = load_serving_model(job.registered_name, job.alias or job.cfg.alias)
    names = model_inputs(pyfunc)
    catalog = model_features(job.model, names)
    progress("building features")
    frame = build_dataset(source, job.model, [job.as_of], job.features_cfg, names=names, entity_ids=job.entity_ids)
    outputs = _predict(pyfunc, frame[names].reset_index(drop=True), job.cfg.chunk_rows, progress,  # starts scoring
                       threads=job.cfg.threads)
    previous, previous_details = previous_scores(job.scores_folder, job.as_of)
    table, details = assemble_chunks(frame, outputs, model=job.model, version=version, catalog=catalog, cfg=job.cfg,
                                     previous=previous, previous_details=previous_details,
                                     model_metadata=pyfunc.metadata.metadata)
    missing = sorted(set(map(str, job.entity_ids or [])) - set(table.entity_id))
    return ScoreResult(job.model, version, job.as_of, table, missing_ids=missing), details


def _guard(source: DataSource, job: ScoringJob, result: ScoreResult) -> None:
    """Refuse to write when the input looks broken: too many rejected rows or entities without a score."""
    counts = source.validation.counts if source.validation is not None else {}
    requested = len(job.entity_ids) if job.entity_ids is not None else len(result.table)
    scored = int(np.isfinite(result.table["probability"].to_numpy(dtype=float)).sum())
    verdict = check_guard(counts, max(requested, scored), scored, job.cfg.max_rejected_share,
                          job.cfg.max_unscored_share)
    if not verdict.ok:
        raise GuardError(verdict)


def snapshot_file(runs_folder: Path, run_id: str) -> Path:
    """The table a run hands its sinks, kept until every sink has it, so a resumed run writes the same rows."""
    return runs_folder / f"{run_id}.parquet"


def _open(target: str, model: str, cfg: ServingConfig, state_folder: Path | None, progress: Progress):
    return open_sink(target, model, crm=cfg.crm, state_dir=state_folder, progress=progress)


def _write(job: ScoringJob, result: ScoreResult, details: pd.DataFrame, ledger: RunLedger,
           progress: Progress) -> None:
    path = write_parquet(result.table, score_file(job.scores_folder, job.as_of))
    write_parquet(details, details_file(job.scores_folder, job.as_of))
    result.written[str(path)] = len(result.table)
    if not job.sinks:
        return
    targets = {f"sink{i}": target for i, target in enumerate(job.sinks, 1)}
    for name, target in targets.items():  # on record before any write: a killed run shows what it still owed
        ledger.record_sink(name, target=redact(target), status="pending")
    snapshot = write_parquet(result.table, snapshot_file(job.runs_folder, ledger.run_id))
    _write_sinks(job.cfg, job.state_folder, result, targets, ledger, progress)
    if not ledger.unfinished_sinks():
        snapshot.unlink(missing_ok=True)


def _write_sinks(cfg: ServingConfig, state_folder: Path | None, result: ScoreResult, targets: dict[str, str],
                 ledger: RunLedger, progress: Progress) -> None:
    """Each sink in turn; one that fails does not stop the others, and the ledger says how each one ended."""
    for i, (name, target) in enumerate(targets.items(), 1):
        progress(f"writing {i}/{len(targets)}: {redact(target)}")
        try:
            outcome = _open(target, result.model, cfg, state_folder, progress).write(result.table, ledger.run_id)
        except SinkError as error:  # this sink rolled back; the others still get their rows
            result.failed[redact(target)] = str(error)
            ledger.record_sink(name, target=redact(target), failed=len(result.table), status="failed")
            continue
        result.written[outcome.target] = outcome.written
        result.unchanged[outcome.target] = outcome.unchanged
        if outcome.failed:
            result.failed[outcome.target] = (f"{outcome.failed:,} records not written; each is in "
                                             f"{outcome.dead_letter} with its reason")
            result.dead_letters[outcome.target] = str(outcome.dead_letter)
        ledger.record_sink(name, target=outcome.target, written=outcome.written, unchanged=outcome.unchanged,
                           failed=outcome.failed, history=outcome.history,
                           status="partial" if outcome.failed else "done", dead_letter=outcome.dead_letter)


def run_scoring(source: DataSource, job: ScoringJob, progress: Progress | None = None) -> ScoreResult:
    """One scoring run under the model's lock, recorded in `runs/`; see `ExitCode` for how it can end."""
    note = progress or (lambda *_, **__: None)
    for target in job.sinks:  # a mistyped sink (or a CRM token unset) is bad input, found before any work
        _open(target, job.model, job.cfg, job.state_folder, note)
    if job.dry_run:  # computes, checks and reports; takes no lock and writes nothing, not even a ledger
        result, _ = compute(source, job, note)
        _guard(source, job, result)
        return result
    run_id = new_run_id(job.model)
    with scoring_lock(job.runs_folder, job.model, run_id) as held, RunLedger.start(
        job.runs_folder, job.model, run_id=run_id, registered_name=job.registered_name,
        alias=job.alias or job.cfg.alias, as_of=job.as_of, data=job.data_label, data_horizon=source.horizon,
        population=job.entity_ids if job.entity_ids is not None else "all",
        rows_rejected_input=sum(c["rejected"] for c in (source.validation.counts.values()
                                                         if source.validation is not None else [])),
    ) as ledger:
        ledger.note(held.note)
        result, details = compute(source, job, note)
        result.run_id, result.ledger = run_id, ledger.path
        ledger.update(model_version=result.version, entities_eligible=len(result.table) + len(result.missing_ids),
                      entities_scored=len(result.table))
        if result.missing_ids:
            ledger.note(f"{len(result.missing_ids)} requested ids are not eligible at {job.as_of:%Y-%m-%d}: "
                        f"{', '.join(result.missing_ids[:10])}")
        _guard(source, job, result)
        _write(job, result, details, ledger, note)
        _finish(result, ledger)
    return result


def _finish(result: ScoreResult, ledger: RunLedger) -> None:
    result.exit_code = ExitCode.PARTIAL if result.failed else ExitCode.OK
    message = "; ".join(f"{t}: {e}" for t, e in result.failed.items())
    if result.failed:
        message += f" — once the cause is fixed: signalscore score --resume {ledger.run_id}"
    ledger.finish("succeeded", result.exit_code, message)


def _resumed_targets(unfinished: dict[str, str], given: tuple[str, ...]) -> dict[str, str]:
    """The unfinished sinks' real targets: as recorded, or given again where the ledger hid a password."""
    by_hidden = {redact_location(redact(g)): g for g in given}
    stray = [redact(g) for g in given if redact_location(redact(g)) not in unfinished.values()]
    if stray:
        raise ResumeError(f"--sink {', '.join(stray)} is not an unfinished sink of this run "
                          f"(unfinished: {', '.join(unfinished.values()) or 'none'})")
    targets = {}
    for name, recorded in unfinished.items():
        if recorded in by_hidden:
            targets[name] = by_hidden[recorded]
        elif "***" in recorded:
            raise ResumeError(f"{name} ({recorded}) needs its credentials: give it again with --sink")
        else:
            targets[name] = recorded
    return targets


def resume_scoring(run_id: str, *, runs_folder: Path, state_folder: Path | None, cfg: ServingConfig,
                   sinks: tuple[str, ...] = (), progress: Progress | None = None) -> ScoreResult:
    """Finish a run that failed, was killed, or left records unwritten: the same rows to the sinks it still owed.

    Only the sinks not "done" in the ledger are written, from the run's own table (`runs/<run_id>.parquet`), so
    nothing is scored again and a newer scoring cannot slip in. CRM sinks continue from their journal: records
    already acknowledged are not sent again, and records in doubt are read back first. `sinks` gives again the
    targets whose password the ledger hides.
    """
    note = progress or (lambda *_, **__: None)
    match = RUN_ID.match(run_id)
    if not match:
        raise ResumeError(f"{run_id!r} is not a run id (the ledgers in runs/ are named by them)")
    model = match["model"]
    with scoring_lock(runs_folder, model, run_id) as held:
        try:
            ledger = RunLedger.reopen(runs_folder, run_id)
        except (FileNotFoundError, ValueError) as error:
            raise ResumeError(str(error)) from None
        with ledger:
            ledger.note(held.note)
            snapshot = snapshot_file(runs_folder, run_id)
            unfinished = ledger.unfinished_sinks()
            if not snapshot.exists() or not unfinished:
                raise ResumeError(f"run {run_id} stopped before writing to any sink (or its table {snapshot} is "
                                  "gone); run `signalscore score` again instead")
            targets = _resumed_targets(unfinished, sinks)
            record = ledger.record
            result = ScoreResult(model, str(record.get("model_version")), pd.Timestamp(record.get("as_of")),
                                 pd.read_parquet(snapshot), run_id=run_id, ledger=ledger.path)
            for target in targets.values():  # a target that cannot be opened (a token unset) stops here
                _open(target, model, cfg, state_folder, note)
            _write_sinks(cfg, state_folder, result, targets, ledger, note)
            if not ledger.unfinished_sinks():
                snapshot.unlink(missing_ok=True)
            _finish(result, ledger)
    return result
