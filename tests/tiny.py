"""A hand-made company small enough to check feature values by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from features.contract import TABLES

HORIZON = "2025-07-01"


def ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value, tz="UTC")


def frame(table: str, rows: list[dict]) -> pd.DataFrame:
    """Rows in contract column order and types (missing columns are null)."""
    spec = TABLES[table]
    data = pd.DataFrame(rows, columns=spec.column_names)
    for column in spec.columns:
        if column.kind == "timestamp":
            data[column.name] = pd.to_datetime(data[column.name], utc=True).astype("datetime64[us, UTC]")
        elif column.kind == "int":
            data[column.name] = data[column.name].astype("Int64")
        elif column.kind == "float":
            data[column.name] = data[column.name].astype("float64")
        else:
            data[column.name] = data[column.name].astype(object)
    return data


def tiny_tables() -> dict[str, pd.DataFrame]:
    leads = frame("leads", [
        {"lead_id": "L1", "created_at": "2025-01-10", "industry": "software", "employees": 120, "country": "DE",
         "seniority": "director", "lead_source": "web", "converted_at": "2025-05-20 10:00",
         "account_id": "A9"},
        {"lead_id": "L2", "created_at": "2025-03-05", "industry": "retail", "employees": 40, "country": "US",
         "seniority": "manager", "lead_source": "event"},
        {"lead_id": "L3", "created_at": "2025-02-01", "industry": "retail", "employees": 5, "country": "US",
         "seniority": "individual", "lead_source": "web", "disqualified_at": "2025-03-15"},
    ])
    activities = frame("marketing_activities", [
        {"lead_id": "L1", "occurred_at": "2025-03-20 09:00", "activity": "email_open"},
        {"lead_id": "L1", "occurred_at": "2025-03-31 23:59", "activity": "pricing_page_visit"},
        {"lead_id": "L1", "occurred_at": "2025-04-01 00:00", "activity": "demo_request"},  # at as_of: invisible
        {"lead_id": "L1", "occurred_at": "2025-02-15 12:00", "activity": "web_visit"},
        {"lead_id": "L2", "occurred_at": "2025-03-10 08:00", "activity": "email_open"},
        {"lead_id": "L2", "occurred_at": "2025-03-11 08:00", "activity": "email_sent"},
        {"account_id": "A1", "occurred_at": "2025-03-11 08:00", "activity": "email_open"},
    ])
    accounts = frame("accounts", [
        {"account_id": "A1", "name": "Acme", "industry": "software", "employees": 300, "country": "DE",
         "segment": "Mid-Market", "created_at": "2024-01-15 12:00", "owner": "csm_a"},
        {"account_id": "A9", "name": "Nine", "industry": "software", "employees": 120, "country": "DE",
         "segment": "SMB", "created_at": "2025-05-20 10:00", "owner": "csm_b"},
    ])
    contracts = frame("contracts", [
        {"contract_id": "C1", "account_id": "A1", "start_date": "2024-01-15 12:00", "end_date": "2025-01-15 12:00",
         "arr": 12000.0, "seats": 10, "plan": "growth", "outcome": "renewed", "outcome_at": "2025-01-15 12:00"},
        {"contract_id": "C2", "account_id": "A1", "start_date": "2025-01-15 12:00", "end_date": "2026-01-15 12:00",
         "arr": 15000.0, "seats": 12, "plan": "growth"},
        {"contract_id": "C9", "account_id": "A9", "start_date": "2025-05-20 10:00", "end_date": "2025-06-20 10:00",
         "arr": 1200.0, "seats": 2, "plan": "starter", "outcome": "churned", "outcome_at": "2025-06-20 10:00"},
    ])
    events = frame("product_events", [
        {"account_id": "A1", "user_id": "U1", "occurred_at": "2025-03-25 10:00", "event": "login", "duration_s": 600},
        {"account_id": "A1", "user_id": "U2", "occurred_at": "2025-03-26 10:00", "event": "login", "duration_s": 1200},
        {"account_id": "A1", "user_id": "U2", "occurred_at": "2025-03-26 10:05", "event": "report_export",
         "duration_s": 60},
        {"account_id": "A1", "user_id": "U1", "occurred_at": "2025-02-20 10:00", "event": "login", "duration_s": 300},
        {"account_id": "A1", "user_id": "U3", "occurred_at": "2025-04-01 00:00", "event": "login", "duration_s": 999},
    ])
    tickets = frame("tickets", [
        {"ticket_id": "T1", "account_id": "A1", "opened_at": "2025-03-01", "closed_at": "2025-03-03",
         "priority": "urgent", "csat": 2.0},
        {"ticket_id": "T2", "account_id": "A1", "opened_at": "2025-03-20", "closed_at": "2025-04-10",
         "priority": "normal", "csat": 5.0},
    ])
    feedback = frame("feedback", [
        {"account_id": "A1", "responded_at": "2025-02-01", "survey": "nps", "score": 9.0},
        {"account_id": "A1", "responded_at": "2025-03-30", "survey": "nps", "score": 4.0},
        {"account_id": "A1", "responded_at": "2025-04-02", "survey": "nps", "score": 10.0},
    ])
    return {"leads": leads, "marketing_activities": activities, "accounts": accounts, "contracts": contracts,
            "product_events": events, "tickets": tickets, "feedback": feedback}


def write_tiny(root: Path, tables: dict[str, pd.DataFrame] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in (tables or tiny_tables()).items():
        data.to_parquet(root / f"{name}.parquet", index=False)
    (root / "_meta.json").write_text(json.dumps({"horizon": HORIZON, "start": "2025-01-01"}))
    return root
