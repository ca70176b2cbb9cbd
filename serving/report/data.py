"""The numbers behind the report, read back from the scoring output: pure functions, no HTML.

Everything a page shows comes from `scores/<model>/<as_of>.parquet` (the §7 table the CRM received) and its
`details/` file, so the report can never disagree with the scores; the data source only adds what the scores do
not carry (an account's name, owner and segment; the raw signals, in `signals.py`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.catalog import GROUPS
from serving.explain import group_column

VALUE = "value__"  # the details file's column prefix for feature values (serving/batch.py)
HISTORY_COLUMNS = ["entity_id", "as_of", "score", "band"]
ACCOUNT_ATTRIBUTES = ["name", "owner", "segment", "industry", "created_at"]
LEAD_ATTRIBUTES = ["company", "industry", "employees", "country", "job_title", "lead_source", "created_at"]
DETAIL_FEATURES = {"arr": "arr", "days_to_renewal": "days_to_renewal", "tenure_days": "tenure_days"}


class ReportError(LookupError):
    """Nothing to report on (no scoring yet): the message says which command to run first."""


@dataclass
class Scoring:
    """One scoring run read back: its as_of, the serving table and (when kept) every feature's value."""

    as_of: pd.Timestamp
    table: pd.DataFrame
    details: pd.DataFrame | None = None


# ------------------------------------------------------------------------------------------ reading the runs


def score_files(folder: Path) -> list[Path]:
    """A model's scorings, oldest first: file stems are as_of dates, so the names sort by time."""
    return sorted(p for p in folder.glob("*.parquet") if p.is_file()) if folder.is_dir() else []


def read_scoring(path: Path) -> Scoring:
    """A scoring file and its details file (when the run kept one), ids as strings."""
    table = pd.read_parquet(path)
    table["entity_id"] = table["entity_id"].astype(str)
    details_path = path.parent / "details" / path.name
    details = pd.read_parquet(details_path) if details_path.exists() else None
    if details is not None:
        details["entity_id"] = details["entity_id"].astype(str)
    as_of = pd.Timestamp(table["as_of"].iloc[0]) if len(table) else pd.Timestamp(path.stem, tz="UTC")
    return Scoring(as_of, table, details)


def latest_two(folder: Path) -> tuple[Scoring | None, Scoring | None]:
    """The latest scoring and the one before it (what `score_change` was measured against)."""
    files = score_files(folder)
    latest = read_scoring(files[-1]) if files else None
    previous = read_scoring(files[-2]) if len(files) > 1 else None
    return latest, previous


def score_history(folder: Path) -> pd.DataFrame:
    """entity_id, as_of, score, band over every scoring of the model: only these columns are read."""
    parts = [pd.read_parquet(p, columns=HISTORY_COLUMNS) for p in score_files(folder)]
    if not parts:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    history = pd.concat(parts, ignore_index=True)
    history["entity_id"] = history["entity_id"].astype(str)
    return history.sort_values(["entity_id", "as_of"], kind="stable").reset_index(drop=True)


def history_by_entity(history: pd.DataFrame) -> dict[str, list[tuple[pd.Timestamp, float, str]]]:
    """Each entity's (as_of, score, band) points in time order, grouped once for the whole report."""
    out: dict[str, list[tuple[pd.Timestamp, float, str]]] = {}
    for entity, as_of, score, band in zip(history.entity_id, history.as_of, history.score, history.band,
                                          strict=True):
        out.setdefault(entity, []).append((pd.Timestamp(as_of), float(score), str(band)))
    return out


# --------------------------------------------------------------------------------------- groups and bands


def group_names(columns: list[str] | pd.Index) -> dict[str, str]:
    """`points_<group>` column → the factor group's name as the catalog spells it (else a readable guess)."""
    known = {group_column(g): g for groups in GROUPS.values() for g in groups}
    return {c: known.get(c, c.removeprefix("points_").replace("_", " ").capitalize())
            for c in columns if str(c).startswith("points_")}


def band_order(table: pd.DataFrame, cut_offs: dict[str, float] | None = None) -> list[str]:
    """Bands best first: by their configured cut-offs when given, else by the lowest probability seen in each.

    The first band is the healthy one (or grade A); every other band counts as at risk.
    """
    seen = [str(b) for b in table["band"].dropna().unique()]
    if cut_offs:
        ordered = sorted(cut_offs, key=lambda b: cut_offs[b], reverse=True)
        return ordered + sorted(b for b in seen if b not in cut_offs)
    lowest = table.groupby("band")["probability"].min()
    return sorted(seen, key=lambda b: -lowest.get(b, 0.0))


# ---------------------------------------------------------------------------------------------- accounts


def _detail_columns(details: pd.DataFrame | None) -> pd.DataFrame:
    """ARR, days to renewal and tenure as the model saw them at as_of (the details file's feature values)."""
    if details is None:
        return pd.DataFrame(columns=["entity_id"])
    keep = {VALUE + f: name for f, name in DETAIL_FEATURES.items() if VALUE + f in details.columns}
    frame = details[["entity_id", *keep]].rename(columns=keep)
    return frame.drop_duplicates("entity_id")


def contract_arr(contracts: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """entity_id, contract_arr: the ARR of each account's contract active at as_of (the latest one started)."""
    if contracts is None or contracts.empty:
        return pd.DataFrame(columns=["entity_id", "contract_arr"])
    active = contracts[(contracts.start_date < as_of) & (contracts.end_date > as_of)]
    active = active.sort_values("start_date").drop_duplicates("account_id", keep="last")
    return pd.DataFrame({"entity_id": active.account_id.astype(str).to_numpy(),
                         "contract_arr": active.arr.astype(float).to_numpy()})


def main_change(change_reasons: str | None) -> dict | None:
    """The biggest move behind a score change: its feature (value then and now, sentence) or else its group."""
    if not isinstance(change_reasons, str):
        return None
    change = json.loads(change_reasons)
    if change.get("features"):
        return dict(change["features"][0])
    if change.get("groups"):
        group = change["groups"][0]
        return {"group": group["group"], "points": group["points"], "sentence": "", "feature": None}
    return None


def _weakest(points: pd.DataFrame, names: dict[str, str]) -> pd.Series:
    """The factor group that takes the most points from each account ('' when none takes any)."""
    if points.empty or points.shape[1] == 0:
        return pd.Series("", index=points.index)
    low = points.idxmin(axis=1).map(names)
    return low.where(points.min(axis=1) < 0, "")


def account_frame(latest: Scoring, previous: Scoring | None, attributes: pd.DataFrame, arr_at_as_of: pd.DataFrame,
                  new_account_days: int) -> pd.DataFrame:
    """One row per scored account: the scoring output plus ARR, risk-weighted ARR, CRM attributes, what is new.

    `risk_arr` = (1 − probability) × ARR: the ARR the model expects to lose, the order a CSM works in. ARR is the
    `arr` value the model saw when the details file has it, else the contract active at as_of; missing stays
    missing (an account without a known ARR is not an account worth 0).
    """
    frame = latest.table.copy()
    frame = frame.merge(_detail_columns(latest.details), on="entity_id", how="left")
    frame = frame.merge(attributes, on="entity_id", how="left") if len(attributes.columns) > 1 else frame
    frame = frame.merge(arr_at_as_of, on="entity_id", how="left")
    for column in ("arr", "contract_arr", "days_to_renewal", "tenure_days", *ACCOUNT_ATTRIBUTES):
        if column not in frame.columns:
            frame[column] = np.nan
    frame["arr"] = pd.to_numeric(frame["arr"], errors="coerce").fillna(frame["contract_arr"].astype(float))
    frame["risk_arr"] = (1.0 - frame["probability"]) * frame["arr"]
    created = pd.to_datetime(frame["created_at"], utc=True, errors="coerce")
    tenure = pd.to_numeric(frame["tenure_days"], errors="coerce")
    frame["tenure_days"] = tenure.fillna((latest.as_of - created).dt.total_seconds() / 86400)
    frame["first_scoring"] = (~frame.entity_id.isin(set(previous.table.entity_id))
                              if previous is not None else False)
    frame["is_new"] = frame["first_scoring"] | (frame["tenure_days"] < new_account_days)
    names = group_names(frame.columns)
    frame["weakest_group"] = _weakest(frame[list(names)], names)
    frame["main_change"] = [main_change(c) for c in frame["change_reasons"]]
    order = frame.assign(_risk=frame.risk_arr.fillna(-1.0)).sort_values(["_risk", "probability"],
                                                                        ascending=[False, True], kind="stable")
    return order.drop(columns="_risk").reset_index(drop=True)


def headline(accounts: pd.DataFrame, bands: list[str]) -> dict:
    """The portfolio in a few numbers: accounts, ARR, ARR at risk (every band but the best), expected loss."""
    at_risk = accounts.band.isin(bands[1:])
    changed = accounts.score_change.dropna()
    return {
        "accounts": len(accounts),
        "arr": float(accounts.arr.sum()),
        "arr_unknown": int(accounts.arr.isna().sum()),
        "arr_at_risk": float(accounts.arr[at_risk].sum()),
        "accounts_at_risk": int(at_risk.sum()),
        "expected_loss": float(accounts.risk_arr.sum()),
        "mean_score": float(accounts.score.mean()) if len(accounts) else math.nan,
        "compared": len(changed),
        "fell_5": int((changed <= -5).sum()),
        "rose_5": int((changed >= 5).sum()),
        "new": int(accounts.is_new.sum()),
    }


def band_summary(accounts: pd.DataFrame, bands: list[str]) -> list[dict]:
    """Per band, best first: accounts, their share, ARR and its share (the band distribution chart's data)."""
    total_arr = float(accounts.arr.sum()) or 1.0
    rows = []
    for band in bands:
        inside = accounts[accounts.band == band]
        rows.append({"band": band, "accounts": len(inside), "share": len(inside) / max(len(accounts), 1),
                     "arr": float(inside.arr.sum()), "arr_share": float(inside.arr.sum()) / total_arr})
    return rows


def movers(accounts: pd.DataFrame, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The n biggest falls and the n biggest rises since the previous scoring (accounts scored both times)."""
    moved = accounts[accounts.score_change.notna()]
    falls = moved[moved.score_change < 0].nsmallest(n, "score_change")
    rises = moved[moved.score_change > 0].nlargest(n, "score_change")
    return falls, rises


# ------------------------------------------------------------------------------------- reasons and plays


def parse_reasons(reasons: str | None) -> list[dict]:
    """The `reasons` JSON as a list; each reason also says whether its value was missing ('no data')."""
    if not isinstance(reasons, str) or not reasons:
        return []
    return [{**r, "missing": r.get("value") is None} for r in json.loads(reasons)]


def parse_changes(change_reasons: str | None) -> dict | None:
    """The `change_reasons` JSON (None for an entity scored for the first time)."""
    return json.loads(change_reasons) if isinstance(change_reasons, str) else None


def group_points(row: dict, names: dict[str, str]) -> list[tuple[str, float]]:
    """(group, points) in the order of the scoring's columns (the catalog's order), the same on every page."""
    return [(names[c], float(row[c])) for c in names]


def plays(points: list[tuple[str, float]], playbook: dict[str, str], n: int) -> list[dict]:
    """The plays for an account's weakest factor groups: those that take points, most points taken first."""
    weak = sorted((p for p in points if p[1] < 0), key=lambda p: p[1])
    chosen = []
    for group, pts in weak:
        text = playbook[group] if group in playbook else playbook.get("default", "")
        if text and len(chosen) < n:  # an empty play: the playbook chose to suggest nothing for this group
            chosen.append({"group": group, "points": pts, "play": text})
    return chosen


# ------------------------------------------------------------------------------------------------- leads


def lead_queue(latest: Scoring, attributes: pd.DataFrame, grades: list[str]) -> pd.DataFrame:
    """Open leads, best grade first and most likely first within it, with their reasons for and against."""
    frame = latest.table.copy()
    if len(attributes.columns) > 1:
        frame = frame.merge(attributes.rename(columns={"created_at": "lead_created_at"}), on="entity_id",
                            how="left")
    rank = {g: i for i, g in enumerate(grades)}
    frame["_grade"] = frame.band.map(rank).fillna(len(grades))
    frame = frame.sort_values(["_grade", "probability"], ascending=[True, False], kind="stable")
    parsed = [parse_reasons(r) for r in frame.reasons]
    frame["reasons_for"] = [[r for r in rs if r["points"] > 0] for rs in parsed]
    frame["reasons_against"] = [[r for r in rs if r["points"] < 0] for rs in parsed]
    return frame.drop(columns="_grade").reset_index(drop=True)


def grade_summary(leads: pd.DataFrame, grades: list[str]) -> list[dict]:
    """Per grade: open leads and how many of them go to sales."""
    return [{"grade": g, "leads": int((leads.band == g).sum()),
             "sales": int(((leads.band == g) & (leads.route == "sales")).sum())} for g in grades]
