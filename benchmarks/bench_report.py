"""CSM report benchmark: `signalscore report` on a ~5,000-account portfolio, and how fast its pages load.

    .venv/bin/python benchmarks/bench_report.py [--accounts 3100] [--repeats 3] [--loads 5]
                                                [--out-dir /tmp/signalscore-bench-report] [--rebuild]

1. The company and its scorings, each step under /usr/bin/time -v (reused when OUT_DIR/work/setup.json says they
   are done; --rebuild starts over): `signalscore generate --accounts N --seed 7` (3,100 customers at the start
   give about 5,000 accounts with an active contract at the horizon); `signalscore train` of both models with
   quick settings (2 Optuna trials, no backtest: the report's cost does not depend on the model's quality);
   `signalscore score --model renewal` at the horizon minus 28 days and at the horizon (so history, score changes
   and movers exist), and `signalscore score --model conversion` at the horizon (the lead queue).
2. Generation: `signalscore report --data OUT_DIR/data --workspace OUT_DIR/ws`, each run in its own process under
   /usr/bin/time -v: wall time (imports, opening and validating the data, the signal queries, every page) and
   peak RSS; the median of --repeats runs.
3. Loading, in headless Chromium (/usr/bin/chromium through Playwright, a fresh page per load, from file://):
   the time from navigation start to the end of the load event (`PerformanceNavigationTiming.loadEventEnd`) of
   index.html (every account as data in the page, the first 100 in its table), of the account page of the
   account with the highest expected ARR loss, and of leads.html; the median of --loads loads each. Also the time
   to sort the portfolio table by score (a click on its header, until the next frame).

A Markdown table goes to stdout and to benchmarks/results/report-<date>.md; logs are in OUT_DIR/work/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("jinja2", "pandas", "duckdb", "ibis-framework", "playwright")
sys.path.insert(0, str(REPO))

from _measure import code_version, machine, timed  # noqa: E402

SEED = 7
QUICK = ["--set", "training.tuning.trials=2", "--set", "training.evaluation.backtest_months=0"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _cli() -> str:
    return str(Path(sys.executable).parent / "signalscore")


def ensure_scored(out: Path, accounts: int, rebuild: bool) -> dict:
    """Generate, train both models quickly and score (renewal twice), unless OUT_DIR holds them already."""
    marker = out / "work" / "setup.json"
    if marker.exists() and not rebuild and json.loads(marker.read_text()).get("accounts") == accounts:
        print(f"reusing the company and scorings in {out} (--rebuild starts over)", flush=True)
        return json.loads(marker.read_text())
    for folder in (out / "data", out / "ws", out / "generate-ws"):
        shutil.rmtree(folder, ignore_errors=True)
    data, ws, work = str(out / "data"), str(out / "ws"), out / "work"
    steps = {"generate": [_cli(), "generate", "--out", data, "--seed", str(SEED), "--accounts", str(accounts),
                          "--workspace", str(out / "generate-ws")]}
    for model in ("renewal", "conversion"):
        steps[f"train_{model}"] = [_cli(), "train", "--model", model, "--data", data, "--workspace", ws, *QUICK]
    made: dict = {"accounts": accounts}
    for name, cmd in steps.items():
        made[f"{name}_s"] = timed(cmd, work / f"{name}.log")["wall_s"]
        print(f"{name}: {made[f'{name}_s']:.1f} s", flush=True)
    horizon = dt.date.fromisoformat(json.loads((out / "data" / "_meta.json").read_text())["horizon"][:10])
    earlier = (horizon - dt.timedelta(days=28)).isoformat()
    for name, extra in (("score_renewal_earlier", ["--model", "renewal", "--as-of", earlier]),
                        ("score_renewal", ["--model", "renewal"]), ("score_conversion", ["--model", "conversion"])):
        made[f"{name}_s"] = timed([_cli(), "score", *extra, "--data", data, "--workspace", ws],
                                  work / f"{name}.log")["wall_s"]
        print(f"{name}: {made[f'{name}_s']:.1f} s", flush=True)
    marker.write_text(json.dumps(made))
    return made | {"now": True}


def generate_report(out: Path, repeats: int) -> dict:
    """`signalscore report` --repeats times, each in its own process; the median and every run."""
    runs = [timed([_cli(), "report", "--data", str(out / "data"), "--workspace", str(out / "ws")],
                  out / "work" / f"report-{i}.log") for i in range(repeats)]
    site = out / "ws" / "report"
    pages = list(site.rglob("*.html"))
    return {"median_s": statistics.median(r["wall_s"] for r in runs), "runs_s": [r["wall_s"] for r in runs],
            "peak_gib": max(r["peak_gib"] for r in runs), "pages": len(pages),
            "mib": sum(p.stat().st_size for p in pages) / 2**20,
            "index_mib": (site / "index.html").stat().st_size / 2**20,
            "loads": [(r["load_before"], r["load_after"]) for r in runs]}


LOAD_JS = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"
SORT_JS = """async () => {
  const button = [...document.querySelectorAll('#accounts th button')].find(b => b.textContent.trim() === 'Score');
  const start = performance.now();
  button.click();
  await new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
  return performance.now() - start;
}"""


def browser_loads(out: Path, loads: int) -> dict:
    """Median load-event time (ms) of the portfolio, one account page and the lead queue; the sort time."""
    from playwright.sync_api import sync_playwright

    site = out / "ws" / "report"
    index = (site / "index.html").read_text()
    first = index.split('<a href="accounts/', 1)[1].split('"', 1)[0]  # the top row: highest expected ARR loss
    pages = {"index.html": site / "index.html", f"accounts/{first}": site / "accounts" / first,
             "leads.html": site / "leads.html"}
    result: dict = {"account": first}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for label, path in pages.items():
            times = []
            for _ in range(loads):
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.goto(path.as_uri(), wait_until="load")
                times.append(page.evaluate(LOAD_JS))
                page.close()
            result[label] = {"median_ms": statistics.median(times), "runs_ms": times}
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(pages["index.html"].as_uri(), wait_until="load")
        result["sort_ms"] = statistics.median(page.evaluate(SORT_JS) for _ in range(3))
        browser.close()
    return result


def report(a: argparse.Namespace, made: dict, gen: dict, load: dict, code: tuple[str, str], today: str) -> str:
    accounts = json.loads((a.out_dir / "work" / "accounts.json").read_text())
    loads = [x for pair in gen["loads"] for x in pair]
    command = (f".venv/bin/python benchmarks/bench_report.py --accounts {a.accounts} --repeats {a.repeats} "
               f"--loads {a.loads}")
    origin = "made by this run" if made.get("now") else "reused from an earlier run of this script"
    setup = ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.1f} s" for k, v in made.items()
                      if k.endswith("_s"))
    lines = [
        f"# CSM report benchmark, {today}",
        "",
        f"Command: `{command}`. Machine: {machine(LIBRARIES)}, Chromium at {CHROMIUM}. 1-minute load average "
        f"{min(loads):.2f}–{max(loads):.2f} around the report runs (a shared machine).",
        "",
        f"Code: {code[0]} at the start" + ("." if code[0] == code[1] else f", {code[1]} at the end."),
        "",
        f"Portfolio: `signalscore generate --accounts {a.accounts} --seed {SEED}`: {accounts['renewal']:,} accounts "
        f"scored at the horizon (two renewal scorings, 28 days apart), {accounts['conversion']:,} open leads; "
        f"{accounts['product_events']:,} product events. Setup ({origin}): {setup}.",
        "",
        "| what | median | runs | notes |",
        "|---|---:|---|---|",
        f"| `signalscore report` (whole process) | {gen['median_s']:.1f} s | "
        f"{', '.join(f'{s:.1f}' for s in gen['runs_s'])} s | {gen['pages']:,} pages, {gen['mib']:.0f} MiB "
        f"(index.html {gen['index_mib']:.1f} MiB); peak RSS {gen['peak_gib']:.2f} GiB |",
    ]
    for label in ("index.html", f"accounts/{load['account']}", "leads.html"):
        r = load[label]
        lines.append(f"| load event, `{label}` | {r['median_ms']:.0f} ms | "
                     f"{', '.join(f'{t:.0f}' for t in r['runs_ms'])} ms | headless Chromium, file://, 1366×768 |")
    lines.append(f"| sort the portfolio by score (click → next frame) | {load['sort_ms']:.0f} ms | | "
                 f"{accounts['renewal']:,} rows |")
    return "\n".join(lines) + "\n"


def count_population(out: Path) -> dict:
    """How big the portfolio is: accounts and leads in the latest scorings, product events in the data."""
    import pandas as pd
    import pyarrow.parquet as pq

    counts = {m: len(pd.read_parquet(sorted((out / "ws" / "scores" / m).glob("*.parquet"))[-1],
                                     columns=["entity_id"])) for m in ("renewal", "conversion")}
    events = out / "data" / "product_events"
    files = sorted(events.glob("*.parquet")) if events.is_dir() else [out / "data" / "product_events.parquet"]
    counts["product_events"] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    (out / "work" / "accounts.json").write_text(json.dumps(counts))
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=3100, help="customers at the start of the generated company")
    ap.add_argument("--repeats", type=int, default=3, help="report runs (each its own process)")
    ap.add_argument("--loads", type=int, default=5, help="page loads per page")
    ap.add_argument("--out-dir", type=Path, default=Path("/tmp/signalscore-bench-report"))
    ap.add_argument("--rebuild", action="store_true", help="generate, train and score again")
    a = ap.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: install Chromium (apt-get install chromium) for the load times")
    (a.out_dir / "work").mkdir(parents=True, exist_ok=True)
    code_at_start = code_version()
    made = ensure_scored(a.out_dir, a.accounts, a.rebuild)
    print(f"portfolio: {count_population(a.out_dir)}", flush=True)
    gen = generate_report(a.out_dir, a.repeats)
    print(f"report: median {gen['median_s']:.1f} s over {a.repeats} runs", flush=True)
    load = browser_loads(a.out_dir, a.loads)
    today = dt.date.today().isoformat()
    text = report(a, made, gen, load, (code_at_start, code_version()), today)
    folder = REPO / "benchmarks" / "results"
    folder.mkdir(exist_ok=True)
    (folder / f"report-{today}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
