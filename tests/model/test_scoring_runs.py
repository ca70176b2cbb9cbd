"""The nightly scoring job as an operator sees it: a ledger per run, one run at a time, a guard, exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from features.generate import generate, write_company
from serving.runs import ExitCode, latest_runs, scoring_lock
from signalscore.cli import app
from signalscore.config import load_settings
from signalscore.journey import run_train
from signalscore.workspace import Workspace

pytestmark = pytest.mark.slow
FAST = ["training.threads=1", "training.tuning.trials=2", "training.evaluation.backtest_months=0"]


@pytest.fixture(scope="module")
def served(small_company, tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("serve") / "ws")
    run_train(load_settings(None, FAST), ws, "renewal", small_company)
    return ws


def _score(ws: Workspace, data, *extra: str):
    return CliRunner().invoke(app, ["score", "--model", "renewal", "--data", str(data), "--workspace", str(ws.root),
                                    *extra])


def test_each_run_leaves_a_ledger_and_sql_sinks_keep_one_row_per_entity_plus_history(served, small_company, tmp_path):
    crm = f"sqlite:///{tmp_path / 'crm.db'}"
    csv = tmp_path / "out" / "health.csv"
    for _ in range(2):
        result = _score(served, small_company, "--sink", crm, "--sink", str(csv))
        assert result.exit_code == 0, result.output
    runs = latest_runs(served.runs, "renewal")
    assert [r["status"] for r in runs[:2]] == ["succeeded", "succeeded"]
    newest = runs[0]
    assert newest["entities_scored"] > 50 and newest["model_version"] == "1"
    sql = next(s for s in newest["sinks"].values() if s["target"].startswith("sqlite"))
    assert sql["unchanged"] == newest["entities_scored"] and sql["written"] == 0  # same data: nothing to rewrite
    engine = sa.create_engine(crm)
    with engine.connect() as c:
        current = c.execute(sa.text("select count(*), count(distinct entity_id) from account_health")).one()
        history = c.execute(sa.text("select count(*), count(distinct run_id) from account_health_history")).one()
    assert current[0] == current[1] == newest["entities_scored"]
    assert history == (2 * newest["entities_scored"], 2)
    assert len(pd.read_csv(csv)) == newest["entities_scored"]
    assert "unchanged" in result.output and newest["run_id"] in result.output


def test_a_dry_run_writes_nothing_not_even_a_ledger(served, small_company, tmp_path):
    before = sorted(served.runs.glob("*.json"))
    result = _score(served, small_company, "--dry-run", "--sink", f"sqlite:///{tmp_path / 'never.db'}")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing written" in result.output
    assert sorted(served.runs.glob("*.json")) == before and not (tmp_path / "never.db").exists()


def test_a_second_concurrent_run_is_refused_with_exit_code_5(served, small_company):
    with scoring_lock(served.runs, "renewal", "20261205T010000Z-renewal-abcdef"):
        result = _score(served, small_company)
    assert result.exit_code == ExitCode.LOCKED
    assert "20261205T010000Z-renewal-abcdef" in result.output


def test_a_population_of_ids_scores_only_those_and_names_the_ineligible(served, small_company, tmp_path):
    scored = pd.read_parquet(sorted(served.scores("renewal").glob("*.parquet"))[-1])
    wanted = [*scored.entity_id[:3], "A999999"]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(wanted[1:]))
    result = _score(served, small_company, "--id", wanted[0], "--ids-file", str(ids), "--dry-run",
                    "--set", "serving.max_unscored_share=0.5")
    assert result.exit_code == 0, result.output
    assert "scored 3 entities" in result.output and "A999999" in result.output


def test_the_guard_refuses_to_write_on_a_flood_of_bad_rows(served, tmp_path):
    config = load_settings(None, []).features.generate.model_copy(
        update={"seed": 11, "accounts": 300, "leads": 4000, "months": 40, "dirty": True, "defect_rate": 0.1})
    dirty = tmp_path / "dirty"
    write_company(generate(config), dirty)
    crm = tmp_path / "crm.db"
    result = _score(served, dirty, "--sink", f"sqlite:///{crm}")
    assert result.exit_code == ExitCode.GUARD, result.output
    assert "refused to write" in result.output and "rejected" in result.output
    assert not crm.exists()
    refused = latest_runs(served.runs, "renewal")[0]
    assert refused["status"] == "refused" and refused["exit_code"] == ExitCode.GUARD
    assert json.dumps(refused)  # the ledger stays plain JSON


def test_a_mistyped_sink_is_bad_input_before_any_work(served, small_company, tmp_path):
    before = sorted(served.runs.glob("*.json"))
    result = _score(served, small_company, "--sink", "mysql://user:secret@host/crm")
    assert result.exit_code == ExitCode.BAD_INPUT and "secret" not in result.output
    assert sorted(served.runs.glob("*.json")) == before


def test_a_sink_that_cannot_be_written_is_reported_and_the_others_are_written(served, small_company, tmp_path):
    good = tmp_path / "health.parquet"
    result = _score(served, small_company, "--sink", "sqlite:////no/such/folder/crm.db", "--sink", str(good))
    assert result.exit_code == ExitCode.PARTIAL, result.output
    assert good.exists() and "failed" in result.output
    ledger = latest_runs(served.runs, "renewal")[0]
    assert ledger["exit_code"] == ExitCode.PARTIAL and ledger["failed"] > 0 and ledger["written"] > 0
