"""A prepared table (the Telco churn export is the model case) becomes features, labels and notes a user can audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from telco import telco, write

from features.table import TableError, read_prepared_table, table_features


def test_telco_with_positive_no_labels_renewal_as_one(tmp_path):
    raw = telco()
    table = read_prepared_table(write(tmp_path, raw), "renewal", "Churn", positive="No", id_column="customerID")
    frame = table.frame
    assert list(frame.columns[:2]) == ["entity_id", "as_of"] and frame.columns[-1] == "label"
    assert (frame.label.to_numpy() == (raw.Churn == "No").to_numpy()).all()
    assert frame.entity_id.tolist() == raw.customerID.tolist()
    assert not table.has_time and frame.as_of.isna().all() and str(frame.as_of.dtype).endswith("UTC]")
    assert "customerID" not in frame.columns and "Churn" not in frame.columns
    by_name = {f.name: f for f in table.catalog}
    assert by_name["gender"].categorical and not by_name["tenure"].categorical
    gender = by_name["gender"]
    assert (gender.entity, gender.kind, gender.group, gender.source) == ("account", "attribute", "Other", "telco.csv")
    assert gender.template.format(value="Male") == "gender is Male" and gender.missing == "gender is missing"
    assert by_name["MonthlyCharges"].template.format(value=29.85) == "MonthlyCharges is 29.85"
    assert by_name["tenure"].template.format(value=12.0) == "tenure is 12"
    assert any("'No' is the positive outcome" in n for n in table.notes)
    assert any("random" in n for n in table.notes)
    assert table.rejected.empty


def test_without_positive_yes_is_one_and_the_model_sets_the_entity(tmp_path):
    raw = telco()
    table = read_prepared_table(write(tmp_path, raw), "conversion", "Churn", id_column="customerID")
    assert (table.frame.label.to_numpy() == (raw.Churn == "Yes").to_numpy()).all()
    assert {f.entity for f in table.catalog} == {"lead"}


@pytest.mark.parametrize("yes, no", [("true", "false"), ("TRUE", "False"), (1, 0), (1.0, 0.0), (True, False),
                                     (" Y ", "n")])
def test_common_binary_spellings_are_understood(tmp_path, yes, no):
    raw = telco()
    raw["Churn"] = np.where(raw.Churn == "Yes", yes, no).astype(object)
    table = read_prepared_table(write(tmp_path, raw), "renewal", "Churn", id_column="customerID")
    assert (table.frame.label.to_numpy() == (raw.Churn == yes).to_numpy()).all()


def test_a_label_that_is_not_binary_says_so(tmp_path):
    raw = telco()
    raw.loc[:9, "Churn"] = "Maybe"
    with pytest.raises(TableError, match=r"not binary.*Maybe"):
        read_prepared_table(write(tmp_path, raw), "renewal", "Churn")
    raw["Churn"] = np.where(raw.index % 2, "renewed", "churned")
    path = write(tmp_path, raw, "words.csv")
    with pytest.raises(TableError, match=r"not binary.*--positive"):
        read_prepared_table(path, "renewal", "Churn")
    assert read_prepared_table(path, "renewal", "Churn", positive="Renewed").frame.label.mean() == 0.5
    with pytest.raises(TableError, match="'lost' is not one of its values"):
        read_prepared_table(path, "renewal", "Churn", positive="lost")


def test_a_missing_label_column_is_named_with_the_closest_match(tmp_path):
    with pytest.raises(TableError, match=r"'Chrn'.*did you mean 'Churn'"):
        read_prepared_table(write(tmp_path, telco()), "renewal", "Chrn")
    table = read_prepared_table(write(tmp_path, telco()), "renewal", "churn")  # case is forgiven, with a note
    assert any("'Churn'" in n for n in table.notes)


def test_rows_without_a_label_are_set_aside_with_a_reason(tmp_path):
    raw = telco()
    raw.loc[[3, 10, 11], "Churn"] = None
    raw.loc[20, "Churn"] = "  "
    table = read_prepared_table(write(tmp_path, raw), "renewal", "Churn", positive="No", id_column="customerID")
    assert len(table.frame) == len(raw) - 4 and table.frame.label.notna().all()
    assert table.rejected.row.tolist() == [4, 11, 12, 21]  # 1-based data rows
    assert table.rejected.customerID.tolist() == raw.customerID[[3, 10, 11, 20]].tolist()
    assert (table.rejected.reason == "missing label (Churn)").all()
    assert any("Set aside 4 of 300 rows" in n for n in table.notes)


def test_total_charges_with_blanks_becomes_numeric(tmp_path):
    table = read_prepared_table(write(tmp_path, telco()), "renewal", "Churn", id_column="customerID")
    charges = table.frame.TotalCharges
    assert charges.dtype == "float64" and charges.isna().sum() == 5 and charges.iloc[5:].notna().all()
    assert not next(f for f in table.catalog if f.name == "TotalCharges").categorical
    assert any("TotalCharges" in n and "5 blank" in n for n in table.notes)


def test_categories_keep_missing_as_none(tmp_path):
    raw = telco()
    raw.loc[[0, 1], "PaymentMethod"] = None
    table = read_prepared_table(write(tmp_path, raw), "renewal", "Churn", id_column="customerID")
    method = table.frame.PaymentMethod
    assert method.dtype == object and method[0] is None and "nan" not in set(method.dropna())
    assert table_features(raw, table.catalog).equals(table.frame[[f.name for f in table.catalog]])


def test_an_id_like_column_without_id_is_ignored_and_rows_are_numbered(tmp_path):
    raw = telco()
    raw["plan"] = "basic"  # the same in every row
    raw["Monthly Charges (USD)"] = raw.MonthlyCharges
    table = read_prepared_table(write(tmp_path, raw), "renewal", "Churn")
    assert "customerID" not in table.frame.columns and "plan" not in table.frame.columns
    assert any("customerID" in n and "identifier" in n and "--id" in n for n in table.notes)
    assert any("plan (the same value" in n for n in table.notes)
    assert table.frame.entity_id.iloc[0] == "row-1" and table.frame.entity_id.iloc[-1] == "row-300"
    assert "Monthly_Charges_USD" in table.frame.columns
    assert any("'Monthly Charges (USD)' → Monthly_Charges_USD" in n for n in table.notes)


def test_groups_yaml_maps_columns_and_rejects_unknown_ones(tmp_path):
    path = write(tmp_path, telco())
    groups = tmp_path / "groups.yaml"
    groups.write_text("Commercial: [Contract, MonthlyCharges, TotalCharges]\nProfile:\n  - gender\n  - SeniorCitizen\n")
    table = read_prepared_table(path, "renewal", "Churn", id_column="customerID", groups=groups)
    group = {f.name: f.group for f in table.catalog}
    assert group["Contract"] == "Commercial" and group["gender"] == "Profile" and group["tenure"] == "Other"
    groups.write_text("Commercial: [Contract, Logins]\n")
    with pytest.raises(TableError, match="'Logins'"):
        read_prepared_table(path, "renewal", "Churn", id_column="customerID", groups=groups)
    groups.write_text("- Contract\n")
    with pytest.raises(TableError, match="must map each group"):
        read_prepared_table(path, "renewal", "Churn", id_column="customerID", groups=groups)


def test_parquet_and_a_time_column_give_utc_snapshots(tmp_path):
    raw = telco()
    raw["snapshot"] = pd.Timestamp("2024-01-31") + pd.to_timedelta(raw.index % 3 * 30, unit="D")
    raw["TotalCharges"] = pd.to_numeric(raw.TotalCharges, errors="coerce")
    table = read_prepared_table(write(tmp_path, raw, "telco.parquet"), "renewal", "Churn", positive="No",
                                id_column="customerID", time_column="snapshot")
    assert table.has_time and str(table.frame.as_of.dt.tz) == "UTC"
    assert table.frame.as_of.iloc[1] == pd.Timestamp("2024-03-01", tz="UTC")
    assert "snapshot" not in table.frame.columns


def test_unreadable_times_are_set_aside_and_offsets_become_utc(tmp_path):
    raw = telco()
    raw["as_of_date"] = "2024-06-30T10:00:00+02:00"
    raw.loc[7, "as_of_date"] = "not a date"
    table = read_prepared_table(write(tmp_path, raw), "renewal", "Churn", id_column="customerID",
                                time_column="as_of_date")
    assert (table.frame.as_of == pd.Timestamp("2024-06-30 08:00", tz="UTC")).all()
    assert table.rejected.row.tolist() == [8] and "not a date" in table.rejected.reason[0]


@pytest.mark.parametrize("name, match", [("telco.xlsx", "expected a .csv"), ("absent.csv", "does not exist")])
def test_unsupported_or_missing_files_are_refused(tmp_path, name, match):
    path = tmp_path / name
    if name.endswith(".xlsx"):
        path.write_text("x")
    with pytest.raises(TableError, match=match):
        read_prepared_table(path, "renewal", "Churn")
