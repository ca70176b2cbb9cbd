"""What every benchmark script needs: run a step under `/usr/bin/time -v`, describe the machine and the code.

One place, so the three scripts report wall time, peak memory and load the same way.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A benchmark started from an MLflow run must not log its steps into that run.
CHILD_ENV_DROP = ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")


def timed(cmd: list[str], log: Path, env: dict | None = None) -> dict:
    """Run cmd under /usr/bin/time -v in its own process.

    Returns wall seconds, peak RSS (GiB), CPU %, the start time, the 1-minute load before and after, the stdout,
    and the fields of the step's last `BENCH {json}` line, if it printed one. A failed step stops the benchmark.
    """
    env = {k: v for k, v in (env or os.environ).items() if k not in CHILD_ENV_DROP}
    load = os.getloadavg()[0]
    started = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - t0
    log.write_text(" ".join(cmd) + "\n\n" + proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    cpu = re.search(r"Percent of CPU this job got: (\d+)%", proc.stderr)
    info: dict = {}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            info = json.loads(line[6:])
    return {"wall_s": wall, "peak_gib": rss_kb / 1024**2, "cpu_pct": int(cpu.group(1)) if cpu else None,
            "started": started, "load_before": load, "load_after": os.getloadavg()[0], "stdout": proc.stdout,
            **info}


def machine(libraries: tuple[str, ...]) -> str:
    """Cores, CPU model, memory, OS, Python and the versions of the libraries that matter to this benchmark."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    libs = ", ".join(f"{name} {version(name)}" for name in libraries)
    return (f"{os.cpu_count()} cores ({cpu}, {platform.machine()}), {mem_kb / 1024**2:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, {libs}")


def code_version() -> str:
    """The checkout's commit, and whether tracked files had uncommitted changes (the code may change mid-run)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")
