"""Feature-engine benchmark on a generated company with 50M+ product events.

    .venv/bin/python benchmarks/bench_features.py [--accounts N] [--out-dir DIR] [--skip-generate]

Steps, each in its own process under `/usr/bin/time -v` (wall time and peak RSS per step):
1. `signalscore generate` (skipped when DIR/data already holds a company of that size, or with --skip-generate);
2. both training sets (`features.dataset.build_dataset`, full catalog) on 12 monthly snapshots, the last 12 month
   starts before the horizon, at every --threads value;
3. the seven product-usage features of the reference script, built by the engine from a catalog subset
   (`REFERENCE_FEATURES`), on the renewal snapshots;
4. the reference script (`--engine duckdb|polars|pandas`) on the same snapshots file; values compared with the
   engine's; a Markdown table to stdout and benchmarks/results/features-<date>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _measure import timed  # noqa: E402

from features.catalog import Feature, features_for  # noqa: E402

REFERENCE_SCRIPT = (REPO / ".." / "shared" / "bench" / "reference_usage_features.py").resolve()
TOLERANCE = 1e-9  # |engine - reference| <= TOLERANCE * max(1, |reference|); nulls must match exactly
_USAGE = dict(entity="account", group="Product Usage", source="product_events", unit="")

# Reference column -> the engine feature that builds it. Catalog names where the catalog has the exact
# definition; the one `bench_*` entry is benchmark-local (the catalog counts time in hours, not seconds).
LOCAL_FEATURES = [
    Feature("bench_time_in_product_s_30d", **_USAGE, kind="sum", window="30d", column="duration_s",
            description="Seconds in the product (all events' duration_s), 30 days", template="{value:.0f} s"),
]  # fmt: skip
CATALOG_NAMES = ["logins_30d", "events_30d", "active_users_30d", "logins_prev_30d", "login_trend",
                 "days_since_last_event"]
MAPPING = {
    "ref_logins_30d": "logins_30d",
    "ref_events_30d": "events_30d",
    "ref_active_users_30d": "active_users_30d",
    "ref_time_in_product_30d": "bench_time_in_product_s_30d",
    "ref_logins_prev_30d": "logins_prev_30d",
    "ref_usage_trend": "login_trend",
    "ref_days_since_last": "days_since_last_event",
}


def reference_features() -> list[Feature]:
    return features_for("account", CATALOG_NAMES) + LOCAL_FEATURES


def as_ofs_before(horizon: pd.Timestamp, n: int = 12) -> list[pd.Timestamp]:
    """The last n month starts strictly before the horizon."""
    starts = pd.date_range(horizon.normalize() - pd.DateOffset(months=n + 1), horizon, freq="MS", tz="UTC")
    return [pd.Timestamp(s) for s in starts if s < horizon][-n:]  # midnights, never the horizon's time of day


# ------------------------------------------------------------------------------------- steps (subprocesses)


def step_trainset(data: Path, model: str, threads: int, out: Path) -> dict:
    from features.config import FeaturesConfig
    from features.dataset import build_dataset
    from features.sources import open_data

    t0 = time.perf_counter()
    source = open_data(data, model=model, threads=threads)
    frame = build_dataset(source, model, as_ofs_before(source.horizon), FeaturesConfig(threads=threads))
    seconds = time.perf_counter() - t0
    frame.to_parquet(out, index=False)
    return {"rows": len(frame), "columns": frame.shape[1], "build_s": seconds}


def step_snapshots(data: Path, out: Path) -> dict:
    from features import labels
    from features.config import FeaturesConfig
    from features.sources import open_data

    source = open_data(data, model="renewal")
    snaps = labels.snapshots(source, "renewal", as_ofs_before(source.horizon), FeaturesConfig())
    snaps[["entity_id", "as_of"]].to_parquet(out, index=False)
    return {"rows": len(snaps)}


def step_engine7(data: Path, snapshots: Path, threads: int, out: Path) -> dict:
    from features.engine import build_features
    from features.sources import open_data

    t0 = time.perf_counter()
    source = open_data(data, model="renewal", threads=threads)
    snaps = pd.read_parquet(snapshots)
    frame = build_features(source, snaps, "account", reference_features())
    seconds = time.perf_counter() - t0
    frame.to_parquet(out, index=False)
    return {"rows": len(frame), "build_s": seconds}


def step_explain(data: Path, snapshots: Path, threads: int, out: Path) -> dict:
    """The SQL of the compiled expression and DuckDB's EXPLAIN ANALYZE, for where the time goes."""
    from features.engine import compile_features
    from features.sources import open_data

    source = open_data(data, model="renewal", threads=threads)
    expr = compile_features(source, pd.read_parquet(snapshots), "account", reference_features())
    source.con._run_pre_execute_hooks(expr)  # registers the snapshots memtable, as execution would
    sql = str(source.con.compile(expr))
    plan = source.con.raw_sql("EXPLAIN ANALYZE " + sql).fetchall()
    out.write_text(sql + "\n\n" + "\n".join(str(row[-1]) for row in plan))
    return {}


STEPS = {"trainset": step_trainset, "snapshots": step_snapshots, "engine7": step_engine7, "explain": step_explain}


# ------------------------------------------------------------------------------------------- orchestration


def run_step(name: str, args: list[str], log: Path) -> dict:
    return timed([sys.executable, str(Path(__file__).resolve()), "_step", name, *args], log)


def compare(engine: pd.DataFrame, ref: pd.DataFrame) -> tuple[bool, str]:
    """Reference columns vs the engine's (mapped); returns (all equal, worst difference per column)."""
    e = engine.copy()
    for frame in (e, ref):
        frame["entity_id"] = frame["entity_id"].astype(str)
        frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True).astype("datetime64[us, UTC]")
    m = ref.merge(e, on=["entity_id", "as_of"], how="outer", indicator=True)
    if (m["_merge"] != "both").any():
        return False, f"{(m['_merge'] != 'both').sum()} snapshots only on one side"
    ok, notes = True, []
    for ref_col, expr in MAPPING.items():
        col = expr
        a, b = m[col].astype("float64").to_numpy(), m[ref_col].astype("float64").to_numpy()
        nulls_equal = np.array_equal(np.isnan(a), np.isnan(b))
        both = ~np.isnan(a) & ~np.isnan(b)
        diff = np.abs(a[both] - b[both]) / np.maximum(1.0, np.abs(b[both]))
        worst = float(diff.max()) if diff.size else 0.0
        ok &= nulls_equal and worst <= TOLERANCE
        notes.append(f"{ref_col}: {'nulls equal' if nulls_equal else 'NULLS DIFFER'}, max rel diff {worst:.1e}")
    return ok, "; ".join(notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=20000, help="initial customers (20000 gives ~57M events)")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/signalscore-bench"))
    ap.add_argument("--skip-generate", action="store_true", help="reuse OUT_DIR/data as it is")
    ap.add_argument("--threads", default="1,2", help="engine thread counts to run")
    ap.add_argument("--trainset-threads", default="1", help="engine thread counts for the training sets")
    ap.add_argument("--references", default="duckdb",
                    help="reference engines: duckdb,polars,pandas (polars and pandas need >20 GiB at 50M)")
    ap.add_argument("--skip-trainsets", action="store_true")
    ap.add_argument("--reuse-references", action="store_true", help="reuse reference outputs and timings from OUT_DIR")
    a = ap.parse_args()
    out = a.out_dir.resolve()
    data, work = out / "data", out / "work"
    work.mkdir(parents=True, exist_ok=True)
    threads = [int(t) for t in a.threads.split(",")]
    rows: list[dict] = []

    meta_path = data / "_meta.json"
    same = meta_path.exists() and json.loads(meta_path.read_text())["config"]["accounts"] == a.accounts
    if not a.skip_generate and not same:
        cli = Path(sys.executable).parent / "signalscore"
        r = timed([str(cli), "generate", "--out", str(data), "--accounts", str(a.accounts),
                   "--workspace", str(out / "ws")], work / "generate.log")  # fmt: skip
        rows.append({"step": f"generate --accounts {a.accounts}", **r})
    meta = json.loads(meta_path.read_text())
    events = int(meta["rows"]["product_events"])
    print(f"company: {events:,} product events, horizon {meta['horizon']}", flush=True)

    if not a.skip_trainsets:
        for model in ("conversion", "renewal"):
            for t in [int(x) for x in a.trainset_threads.split(",")]:
                r = run_step("trainset", [str(data), model, str(t), str(work / f"{model}-t{t}.parquet")],
                             work / f"trainset-{model}-t{t}.log")  # fmt: skip
                rows.append({"step": f"training set {model}, full catalog, engine threads={t}", **r})
                print(rows[-1], flush=True)

    snaps = work / "snapshots.parquet"
    r = run_step("snapshots", [str(data), str(snaps)], work / "snapshots.log")
    n_snaps = r["rows"]
    engine_out = {}
    for t in threads:
        engine_out[t] = work / f"engine7-t{t}.parquet"
        r = run_step("engine7", [str(data), str(snaps), str(t), str(engine_out[t])], work / f"engine7-t{t}.log")
        rows.append({"step": f"7 reference features: engine, threads={t}", "out": engine_out[t], **r})
        print(rows[-1], flush=True)
    run_step("explain", [str(data), str(snaps), "1", str(work / "engine7-explain.txt")], work / "explain.log")
    for ref in a.references.split(","):
        ref_out = work / f"reference-{ref}.parquet"
        cmd = [sys.executable, str(REFERENCE_SCRIPT), "--engine", ref, "--events", str(data / "product_events"),
               "--snapshots", str(snaps), "--out", str(ref_out)]  # fmt: skip
        if not (data / "product_events").is_dir():
            cmd[5] = str(data / "product_events.parquet")
        saved = work / f"reference-{ref}.json"
        if a.reuse_references and saved.exists() and ref_out.exists():
            r = json.loads(saved.read_text())
        else:
            r = timed(cmd, work / f"reference-{ref}.log")
            saved.write_text(json.dumps(r))
        rows.append({"step": f"7 reference features: reference {ref} (all cores)", "out": ref_out, **r})
        print(rows[-1], flush=True)

    ref_duck = pd.read_parquet(work / "reference-duckdb.parquet") if "duckdb" in a.references else None
    lines = [
        f"# Feature engine benchmark, {dt.date.today().isoformat()}",
        "",
        f"Company: `signalscore generate --accounts {a.accounts}`, {events:,} product events; "
        f"{n_snaps:,} renewal snapshots (12 month starts before the horizon {meta['horizon'][:10]}). "
        f"Machine: {os.cpu_count()} cores. Wall = whole process (imports, reading, writing) under /usr/bin/time -v.",
        "",
        "| step | wall s | build s | events/s | peak RSS GiB | equal to reference duckdb? |",
        "|---|---:|---:|---:|---:|---|",
    ]
    details = []
    for row in rows:
        equal = ""
        if "out" in row and ref_duck is not None:
            got = pd.read_parquet(row["out"])
            ok, note = compare(got, ref_duck) if "engine" in row["step"] else _compare_refs(got, ref_duck)
            equal = "yes" if ok else "NO"
            details.append(f"- {row['step']}: {note}")
        build = f"{row['build_s']:.1f}" if "build_s" in row else ""
        eps = f"{events / row['wall_s'] / 1e6:.1f}M" if "features" in row["step"] or "training" in row["step"] else ""
        lines.append(f"| {row['step']} | {row['wall_s']:.1f} | {build} | {eps} | {row['peak_gib']:.2f} | {equal} |")
    lines += ["", f"Tolerance: |a - b| <= {TOLERANCE:g} x max(1, |b|), nulls identical.", "", *details, ""]
    lines += ["Mapping reference -> engine feature:", ""]
    lines += [f"- `{k}` -> `{v}`" for k, v in MAPPING.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"features-{dt.date.today().isoformat()}.md").write_text(text)


def _compare_refs(got: pd.DataFrame, ref: pd.DataFrame) -> tuple[bool, str]:
    """One reference implementation against the DuckDB one (same columns)."""
    m = ref.merge(got, on=["entity_id", "as_of"], suffixes=("", "_b"))
    worst = 0.0
    ok = len(m) == len(ref) == len(got)
    for col in MAPPING:
        a, b = m[col + "_b"].astype("float64").to_numpy(), m[col].astype("float64").to_numpy()
        ok &= np.array_equal(np.isnan(a), np.isnan(b))
        both = ~np.isnan(a) & ~np.isnan(b)
        if both.any():
            worst = max(worst, float((np.abs(a[both] - b[both]) / np.maximum(1.0, np.abs(b[both]))).max()))
    return ok and worst <= TOLERANCE, f"max rel diff {worst:.1e} over all columns"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_step":
        name, raw = sys.argv[2], sys.argv[3:]
        func = STEPS[name]
        params = list(func.__code__.co_varnames[: func.__code__.co_argcount])
        typed = [int(v) if p == "threads" else v if p == "model" else Path(v) for p, v in zip(params, raw, strict=True)]
        print("BENCH " + json.dumps(func(*typed)), flush=True)
    else:
        main()
