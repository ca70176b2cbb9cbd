"""Scoring-throughput benchmark: the serving output with and without explanations, next to LightGBM's pred_contrib.

    .venv/bin/python benchmarks/bench_scoring.py [--rows 100000] [--threads 1,2] [--repeats 3] [--out-dir DIR]
                                                 [--retrain]

1. The default company and model: `signalscore generate --out DIR/data --seed 7` and `signalscore train --model
   renewal --data DIR/data --workspace DIR/ws` (default settings: 25 Optuna trials), each under /usr/bin/time -v;
   both are reused when DIR already holds them (--retrain starts over).
2. The rows: the renewal training set as training builds it (every month start, labelled snapshots only),
   resampled with replacement to --rows rows (seed 7), each row its own entity. A second resample (seed 8) of the
   same entities, scored once and read back from Parquet as a scoring run reads it, is the previous scoring.
3. Per LightGBM thread count T, each measurement in its own process under /usr/bin/time -v with
   OMP_NUM_THREADS=T (the pyfunc calls LightGBM without num_threads, so LightGBM takes OpenMP's default: every
   core unless OMP_NUM_THREADS says otherwise): one warm-up, then the median of --repeats runs of
     (a) LightGBM's own `booster.predict(X, pred_contrib=True, num_threads=T)` on the encoded matrix X;
     (b) probability only, no explanations: `Scorer.predict_proba` (encoding, raw margin, calibration);
     (c) the pyfunc's output: probability, contrib_*, expected_value, baseline_probability;
     (d) the full serving output: what `serving.scoring.compute` runs once the features are built (`_predict`
         scores chunk k+1 in a worker thread while `assemble_chunks` explains chunk k), no previous scoring;
     (e) the same with a previous scoring (score_change and change_reasons);
     (d') (d) on the same rows with every non-integer value nudged by at most 1e-9 of itself, so that no ratio,
         mean or duration repeats (the resample repeats rows; real accounts rarely share such values);
   and, to show where the time goes, the explaining alone: `assemble_with_details` on the pyfunc's output in one
   pass, without and with the previous scoring, and (once) its time per part, by wrapping the functions.

Entities per second = rows / median seconds; the ratio is to (a) at the same T; peak RSS is the whole step process
(rows, model and, for (e), the previous scoring loaded). Step (d) also checks its output: points add up on every
row, and the chunked table equals the one-pass one. A Markdown table goes to stdout and to
benchmarks/results/scoring-<date>.md; logs are in DIR/work/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("lightgbm", "numpy", "pandas", "pyarrow", "mlflow")  # versions named in the report
sys.path.insert(0, str(REPO))

from _measure import code_version, machine, timed  # noqa: E402

SEED = 7
MODEL = "renewal"
REGISTERED = "signalscore-renewal"
STEPS = (  # name, label in the table
    ("pred_contrib", "(a) LightGBM `pred_contrib` on the encoded matrix"),
    ("probability", "(b) probability only, no explanations (encoding + margin + calibration)"),
    ("pyfunc", "(c) pyfunc output (probability + contributions)"),
    ("serving", "(d) full serving output, no previous scoring"),
    ("serving_previous", "(e) full serving output, with a previous scoring"),
    ("serving_distinct", "(d') as (d), every non-integer value made distinct (no repeats for the caches)"),
    ("explain", "explaining alone, one pass (d without the model)"),
    ("explain_previous", "explaining alone, one pass, with a previous scoring (e without the model)"),
    ("breakdown", "where the explaining's time goes"),
)


# ------------------------------------------------------------------------------------- the step processes


def _load(out: Path) -> dict:
    """The served model, its inputs and catalog, and the benchmark rows (and the previous scoring)."""
    import pandas as pd

    from features.dataset import model_features
    from serving.scoring import load_serving_model, model_inputs
    from signalscore.workspace import Workspace

    Workspace(out / "ws").connect_mlflow()
    pyfunc, version = load_serving_model(REGISTERED, "champion")
    names = model_inputs(pyfunc)
    work = out / "work"
    return {"pyfunc": pyfunc, "version": version, "names": names, "catalog": model_features(MODEL, names),
            "frame": pd.read_parquet(work / "rows.parquet"), "work": work}


def _timed(run: Callable[[], object], repeats: int) -> dict:
    run()  # warm-up: first-call costs (imports, lazily built booster, allocator) are not the throughput
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return {"seconds": seconds, "median_s": sorted(seconds)[len(seconds) // 2]}


def _serving(m: dict, previous: tuple | None = None) -> tuple:
    """What `serving.scoring.compute` runs after building the features, with the same calls."""
    from serving.batch import assemble_chunks
    from serving.config import ServingConfig
    from serving.scoring import _predict

    cfg = ServingConfig()
    frame, names, pyfunc = m["frame"], m["names"], m["pyfunc"]
    prev, prev_details = previous or (None, None)
    outputs = _predict(pyfunc, frame[names].reset_index(drop=True), cfg.chunk_rows, lambda *_, **__: None)
    return assemble_chunks(frame, outputs, model=MODEL, version=m["version"], catalog=m["catalog"], cfg=cfg,
                           previous=prev, previous_details=prev_details, model_metadata=pyfunc.metadata.metadata)


def _previous(m: dict) -> tuple:
    import pandas as pd

    return pd.read_parquet(m["work"] / "previous.parquet"), pd.read_parquet(m["work"] / "previous_details.parquet")


def _checks(m: dict, table, details, previous: tuple | None) -> dict:
    """Points add up on every row; the chunked, overlapped table equals the one-pass one (scored_at aside)."""
    import numpy as np
    import pandas as pd

    from serving.batch import assemble_with_details
    from serving.config import ServingConfig

    groups = [c for c in table.columns if c.startswith("points_")]
    gap = float(np.abs(table[groups].sum(axis=1) - (table.score - table.baseline_score)).max())
    prev, prev_details = previous or (None, None)
    one_pass, one_pass_details = assemble_with_details(
        m["frame"], m["pyfunc"].predict(m["frame"][m["names"]]), model=MODEL, version=m["version"],
        catalog=m["catalog"], cfg=ServingConfig(), previous=prev, previous_details=prev_details,
        scored_at=table.scored_at.iloc[0], model_metadata=m["pyfunc"].metadata.metadata)
    try:
        pd.testing.assert_frame_equal(table, one_pass, check_exact=True)
        pd.testing.assert_frame_equal(details, one_pass_details, check_exact=True)
        equal = True
    except AssertionError:
        equal = False
    return {"max_points_gap": gap, "equal_to_one_pass": equal,
            "with_change_reasons": int(table.change_reasons.notna().sum())}


PARTS = (  # where the explaining's time goes: (module, function, label); nested parts are also in their parent's
    ("batch", "contributions", "contribution matrix from the pyfunc's output"),
    ("batch", "point_arrays", "points that add up"),
    ("batch", "group_sums", "points per factor group"),
    ("batch", "reason_texts", "reasons, all of it"),
    ("explain", "top_columns", "reasons: the 3 most negative and positive"),
    ("explain", "_value_pieces", "reasons: values printed, sentences rendered"),
    ("explain", "join_lists", "reasons: JSON joined"),
    ("batch", "_changes", "score_change and change_reasons, all of it"),
    ("batch", "_feature_moves", "change_reasons: the features that moved"),
    ("batch", "_text_column", "JSON texts to pandas str columns"),
    ("batch", "_table", "table, percentile, band, details"),
)


def breakdown(m: dict, previous: tuple) -> dict[str, dict[str, float]]:
    """Seconds per part of one explaining pass (after a warm-up), without and with the previous scoring, timed by
    wrapping the functions (in this process only)."""
    from serving import batch, explain
    from serving.config import ServingConfig

    spent: dict[str, float] = {}

    def wrapped(f: Callable, label: str) -> Callable:
        def timed_call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - started
        return timed_call

    modules = {"batch": batch, "explain": explain}
    for module, function, label in PARTS:
        setattr(modules[module], function, wrapped(getattr(modules[module], function), label))
    output = m["pyfunc"].predict(m["frame"][m["names"]])
    parts = {}
    for case, (prev, prev_details) in (("parts", (None, None)), ("parts_previous", previous)):
        for _ in range(2):
            spent.clear()
            started = time.perf_counter()
            batch.assemble_with_details(m["frame"], output, model=MODEL, version=m["version"], catalog=m["catalog"],
                                        cfg=ServingConfig(), previous=prev, previous_details=prev_details)
            spent["total"] = time.perf_counter() - started
        parts[case] = dict(spent)
    return parts


def step(name: str, out: Path, threads: int, repeats: int) -> dict:
    import pandas as pd

    from serving.batch import assemble_with_details
    from serving.config import ServingConfig

    m = _load(out)
    frame, names, pyfunc = m["frame"], m["names"], m["pyfunc"]
    scorer = pyfunc.unwrap_python_model().scorer()
    rows = frame[names]
    info: dict = {"rows": len(frame)}
    if name == "pred_contrib":
        matrix = scorer.matrix(rows)
        return info | _timed(lambda: scorer.booster.predict(matrix, pred_contrib=True, num_threads=threads), repeats)
    if name == "probability":
        return info | _timed(lambda: scorer.predict_proba(rows), repeats)
    if name == "pyfunc":
        return info | _timed(lambda: pyfunc.predict(rows), repeats)
    if name == "breakdown":
        return info | {"median_s": float("nan"), "seconds": []} | breakdown(m, _previous(m))
    if name.endswith("_distinct"):
        m["frame"] = pd.read_parquet(m["work"] / "rows_distinct.parquet")
    previous = _previous(m) if name.endswith("_previous") else None
    if name.startswith("serving"):
        info |= _timed(lambda: _serving(m, previous), repeats)
        return info | _checks(m, *_serving(m, previous), previous)  # one more run, checked
    output = pyfunc.predict(rows)
    prev, prev_details = previous or (None, None)
    return info | _timed(lambda: assemble_with_details(
        frame, output, model=MODEL, version=m["version"], catalog=m["catalog"], cfg=ServingConfig(), previous=prev,
        previous_details=prev_details, model_metadata=pyfunc.metadata.metadata), repeats)


def prepare(out: Path, n: int) -> dict:
    """The benchmark rows (a seeded resample of the training set) and the previous scoring, in OUT/work."""
    import numpy as np
    import pandas as pd

    from features.config import FeaturesConfig
    from features.dataset import build_dataset, default_as_ofs
    from features.sources import open_data

    work = out / "work"
    labelled = work / "labelled.parquet"
    if not labelled.exists():  # the model's inputs on every labelled snapshot, as training builds them
        from serving.scoring import load_serving_model, model_inputs
        from signalscore.workspace import Workspace

        Workspace(out / "ws").connect_mlflow()
        names = model_inputs(load_serving_model(REGISTERED, "champion")[0])
        source = open_data(out / "data", model=MODEL)
        cfg = FeaturesConfig()
        build_dataset(source, MODEL, default_as_ofs(source, cfg), cfg, names=names,
                      labelled_only=True).to_parquet(labelled)
    base = pd.read_parquet(labelled)

    def resample(seed: int) -> pd.DataFrame:
        rows = base.iloc[np.random.default_rng(seed).integers(0, len(base), n)].reset_index(drop=True)
        return rows.assign(entity_id=[f"B{i:07d}" for i in range(n)])

    rows = resample(SEED)
    rows.to_parquet(work / "rows.parquet")
    # The same rows with every non-integer value nudged by at most 1e-9 of itself: a population whose ratios,
    # means and hours never repeat, the worst case for printing each distinct value once.
    nudge = np.random.default_rng(SEED + 2)
    for name in rows.columns:
        if rows[name].dtype == np.float64:
            v = rows[name].to_numpy()
            rows[name] = np.where(v == np.round(v), v, v * (1 + 1e-9 * nudge.random(len(v))))
    rows.to_parquet(work / "rows_distinct.parquet")
    resample(SEED + 1).to_parquet(work / "previous_rows.parquet")
    m = _load(out)
    m["frame"] = pd.read_parquet(work / "previous_rows.parquet")
    table, details = _serving(m)
    table.to_parquet(work / "previous.parquet")
    details.to_parquet(work / "previous_details.parquet")
    booster = m["pyfunc"].unwrap_python_model().scorer().booster
    trees = booster.dump_model()["tree_info"]
    return {"source_rows": len(base), "distinct_rows": int(base.drop(columns=["entity_id", "as_of"]).astype(str)
                                                           .drop_duplicates().shape[0]),
            "version": m["version"], "features": len(m["names"]), "trees": len(trees),
            "leaves": max(t["num_leaves"] for t in trees)}


# ------------------------------------------------------------------------------------------ orchestration


def ensure_model(out: Path, retrain: bool) -> dict:
    """Generate the default company and train the default renewal model, unless OUT holds them already."""
    marker = out / "work" / "model.json"
    if marker.exists() and not retrain:
        print(f"reusing the company and model in {out} (--retrain starts over)", flush=True)
        return json.loads(marker.read_text())
    for folder in (out / "data", out / "ws", out / "generate-ws"):
        if folder.exists():
            shutil.rmtree(folder)
    for stale in ("labelled.parquet",):
        (out / "work" / stale).unlink(missing_ok=True)
    cli = str(Path(sys.executable).parent / "signalscore")
    generated = timed([cli, "generate", "--out", str(out / "data"), "--seed", str(SEED), "--workspace",
                       str(out / "generate-ws")], out / "work" / "generate.log")
    print(f"generated in {generated['wall_s']:.1f} s", flush=True)
    trained = timed([cli, "train", "--model", MODEL, "--data", str(out / "data"), "--workspace", str(out / "ws")],
                    out / "work" / "train.log")
    print(f"trained in {trained['wall_s']:.1f} s", flush=True)
    made = {"generate_s": generated["wall_s"], "train_s": trained["wall_s"], "train_peak_gib": trained["peak_gib"]}
    marker.write_text(json.dumps(made))
    return made | {"now": True}


def report(results: dict[int, dict[str, dict]], data: dict, made: dict, a: argparse.Namespace, today: str,
           code: tuple[str, str]) -> str:
    loads = [r[k] for by_step in results.values() for r in by_step.values() for k in ("load_before", "load_after")]
    command = (f".venv/bin/python benchmarks/bench_scoring.py --rows {a.rows} --threads {a.threads} "
               f"--repeats {a.repeats}" + (" --retrain" if a.retrain else ""))
    origin = "made by this run" if made.get("now") else "reused from an earlier run of this script"
    lines = [
        f"# Scoring throughput benchmark, {today}",
        "",
        f"Command: `{command}`. Machine: {machine(LIBRARIES)}. 1-minute load average {min(loads):.2f}–{max(loads):.2f} "
        "around the steps (a shared machine).",
        "",
        f"Code: {code[0]} at the start" + ("." if code[0] == code[1] else f", {code[1]} at the end."),
        "",
        f"Model: the default renewal model (`signalscore generate --seed {SEED}`: {made['generate_s']:.1f} s; "
        f"`signalscore train --model renewal`, 25 Optuna trials: {made['train_s']:.1f} s, peak RSS "
        f"{made['train_peak_gib']:.2f} GiB; {origin}): version {data['version']}, {data['trees']} trees of at most "
        f"{data['leaves']} leaves, "
        f"{data['features']} features. Rows: the {data['source_rows']:,} labelled renewal snapshots of the training "
        f"set ({data['distinct_rows']:,} distinct feature rows) resampled with replacement to {a.rows:,} entities "
        f"(seed {SEED}); the previous scoring is another resample (seed {SEED + 1}) of the same entities, read "
        "back from Parquet. Feature building is not timed.",
        "",
        "Each step runs in its own process with OMP_NUM_THREADS=T; (a) also passes num_threads=T. Times are the "
        f"median of {a.repeats} runs after one warm-up; the ratio is to (a) at the same T. Peak RSS is the step's "
        "whole process (rows, model and previous scoring loaded).",
        "",
        "| LightGBM threads | step | median s | runs s | entities / s | × (a) | peak RSS GiB |",
        "|---:|---|---:|---|---:|---:|---:|",
    ]
    for threads, by_step in results.items():
        native = by_step["pred_contrib"]["median_s"]
        for name, label in STEPS:
            if name not in by_step or name == "breakdown":
                continue
            r = by_step[name]
            runs = " ".join(f"{s:.2f}" for s in r["seconds"])
            lines.append(f"| {threads} | {label} | {r['median_s']:.2f} | {runs} | {r['rows'] / r['median_s']:,.0f} | "
                         f"{r['median_s'] / native:.2f} | {r['peak_gib']:.2f} |")
    parts = next((by_step["breakdown"] for by_step in results.values() if "breakdown" in by_step), None)
    if parts is not None:
        lines += ["", "Where the explaining's time goes (seconds, one pass over all rows after a warm-up, measured by "
                  "wrapping the functions; a part's sub-parts are also in it):", "",
                  "| part | no previous scoring | with a previous scoring |", "|---|---:|---:|"]
        for label in [label for *_, label in PARTS] + ["total"]:
            cells = [f"{p[label]:.3f}" if label in p else "—" for p in (parts["parts"], parts["parts_previous"])]
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    lines += ["", "Checks of the full serving output (one more run after the timed ones):", ""]
    for threads, by_step in results.items():
        for name in ("serving", "serving_previous"):
            if name in by_step:
                r = by_step[name]
                lines.append(f"- T={threads}, {name}: max |Σ points − (score − baseline)| = {r['max_points_gap']:.1e}; "
                             f"equal to the one-pass table and details: {'yes' if r['equal_to_one_pass'] else 'NO'}; "
                             f"rows with change_reasons: {r['with_change_reasons']:,}")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="entities to score")
    ap.add_argument("--threads", default="1,2", help="LightGBM thread counts (OMP_NUM_THREADS per step process)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per step, after one warm-up")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/signalscore-bench-scoring"))
    ap.add_argument("--retrain", action="store_true", help="generate and train again even when OUT_DIR has a model")
    ap.add_argument("--steps", default=",".join(name for name, _ in STEPS), help="steps to run")
    a = ap.parse_args()
    out = a.out_dir.resolve()
    (out / "work").mkdir(parents=True, exist_ok=True)
    today = dt.date.today().isoformat()
    code_at_start = code_version()
    made = ensure_model(out, a.retrain)
    me = [sys.executable, str(Path(__file__).resolve())]
    data = timed([*me, "_prepare", str(out), str(a.rows)], out / "work" / "prepare.log")
    print(f"rows ready: {json.dumps(data)}", flush=True)
    results: dict[int, dict[str, dict]] = {}
    for threads in [int(t) for t in a.threads.split(",")]:
        results[threads] = {}
        for name in a.steps.split(","):
            if name == "breakdown" and any(name in done for done in results.values()):
                continue  # the explaining alone: once is enough
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            r = timed([*me, "_step", name, str(out), str(threads), str(a.repeats)],
                      out / "work" / f"{name}-t{threads}.log", env)
            results[threads][name] = r
            print(f"T={threads} {name}: median {r['median_s']:.3f} s ({' '.join(f'{s:.3f}' for s in r['seconds'])}),"
                  f" peak {r['peak_gib']:.2f} GiB" + (f" {r['parts']} {r['parts_previous']}" if "parts" in r else ""),
                  flush=True)
    text = report(results, data, made, a, today, (code_at_start, code_version()))
    print(text)
    folder = REPO / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"scoring-{today}.md").write_text(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_step":
        name, out, threads, repeats = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print("BENCH " + json.dumps(step(name, out, threads, repeats)), flush=True)
    elif len(sys.argv) > 1 and sys.argv[1] == "_prepare":
        print("BENCH " + json.dumps(prepare(Path(sys.argv[2]), int(sys.argv[3]))), flush=True)
    else:
        main()
