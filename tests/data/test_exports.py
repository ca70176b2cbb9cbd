"""Vendor exports into the data contract: every shipped mapping turns its fixture into tables `validate` accepts.

The fixtures under tests/fixtures/exports/<vendor>/ follow each vendor's documented export columns, carry one
column the mapping does not know (it must be noted, never silently dropped) and a few rows made bad on purpose
(they must be rejected with a reason, or skipped and counted, never lost).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.export_mapping import MappingError, load_mapping, vendors
from features.exports import load_export, write_export
from signalscore.cli import app

runner = CliRunner()
FIXTURES = Path(__file__).parents[1] / "fixtures" / "exports"
HORIZON = "2025-07-01"
EXPORTS = {  # vendor -> (file name -> fixture), the unknown column each fixture carries
    "salesforce": ({"Lead": "Lead.csv", "Account": "Account.csv", "Contract": "Contract.csv"},
                   ["Favorite_Color__c", "Legacy_Region__c", "Signed_By__c"]),
    "hubspot": ({"contacts": "contacts.csv", "companies": "companies.csv", "deals": "deals.csv"},
                ["favorite_snack", "legacy_crm_id", "internal_memo"]),
    "marketo": ({"leads": "leads.csv", "activities": "activities.csv"}, ["favoriteColor", "internal_note"]),
    "zendesk": ({"tickets": "tickets.csv", "organizations": "organizations.csv"}, ["sla_tier"]),
    "intercom": ({"conversations": "conversations.csv", "companies": "companies.csv"}, ["ai_topic"]),
    "segment": ({"tracks": "tracks.csv"}, ["report_format"]),
    "nps": ({"responses": "responses.csv", "contacts": "contacts.csv"}, ["Browser"]),
}


def _files(vendor: str) -> dict[str, Path]:
    return {name: FIXTURES / vendor / file for name, file in EXPORTS[vendor][0].items()}


def _import(vendor: str, out: Path, *extra: str, files: dict[str, Path] | None = None):
    args = ["import", "--vendor", vendor, "--out", str(out), "--horizon", HORIZON, *extra]
    for name, path in (files or _files(vendor)).items():
        args += ["--file", f"{name}={path}"]
    return runner.invoke(app, args)


def _validate(data: Path, model: str, ws: Path):
    return runner.invoke(app, ["validate", "--data", str(data), "--model", model, "--workspace", str(ws)])


def test_every_vendor_has_a_shipped_mapping():
    assert set(EXPORTS) <= set(vendors())
    for vendor in vendors():
        assert load_mapping(vendor).files


def test_salesforce_and_segment_give_a_renewal_data_folder(tmp_path):
    data = tmp_path / "data"
    result = _import("salesforce", data)
    assert result.exit_code == 0, result.output
    assert "Favorite_Color__c" in result.output and "Legacy_Region__c" in result.output
    assert _import("segment", data).exit_code == 0
    checked = _validate(data, "renewal", tmp_path / "ws")
    assert checked.exit_code == 0, checked.output
    assert "every row passes the contract" in checked.output

    contracts = pd.read_parquet(data / "contracts.parquet").set_index("contract_id")
    assert "800Hs00000C5AAA" not in contracts.index  # a Draft contract is skipped, not imported
    assert contracts.outcome.fillna("open").to_dict() == {"800Hs00000C1AAA": "renewed", "800Hs00000C2AAA": "renewed",
                                                          "800Hs00000C3AAA": "open", "800Hs00000C4AAA": "churned"}
    rejected = pd.read_csv(data / "_import" / "rejected" / "salesforce-Lead.csv", dtype=str)
    assert rejected.Id.tolist() == ["00QHs00000L5AAA"]
    assert rejected.CreatedDate.tolist() == ["last Tuesday"]  # as exported, next to its reason
    assert rejected.reason.tolist() == ["CreatedDate 'last Tuesday' is not a timestamp"]
    leads = pd.read_parquet(data / "leads.parquet").set_index("lead_id")
    assert leads.loc["00QHs00000L1AAA", "account_id"] == "001Hs00001AcmeAAA"
    assert pd.isna(leads.loc["00QHs00000L2AAA", "account_id"])
    assert leads.loc["00QHs00000L3AAA", "disqualified_at"] == pd.Timestamp("2024-10-30 17:20", tz="UTC")
    events = pd.read_parquet(data / "product_events.parquet")
    assert events.event.tolist().count("login") == 3  # Segment's "Signed In" is the contract's login
    assert "anon-9e3" in events.user_id.tolist()  # an anonymous user keeps its anonymous_id


def test_hubspot_reads_epoch_milliseconds_and_only_closed_won_deals(tmp_path):
    data = tmp_path / "data"
    result = _import("hubspot", data)
    assert result.exit_code == 0, result.output
    pd.DataFrame({"account_id": ["9001"], "user_id": ["u1"], "occurred_at": ["2025-06-01 10:00:00"],
                  "event": ["login"], "duration_s": [60.0]}).to_csv(data / "product_events.csv", index=False)
    checked = _validate(data, "renewal", tmp_path / "ws")
    assert checked.exit_code == 0, checked.output

    accounts = pd.read_parquet(data / "accounts.parquet").set_index("account_id")
    assert accounts.loc["9001", "created_at"] == pd.Timestamp("2023-01-10 09:30", tz="UTC")  # 1673343000000 ms
    assert accounts.loc["9002", "created_at"] == pd.Timestamp("2023-05-20 14:00", tz="UTC")  # ISO in the same file
    contracts = pd.read_parquet(data / "contracts.parquet").set_index("contract_id")
    assert sorted(contracts.index) == ["7001", "7002", "7003"]  # closedlost and open deals are skipped
    assert contracts.loc["7001", "end_date"] == pd.Timestamp("2024-01-15", tz="UTC")  # close date + 12 months
    assert contracts.loc["7002", "arr"] == 30000.0  # hs_arr empty: amount
    leads = pd.read_parquet(data / "leads.parquet").set_index("lead_id")
    assert leads.loc["501", "employees"] == 100  # the "100-500" range reads as its lower bound
    assert leads.loc["501", "account_id"] == "9001" and pd.isna(leads.loc["502", "account_id"])
    assert "numemployees 'lots' is not an integer" in result.output


def test_marketo_activity_types_become_canonical_activities(tmp_path):
    imported = load_export("marketo", _files("marketo"), horizon=HORIZON)
    activities = imported["marketing_activities"]
    by_time = dict(zip(activities.occurred_at.dt.strftime("%m-%d %H:%M"), activities.activity, strict=True))
    assert by_time["02-03 08:12"] == "email_open"  # activityTypeId 10 Open Email
    assert by_time["02-03 08:13"] == "email_click"  # 11 Click Email
    assert by_time["02-03 07:30"] == "email_sent"  # 6 Send Email
    assert by_time["02-01 09:00"] == "pricing_page_visit"  # 1 Visit Webpage on /pricing
    assert by_time["02-01 09:05"] == "web_visit"
    assert by_time["02-04 10:00"] == "demo_request"  # 2 Fill Out Form "Request a Demo"
    assert by_time["02-05 11:00"] == "content_download"
    assert by_time["02-05 11:02"] == "form_submit"
    assert by_time["02-13 14:08"] == "webinar_attended"  # 104 with New Status "Attended"
    assert by_time["02-14 08:00"] == "unsubscribe"  # 9 Unsubscribe Email
    report = next(r for r in imported.reports if r.key == "activities")
    assert report.skipped == {"activityTypeId 7 is not in the mapping": 1, "activityTypeId 13 is not in the mapping": 1,
                              "activityTypeId 104 is not in the mapping": 1}
    assert report.rejected.reason.tolist() == ["activityDate '2025-02-30T10:00:00Z' is not a timestamp"]
    data = tmp_path / "data"
    write_export(imported, data, horizon=HORIZON)
    checked = _validate(data, "conversion", tmp_path / "ws")
    assert checked.exit_code == 0, checked.output


def test_customer_health_exports_join_the_crm_accounts(tmp_path):
    """Salesforce accounts, Segment usage, Zendesk tickets, Intercom conversations and NPS in one folder."""
    data = tmp_path / "data"
    for vendor in ("salesforce", "segment", "zendesk", "intercom", "nps"):
        result = _import(vendor, data)
        assert result.exit_code == 0, result.output
    checked = _validate(data, "renewal", tmp_path / "ws")
    assert checked.exit_code == 3, checked.output  # exactly the NPS answer made bad on purpose
    rejected = {p.stem: pd.read_parquet(p) for p in (tmp_path / "ws" / "rejected").glob("*.parquet")}
    assert list(rejected) == ["feedback"]
    assert rejected["feedback"].reason.tolist() == ["score outside 0–10 for nps"]

    tickets = pd.read_parquet(data / "tickets.parquet").set_index("ticket_id")
    assert tickets.account_id.to_dict() == {"101": "001Hs00001AcmeAAA", "102": "001Hs00001AcmeAAA",
                                            "103": "001Hs00001BoltAAA"}  # organization -> external_id
    assert tickets.loc["102", "priority"] == "normal" and pd.isna(tickets.loc["102", "closed_at"])
    assert tickets.csat.tolist()[0] == 5.0 and tickets.loc["103", "csat"] == 1.0  # good / bad
    conversations = pd.read_parquet(data / "conversations.parquet")
    assert conversations.direction.tolist() == ["inbound", "outbound", "inbound"]
    assert conversations.sentiment.tolist()[0] == 1.0  # a 5 of 5 rating
    feedback = pd.read_parquet(data / "feedback.parquet")
    assert feedback.account_id.tolist()[2] == "001Hs00001BoltAAA"  # found through contacts by e-mail
    assert set(feedback.survey) == {"nps"}


@pytest.mark.parametrize("vendor", sorted(EXPORTS))
def test_every_row_is_imported_skipped_or_rejected_and_unknown_columns_are_noted(vendor):
    imported = load_export(vendor, _files(vendor), horizon=HORIZON)
    for report in imported.reports:
        assert report.imported + sum(report.skipped.values()) + len(report.rejected) == report.rows
        assert report.rejected.reason.str.len().gt(0).all()
    notes = "\n".join(imported.notes)
    for column in EXPORTS[vendor][1]:
        assert f"ignored: {column}" in notes or f", {column}" in notes, (vendor, column, notes)
    for table, frame in imported.items():
        assert len(frame) > 0, table


def test_a_missing_required_column_names_the_mapping_file_and_column(tmp_path):
    leads = pd.read_csv(FIXTURES / "salesforce" / "Lead.csv", dtype=str).drop(columns="Id")
    leads.to_csv(tmp_path / "Lead.csv", index=False)
    result = _import("salesforce", tmp_path / "data", files={"Lead": tmp_path / "Lead.csv"})
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "mapping salesforce" in text and "file Lead" in text and "required column Id not found" in text
    assert "leads.lead_id" in text and "Traceback" not in text
    assert not (tmp_path / "data" / "leads.parquet").exists()
    with pytest.raises(MappingError, match=r"Contract.*ARR__c or Annual_Recurring_Revenue__c.*contracts\.arr"):
        contract = pd.read_csv(FIXTURES / "salesforce" / "Contract.csv", dtype=str).drop(columns="ARR__c")
        contract.to_csv(tmp_path / "Contract.csv", index=False)
        load_export("salesforce", {"Contract": tmp_path / "Contract.csv"})


def test_a_copied_mapping_reads_the_users_own_field_names(tmp_path):
    printed = runner.invoke(app, ["import", "--vendor", "salesforce", "--print-mapping"])
    assert printed.exit_code == 0 and "ARR__c" in printed.output
    (tmp_path / "my.yaml").write_text(printed.output.replace("ARR__c, Annual_Recurring_Revenue__c", "Annual_Value__c"))
    contract = pd.read_csv(FIXTURES / "salesforce" / "Contract.csv", dtype=str).rename(
        columns={"ARR__c": "Annual_Value__c"})
    contract.to_csv(tmp_path / "Contract.csv", index=False)
    result = runner.invoke(app, ["import", "--mapping", str(tmp_path / "my.yaml"), "--file",
                                 f"Contract={tmp_path / 'Contract.csv'}", "--out", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "data" / "contracts.parquet").arr.tolist()[:2] == [24000.0, 30000.0]


def test_opportunities_can_stand_in_for_contracts():
    imported = load_export("salesforce", {"Opportunity": FIXTURES / "salesforce" / "Opportunity.csv"},
                           horizon=HORIZON)
    contracts = imported["contracts"].set_index("contract_id")
    assert sorted(contracts.index) == ["006Hs00000O1AAA", "006Hs00000O2AAA", "006Hs00000O3AAA", "006Hs00000O6AAA"]
    assert contracts.loc["006Hs00000O3AAA", "outcome"] == "churned"  # its renewal opportunity was lost
    assert contracts.loc["006Hs00000O1AAA", "outcome"] == "renewed"
    report = imported.reports[0]
    assert report.skipped == {"IsWon is not true (open or lost opportunity)": 2}
    assert report.rejected.reason.tolist() == ["CloseDate 'TBD' is not a timestamp"]  # said once, not per column


def test_an_existing_table_is_not_overwritten_without_replace(tmp_path):
    data = tmp_path / "data"
    assert _import("segment", data).exit_code == 0
    again = _import("segment", data)
    assert again.exit_code == 2 and "--replace" in again.output
    assert _import("segment", data, "--replace").exit_code == 0


def test_a_mistyped_mapping_fails_before_reading_rows(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "files:\n  tracks:\n    table: product_events\n    columns:\n"
        "      account_id: {sorce: context_group_id}\n      colour: event\n"
    )
    with pytest.raises(MappingError) as error:
        load_mapping(tmp_path / "bad.yaml")
    message = str(error.value)
    assert "bad.yaml" in message and "unknown key(s) sorce" in message and "colour: not a column" in message
    assert "user_id, occurred_at, event not mapped" in message


def test_times_in_a_stated_zone_or_format_become_utc(tmp_path):
    (tmp_path / "survey.yaml").write_text(
        "vendor: survey\nfiles:\n  answers:\n    table: feedback\n    columns:\n"
        "      account_id: Account\n      survey: {value: csat}\n      score: Score\n"
        "      responded_at: {source: Answered, timezone: Europe/Berlin, dayfirst: true}\n"
    )
    pd.DataFrame({"Account": ["A1", "A1", "A1", "A1"], "Score": ["4", "5", "3", "2"],
                  "Answered": ["15.01.2025 10:00", "2025-07-01", "2025-01-15T10:00:00Z", "1736935200000"]}
                 ).to_csv(tmp_path / "answers.csv", index=False)
    feedback = load_export(tmp_path / "survey.yaml", tmp_path / "answers.csv")["feedback"]
    assert feedback.responded_at.tolist() == [
        pd.Timestamp("2025-01-15 09:00", tz="UTC"),  # Berlin winter time, day first
        pd.Timestamp("2025-06-30 22:00", tz="UTC"),  # a bare date is Berlin midnight
        pd.Timestamp("2025-01-15 10:00", tz="UTC"),  # an explicit offset wins over the zone
        pd.Timestamp("2025-01-15 10:00", tz="UTC"),  # epoch milliseconds are UTC
    ]
