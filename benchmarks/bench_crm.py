"""CRM sinks: records per second and API calls per run, against the local HubSpot and Salesforce stand-ins.

What a nightly job's CRM write costs on our side: planning against the journal, encoding, one HTTP call per
batch, settling each batch in the journal. The stand-ins (tests/crm_fakes.py, Python's http.server on the same
machine) answer in about a millisecond, so this measures signalscore's own overhead plus loopback HTTP; a real
CRM adds its latency per call (HubSpot and Salesforce answer a batch in roughly 0.2–1 s).

    .venv/bin/python benchmarks/bench_crm.py --records 20000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._measure import code_version, machine
from serving.config import CrmConfig
from serving.crm import CrmSink
from tests.code.test_crm import fake_for, serving_table
from tests.crm_fakes import TOKEN


def run(vendor: str, records: int, state: Path) -> list[dict]:
    os.environ["HUBSPOT_ACCESS_TOKEN"] = os.environ["SALESFORCE_ACCESS_TOKEN"] = TOKEN
    table = serving_table(records)
    cfg = CrmConfig(backoff_seconds=0.01, backoff_max_seconds=0.05)
    rows = []
    with fake_for(vendor, set(table.entity_id)) as fake:
        moved = table.assign(score=np.where(np.arange(records) % 10 == 0, table.score + 5, table.score))
        flaky = moved.assign(score=np.where(np.arange(records) % 10 == 1, moved.score + 5, moved.score))
        steps = [("first run: every record", table, []), ("re-run, nothing changed", table, []),
                 ("10% of scores changed", moved, []),
                 ("10% changed, 1 call in 5 answered 429 / 500 / dropped", flaky,
                  [("429", 0), ("500",), ("drop_after",)])]
        for i, (label, frame, faults) in enumerate(steps):
            calls = len(fake.calls)
            for n in range(0, 1000, 5):  # every fifth call fails, the faults taking turns
                if faults:
                    fake.fail_next(*[("ok",)] * 4, faults[(n // 5) % len(faults)])
            started = time.perf_counter()
            result = CrmSink(fake.url, "renewal", cfg, state).write(frame, f"run-{i}")
            seconds = time.perf_counter() - started
            rows.append({"vendor": vendor, "step": label, "seconds": seconds, "written": result.written,
                         "unchanged": result.unchanged, "failed": result.failed, "calls": len(fake.calls) - calls,
                         "per_s": (result.written + result.unchanged) / seconds})
        fake.faults.clear()
        expected = 1 + (np.arange(records) % 10 <= 1)  # first run, then the changed tenth, then the other tenth
        assert [fake.writes[e] for e in table.entity_id] == expected.tolist(), "a record was written twice"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / f"crm-{date.today()}.md")
    args = parser.parse_args()
    rows = []
    for vendor in ("hubspot", "salesforce"):
        with tempfile.TemporaryDirectory() as state:
            rows += run(vendor, args.records, Path(state))
    lines = [f"# CRM sinks, {args.records:,} records ({date.today()})", "",
             f"Machine: {machine(('httpx', 'tenacity'))}", f"Code: {code_version()}",
             "Command: `.venv/bin/python benchmarks/bench_crm.py --records " f"{args.records}`", "",
             "| CRM | run | seconds | records/s | written | unchanged | dead-lettered | API calls |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['vendor']} | {r['step']} | {r['seconds']:.2f} | {r['per_s']:,.0f} | {r['written']:,} | "
              f"{r['unchanged']:,} | {r['failed']} | {r['calls']} |" for r in rows]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
