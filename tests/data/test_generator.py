"""The generated company: contract shape, point-in-time sanity, and above all that `p_true` is exact.

Labels are computed here with a small helper implementing docs/concepts.md, independent of the labels module,
so the truth is checked against the rules the rest of the system uses.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr
from scipy.stats import rankdata

from features import _generate_accounts as ga
from features import _generate_leads as gl
from features._generate_common import DAY_US
from features.config import GenerateConfig
from features.contract import SURVEY_RANGES, TABLES
from features.generate import Company, _simulate, generate, write_company

SMALL = GenerateConfig(seed=11, accounts=150, leads=1500, months=18, end=date(2025, 7, 1))
DEFAULT = GenerateConfig()  # the documented targets hold at the defaults
CONVERSION_DAYS, RENEWAL_DAYS, MAX_AGE_DAYS = 90, 180, 365

ID_PREFIX = {"lead_id": "L", "account_id": "A", "contract_id": "C", "ticket_id": "T", "user_id": "U"}


@pytest.fixture(scope="module")
def small() -> Company:
    return generate(SMALL)


def horizon_of(company: Company) -> pd.Timestamp:
    return pd.Timestamp(company.meta["horizon"])


def labelled(company: Company) -> pd.DataFrame:
    """Truth rows with `label` (1/0, NaN while unknown), following docs/concepts.md."""
    horizon = horizon_of(company)
    truth = company.truth
    leads = company.tables["leads"][["lead_id", "converted_at"]]
    conv = truth[truth["model"] == "conversion"].merge(leads, left_on="entity_id", right_on="lead_id", how="left")
    end = conv["as_of"] + pd.Timedelta(days=CONVERSION_DAYS)
    hit = conv["converted_at"].notna() & (conv["converted_at"] > conv["as_of"]) & (conv["converted_at"] <= end)
    conv["label"] = np.where(end <= horizon, hit.astype(float), np.nan)

    contracts = company.tables["contracts"][["account_id", "start_date", "end_date", "outcome"]]
    ren = truth[truth["model"] == "renewal"].merge(contracts, left_on="entity_id", right_on="account_id", how="left")
    ren = ren[(ren["start_date"] < ren["as_of"]) & (ren["as_of"] < ren["end_date"])]
    window = ren["as_of"] + pd.Timedelta(days=RENEWAL_DAYS)
    known = (window <= horizon) & (ren["end_date"] <= window) & ren["outcome"].notna()
    ren["label"] = np.where(known, (ren["outcome"] == "renewed").astype(float), np.nan)
    cols = ["entity_id", "as_of", "model", "p_true", "label"]
    return pd.concat([conv[cols], ren[cols]], ignore_index=True)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    ranks = rankdata(p)
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def holdout(lab: pd.DataFrame) -> pd.DataFrame:
    known = lab[lab["label"].notna()]
    last3 = np.sort(known["as_of"].unique())[-3:]
    return known[known["as_of"].isin(last3)]


def calibration_z(lab: pd.DataFrame, bins: int = 10) -> list[float]:
    """Per-decile z-scores of sum(label - p_true) over labelled snapshots.

    Snapshots of one entity are correlated, so each entity's variance is bounded by the fully correlated
    case (sum of its standard deviations, squared): conservative, and valid even in a decile without events.
    """
    known = lab[lab["label"].notna()].copy()
    known["bin"] = pd.qcut(known["p_true"].rank(method="first"), bins, labels=False)
    known["resid"] = known["label"] - known["p_true"]
    known["sd"] = np.sqrt(known["p_true"] * (1 - known["p_true"]))
    zs = []
    for _, part in known.groupby("bin"):
        per_entity = part.groupby("entity_id")[["resid", "sd"]].sum()
        zs.append(float(per_entity["resid"].sum() / np.sqrt((per_entity["sd"] ** 2).sum())))
    return zs


# ------------------------------------------------------------------------------------------ shape


def test_same_seed_same_company_and_other_seed_differs(small: Company) -> None:
    again = generate(SMALL)
    for name, df in small.tables.items():
        pd.testing.assert_frame_equal(df, again.tables[name], check_exact=True)
    pd.testing.assert_frame_equal(small.truth, again.truth, check_exact=True)
    assert small.meta == again.meta
    other = generate(SMALL.model_copy(update={"seed": 12}))
    assert not other.tables["product_events"].equals(small.tables["product_events"])
    assert not other.truth.equals(small.truth)


def test_every_table_follows_the_contract(small: Company) -> None:
    assert set(small.tables) == set(TABLES)
    for name, table in TABLES.items():
        df = small.tables[name]
        assert list(df.columns) == table.column_names, name
        assert len(df) > 0, name
        for col in table.columns:
            s = df[col.name]
            if col.kind in ("id", "string"):
                assert s.dtype == "str", (name, col.name, s.dtype)
            elif col.kind == "timestamp":
                assert str(s.dtype) == "datetime64[us, UTC]", (name, col.name, s.dtype)
            elif col.kind == "int":
                assert s.dtype == np.int64, (name, col.name, s.dtype)
            else:
                assert s.dtype == np.float64, (name, col.name, s.dtype)
            if col.required:
                assert s.notna().all(), (name, col.name)
            if col.kind == "id" and col.name in ID_PREFIX:
                present = s.dropna()
                assert present.str.fullmatch(ID_PREFIX[col.name] + r"\d{6,7}").all(), (name, col.name)
            if col.low is not None:
                assert (s.dropna() >= col.low).all(), (name, col.name)
            if col.high is not None:
                assert (s.dropna() <= col.high).all(), (name, col.name)
        if table.key:
            assert df[table.key].is_unique, name
        else:
            assert not df.duplicated().any(), f"exact duplicate rows in {name}"


def test_nothing_happens_at_or_after_the_horizon(small: Company) -> None:
    horizon = horizon_of(small)
    assert horizon == pd.Timestamp(SMALL.end, tz="UTC")
    assert pd.Timestamp(small.meta["start"]) == horizon - pd.DateOffset(months=SMALL.months)
    for name, table in TABLES.items():
        for col in table.columns:
            if col.kind != "timestamp" or (name, col.name) == ("contracts", "end_date"):
                continue
            assert (small.tables[name][col.name].dropna() < horizon).all(), (name, col.name)


def test_value_ranges_and_orderings(small: Company) -> None:
    t = small.tables
    fb = t["feedback"]
    for survey, (low, high) in SURVEY_RANGES.items():
        scores = fb.loc[fb["survey"] == survey, "score"].dropna()
        assert len(scores) and scores.between(low, high).all(), survey
    assert set(fb["survey"]) == set(SURVEY_RANGES)
    tk = t["tickets"]
    closed = tk["closed_at"].notna()
    assert (tk.loc[closed, "closed_at"] >= tk.loc[closed, "opened_at"]).all()
    assert (~closed).any(), "some tickets should still be open at the horizon"
    assert tk.loc[~closed, "csat"].isna().all(), "csat is only known once a ticket is closed"
    esc = tk["escalated_at"].notna()
    assert (tk.loc[esc, "escalated_at"] > tk.loc[esc, "opened_at"]).all()
    assert set(tk["priority"]) == {"low", "normal", "high", "urgent"}
    c = t["contracts"]
    assert (c["end_date"] > c["start_date"]).all()
    assert (c["start_date"] != c["start_date"].dt.normalize()).all(), "contracts never start at midnight"
    has = c["outcome"].notna()
    assert set(c.loc[has, "outcome"]) == {"renewed", "churned"}
    assert (c.loc[has, "outcome_at"] == c.loc[has, "end_date"]).all()
    assert c.loc[~has, "outcome_at"].isna().all()
    assert (c.loc[~has, "end_date"] > horizon_of(small)).all(), "every contract ended before the horizon has an outcome"
    leads = t["leads"]
    both = leads["converted_at"].notna() & leads["disqualified_at"].notna()
    assert not both.any()
    conv = leads["converted_at"].notna()
    assert (leads.loc[conv, "converted_at"] > leads.loc[conv, "created_at"]).all()
    assert leads.loc[conv, "account_id"].notna().all() and leads.loc[~conv, "account_id"].isna().all()
    assert set(t["accounts"]["segment"]) <= {"SMB", "Mid-Market", "Enterprise"}


def test_contracts_chain_and_churned_accounts_fall_silent(small: Company) -> None:
    c = small.tables["contracts"].sort_values(["account_id", "start_date"])
    nxt = c.groupby("account_id")["start_date"].shift(-1)
    following = nxt.notna()
    assert (c.loc[following, "outcome"] == "renewed").all(), "only a renewal is followed by another contract"
    assert (nxt[following] == c.loc[following, "end_date"]).all(), "a renewal starts at the previous end"
    churned = c[c["outcome"] == "churned"].set_index("account_id")["end_date"]
    assert churned.index.is_unique
    for name in ("product_events", "conversations", "service_usage", "marketing_activities"):
        ev = small.tables[name].dropna(subset=["account_id"])
        after = ev["account_id"].map(churned)
        assert not (ev["occurred_at"] >= after).any(), name


def test_references_and_birth_order(small: Company) -> None:
    t = small.tables
    accounts = t["accounts"].set_index("account_id")
    leads = t["leads"].set_index("lead_id")
    for name, df in t.items():
        if name != "accounts" and "account_id" in df:
            assert df["account_id"].dropna().isin(accounts.index).all(), name
    ma = t["marketing_activities"]
    assert (ma["lead_id"].notna() ^ ma["account_id"].notna()).all(), "a touch belongs to a lead or an account"
    by_lead = ma.dropna(subset=["lead_id"])
    assert by_lead["lead_id"].isin(leads.index).all()
    assert (by_lead["occurred_at"] > by_lead["lead_id"].map(leads["created_at"])).all()
    end = leads["converted_at"].fillna(leads["disqualified_at"])
    closed = by_lead["lead_id"].map(end)
    assert not (by_lead["occurred_at"] >= closed).any(), "no lead touches after conversion / disqualification"
    for name, time_col in (("product_events", "occurred_at"), ("tickets", "opened_at"), ("feedback", "responded_at")):
        df = t[name]
        assert (df[time_col] > df["account_id"].map(accounts["created_at"])).all(), name
    conv = leads.dropna(subset=["converted_at"])
    assert (accounts.loc[conv["account_id"], "created_at"].to_numpy() == conv["converted_at"].to_numpy()).all()
    first = t["contracts"].groupby("account_id")["start_date"].min()
    assert (first.loc[conv["account_id"]].to_numpy() == conv["converted_at"].to_numpy()).all()
    users = t["product_events"].groupby("user_id")["account_id"].nunique()
    assert (users == 1).all(), "a user belongs to one account"


def test_write_company_round_trips(small: Company, tmp_path: Path) -> None:
    steps: list[str] = []
    company = generate(SMALL, progress=steps.append)
    assert steps[0] == "simulate" and "truth" in steps
    write_company(company, tmp_path)
    for name, df in company.tables.items():
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, df, check_exact=True)
    truth = pd.read_parquet(tmp_path / "_truth" / "p_true.parquet")
    pd.testing.assert_frame_equal(truth, company.truth, check_exact=True)
    meta = json.loads((tmp_path / "_meta.json").read_text())
    assert set(meta) == {"horizon", "start", "seed", "config", "rows", "generator"}
    assert meta["horizon"] == "2025-07-01T00:00:00+00:00"
    assert meta["rows"] == {name: len(df) for name, df in company.tables.items()}
    assert meta["config"]["accounts"] == SMALL.accounts and meta["seed"] == SMALL.seed
    assert meta["generator"].startswith("signalscore ")


def test_dirty_only_appends_defects(small: Company) -> None:
    dirty = generate(SMALL.model_copy(update={"dirty": True}))
    assert dirty.meta["defects"]
    for name, df in small.tables.items():
        clean_part = dirty.tables[name].iloc[: len(df)].reset_index(drop=True)
        pd.testing.assert_frame_equal(clean_part, df, check_exact=True)
        added = sum(dirty.meta["defects"].get(name, {}).values())
        assert len(dirty.tables[name]) == len(df) + added, name
    pd.testing.assert_frame_equal(dirty.truth, small.truth)


# ------------------------------------------------------------------------------------------ truth


def test_truth_rows_are_the_eligible_snapshots(small: Company) -> None:
    truth = small.truth
    assert list(truth.columns) == ["entity_id", "as_of", "model", "p_true"]
    assert str(truth["as_of"].dtype) == "datetime64[us, UTC]"
    assert not truth.duplicated(["entity_id", "as_of", "model"]).any()
    assert truth["p_true"].between(0, 1).all()
    as_ofs = pd.DatetimeIndex(np.sort(truth["as_of"].unique()))
    start, horizon = pd.Timestamp(small.meta["start"]), horizon_of(small)
    assert list(as_ofs) == list(pd.date_range(start + pd.DateOffset(months=1), horizon, freq="MS"))
    leads = small.tables["leads"].set_index("lead_id")
    conv = truth[truth["model"] == "conversion"]
    lead = leads.loc[conv["entity_id"]]
    as_of = conv["as_of"].to_numpy()
    assert (lead["created_at"].to_numpy() < as_of).all()
    assert (as_of - lead["created_at"].to_numpy() < np.timedelta64(MAX_AGE_DAYS, "D")).all()
    for col in ("converted_at", "disqualified_at"):
        done = lead[col].to_numpy()
        assert not (pd.notna(done) & (done < as_of)).any(), col
    # Every eligible open lead is there, not only some.
    for ts in as_ofs[::4]:
        open_ = leads[
            (leads["created_at"] < ts)
            & (ts - leads["created_at"] < pd.Timedelta(days=MAX_AGE_DAYS))
            & ~(leads["converted_at"] < ts)
            & ~(leads["disqualified_at"] < ts)
        ]
        assert set(open_.index) == set(conv.loc[conv["as_of"] == ts, "entity_id"])
    ren = labelled(small)
    ren = ren[ren["model"] == "renewal"]
    assert len(ren) == (truth["model"] == "renewal").sum(), "each renewal row has exactly one active contract"


def test_conversion_truth_is_the_chain_absorption_probability(small: Company) -> None:
    """The label is exactly `state at day a+89 is converted`, and p_true is that event's probability."""
    latent = _simulate(SMALL)
    grid, leads = latent.grid, latent.leads
    lab = labelled(small)
    conv = lab[(lab["model"] == "conversion") & lab["label"].notna()]
    idx = conv["entity_id"].str[1:].astype(int).to_numpy() - 1
    a = (conv["as_of"].array.asi8 - grid.start_us) // DAY_US
    assert (leads.hist[a + CONVERSION_DAYS - 1, idx] == gl.CONVERTED).astype(float).tolist() == conv["label"].tolist()
    rows = np.random.default_rng(0).choice(len(conv), 25, replace=False)
    for r in rows:
        state = leads.hist[a[r] - 1, idx[r]]
        exact = np.linalg.matrix_power(leads.P[idx[r]], CONVERSION_DAYS)[state, gl.CONVERTED]
        assert conv["p_true"].iloc[r] == pytest.approx(exact, abs=1e-12)
    # Monte Carlo of the daily chain from the state on the day before as_of.
    n = 20_000
    sim = np.random.default_rng(1)
    for r in rows[:6]:
        cum = np.cumsum(leads.P[idx[r]], axis=1)
        s = np.full(n, leads.hist[a[r] - 1, idx[r]])
        for _ in range(CONVERSION_DAYS):
            s = (sim.random(n)[:, None] >= cum[s]).sum(axis=1)
        p = conv["p_true"].iloc[r]
        assert abs((s == gl.CONVERTED).mean() - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-3


def test_renewal_truth_matches_monte_carlo_of_health(small: Company) -> None:
    latent = _simulate(SMALL)
    grid, accts = latent.grid, latent.accounts
    truth = small.truth[small.truth["model"] == "renewal"].reset_index(drop=True)
    contracts = small.tables["contracts"]
    sim = np.random.default_rng(2)
    n = 20_000
    for r in sim.choice(len(truth), 12, replace=False):
        row = truth.iloc[r]
        i = int(row["entity_id"][1:]) - 1
        k = contracts[(contracts["account_id"] == row["entity_id"]) & (contracts["start_date"] < row["as_of"])]
        k = k[k["end_date"] > row["as_of"]].iloc[0]
        as_of_us = row["as_of"].value // 1000
        a = (as_of_us - grid.start_us) // DAY_US
        end_day = (k["end_date"].value // 1000 - grid.start_us) // DAY_US
        h = np.full(n, accts.health[a - 1, i])
        for _ in range(end_day - (a - 1)):  # days a .. end_day, one AR(1) step each
            h = accts.mu[i] + ga.PHI * (h - accts.mu[i]) + ga.SIGMA * sim.standard_normal(n)
        tenure = (k["end_date"].value // 1000 - accts.created_us[i]) / (365.25 * DAY_US)
        eta = ga.renewal_eta(h, accts.alpha[i], accts.plan[i], tenure, k["arr"], accts.monthly[i])
        mc = ndtr(eta)
        assert abs(mc.mean() - row["p_true"]) < 4 * mc.std() / np.sqrt(n) + 1e-3


def test_quadrature_is_converged(small: Company) -> None:
    latent = _simulate(SMALL)
    as_ofs = latent.grid.month_starts()
    _, _, p_used = ga.renewal_truth(latent.grid, latent.accounts, as_ofs)
    _, _, p_more = ga.renewal_truth(latent.grid, latent.accounts, as_ofs, nodes=320)
    assert ga.GH_NODES >= 64
    assert np.abs(p_used - p_more).max() < 1e-10


def test_truth_is_calibrated_against_realised_labels(small: Company) -> None:
    lab = labelled(small)
    for model in ("conversion", "renewal"):
        part = lab[lab["model"] == model]
        known = part[part["label"].notna()]
        assert len(known) > 500, model
        z = calibration_z(part) + calibration_z(part, bins=1)
        assert max(abs(x) for x in z) < 4, (model, z)


# ------------------------------------------------------------------------------------------ targets


@pytest.mark.slow
def test_documented_targets_at_default_size(tmp_path: Path) -> None:
    started = time.perf_counter()
    company = generate(DEFAULT)
    write_company(company, tmp_path)
    elapsed = time.perf_counter() - started
    assert elapsed < 60, elapsed

    c = company.tables["contracts"]
    renew_rate = (c["outcome"].dropna() == "renewed").mean()
    assert 0.80 <= renew_rate <= 0.90, renew_rate
    assert 3_000_000 <= len(company.tables["product_events"]) <= 8_000_000

    lab = labelled(company)
    for model, (low, high) in {"conversion": (0.08, 0.20), "renewal": (0.0, 1.0)}.items():
        known = lab[(lab["model"] == model) & lab["label"].notna()]
        rate = known["label"].mean()
        assert low <= rate <= high, (model, rate)
        assert abs(known["p_true"].mean() - rate) < 0.02, (model, known["p_true"].mean(), rate)
        oracle = auc(known["label"].to_numpy(), known["p_true"].to_numpy())
        assert 0.80 <= oracle <= 0.92, (model, oracle)
        ho = holdout(lab[lab["model"] == model])
        assert len(ho) >= 2000, (model, len(ho))
        assert (ho["label"] == 1).sum() >= 150 and (ho["label"] == 0).sum() >= 150, model
        z = calibration_z(lab[lab["model"] == model])
        assert max(abs(x) for x in z) < 4, (model, z)


def test_a_large_product_events_table_streams_to_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above STREAM_LOGINS the table is rendered in day-aligned parts, repeatably, and written as a folder."""
    import features.generate as fg
    from features.sources import open_data

    monkeypatch.setattr(fg, "STREAM_LOGINS", 1_000)
    monkeypatch.setattr(fg, "PART_LOGINS", 20_000)
    company = generate(SMALL)
    assert "product_events" not in company.tables and "product_events" in company.streamed
    assert company.meta["rows"]["product_events"] is None
    parts = list(company.table_parts("product_events"))
    assert len(parts) > 2
    again = pd.concat(company.streamed["product_events"](), ignore_index=True)
    events = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(events, again, check_exact=True)
    assert list(events.columns) == TABLES["product_events"].column_names
    assert events["account_id"].dtype == "str" and str(events["occurred_at"].dtype) == "datetime64[us, UTC]"
    assert events["occurred_at"].is_monotonic_increasing
    assert not events.duplicated().any()
    write_company(company, tmp_path)
    assert sorted(p.name for p in (tmp_path / "product_events").iterdir())[0] == "part-00000.parquet"
    assert not (tmp_path / "product_events.parquet").exists()
    meta = json.loads((tmp_path / "_meta.json").read_text())
    assert meta["rows"]["product_events"] == len(events) == company.meta["rows"]["product_events"]
    source = open_data(tmp_path)
    assert source.table("product_events").count().to_pandas() == len(events)
