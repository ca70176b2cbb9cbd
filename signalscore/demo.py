"""`signalscore demo`: the whole journey into one workspace, ending with a summary of where everything is."""

from __future__ import annotations

import sys
import time
from math import nan
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.contract import MODELS
from features.sources import read_meta
from serving.sinks import count_rows
from signalscore.config import Settings
from signalscore.journey import ScoreRequest, ensure_generated, run_score, run_train
from signalscore.reporting import run_report
from signalscore.workspace import Workspace

DEMO_LOOKBACK_DAYS = 28  # the earlier scoring the report compares against


def run_demo(settings: Settings, ws: Workspace, console: Console, out: Console) -> dict:
    started = time.perf_counter()
    ws.create()
    results, scores = {}, {}
    steps = 2 + 2 * len(MODELS)  # generate; train and score each model; the report
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("generating the company", total=steps)

        def note(text: str) -> None:
            progress.update(task, description=text, advance=1)

        reused = ensure_generated(settings, ws, lambda text: progress.update(task, description=f"generating: {text}"))
        note("generated data already in the workspace: reused" if reused else "company generated")
        for model in MODELS:
            results[model] = run_train(settings, ws, model, ws.data,
                                       progress=lambda text: progress.update(task, description=text))
            note(f"{model}: trained")
        horizon = pd.Timestamp(read_meta(ws.data)["horizon"])
        for model in MODELS:
            if model == "renewal":  # last month's scoring first, so the report has history, movers and changes
                progress.update(task, description=f"{model}: scoring four weeks back")
                earlier = horizon - pd.Timedelta(days=DEMO_LOOKBACK_DAYS)
                run_score(settings, ws, ScoreRequest(model, ws.data, as_of=f"{earlier:%Y-%m-%d}"))
            progress.update(task, description=f"{model}: scoring")
            scores[model] = run_score(settings, ws, ScoreRequest(model, ws.data, sinks=(ws.crm_url,)))
            note(f"{model}: scored")
        report, _ = run_report(settings, ws, ws.data, progress=lambda text, **_: progress.update(
            task, description=f"report: {text}"))
        note("report written")
        progress.update(task, completed=steps, description="done")
    _summary(ws, results, scores, out, time.perf_counter() - started, report)
    return results


def _summary(ws: Workspace, results: dict, scores: dict, out: Console, seconds: float,
             report: Path | None = None) -> None:
    meta = read_meta(ws.data)
    rows = Table(title="Generated tables (rows)")
    rows.add_column("table")
    rows.add_column("rows", justify="right")
    for name, n in meta.get("rows", {}).items():
        rows.add_row(name, f"{n:,}")
    out.print(rows)
    names = ", ".join(f"{m}: {r.registered_name}" for m, r in results.items())
    models = Table(title="Hold-out: the latest labelled months, after a gap of one label horizon",
                   caption=f"oracle: the generator's true probabilities on the same rows. Registered as {names}")
    for column in ("model", "ROC AUC", "oracle", "logistic", "scorecard", "Brier", "oracle", "ECE", "version",
                   "champion"):
        models.add_column(column, no_wrap=True)
    for model, r in results.items():
        m = {"oracle_roc_auc": nan, "oracle_brier": nan, "baseline_scorecard_roc_auc": nan, **r.metrics}
        models.add_row(model, f"{m['test_roc_auc']:.3f}", f"{m['oracle_roc_auc']:.3f}",
                       f"{m['baseline_logreg_roc_auc']:.3f}", f"{m['baseline_scorecard_roc_auc']:.3f}",
                       f"{m['test_brier']:.4f}", f"{m['oracle_brier']:.4f}", f"{m['test_ece']:.3f}",
                       f"v{r.version}", f"v{scores[model].version}")
    out.print(models)
    out.print("[bold]Where everything is[/]")
    out.print(f"  data            {ws.data}/ (and _meta.json, _truth/)")
    for model, s in scores.items():
        crm = count_rows(ws.crm_url, model)
        out.print(f"  {model:<15} {ws.scores(model)}/{s.as_of:%Y-%m-%d}.parquet ({len(s.table):,} rows; "
                  f"{crm:,} rows in crm.db)")
    out.print(f"  CRM             {ws.crm_db} (tables lead_scores, account_health)")
    where = f"{ws.mlflow_db}, artifacts in {ws.artifacts}/" if ws.uses_local_store() else ws.tracking_uri()
    out.print(f"  MLflow          {where}")
    out.print(f"  Optuna studies  {ws.studies_db}")
    if report is not None:
        out.print(f"  CSM report      {report.resolve().as_uri()} (open it in a browser; no server needed)")
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    out.print(f"  open the runs:  {mlflow_cli} ui --backend-store-uri {ws.tracking_uri()}")
    out.print(f"demo finished in {seconds:.0f} s")
