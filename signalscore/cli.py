"""`signalscore`: one command per step of the journey.

Exit codes: 0 success; 1 unexpected failure; 2 bad input (a missing table or column, a bad configuration
or option) with a message that names what to fix; 3 (`validate` only) rows were rejected.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.contract import MODELS
from features.sources import DataError
from signalscore.config import ConfigError, Settings, load_settings
from signalscore.project import log_summary, log_to_project_run, project_run
from signalscore.workspace import DEFAULT_WORKSPACE, Workspace
from training.splits import SplitError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="signalscore: lead conversion and customer health scores, explained.")
console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 120)  # logs and pipes get the full tables

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="workspace folder")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML configuration file")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override: section.key=value (repeatable)")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="conversion or renewal")]
DataOpt = Annotated[str, typer.Option("--data", help="data folder, or a database URL (postgresql://...)")]


def _settings(config: Path | None, overrides: list[str] | None) -> Settings:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # keep the terminal for our own progress
    return load_settings(config, overrides)


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise typer.BadParameter(f"--model must be one of {', '.join(MODELS)}, not {model!r}")
    return model


@contextmanager
def _plain_errors():
    """Input problems end with one readable message and exit code 2, never a traceback."""
    try:
        yield
    except (DataError, ConfigError, SplitError) as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(2) from None


@contextmanager
def _steps(total: int | None):
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                        console=console, transient=False)
    with progress:
        task = progress.add_task("starting", total=total)

        def advance(description: str) -> None:
            progress.update(task, description=description, advance=1)

        yield advance
        progress.update(task, total=total or 1, completed=total or 1, description="done")


@contextmanager
def _status():
    """A spinner with elapsed time and the current step (e.g. "tuning: trial 7/25") for work of unknown length."""
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                        transient=True)
    with progress:
        task = progress.add_task("starting", total=None)
        yield lambda description: progress.update(task, description=description)


@app.command("generate")
def generate_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="data folder to write")],
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    accounts: Annotated[int | None, typer.Option(help="customers at the start")] = None,
    leads: Annotated[int | None, typer.Option(help="leads over the whole period")] = None,
    months: Annotated[int | None, typer.Option(help="months of history")] = None,
    end: Annotated[str | None, typer.Option(help="horizon date (fixed default, never today)")] = None,
    dirty: Annotated[bool, typer.Option("--dirty", help="add a small share of realistic defects")] = False,
    defect_rate: Annotated[float | None, typer.Option("--defect-rate", help="with --dirty: share of each event "
                                                      "table appended again as duplicates (default 0.0005)")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Generate a B2B SaaS company with known truth (every contract table, _meta.json, _truth/)."""
    with _plain_errors():
        settings = _settings(config, overrides)
        g = settings.features.generate
        for key, value in (("seed", seed), ("accounts", accounts), ("leads", leads), ("months", months),
                           ("end", end), ("dirty", dirty or None), ("defect_rate", defect_rate)):
            if value is not None:
                setattr(g, key, value)
        from signalscore.journey import run_generate

        started = time.perf_counter()
        with project_run(Workspace(workspace)), _steps(None) as step:
            meta = run_generate(settings, out_dir, step)
            log_summary({f"rows_{k}": v for k, v in meta["rows"].items()}, {"data": str(out_dir.resolve())})
        rows = ", ".join(f"{k} {v:,}" for k, v in meta["rows"].items())
        out.print(f"wrote {out_dir} in {time.perf_counter() - started:.1f} s: {rows}")


@app.command("validate")
def validate_cmd(
    data: DataOpt,
    model: Annotated[str | None, typer.Option("--model", "-m", help="check only what this model needs")] = None,
    horizon: Annotated[str | None, typer.Option("--horizon", help="extraction moment (default: _meta.json)")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Check the data against the contract; rejected rows go to the workspace's rejected/ with a reason."""
    if model is not None:
        _check_model(model)
    with _plain_errors():
        from features.validate import example_text
        from signalscore.journey import open_for

        ws = Workspace(workspace)
        source = open_for(_settings(config, overrides), data, model, horizon, ws=ws)
        checked = source.validation
        table = Table(title=f"{data}: the data contract")
        for column in ("table", "input", "accepted", "rejected"):
            table.add_column(column, justify="left" if column == "table" else "right")
        for name, c in checked.counts.items():
            table.add_row(name, f"{c['input']:,}", f"{c['accepted']:,}", f"{c['rejected']:,}")
        out.print(table)
        for problem in checked.problems:
            where = f"{problem.table}.{problem.column}" if problem.column else problem.table
            out.print(f"[yellow]{where}[/]: {problem.rows:,} rows rejected — {problem.reason}")
            for example in problem.examples[:2]:
                out.print(f"    e.g. {example_text(problem, example)}")
        if checked.problems:
            out.print(f"rejected rows with their reason: {ws.rejected}/<table>.parquet")
            raise typer.Exit(3)
        out.print("[green]every row passes the contract[/]")


@app.command("import")
def import_cmd(
    vendor: Annotated[str | None, typer.Option("--vendor", help="a shipped mapping: salesforce, hubspot, marketo, "
                                               "zendesk, intercom, segment, nps")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="your own mapping YAML instead of --vendor")]
    = None,
    file: Annotated[list[str] | None, typer.Option("--file", help="NAME=PATH as named in the mapping, e.g. "
                                                   "Lead=leads.csv (repeatable)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="data folder to write <table>.parquet into")] = None,
    horizon: Annotated[str | None, typer.Option("--horizon", help="extraction moment, kept in _meta.json")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="overwrite tables already in --out")] = False,
    print_mapping: Annotated[bool, typer.Option("--print-mapping", help="print the mapping YAML (to copy and "
                                                "edit) and exit")] = False,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
) -> None:
    """Turn vendor exports (CRM, marketing, support, product, NPS) into contract tables in a data folder."""
    with _plain_errors():
        from signalscore.importing import choose_mapping, mapping_yaml, run_import

        source = choose_mapping(vendor, mapping)
        if print_mapping:
            sys.stdout.write(mapping_yaml(source))
            return
        if out_dir is None:
            raise typer.BadParameter("--out DIR is required (the data folder to write)")
        run_import(source, file or [], out_dir, horizon, replace, lambda line: out.print(escape(line)))


@app.command("features")
def features_cmd(
    data: DataOpt,
    model: ModelOpt,
    out_file: Annotated[Path, typer.Option("--out", help="Parquet or CSV file to write")],
    as_of: Annotated[list[str] | None, typer.Option("--as-of", help="snapshot date (repeatable)")] = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", help="only these features (repeatable)")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Write entity_id, as_of, the catalog's features and label for every eligible entity and as_of."""
    _check_model(model)
    with _plain_errors():
        from signalscore.journey import run_features

        ws = Workspace(workspace)
        with project_run(ws):
            frame = run_features(_settings(config, overrides), data, model, as_of, ws, _report_validation, feature)
            log_summary({"snapshots": len(frame), "labelled": int(frame["label"].notna().sum())},
                        {"features_file": str(out_file.resolve())})
        out_file.parent.mkdir(parents=True, exist_ok=True)
        if out_file.suffix == ".csv":
            frame.to_csv(out_file, index=False)
        else:
            frame.to_parquet(out_file, index=False)
        labelled = int(frame["label"].notna().sum())
        n_features = frame.shape[1] - 3
        out.print(f"wrote {len(frame):,} snapshots ({labelled:,} labelled) × {n_features} features to {out_file}")


def _report_validation(validation) -> None:
    """The run log of the door: how many rows each table brought, kept and rejected, and why."""
    rejected = sum(c["rejected"] for c in validation.counts.values())
    if rejected == 0:
        console.print(f"[green]data checked:[/] {len(validation.counts)} tables, nothing rejected")
        return
    console.print(f"[yellow]data checked:[/] {rejected:,} rows rejected (kept aside in the workspace's rejected/)")
    for problem in validation.problems:
        where = f"{problem.table}.{problem.column}" if problem.column else problem.table
        console.print(f"  {where}: {problem.rows:,} rows — {problem.reason}")


def _print_training(result) -> None:
    m = result.metrics
    table = Table(title=f"{result.model}: {result.registered_name} version {result.version} (hold-out)")
    for column in ("", "ROC AUC", "PR AUC", "Brier", "ECE", "top-decile lift"):
        table.add_column(column, justify="left" if not column else "right")
    for label, prefix in (("LightGBM (calibrated)", "test_"), ("logistic regression", "baseline_logreg_"),
                          ("rule scorecard", "baseline_scorecard_"), ("oracle (same rows)", "oracle_")):
        if f"{prefix}roc_auc" in m:
            table.add_row(label, *(f"{m[f'{prefix}{k}']:.4f}" for k in ("roc_auc", "pr_auc", "brier", "ece")),
                          f"{m[f'{prefix}top_decile_lift']:.2f}")
    out.print(table)
    for line in result.notes:
        console.print(f"[dim]note:[/] {line}")
    verdict = "champion" if result.promoted else "challenger only"
    out.print(f"{verdict}: {result.promotion_reason}")
    out.print(f"MLflow run {result.run_id} (model card, plots and tables among its artifacts)")


@app.command("train")
def train_cmd(
    model: ModelOpt,
    data: Annotated[str | None, typer.Option("--data", help="data folder, or a database URL (postgresql://...)")]
    = None,
    table: Annotated[Path | None, typer.Option("--table", help="a prepared table (CSV or Parquet) instead of --data")]
    = None,
    label: Annotated[str | None, typer.Option("--label", help="--table: the outcome column")] = None,
    positive: Annotated[str | None, typer.Option("--positive", help="--table: the label value of the positive "
                                                 "outcome (renewed, converted), e.g. --label Churn --positive No")]
    = None,
    id_column: Annotated[str | None, typer.Option("--id", help="--table: the entity id column")] = None,
    time_column: Annotated[str | None, typer.Option("--time", help="--table: the snapshot time column "
                                                    "(without it the split is random)")] = None,
    groups: Annotated[Path | None, typer.Option("--groups", help="--table: YAML mapping factor group → columns")]
    = None,
    model_name: Annotated[str | None, typer.Option("--model-name", help="registered model name")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Tune, train, calibrate, evaluate against baselines on a time hold-out, log to MLflow and register."""
    _check_model(model)
    if (data is None) == (table is None):
        raise typer.BadParameter("pass either --data (the signal tables) or --table (a prepared table)")
    if table is not None and label is None:
        raise typer.BadParameter("--table needs --label COLUMN (the outcome)")
    with _plain_errors():
        from signalscore.journey import TableRequest, run_train, run_train_table

        settings = _settings(config, overrides)
        ws = Workspace(workspace)
        with project_run(ws) as parent, _status() as status:
            if table is not None:
                request = TableRequest(model, table, label, positive, id_column, time_column, groups, model_name)
                result = run_train_table(settings, ws, request, status)
            else:
                result = run_train(settings, ws, model, data, model_name, status, _report_validation)
            if parent is not None:
                log_to_project_run(result)
        _print_training(result)


def _move_champion(workspace: Path, model: str, model_name: str | None, move):
    """Run a registry move (promote / rollback) against the workspace's registry; refusals exit with code 2."""
    from mlflow import MlflowClient

    from signalscore.workspace import REGISTERED_NAME
    from training.registry import RegistryError

    Workspace(workspace).connect_mlflow()
    try:
        return move(MlflowClient(), model_name or REGISTERED_NAME[_check_model(model)])
    except RegistryError as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(2) from None


@app.command("promote")
def promote_cmd(
    model: ModelOpt,
    version: Annotated[str, typer.Option("--version", help="the registered version to serve")],
    note: Annotated[str, typer.Option("--note", help="why: kept with the alias history")],
    model_name: Annotated[str | None, typer.Option("--model-name", help="registered model name")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Make a version the champion by hand (e.g. after reviewing a challenger's run)."""
    from training.registry import promote

    move = _move_champion(workspace, model, model_name, lambda client, name: promote(client, name, version, note))
    out.print(f"{move.name}: champion is now version {move.version} (was {move.previous or 'none'}) — {note}")


@app.command("rollback")
def rollback_cmd(
    model: ModelOpt,
    note: Annotated[str, typer.Option("--note", help="why: kept with the alias history")],
    model_name: Annotated[str | None, typer.Option("--model-name", help="registered model name")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Give the champion alias back to the version that served before the current one."""
    from training.registry import rollback

    move = _move_champion(workspace, model, model_name, lambda client, name: rollback(client, name, note))
    out.print(f"{move.name}: champion rolled back from version {move.previous} to version {move.version} — {note}")


def _ids(ids: list[str] | None, ids_file: Path | None) -> list[str] | None:
    """The population: ids given one by one and/or one per line in a file; None means every eligible entity."""
    if ids is None and ids_file is None:
        return None
    chosen = list(ids or [])
    if ids_file is not None:
        if not ids_file.exists():
            raise typer.BadParameter(f"--ids-file {ids_file} does not exist")
        chosen += [line.strip() for line in ids_file.read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(chosen))


@contextmanager
def _bar():
    """A progress bar for the scoring job: a spinner while features build, a bar while rows are scored."""
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                        transient=True)
    with progress:
        task = progress.add_task("opening the data", total=None)

        def update(description: str, completed: float | None = None, total: float | None = None) -> None:
            progress.update(task, description=description, completed=completed, total=total)

        yield update


def _print_scoring(result, dry_run: bool) -> None:
    bands = result.table["band"].value_counts().to_dict()
    out.print(f"{result.model} version {result.version} scored {len(result.table):,} entities at "
              f"{result.as_of:%Y-%m-%d}; bands {json.dumps(bands)}")
    if result.missing_ids:
        out.print(f"  [yellow]{len(result.missing_ids)} requested ids are not eligible:[/] "
                  f"{', '.join(result.missing_ids[:10])}")
    for target, rows in result.written.items():
        same = result.unchanged.get(target)
        out.print(f"  wrote {rows:,} rows to {target}" + (f" ({same:,} unchanged, not rewritten)" if same else ""))
    for target, error in result.failed.items():
        out.print(f"  [red]failed[/] {escape(target)}: {escape(error)}")
    if dry_run:
        out.print("  dry run: nothing written")
    elif result.ledger is not None:
        out.print(f"  run {result.run_id}: ledger {result.ledger}")


@app.command("score")
def score_cmd(
    model: ModelOpt,
    data: Annotated[str | None, typer.Option("--data", help="data folder, or a database URL (postgresql://...)")]
    = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="snapshot date (default: the data's horizon)")] = None,
    sink: Annotated[list[str] | None, typer.Option(
        "--sink", help="where scores go (repeatable): scores.parquet, scores.csv, sqlite:///crm.db, "
                       "postgresql://user@host/db, hubspot://[HOST]/OBJECT, salesforce://HOST/SOBJECT")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="compute and report, write nothing")] = False,
    alias: Annotated[str | None, typer.Option("--alias", help="registry alias that serves (default: champion)")]
    = None,
    entity: Annotated[list[str] | None, typer.Option("--id", help="score only this entity (repeatable)")] = None,
    ids_file: Annotated[Path | None, typer.Option("--ids-file", help="score only the ids listed, one per line")]
    = None,
    model_name: Annotated[str | None, typer.Option("--model-name", help="registered model name")] = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", help="RUN_ID: write that run's rows to the sinks it did not finish (a failed or killed run); "
                         "give --sink again only for targets with a password")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Score the eligible entities with the serving alias; write scores/<model>/<as_of>.parquet and the sinks.

    Exit codes: 0 done; 1 unexpected failure; 2 bad input; 4 refused to write (too many rejected input rows or
    unscored entities); 5 another scoring run of this model holds the lock; 6 some sink rows failed (they are
    listed in the dead-letter file; `--resume RUN_ID` writes them once the cause is fixed).
    """
    _check_model(model)
    from serving.runs import RUN_ID, ExitCode, GuardError, LockedError
    from serving.scoring import ResumeError
    from serving.sinks import SinkError

    if resume and (run := RUN_ID.match(resume)) and run["model"] != model:
        raise typer.BadParameter(f"run {resume} is not a run of --model {model}")
    with _plain_errors():
        from signalscore.journey import ScoreRequest, run_score

        request = ScoreRequest(model, data, as_of, tuple(sink or ()), dry_run, model_name, alias,
                               _ids(entity, ids_file), resume)
        ws = Workspace(workspace)
        try:
            with project_run(ws), _bar() as progress:
                result = run_score(_settings(config, overrides), ws, request, _report_validation, progress)
                log_summary({"entities_scored": len(result.table)},
                            {"model_version": str(result.version), "as_of": f"{result.as_of:%Y-%m-%d}"})
        except LockedError as error:
            console.print(f"[bold red]not started:[/] {escape(str(error))}")
            raise typer.Exit(ExitCode.LOCKED) from None
        except GuardError as error:
            console.print(f"[bold red]refused to write:[/] {escape(str(error))}")
            raise typer.Exit(ExitCode.GUARD) from None
        except (SinkError, ResumeError) as error:
            console.print(f"[bold red]error:[/] {escape(str(error))}")
            raise typer.Exit(ExitCode.BAD_INPUT) from None
        if resume:
            out.print(f"resumed run {resume}")
        _print_scoring(result, dry_run)
        if result.exit_code != ExitCode.OK:
            raise typer.Exit(result.exit_code)


@app.command("explain")
def explain_cmd(
    entity_id: Annotated[str, typer.Argument(help="the lead or account id")],
    model: ModelOpt,
    as_of: Annotated[str | None, typer.Option("--as-of", help="the scoring on or before this date (default: latest)")]
    = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
) -> None:
    """Why an entity scores as it does: points per factor group, the top reasons and what changed."""
    _check_model(model)
    from serving.terminal import NotScored, explanation, scored_row

    try:
        row, previous = scored_row(Workspace(workspace).scores(model), entity_id, as_of)
    except NotScored as error:
        console.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(2) from None
    out.print(explanation(row, previous))


@app.command("serve")
def serve_cmd(
    data: Annotated[str | None, typer.Option(
        "--data", help="data folder or database URL that GET /v1/{model}/entities/{id} scores from, at its horizon "
                       "(without it only POST /v1/{model}/score is offered)")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="serve only this model (repeatable; "
                                                    "default: conversion and renewal)")] = None,
    host: Annotated[str | None, typer.Option("--host", help="interface (default: serving.api.host)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="port (default: serving.api.port)")] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="registry alias that serves (default: champion)")]
    = None,
    model_name: Annotated[str | None, typer.Option("--model-name", help="registered model name (one --model)")]
    = None,
    token_env: Annotated[str | None, typer.Option("--token-env", help="environment variable holding the bearer "
                                                  "token (default: serving.api.token_env, SIGNALSCORE_API_TOKEN)")]
    = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="serve without authentication (never on a shared "
                                          "network)")] = False,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Serve the online scoring API (FastAPI, docs at /docs) with the serving alias's versions until stopped."""
    models = [_check_model(m) for m in dict.fromkeys(model or MODELS)]
    if model_name is not None and len(models) != 1:
        raise typer.BadParameter("--model-name names one registered model: pass exactly one --model with it")
    with _plain_errors():
        import uvicorn

        from signalscore.serve import api_token, build_app

        settings = _settings(config, overrides)
        api = settings.serving.api
        token = api_token(token_env or api.token_env, no_auth)
        application = build_app(settings, Workspace(workspace), data, models, token=token,
                                registered_name=model_name, alias=alias, report=_report_validation)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("serving").setLevel(logging.INFO)  # alias moves and reloads; never a token
    where = f"http://{host or api.host}:{port or api.port}"
    auth = "[yellow]no authentication[/]" if token is None else f"bearer token from ${token_env or api.token_env}"
    console.print(f"serving {', '.join(models)} at {where} (docs: {where}/docs); {auth}")
    uvicorn.run(application, host=host or api.host, port=port or api.port, log_level="info")


@app.command("report")
def report_cmd(
    data: Annotated[str | None, typer.Option("--data", help="data folder or database URL for names and signal "
                                             "trends (default: the workspace's data/, if any)")] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Write a static site for customer-success managers from the latest scorings: <workspace>/report/."""
    from serving.report import ReportError

    with _plain_errors():
        from signalscore.reporting import run_report

        try:
            with _bar() as progress:
                page, where = run_report(_settings(config, overrides), Workspace(workspace), data,
                                         _report_validation, progress)
        except ReportError as error:
            console.print(f"[bold red]error:[/] {escape(str(error))}")
            raise typer.Exit(2) from None
        if where is None:
            console.print("[yellow]no data:[/] names, owners and signal trends left out (pass --data)")
        out.print(f"report: {page.resolve().as_uri()}")


@app.command("demo")
def demo_cmd(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    overrides: SetOpt = None,
) -> None:
    """The whole journey on a generated company: generate, train both models, score, write the CRM."""
    with _plain_errors():
        from signalscore.demo import run_demo

        ws = Workspace(workspace)
        with project_run(ws) as parent:
            results = run_demo(_settings(config, overrides), ws, console, out)
            if parent is not None:
                for result in results.values():
                    log_to_project_run(result)

