"""Training-time benchmark: both models at the default generated size and at multiples of it.

    .venv/bin/python benchmarks/bench_training.py [--scales 1,10] [--out-dir DIR] [--skip-generate]
                                                  [--trials N] [--threads T]

For each scale N (a multiple of the default accounts and leads; months, seed and horizon unchanged), each step in
its own process under `/usr/bin/time -v` (wall time and peak RSS per step):
1. `signalscore generate --out DIR/scale-N/data --accounts 1200·N --leads 20000·N --seed 7` (with --skip-generate,
   skipped when the folder's _meta.json says it was generated with that configuration);
2. `signalscore train --model M --data DIR/scale-N/data --workspace DIR/scale-N/ws-M --set training.threads=T`
   for `conversion` and `renewal`, each in a freshly deleted workspace so the Optuna study starts from zero.
   The command runs through `signalscore.cli.app` (the `signalscore` entry point) with its progress spinner
   replaced by timestamped lines, which split the wall time into phases;
3. the run's metrics and `feature_seconds` tag are read back from the workspace's MLflow store.

A Markdown table goes to stdout and to benchmarks/results/training-<date>.md; logs are in DIR/scale-N/*.log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("lightgbm", "optuna", "mlflow", "duckdb")  # versions named in the report
sys.path.insert(0, str(REPO))

from _measure import code_version, machine, timed  # noqa: E402

MODELS = ("conversion", "renewal")
SEED = 7
METRICS = ("rows_train", "rows_early_stop", "rows_calibration", "rows_test", "tuning_trials_run", "test_roc_auc",
           "oracle_roc_auc", "baseline_logreg_roc_auc", "baseline_scorecard_roc_auc", "test_ece")
# Phases, each from the progress line that opens it to the one that opens the next (the last runs to the exit).
PHASES = (
    ("start", "start-up, reading and validating the data"),
    ("features", "building the training set"),
    ("tuning", "Optuna tuning"),
    ("fit", "final fit, calibration, test predictions"),
    ("baselines", "baselines, metrics, segments"),
    ("backtest", "rolling backtest"),
    ("logging", "explanations, MLflow logging, registry"),
)


def phase_of(description: str) -> str | None:
    """The phase a progress line of `signalscore train` opens (None: a line within the current phase)."""
    if description.endswith("building the training set"):
        return "features"
    if re.search(r": tuning \(\d+ trials\)$", description):
        return "tuning"
    if description.endswith("fitting and calibrating"):
        return "fit"
    if description.endswith(": baselines"):
        return "baselines"
    if description.startswith("backtest: month 1/"):
        return "backtest"
    if description.endswith("explaining and logging"):
        return "logging"
    return None


# ------------------------------------------------------------------------------------ the train process


def train_with_phase_lines(argv: list[str]) -> None:
    """`signalscore train ...` as the entry point runs it, with the spinner replaced by timestamped lines.

    Each progress description becomes `PHASE <unix time> <description>` on stdout, flushed at once.
    """
    import signalscore.cli as cli

    @contextmanager
    def status() -> Iterator[Callable[[str], None]]:  # the shape of cli._status
        def note(description: str) -> None:
            print(f"PHASE {time.time():.3f} {description}", flush=True)

        yield note

    cli._status = status
    cli.app(argv, prog_name="signalscore")


# ------------------------------------------------------------------------------------------ orchestration


def phases(run: dict) -> dict[str, float]:
    """Seconds per phase from the PHASE lines of a train process (the first phase starts with the process)."""
    marks = [("start", run["started"])]
    for line in run["stdout"].splitlines():
        if line.startswith("PHASE "):
            _, stamp, description = line.split(" ", 2)
            name = phase_of(description)
            if name is not None and name not in dict(marks):
                marks.append((name, float(stamp)))
    ends = [t for _, t in marks[1:]] + [run["started"] + run["wall_s"]]
    return {name: end - begin for (name, begin), end in zip(marks, ends, strict=True)}


def generate_config(scale: int) -> dict:
    from features.config import GenerateConfig

    base = GenerateConfig()
    return GenerateConfig(seed=SEED, accounts=base.accounts * scale, leads=base.leads * scale).model_dump(mode="json")


def ensure_data(scale: int, data: Path, log: Path, skip_generate: bool) -> dict | None:
    """Generate the company for this scale (or reuse it); the generate step's timing, None when reused."""
    wanted = generate_config(scale)
    meta_path = data / "_meta.json"
    if skip_generate and meta_path.exists() and json.loads(meta_path.read_text())["config"] == wanted:
        print(f"scale {scale}: reusing {data} (same generator configuration)", flush=True)
        return None
    if data.exists():
        shutil.rmtree(data)
    cli = Path(sys.executable).parent / "signalscore"
    cmd = [str(cli), "generate", "--out", str(data), "--seed", str(SEED), "--accounts", str(wanted["accounts"]),
           "--leads", str(wanted["leads"]), "--workspace", str(data.parent / "generate-ws")]
    return timed(cmd, log)


def run_metrics(ws: Path, model: str) -> dict:
    """The latest run of experiment signalscore-<model> in the workspace's MLflow store: metrics and tags."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{ws.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"signalscore-{model}")
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    values = {k: run.data.metrics.get(k, float("nan")) for k in METRICS}
    return values | {"feature_seconds": float(run.data.tags.get("feature_seconds", "nan")), "run_id": run.info.run_id}


def train(model: str, data: Path, ws: Path, log: Path, threads: int, trials: int | None) -> dict:
    if ws.exists():
        shutil.rmtree(ws)  # a fresh workspace: no Optuna study to resume, no champion to compare with
    cmd = [sys.executable, str(Path(__file__).resolve()), "_train", "train", "--model", model, "--data", str(data),
           "--workspace", str(ws), "--set", f"training.threads={threads}"]
    if trials is not None:
        cmd += ["--set", f"training.tuning.trials={trials}"]
    r = timed(cmd, log)
    return r | {"phases": phases(r)} | run_metrics(ws, model)


def _n(value: float) -> str:
    return f"{int(value):,}" if value == value else "—"


def _f(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if value == value else "—"


def report(rows: list[dict], generated: dict[int, dict | None], a: argparse.Namespace, today: str,
           code: tuple[str, str]) -> str:
    trials = f"training.tuning.trials={a.trials}" if a.trials is not None else "training.tuning.trials=25 (default)"
    command = f".venv/bin/python benchmarks/bench_training.py --scales {a.scales} --threads {a.threads}"
    if a.trials is not None:
        command += f" --trials {a.trials}"
    loads = [r[k] for r in rows for k in ("load_before", "load_after")]
    lines = [
        f"# Training benchmark, {today}",
        "",
        f"Command: `{command}`. Machine: {machine(LIBRARIES)}. Shared machine: 1-minute load average "
        f"{min(loads):.2f}–{max(loads):.2f} around the train runs (other processes, e.g. test runs, were running).",
        "",
        f"Code: {code[0]} at the start" + ("." if code[0] == code[1] else f", {code[1]} at the end."),
        "",
        f"Settings: training.threads={a.threads}, {trials}, evaluation.backtest_months=6; generator seed {SEED}, "
        "36 months, accounts and leads × scale. Wall = whole `signalscore train` process (imports, validation, "
        "training set, tuning, fit, baselines, backtest, MLflow logging and registration) under /usr/bin/time -v; "
        "\"features s\" is the run's `feature_seconds` tag.",
        "",
        "| scale | model | labelled rows (train / early-stop / calibration / test) | trials | wall s | "
        "of which features s | peak RSS GiB | test ROC AUC | oracle ROC AUC | logistic ROC AUC | "
        "scorecard ROC AUC | test ECE |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        split = " / ".join(_n(r[k]) for k in ("rows_train", "rows_early_stop", "rows_calibration", "rows_test"))
        lines.append(
            f"| {r['scale']}× | {r['model']} | {split} | {_n(r['tuning_trials_run'])} | {r['wall_s']:.1f} | "
            f"{r['feature_seconds']:.1f} | {r['peak_gib']:.2f} | {_f(r['test_roc_auc'])} | {_f(r['oracle_roc_auc'])} | "
            f"{_f(r['baseline_logreg_roc_auc'])} | {_f(r['baseline_scorecard_roc_auc'])} | {_f(r['test_ece'])} |"
        )
    lines += ["", "Phases (seconds, from the timestamped progress lines of the train command):", "",
              "| scale | model | " + " | ".join(name for name, _ in PHASES) + " | wall s | CPU % |",
              "|---|---|" + "---:|" * (len(PHASES) + 2)]
    for r in rows:
        cells = " | ".join(f"{r['phases'][name]:.1f}" if name in r["phases"] else "—" for name, _ in PHASES)
        lines.append(f"| {r['scale']}× | {r['model']} | {cells} | {r['wall_s']:.1f} | {r['cpu_pct']} |")
    lines += ["", "Phase legend: " + "; ".join(f"{name} = {text}" for name, text in PHASES) + ".", ""]
    lines += ["Data generation (`signalscore generate`, its own process):", ""]
    for scale, g in generated.items():
        cfg = generate_config(scale)
        size = f"--accounts {cfg['accounts']} --leads {cfg['leads']}"
        if g is None:
            lines.append(f"- {scale}× ({size}): reused from an earlier run (--skip-generate)")
        else:
            lines.append(f"- {scale}× ({size}): {g['wall_s']:.1f} s, peak RSS {g['peak_gib']:.2f} GiB")
    lines += ["", "MLflow runs: " + ", ".join(f"{r['scale']}× {r['model']} `{r['run_id']}`" for r in rows), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="1,10", help="multiples of the default accounts and leads")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/signalscore-bench-train"))
    ap.add_argument("--skip-generate", action="store_true",
                    help="reuse OUT_DIR/scale-N/data when its _meta.json has the same generator configuration")
    ap.add_argument("--trials", type=int, default=None, help="Optuna trials (default: the configured 25)")
    ap.add_argument("--threads", type=int, default=1, help="training.threads (LightGBM threads)")
    ap.add_argument("--models", default=",".join(MODELS), help="models to train")
    a = ap.parse_args()
    out = a.out_dir.resolve()
    code_at_start = code_version()
    today = dt.date.today().isoformat()
    rows: list[dict] = []
    generated: dict[int, dict | None] = {}
    for scale in [int(s) for s in a.scales.split(",")]:
        base = out / f"scale-{scale}"
        base.mkdir(parents=True, exist_ok=True)
        data = base / "data"
        generated[scale] = g = ensure_data(scale, data, base / "generate.log", a.skip_generate)
        if g is not None:
            print(f"scale {scale}: generated in {g['wall_s']:.1f} s, peak RSS {g['peak_gib']:.2f} GiB", flush=True)
        for model in a.models.split(","):
            print(f"scale {scale}: training {model} ...", flush=True)
            r = train(model, data, base / f"ws-{model}", base / f"train-{model}.log", a.threads, a.trials)
            rows.append({"scale": scale, "model": model, **r})
            summary = {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items() if k != "stdout"}
            print(json.dumps(summary, default=str), flush=True)
    text = report(rows, generated, a, today, (code_at_start, code_version()))
    print(text)
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"training-{today}.md").write_text(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_train":
        train_with_phase_lines(sys.argv[2:])
    else:
        main()
