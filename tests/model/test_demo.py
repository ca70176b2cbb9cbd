"""`signalscore demo` (what `make demo` runs) end to end, on a small company: every step, the summary, the report."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from signalscore.cli import app

pytestmark = pytest.mark.slow
SMALL = ["features.generate.seed=11", "features.generate.accounts=300", "features.generate.leads=4000",
         "features.generate.months=40", "training.threads=1", "training.tuning.trials=2",
         "training.evaluation.backtest_months=0"]


def test_the_demo_runs_the_whole_journey_and_ends_with_the_report(tmp_path):
    ws = tmp_path / "ws"
    args = ["demo", "--workspace", str(ws)] + [item for pair in (("--set", s) for s in SMALL) for item in pair]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for text in ("Hold-out", "Where everything is", "CSM report", "demo finished"):
        assert text in result.output
    renewal = sorted((ws / "scores" / "renewal").glob("*.parquet"))
    assert len(renewal) == 2, "the demo scores renewal four weeks back first, so the report can show changes"
    latest = pd.read_parquet(renewal[-1])
    assert latest.score_change.notna().any() and (ws / "crm.db").exists()
    assert (ws / "report" / "index.html").exists() and (ws / "report" / "leads.html").exists()
    assert len(list((ws / "report" / "accounts").glob("*.html"))) == len(latest)
