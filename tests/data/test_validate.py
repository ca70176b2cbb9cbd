"""Validation at the door: every injected defect is caught exactly once, clean data passes untouched,
and each rule, the parent cascade, type casts and the contract errors behave as docs/data-contract.md says."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tiny import HORIZON, frame, tiny_tables, write_tiny

from features.config import GenerateConfig
from features.contract import TABLES
from features.generate import generate, write_company
from features.sources import DataError, open_data
from features.validate import ContractError, Validation, validate, write_rejected

# How `_generate_dirty.py` names a defect -> the reason validation gives for it.
DEFECT_REASONS = {
    ("marketing_activities", "duplicate_row"): "duplicate row",
    ("product_events", "duplicate_row"): "duplicate row",
    ("conversations", "duplicate_row"): "duplicate row",
    ("service_usage", "duplicate_row"): "duplicate row",
    ("feedback", "duplicate_row"): "duplicate row",
    ("product_events", "unknown_account"): "unknown account_id",
    ("product_events", "after_horizon"): "occurred_at at or after the horizon",
    ("product_events", "negative_duration"): "duration_s below 0",
    ("marketing_activities", "unknown_lead"): "unknown lead_id",
    ("feedback", "score_out_of_range"): "score outside",
    ("conversations", "sentiment_out_of_range"): "sentiment outside -1 to 1",
    ("service_usage", "negative_quantity"): "quantity below 0",
    ("marketing_activities", "missing_activity"): "missing activity",
    ("tickets", "missing_priority"): "missing priority",
    ("tickets", "closed_before_opened"): "closed_at before opened_at",
    ("tickets", "csat_out_of_range"): "csat outside 1–5",
    ("contracts", "end_before_start"): "end_date not after start_date",
    ("contracts", "unknown_account"): "unknown account_id",
    ("leads", "duplicate_key"): "duplicate key lead_id",
    ("accounts", "employees_out_of_range"): "employees below 1",
}
SMALL = dict(seed=7, accounts=200, leads=2000, months=18)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> tuple[Path, Validation]:
    root = tmp_path_factory.mktemp("dirty") / "data"
    write_company(generate(GenerateConfig(**SMALL, dirty=True)), root)
    return root, validate(open_data(root))


def reasons_of(validation: Validation, table: str) -> pd.Series:
    return validation.rejected[table].to_pandas()["reason"]


def count(expr) -> int:
    return int(expr.count().to_pyarrow().as_py())


def test_dirty_every_defect_is_rejected_once_with_its_reason(dirty):
    root, v = dirty
    meta = json.loads((root / "_meta.json").read_text())
    for table, kinds in meta["defects"].items():
        reasons = reasons_of(v, table)
        assert v.counts[table]["rejected"] == sum(kinds.values()), (table, reasons.value_counts())
        for kind, rows in kinds.items():
            wanted = DEFECT_REASONS[(table, kind)]
            hit = reasons.map(lambda r, w=wanted: any(part.startswith(w) for part in r.split("; ")))
            assert hit.sum() == rows, (table, kind, reasons.value_counts())
        reported = {p.reason for p in v.problems if p.table == table}
        assert all(any(r.startswith(DEFECT_REASONS[(table, k)]) for r in reported) for k in kinds)


def test_dirty_accepted_plus_rejected_is_the_input_and_the_clean_company(dirty):
    root, v = dirty
    meta = json.loads((root / "_meta.json").read_text())
    for table, c in v.counts.items():
        assert c["accepted"] + c["rejected"] == c["input"] == meta["rows"][table]
        assert count(v.accepted[table]) == c["accepted"]  # counted independently of the bookkeeping
        assert count(v.rejected[table]) == c["rejected"]
        clean_rows = meta["rows"][table] - sum(meta["defects"].get(table, {}).values())
        assert c["accepted"] == clean_rows
    assert list(v.accepted["contracts"].columns) == TABLES["contracts"].column_names
    assert v.accepted["contracts"].schema()["end_date"].is_timestamp()


def test_dirty_rejected_rows_are_written_with_reason(dirty, tmp_path):
    _, v = dirty
    written = write_rejected(v, tmp_path / "rejected")
    assert set(written) == {t for t, c in v.counts.items() if c["rejected"]}
    for table, path in written.items():
        frame_ = pd.read_parquet(path)
        assert len(frame_) == v.counts[table]["rejected"]
        assert list(frame_.columns) == [*TABLES[table].column_names, "reason"]
        assert frame_["reason"].notna().all()
    summary = v.summary()
    assert "duplicate key lead_id" in summary and "unknown account_id" in summary
    assert all(0 < len(p.examples) <= 3 for p in v.problems)


def test_clean_data_rejects_nothing(tmp_path):
    root = tmp_path / "clean"
    write_company(generate(GenerateConfig(**SMALL)), root)
    v = validate(open_data(root))
    assert v.problems == []
    assert all(c["rejected"] == 0 and c["accepted"] == c["input"] for c in v.counts.values())
    assert v.summary().endswith("no problems found")


# --- hand-made frames, one rule at a time -------------------------------------------------------------------


def with_rows(tmp_path: Path, **extra: list[dict]) -> Validation:
    """The tiny company (which is clean) with rows appended per table; returns its validation."""
    tables = tiny_tables()
    for table, rows in extra.items():
        tables[table] = pd.concat([tables.get(table, frame(table, [])), frame(table, rows)], ignore_index=True)
    return validate(open_data(write_tiny(tmp_path / "d", tables)))


def rejected_rows(v: Validation, table: str) -> pd.DataFrame:
    return v.rejected[table].to_pandas()


def test_tiny_company_is_clean(tmp_path):
    v = validate(open_data(write_tiny(tmp_path / "d")))
    assert v.problems == [] and v.horizon == pd.Timestamp(HORIZON, tz="UTC")


EVENT = {"account_id": "A1", "user_id": "U1", "occurred_at": "2025-03-02", "event": "login", "duration_s": 5.0}
TICKET = {"ticket_id": "T7", "account_id": "A1", "opened_at": "2025-03-01", "priority": "low"}
CONTRACT = {
    "contract_id": "C7",
    "account_id": "A1",
    "start_date": "2025-02-01",
    "end_date": "2026-02-01",
    "arr": 100.0,
    "seats": 1,
    "plan": "starter",
}


@pytest.mark.parametrize(
    ("table", "row", "reason"),
    [
        ("product_events", {**EVENT, "account_id": None}, "missing account_id"),
        ("product_events", {**EVENT, "account_id": "  "}, "missing account_id"),
        ("product_events", {**EVENT, "duration_s": -1.0}, "duration_s below 0"),
        ("product_events", {**EVENT, "account_id": "A404"}, "unknown account_id"),
        ("product_events", {**EVENT, "occurred_at": HORIZON}, "occurred_at at or after the horizon"),
        ("tickets", {**TICKET, "csat": 6.0, "closed_at": "2025-03-02"}, "csat outside 1–5"),
        ("tickets", {**TICKET, "closed_at": "2025-02-28"}, "closed_at before opened_at"),
        ("tickets", {**TICKET, "escalated_at": "2025-02-28"}, "escalated_at before opened_at"),
        ("tickets", {**TICKET, "closed_at": "2025-07-02"}, "closed_at at or after the horizon"),
        ("contracts", {**CONTRACT, "end_date": "2025-02-01"}, "end_date not after start_date"),
        ("contracts", {**CONTRACT, "arr": -5.0}, "arr below 0"),
        ("contracts", {**CONTRACT, "outcome_at": "2025-08-01"}, "outcome_at at or after the horizon"),
        (
            "feedback",
            {"account_id": "A1", "responded_at": "2025-03-01", "survey": "nps", "score": 11.0},
            "score outside 0–10 for nps",
        ),
        (
            "feedback",
            {"account_id": "A1", "responded_at": "2025-03-01", "survey": "csat", "score": 0.0},
            "score outside 1–5 for csat",
        ),
        ("feedback", {"account_id": "A1", "responded_at": "2025-03-01", "score": 3.0}, "missing survey"),
        (
            "conversations",
            {"account_id": "A1", "occurred_at": "2025-03-01", "sentiment": 1.2},
            "sentiment outside -1 to 1",
        ),
        (
            "marketing_activities",
            {"occurred_at": "2025-03-01", "activity": "web_visit"},
            "missing lead_id and account_id",
        ),
        (
            "marketing_activities",
            {"account_id": "A404", "occurred_at": "2025-03-01", "activity": "web_visit"},
            "unknown account_id",
        ),
        ("leads", {"lead_id": "L8", "created_at": "2025-03-01", "employees": 0}, "employees below 1"),
        (
            "leads",
            {"lead_id": "L8", "created_at": "2025-03-01", "converted_at": "2025-07-01"},
            "converted_at at or after the horizon",
        ),
    ],
)
def test_each_rule_rejects_its_row(tmp_path, table, row, reason):
    v = with_rows(tmp_path, **{table: [row]})
    got = rejected_rows(v, table)
    assert got["reason"].tolist() == [reason]
    assert v.counts[table]["rejected"] == 1 and v.counts[table]["accepted"] == v.counts[table]["input"] - 1
    assert [(p.table, p.reason, p.rows) for p in v.problems] == [(table, reason, 1)]


def test_contract_end_date_may_lie_past_the_horizon(tmp_path):
    v = with_rows(tmp_path, contracts=[{**CONTRACT, "end_date": "2027-01-01"}])
    assert v.counts["contracts"]["rejected"] == 0


def test_unknown_survey_kind_is_accepted_unchecked(tmp_path):
    v = with_rows(
        tmp_path, feedback=[{"account_id": "A1", "responded_at": "2025-03-01", "survey": "ces", "score": 42.0}]
    )
    assert v.counts["feedback"]["rejected"] == 0


def test_several_problems_reject_a_row_once_with_all_reasons(tmp_path):
    v = with_rows(tmp_path, tickets=[{**TICKET, "account_id": "A404", "csat": 9.0, "closed_at": "2025-02-01"}])
    got = rejected_rows(v, "tickets")
    assert len(got) == 1
    assert set(got["reason"][0].split("; ")) == {"csat outside 1–5", "closed_at before opened_at", "unknown account_id"}
    assert v.counts["tickets"] == {"input": 3, "accepted": 2, "rejected": 1}


def test_exact_duplicate_event_keeps_one_copy(tmp_path):
    v = with_rows(tmp_path, product_events=[EVENT, EVENT, EVENT])
    assert rejected_rows(v, "product_events")["reason"].tolist() == ["duplicate row", "duplicate row"]
    accepted = v.accepted["product_events"].to_pandas()
    assert (accepted["occurred_at"] == pd.Timestamp("2025-03-02", tz="UTC")).sum() == 1


def test_duplicate_key_keeps_the_first_valid_row_in_file_order(tmp_path):
    v = with_rows(
        tmp_path,
        leads=[
            {"lead_id": "L2", "created_at": "2025-03-05", "company": "second copy"},  # L2 is already in the file
            {"lead_id": "L8", "created_at": None, "company": "broken first"},
            {"lead_id": "L8", "created_at": "2025-03-01", "company": "valid second"},
        ],
    )
    got = rejected_rows(v, "leads").set_index("company")["reason"].to_dict()
    assert got == {"second copy": "duplicate key lead_id", "broken first": "missing created_at; duplicate key lead_id"}
    kept = v.accepted["leads"].to_pandas().set_index("lead_id")
    assert kept.loc["L8", "company"] == "valid second" and pd.isna(kept.loc["L2", "company"])


def test_children_are_rejected_with_their_parent(tmp_path):
    account = {"account_id": "A5", "created_at": "2024-05-01", "employees": 0}
    v = with_rows(
        tmp_path,
        accounts=[account],
        contracts=[{**CONTRACT, "account_id": "A5"}],
        product_events=[{**EVENT, "account_id": "A5"}],
        marketing_activities=[{"account_id": "A5", "occurred_at": "2025-03-01", "activity": "web_visit"}],
    )
    assert rejected_rows(v, "accounts")["reason"].tolist() == ["employees below 1"]
    for table in ("contracts", "product_events", "marketing_activities"):
        assert rejected_rows(v, table)["reason"].tolist() == ["rejected with its parent account_id"], table


def test_activities_of_a_rejected_lead_go_with_it(tmp_path):
    v = with_rows(
        tmp_path,
        leads=[{"lead_id": "L8", "created_at": "2025-08-01"}],
        marketing_activities=[{"lead_id": "L8", "occurred_at": "2025-03-01", "activity": "web_visit"}],
    )
    assert rejected_rows(v, "marketing_activities")["reason"].tolist() == ["rejected with its parent lead_id"]


def test_wrong_types_are_cast_or_rejected(tmp_path):
    tables = tiny_tables()
    events = tables["product_events"].copy()
    events["occurred_at"] = events["occurred_at"].dt.strftime("%Y-%m-%d %H:%M:%S").astype(object)
    events.loc[0, "occurred_at"] = "yesterday"
    events["user_id"] = [1, 2, 2, 1, 3]  # numeric ids become strings
    events["duration_s"] = events["duration_s"].astype(str).astype(object)
    events.loc[1, "duration_s"] = "long"
    tables["product_events"] = events
    v = validate(open_data(write_tiny(tmp_path / "d", tables)))
    got = rejected_rows(v, "product_events")["reason"].tolist()
    assert got == ["occurred_at is not a timestamp", "duration_s is not a number"]
    accepted = v.accepted["product_events"]
    schema = accepted.schema()
    assert schema["user_id"].is_string() and schema["occurred_at"].is_timestamp() and schema["duration_s"].is_floating()
    assert sorted(accepted.to_pandas()["user_id"]) == ["1", "2", "3"]


def test_csv_tables_are_validated_too(tmp_path):
    root = write_tiny(tmp_path / "d")
    events = pd.read_parquet(root / "product_events.parquet")
    (root / "product_events.parquet").unlink()
    pd.concat([events, events.iloc[[0]]]).to_csv(root / "product_events.csv", index=False)
    v = validate(open_data(root))
    assert v.counts["product_events"] == {"input": 6, "accepted": 5, "rejected": 1}
    assert rejected_rows(v, "product_events")["reason"].tolist() == ["duplicate row"]
    assert v.accepted["product_events"].schema()["occurred_at"].is_timestamp()


def test_absent_optional_table_is_fine_and_stays_absent(tmp_path):
    root = write_tiny(tmp_path / "d")
    (root / "tickets.parquet").unlink()
    v = validate(open_data(root))
    assert "tickets" not in v.accepted and v.problems == []


def test_missing_required_table_is_a_contract_error(tmp_path):
    root = write_tiny(tmp_path / "d")
    (root / "contracts.parquet").unlink()
    source = open_data(root, model="conversion")  # the conversion model does not need contracts
    validate(source, model="conversion")
    with pytest.raises(ContractError, match=r"required table\(s\) contracts not found; the renewal model needs"):
        validate(source, model="renewal")


def test_missing_column_is_a_contract_error_naming_table_and_column(tmp_path):
    tables = tiny_tables()
    tables["accounts"] = tables["accounts"].drop(columns=["segment", "owner"])
    source = open_data(write_tiny(tmp_path / "d", tables))
    with pytest.raises(ContractError, match=r"table accounts lacks column\(s\) segment, owner") as caught:
        validate(source)
    assert isinstance(caught.value, DataError)


def test_without_a_recorded_horizon_the_latest_row_is_not_rejected(tmp_path):
    root = write_tiny(tmp_path / "d")
    (root / "_meta.json").unlink()
    v = validate(open_data(root))
    assert v.problems == []
    assert validate(open_data(root), horizon="2025-04-01").counts["product_events"]["rejected"] == 1
