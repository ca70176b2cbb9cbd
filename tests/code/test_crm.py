"""CRM sinks against local fakes of HubSpot and Salesforce: nothing lost, nothing written twice, no token leaked."""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.config import CrmConfig, ServingConfig
from serving.crm import CrmError, CrmSink, parse_target, same_value
from serving.sinks import SinkError, open_sink
from tests.crm_fakes import TOKEN, FakeCrm

VENDORS = ("hubspot", "salesforce")


def serving_table(n: int, *, seed: int = 0, as_of: str = "2026-11-30", prefix: str = "acc") -> pd.DataFrame:
    """A §7 serving table as the scoring job hands it to sinks."""
    rng = np.random.default_rng(seed)
    probability = rng.uniform(0.05, 0.95, n)
    reasons = [json.dumps([{"feature": "logins_30d", "group": "Product Usage", "value": 3, "points": -7.5,
                            "sentence": f"Logins fell to {i % 9} in the last 30 days"},
                           {"feature": "nps_last", "group": "Feedback", "value": 9, "points": 2.25,
                            "sentence": "NPS answer of 9"}]) for i in range(n)]
    return pd.DataFrame({
        "entity_id": [f"{prefix}-{i:05d}" for i in range(n)],
        "as_of": pd.Timestamp(as_of, tz="UTC"), "model": "renewal", "model_version": "3",
        "probability": probability, "score": 100 * probability, "percentile": np.linspace(0, 100, n),
        "band": np.where(probability >= 0.75, "healthy", np.where(probability >= 0.5, "at_risk", "critical")),
        "route": None, "baseline_score": 61.0, "points_Product Usage": -7.5, "reasons": reasons,
        "score_change": np.nan, "change_reasons": None, "scored_at": pd.Timestamp.now(tz="UTC"),
    })


def fake_for(vendor: str, ids: set[str], cfg: CrmConfig | None = None) -> FakeCrm:
    cfg = cfg or CrmConfig()
    if vendor == "hubspot":
        return FakeCrm("hubspot", ids, object_name="companies", key_field=cfg.hubspot.id_property,
                       fields=set(cfg.hubspot.fields.values()) | {cfg.hubspot.id_property})
    return FakeCrm("salesforce", ids, object_name="Account", key_field=cfg.salesforce.external_id,
                   fields=set(cfg.salesforce.fields.values()))


def quick_config(**changes) -> CrmConfig:
    """Short waits so fault tests run in seconds; Retry-After is still honoured (and recorded, not slept)."""
    return CrmConfig(**{"backoff_seconds": 0.01, "backoff_max_seconds": 0.05, "timeout_seconds": 2.0, **changes})


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", TOKEN)
    return TOKEN


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sink_for(fake: FakeCrm, state: Path, cfg: CrmConfig, sleeps: Sleeps | None = None) -> CrmSink:
    return CrmSink(fake.url, "renewal", cfg, state, sleep=sleeps if sleeps is not None else Sleeps())


def dead_letter(result) -> list[dict]:
    if result.dead_letter is None:
        return []
    return [json.loads(line) for line in Path(result.dead_letter).read_text().splitlines()]


def assert_nothing_lost(fake: FakeCrm, table: pd.DataFrame, result) -> None:
    """Every record written exactly once, or in the dead-letter file with its reason: never both, never neither."""
    dead = {row["entity_id"]: row["reason"] for row in dead_letter(result)}
    for entity_id in table["entity_id"]:
        if entity_id in dead:
            assert fake.writes[entity_id] == 0, entity_id
            assert dead[entity_id], entity_id
        else:
            assert fake.writes[entity_id] == 1, (entity_id, fake.writes[entity_id])
    assert result.written + result.failed + result.unchanged == len(table)


# --- targets ----------------------------------------------------------------------------------------------------

def test_targets_default_their_host_and_object_and_use_https_except_on_loopback():
    cfg = CrmConfig()
    hub = parse_target("hubspot://", "renewal", cfg)
    assert (hub.base_url, hub.object_name, hub.key_field) == ("https://api.hubapi.com", "companies",
                                                              "signalscore_entity_id")
    assert parse_target("hubspot://", "conversion", cfg).object_name == "contacts"
    sf = parse_target("salesforce://acme.my.salesforce.com?external_id=Ext__c", "renewal", cfg)
    assert (sf.base_url, sf.object_name, sf.key_field, sf.api_version) == (
        "https://acme.my.salesforce.com", "Account", "Ext__c", "v62.0")
    assert parse_target("salesforce://127.0.0.1:9999/Lead", "conversion", cfg).base_url == "http://127.0.0.1:9999"


@pytest.mark.parametrize(("target", "message"), [
    ("salesforce://", "needs the instance host"),
    ("hubspot://api.hubapi.com/companies?id_propety=x", "unknown option id_propety"),
    ("hubspot://me:secret@api.hubapi.com", "never in the URL"),
])
def test_a_mistyped_target_is_refused_before_any_work(target, message):
    with pytest.raises(CrmError, match=message) as caught:
        parse_target(target, "renewal", CrmConfig())
    assert "secret" not in str(caught.value)


def test_a_missing_token_is_bad_input_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    with pytest.raises(SinkError, match="HUBSPOT_ACCESS_TOKEN holds no token"):
        open_sink("hubspot://127.0.0.1:1/companies", "renewal", crm=CrmConfig(), state_dir=tmp_path)


def test_values_compare_as_the_crm_stores_them():
    assert same_value("72.5", 72.5) and same_value("", None) and not same_value("72.5", 72.4)
    assert same_value("critical", "critical") and not same_value("0", None)


# --- writing ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vendor", VENDORS)
def test_records_are_written_in_vendor_batches_and_a_second_run_sends_nothing(vendor, tmp_path, token, caplog):
    caplog.set_level(logging.DEBUG)
    table = serving_table(450)
    cfg = quick_config()
    with fake_for(vendor, set(table.entity_id)) as fake:
        first = sink_for(fake, tmp_path, cfg).write(table, "run-1")
        batch = 100 if vendor == "hubspot" else 200
        assert [c[2] for c in fake.write_calls()] == [batch] * (450 // batch) + [450 % batch] * bool(450 % batch)
        assert (first.written, first.unchanged, first.failed, first.dead_letter) == (450, 0, 0, None)
        assert_nothing_lost(fake, table, first)
        record = fake.records["acc-00007"]
        fields = cfg.hubspot.fields if vendor == "hubspot" else cfg.salesforce.fields
        assert same_value(record[fields["score"]], round(table.score[7], 1))
        assert record[fields["band"]] == table.band[7]
        assert record[fields["reasons"]].startswith("− Logins fell to 7") and "\n+ NPS answer of 9" in record[
            fields["reasons"]]
        assert record[fields["model_version"]] == "renewal v3" and record[fields["as_of"]] == "2026-11-30"
        assert fields["route"] not in record  # renewal has no route

        calls = len(fake.calls)
        again = table.assign(scored_at=pd.Timestamp.now(tz="UTC"), as_of=pd.Timestamp("2026-12-31", tz="UTC"),
                             score=table.score.round(1) + 0.001)  # below the written precision: same values
        second = sink_for(fake, tmp_path, cfg).write(again, "run-2")
        assert len(fake.calls) == calls  # not a single call
        assert (second.written, second.unchanged, second.failed) == (0, 450, 0)

        moved = again.assign(score=np.where(again.index < 3, again.score + 5, again.score))
        third = sink_for(fake, tmp_path, cfg).write(moved, "run-3")
        assert (third.written, third.unchanged) == (3, 447) and [c[2] for c in fake.write_calls()][-1] == 3
    assert TOKEN not in caplog.text
    assert not any(TOKEN.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


FAULTS = {
    "429 with Retry-After": [("429", 3)],
    "500 then 500 applied": [("500",), ("500_after_apply",)],
    "slow answer": [("slow", 2.5)],
    "connection dropped before and after applying": [("drop_before",), ("drop_after",)],
}


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_faults_end_with_every_record_written_exactly_once_or_dead_lettered(vendor, fault, tmp_path, token):
    table = serving_table(260)
    unknown = {"acc-00005", "acc-00150"}
    cfg = quick_config(timeout_seconds=1.0)
    sleeps = Sleeps()
    with fake_for(vendor, set(table.entity_id) - unknown) as fake:
        fake.fail_next(*FAULTS[fault])
        result = sink_for(fake, tmp_path, cfg, sleeps).write(table, "run-1")
        assert_nothing_lost(fake, table, result)
    dead = {row["entity_id"]: row for row in dead_letter(result)}
    assert set(dead) == unknown and result.failed == 2
    expected = "OBJECT_NOT_FOUND" if vendor == "hubspot" else "REQUIRED_FIELD_MISSING"
    assert all(expected in row["reason"] and row["payload"] for row in dead.values())
    reads = [c for c in fake.calls if c[0] == "GET" or c[1].endswith("/read")]
    if fault == "429 with Retry-After":
        assert sleeps[0] == 3.0  # the server's word, not our backoff
        assert not reads  # a 429 is never applied: nothing to check
    else:
        assert reads  # the outcome was open: the records were read back before anything was sent again
    assert all(s <= cfg.backoff_max_seconds or s == 3.0 for s in sleeps)


def test_salesforce_row_locks_are_retried_and_hubspot_errors_without_ids_are_settled_by_reading_back(tmp_path, token):
    table = serving_table(30)
    with fake_for("salesforce", set(table.entity_id)) as fake:
        fake.lock_once = {"acc-00003", "acc-00004"}
        result = sink_for(fake, tmp_path / "sf", quick_config()).write(table, "run-1")
        assert_nothing_lost(fake, table, result)
        assert result.failed == 0 and [c[2] for c in fake.write_calls()] == [30, 2]
    with fake_for("hubspot", set(table.entity_id)) as fake:
        fake.fail_next(("unattributed",))
        result = sink_for(fake, tmp_path / "hub", quick_config()).write(table, "run-1")
        assert_nothing_lost(fake, table, result)
        [row] = dead_letter(result)
        assert row["entity_id"] == "acc-00000" and "VALIDATION_ERROR" in row["reason"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_run_out_of_attempts_dead_letters_its_records_and_resuming_sends_them_once(vendor, tmp_path, token):
    table = serving_table(150)
    cfg = quick_config(max_attempts=3)
    with fake_for(vendor, set(table.entity_id)) as fake:
        fake.fail_next(*[("500",)] * 3)
        first = sink_for(fake, tmp_path, cfg).write(table, "run-1")
        batch = cfg.hubspot.batch_size if vendor == "hubspot" else cfg.salesforce.batch_size
        failed = min(batch, len(table))
        assert first.failed == failed and first.written == len(table) - failed
        rows = dead_letter(first)
        assert all(r["retryable"] and "gave up after" in r["reason"] and "HTTP 500" in r["reason"] for r in rows)

        resumed = sink_for(fake, tmp_path, cfg).write(table, "run-1")
        assert (resumed.written, resumed.failed, resumed.dead_letter) == (len(table), 0, None)
        assert not Path(first.dead_letter).exists()
        assert all(fake.writes[i] == 1 for i in table.entity_id)


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_refused_token_dead_letters_everything_without_showing_the_token(vendor, tmp_path, monkeypatch, caplog):
    wrong = "wrong-token-0c41d"
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", wrong)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", wrong)
    table = serving_table(20)
    with fake_for(vendor, set(table.entity_id)) as fake:
        result = sink_for(fake, tmp_path, quick_config()).write(table, "run-1")
        assert sum(fake.writes.values()) == 0
    rows = dead_letter(result)
    assert len(rows) == 20 and all("token was refused" in r["reason"] and r["retryable"] for r in rows)
    everything = caplog.text + "".join(p.read_bytes().decode(errors="replace") for p in tmp_path.rglob("*")
                                       if p.is_file() and p.suffix == ".jsonl")
    assert wrong not in everything


KILLED_WRITER = textwrap.dedent("""
    import sys
    import pandas as pd
    from pathlib import Path
    from serving.config import CrmConfig
    from serving.crm import CrmSink
    table = pd.read_parquet(sys.argv[2])
    cfg = CrmConfig(backoff_seconds=0.01, backoff_max_seconds=0.05, timeout_seconds=30)
    CrmSink(sys.argv[1], "renewal", cfg, Path(sys.argv[3])).write(table, "run-1")
""")


@pytest.mark.parametrize(("vendor", "hang"), [("hubspot", "hang_after_apply"), ("salesforce", "hang")])
def test_a_writer_killed_half_way_resumes_and_writes_every_record_exactly_once(vendor, hang, tmp_path, token):
    table = serving_table(450)
    table.to_parquet(tmp_path / "table.parquet")
    with fake_for(vendor, set(table.entity_id)) as fake:
        fake.fail_next(("ok",), (hang,))  # the second batch hangs: applied (HubSpot) or not (Salesforce)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        fake.kill_when_hanging([sys.executable, "-c", KILLED_WRITER, fake.url, str(tmp_path / "table.parquet"),
                                str(tmp_path / "state")], env=env, timeout=60)
        batch = 100 if vendor == "hubspot" else 200
        assert sum(fake.writes.values()) == batch * (2 if hang == "hang_after_apply" else 1)
        resumed = sink_for(fake, tmp_path / "state", quick_config()).write(table, "run-1")
        assert_nothing_lost(fake, table, resumed)
        assert resumed.written == len(table) and resumed.failed == 0
        again = sink_for(fake, tmp_path / "state", quick_config()).write(table, "run-2")
        assert again.written == 0 and again.unchanged == len(table)


def test_crm_settings_live_in_the_serving_configuration():
    cfg = ServingConfig.model_validate({"crm": {"hubspot": {"batch_size": 50}}})
    assert cfg.crm.hubspot.batch_size == 50
    with pytest.raises(ValueError, match="less than or equal to 100"):
        ServingConfig.model_validate({"crm": {"hubspot": {"batch_size": 500}}})
