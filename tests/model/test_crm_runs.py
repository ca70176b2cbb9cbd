"""`signalscore score --sink hubspot://… / salesforce://…` as the nightly job runs it: killed, resumed, re-run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.config import CrmConfig
from signalscore.cli import app
from signalscore.config import load_settings
from signalscore.journey import run_train
from signalscore.workspace import Workspace
from tests.crm_fakes import TOKEN, FakeCrm

pytestmark = pytest.mark.slow
FAST = ["training.threads=1", "training.tuning.trials=2", "training.evaluation.backtest_months=0"]
SMALL_BATCHES = ["--set", "serving.crm.hubspot.batch_size=25", "--set", "serving.crm.salesforce.batch_size=25",
                 "--set", "serving.crm.backoff_seconds=0.01", "--set", "serving.crm.backoff_max_seconds=0.05"]


@pytest.fixture(scope="module")
def served(small_company, tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("crm") / "ws")
    run_train(load_settings(None, FAST), ws, "renewal", small_company)
    return ws


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", TOKEN)


def fake(vendor: str, known: set[str] | None = None) -> FakeCrm:
    cfg = CrmConfig()
    if vendor == "hubspot":
        return FakeCrm("hubspot", known, object_name="companies", key_field=cfg.hubspot.id_property,
                       fields=set(cfg.hubspot.fields.values()))
    return FakeCrm("salesforce", known, object_name="Account", key_field=cfg.salesforce.external_id,
                   fields=set(cfg.salesforce.fields.values()))


def score(ws: Workspace, *extra: str):
    return CliRunner().invoke(app, ["score", "--model", "renewal", "--workspace", str(ws.root), *SMALL_BATCHES,
                                    *extra])


def newest_ledger(ws: Workspace) -> dict:
    return json.loads(max(ws.runs.glob("*.json"), key=lambda p: p.stat().st_mtime).read_text())


def no_token_anywhere(ws: Workspace, *texts: str) -> None:
    for path in ws.root.rglob("*"):
        if path.is_file() and path.stat().st_size < 200_000_000:
            assert TOKEN.encode() not in path.read_bytes(), path
    assert all(TOKEN not in text for text in texts)


@pytest.mark.parametrize("vendor", ["hubspot", "salesforce"])
def test_a_crm_sink_writes_changed_records_once_and_an_unchanged_rerun_sends_nothing(vendor, served, small_company,
                                                                                   token):
    with fake(vendor) as crm:
        first = score(served, "--data", str(small_company), "--sink", crm.url)
        assert first.exit_code == 0, first.output
        scored = pd.read_parquet(max(served.scores("renewal").glob("*.parquet")))
        assert set(crm.writes) == set(scored.entity_id) and set(crm.writes.values()) == {1}
        sink = next(s for s in newest_ledger(served)["sinks"].values() if s["target"].startswith(vendor))
        assert (sink["status"], sink["written"], sink["failed"], sink["dead_letter"]) == ("done", len(scored), 0,
                                                                                          None)
        row = scored.iloc[0]
        fields = CrmConfig().hubspot.fields if vendor == "hubspot" else CrmConfig().salesforce.fields
        assert float(crm.records[row.entity_id][fields["score"]]) == round(row.score, 1)

        calls = len(crm.calls)
        second = score(served, "--data", str(small_company), "--sink", crm.url)
        assert second.exit_code == 0, second.output
        assert len(crm.calls) == calls, "a re-run with unchanged scores must not call the CRM"
        assert newest_ledger(served)["unchanged"] == len(scored)
    assert not list(served.runs.glob("*.parquet")), "a finished run keeps no snapshot"
    no_token_anywhere(served, first.output, second.output)


def test_records_the_crm_refuses_are_dead_lettered_and_a_resume_writes_them_once(served, small_company, token):
    scored_ids = set(pd.read_parquet(max(served.scores("renewal").glob("*.parquet"))).entity_id)
    refused = set(sorted(scored_ids)[:4])
    with fake("salesforce", scored_ids - refused) as crm:
        partial = score(served, "--data", str(small_company), "--sink", crm.url)
        assert partial.exit_code == 6, partial.output
        ledger = newest_ledger(served)
        [sink] = [s for s in ledger["sinks"].values() if s["target"].startswith("salesforce")]
        assert sink["status"] == "partial" and sink["failed"] == 4
        dead = [json.loads(line) for line in Path(sink["dead_letter"]).read_text().splitlines()]
        assert {d["entity_id"] for d in dead} == refused
        assert all("REQUIRED_FIELD_MISSING" in d["reason"] for d in dead)
        assert f"--resume {ledger['run_id']}" in ledger["message"]

        crm.known_ids |= refused  # someone created the accounts in Salesforce
        resumed = score(served, "--resume", ledger["run_id"])
        assert resumed.exit_code == 0, resumed.output
        assert set(crm.writes.values()) == {1} and set(crm.writes) == scored_ids
        after = json.loads((served.runs / f"{ledger['run_id']}.json").read_text())
        assert after["status"] == "succeeded" and after["exit_code"] == 0
        assert any("resumed" in note for note in after["notes"])
        assert not Path(sink["dead_letter"]).exists()
        again = score(served, "--resume", ledger["run_id"])
        assert again.exit_code == 2 and "nothing to resume" in again.output


def test_a_scoring_run_killed_half_way_resumes_and_writes_every_record_exactly_once(served, small_company, token):
    cli = Path(sys.executable).parent / "signalscore"
    with fake("hubspot") as crm:
        crm.fail_next(("ok",), ("hang_after_apply",))  # the second batch lands, but its answer never comes
        crm.kill_when_hanging([str(cli), "score", "--model", "renewal", "--data", str(small_company), "--workspace",
                               str(served.root), "--sink", crm.url, *SMALL_BATCHES],
                              env={**os.environ, "HUBSPOT_ACCESS_TOKEN": TOKEN}, timeout=240)
        ledger = newest_ledger(served)
        assert ledger["status"] == "running"  # killed outright: nothing could finish it
        assert [s["status"] for s in ledger["sinks"].values()] == ["pending"]
        assert sum(crm.writes.values()) == 50

        resumed = score(served, "--resume", ledger["run_id"])
        assert resumed.exit_code == 0, resumed.output
        scored_ids = set(pd.read_parquet(served.runs.parent / "scores" / "renewal" /
                                         f"{pd.Timestamp(ledger['as_of']):%Y-%m-%d}.parquet").entity_id)
        assert set(crm.writes) == scored_ids and set(crm.writes.values()) == {1}
        record = json.loads((served.runs / f"{ledger['run_id']}.json").read_text())
        assert record["status"] == "succeeded" and record["sinks"]["sink1"]["status"] == "done"
    no_token_anywhere(served, resumed.output)
