"""A generated B2B SaaS company whose latent truth is known exactly.

Real CRM data never tells us how good a model could possibly be; this generator does. Leads move through a
Markov chain of interest, accounts through a mean-reverting health process, and every table of the data
contract is drawn from those latent states. Because the latent dynamics are simple (a finite chain, a
Gaussian AR(1)), the probability of each outcome given the latent state at a snapshot has a closed form:
that is `p_true`, written to `_truth/` so evaluation can report the oracle next to the model.
The model and its formulas are documented in docs/generator.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from features import _generate_accounts as ga
from features import _generate_leads as gl
from features._generate_common import NAT, Grid, id_labels, str_col, ts_col
from features._generate_dirty import inject_defects
from features.config import GenerateConfig
from features.contract import TABLES

TRUTH_DIR = "_truth"
TRUTH_FILE = "p_true.parquet"
META_FILE = "_meta.json"
# Above this many logins (about 19M product events) product_events is not held in memory: it is rendered in
# day-aligned slices of PART_LOGINS logins (about 2.4M events each) straight into `product_events/part-*.parquet`.
STREAM_LOGINS = 4_000_000
PART_LOGINS = 500_000

Parts = Callable[[], Iterator[pd.DataFrame]]


@dataclass
class Company:
    """The generated company. Every table of features.contract.TABLES is in exactly one of `tables` (in memory)
    or `streamed` (too large to hold: a callable that renders it, deterministically, as a sequence of frames
    each time it is called; `write_company` writes it as a folder of Parquet parts). At the default size
    `streamed` is empty. `meta["rows"]` of a streamed table is None until `write_company` has counted it.
    """

    tables: dict[str, pd.DataFrame]  # columns in contract order
    truth: pd.DataFrame  # entity_id, as_of, model, p_true
    meta: dict = field(default_factory=dict)  # goes to _meta.json
    streamed: dict[str, Parts] = field(default_factory=dict)

    def table_parts(self, name: str) -> Iterator[pd.DataFrame]:
        """A table as frames, whichever way it is held."""
        if name in self.tables:
            yield self.tables[name]
        else:
            yield from self.streamed[name]()


def _version() -> str:
    try:
        return metadata.version("signalscore")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def _frame(name: str, columns: dict[str, pd.Series | np.ndarray]) -> pd.DataFrame:
    """Assemble a table in contract order, so a contract change fails loudly here rather than downstream."""
    order = TABLES[name].column_names
    missing = set(order) ^ set(columns)
    if missing:
        raise AssertionError(f"generator and contract disagree on {name}: {sorted(missing)}")
    return pd.DataFrame({c: columns[c] for c in order})


def _float(x: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(x, dtype=np.float64))


def _int(x: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(x, dtype=np.int64))


def _event_rows(t: np.ndarray, *keys: np.ndarray, dedupe: bool = True) -> np.ndarray:
    """Row selection for an event table: time-ordered and free of exact duplicates (a defect, the data contract).

    Works on the numeric arrays (codes, µs, floats) before strings exist, which is what keeps it fast.
    """
    order = np.argsort(t, kind="stable")
    if not dedupe:
        return order
    cols = pd.DataFrame({str(i): k[order] for i, k in enumerate((t, *keys))})
    return order[~cols.duplicated().to_numpy()]


@dataclass
class _Latent:
    """The simulated latent world; tests re-derive the truth from it, generate() renders it into tables."""

    grid: Grid
    leads: gl.LeadSim
    accounts: ga.AccountSim
    rngs: list[np.random.Generator]  # the event streams not yet used by the simulation


def _simulate(cfg: GenerateConfig) -> _Latent:
    """Latent paths only. Independent random streams per part, so changing one table never reshuffles another."""
    grid = Grid.build(cfg.end, cfg.months)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(9)]
    leads = gl.simulate_leads(rngs[0], grid, cfg.leads)
    accounts = ga.simulate_accounts(rngs[2], grid, cfg.accounts, leads)
    return _Latent(grid, leads, accounts, rngs)


def generate(cfg: GenerateConfig, progress: Callable[[str], None] | None = None) -> Company:
    """Simulate the company described by `cfg`; deterministic for a seed."""

    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    step("simulate")
    latent = _simulate(cfg)
    grid, leads, accts, rng = latent.grid, latent.leads, latent.accounts, latent.rngs

    step("marketing")
    lead_idx, lead_t, lead_act = gl.lead_activities(rng[1], grid, leads)
    pairs = ga.alive_pairs(grid, accts)
    n_acc = len(accts.created_us)
    account_ids = id_labels("A", n_acc, 6)
    lead_ids = id_labels("L", len(leads.created_us), 6)
    amkt = ga.account_marketing(rng[8], grid, pairs)

    step("product_events")
    login_day, login_user = ga.product_logins(rng[3], grid, accts)
    stream_product = len(login_day) > STREAM_LOGINS
    if not stream_product:  # the whole table at once: the default size, byte for byte as it always was
        prod = ga.product_event_block(rng[3], grid, accts, login_day, login_user)

    step("support")
    tick = ga.tickets(rng[4], grid, accts, pairs)
    conv = ga.conversations(rng[5], grid, pairs)
    serv = ga.service_usage(rng[6], grid, accts, pairs)
    fb = ga.feedback(rng[7], grid, accts, pairs)

    step("tables")
    tables: dict[str, pd.DataFrame] = {}
    from_lead = np.flatnonzero(accts.source_lead >= 0)
    lead_account = np.full(len(lead_ids), -1, np.int64)
    lead_account[accts.source_lead[from_lead]] = from_lead
    parts = gl.leads_frame_parts(leads)
    tables["leads"] = _frame(
        "leads",
        {
            "lead_id": str_col(np.arange(len(lead_ids)), lead_ids),
            "created_at": ts_col(leads.created_us),
            "company": pd.Series(leads.company, dtype="str"),
            **{col: str_col(codes, labels) for col, (codes, labels) in parts.items()},
            "employees": _int(leads.employees),
            "converted_at": ts_col(leads.converted_us),
            "disqualified_at": ts_col(leads.disqualified_us),
            "account_id": str_col(lead_account, account_ids),
        },
    )
    activities = sorted(set(lead_act.tolist()) | set(amkt["activity"].tolist()))
    act_code = {a: i for i, a in enumerate(activities)}
    to_code = np.vectorize(act_code.__getitem__, otypes=[np.int64])
    n_lead_rows, n_acc_rows = len(lead_idx), len(amkt["acc"])
    m_lead = np.concatenate([lead_idx, np.full(n_acc_rows, -1)])
    m_acc = np.concatenate([np.full(n_lead_rows, -1), amkt["acc"]])
    m_t = np.concatenate([lead_t, amkt["t"]])
    m_act = np.concatenate([to_code(lead_act), to_code(amkt["activity"])])
    r = _event_rows(m_t, m_lead, m_acc, m_act)
    tables["marketing_activities"] = _frame(
        "marketing_activities",
        {
            "lead_id": str_col(m_lead[r], lead_ids),
            "account_id": str_col(m_acc[r], account_ids),
            "occurred_at": ts_col(m_t[r]),
            "activity": str_col(m_act[r], activities),
        },
    )
    tables["accounts"] = _frame(
        "accounts",
        {
            "account_id": str_col(np.arange(n_acc), account_ids),
            "name": pd.Series(accts.name, dtype="str"),
            "industry": str_col(accts.industry, gl.INDUSTRIES),
            "employees": _int(accts.employees),
            "country": str_col(accts.country, gl.COUNTRIES),
            "segment": str_col(accts.segment, ga.SEGMENTS),
            "created_at": ts_col(accts.created_us),
            "owner": str_col(accts.owner, ga.OWNERS),
        },
    )
    c = accts.contracts
    outcome = c["outcome"].to_numpy()
    tables["contracts"] = _frame(
        "contracts",
        {
            "contract_id": str_col(np.arange(len(c)), id_labels("C", len(c), 6)),
            "account_id": str_col(c["account"].to_numpy(), account_ids),
            "start_date": ts_col(c["start_us"].to_numpy()),
            "end_date": ts_col(c["end_us"].to_numpy()),
            "arr": _float(c["arr"].to_numpy()),
            "seats": _int(c["seats"].to_numpy()),
            "plan": str_col(accts.plan[c["account"].to_numpy()], ga.PLANS),
            "outcome": str_col(outcome, ("renewed", "churned")),
            "outcome_at": ts_col(np.where(outcome >= 0, c["end_us"].to_numpy(), NAT)),
        },
    )
    n_users = int(accts.pool_size.sum())
    user_ids = id_labels("U", n_users, 7)
    streamed: dict[str, Parts] = {}
    if stream_product:
        streamed["product_events"] = _product_parts(
            rng[3].bit_generator.state, grid, accts, login_day.astype(np.int32), login_user.astype(np.int32),
            account_ids, user_ids,
        )  # fmt: skip
        del login_day, login_user
    else:
        tables["product_events"] = _product_frame(prod, account_ids, user_ids)
        del prod
    t_order = np.argsort(tick["opened"], kind="stable")
    tick = {k: v[t_order] for k, v in tick.items()}
    tables["tickets"] = _frame(
        "tickets",
        {
            "ticket_id": str_col(np.arange(len(t_order)), id_labels("T", len(t_order), 6)),
            "account_id": str_col(tick["acc"], account_ids),
            "opened_at": ts_col(tick["opened"]),
            "closed_at": ts_col(tick["closed"]),
            "priority": str_col(tick["priority"], ga.TICKET_PRIORITIES),
            "category": str_col(tick["category"], ga.TICKET_CATEGORIES),
            "escalated_at": ts_col(tick["escalated"]),
            "csat": _float(tick["csat"]),
        },
    )
    r = _event_rows(conv["t"], conv["acc"], conv["channel"], conv["direction"], conv["sentiment"])
    tables["conversations"] = _frame(
        "conversations",
        {
            "account_id": str_col(conv["acc"][r], account_ids),
            "occurred_at": ts_col(conv["t"][r]),
            "channel": str_col(conv["channel"][r], ga.CHANNELS),
            "direction": str_col(conv["direction"][r], ga.DIRECTIONS),
            "sentiment": _float(conv["sentiment"][r]),
        },
    )
    r = _event_rows(serv["t"], serv["acc"], serv["service"], serv["quantity"])
    tables["service_usage"] = _frame(
        "service_usage",
        {
            "account_id": str_col(serv["acc"][r], account_ids),
            "occurred_at": ts_col(serv["t"][r]),
            "service": str_col(serv["service"][r], ga.SERVICES),
            "quantity": _float(serv["quantity"][r]),
        },
    )
    r = _event_rows(fb["t"], fb["acc"], fb["user"], fb["survey"], fb["score"], fb["comment"])
    tables["feedback"] = _frame(
        "feedback",
        {
            "account_id": str_col(fb["acc"][r], account_ids),
            "responded_at": ts_col(fb["t"][r]),
            "user_id": str_col(fb["user"][r], user_ids),
            "survey": str_col(fb["survey"][r], ga.SURVEYS),
            "score": _float(fb["score"][r]),
            "comment": str_col(fb["comment"][r], ga.COMMENTS),
        },
    )

    step("truth")
    as_ofs = grid.month_starts()
    l_ids, l_when, l_p = gl.conversion_truth(leads, grid, as_ofs)
    a_ids, a_when, a_p = ga.renewal_truth(grid, accts, as_ofs)
    truth = pd.DataFrame(
        {
            "entity_id": str_col(
                np.concatenate([l_ids, len(lead_ids) + a_ids]), np.concatenate([lead_ids, account_ids])
            ),
            "as_of": ts_col(np.concatenate([l_when, a_when])),
            "model": str_col(np.repeat([0, 1], [len(l_ids), len(a_ids)]), ("conversion", "renewal")),
            "p_true": _float(np.concatenate([l_p, a_p])),
        }
    )

    if cfg.dirty:
        step("dirty")
        if streamed:  # defects copy rows of the first part and go to one extra part at the end
            sample = {name: next(iter(parts())) for name, parts in streamed.items()}
            dirty = {name: tables[name] if name in tables else sample[name] for name in TABLES}
            defects = inject_defects(dirty, np.random.default_rng([cfg.seed, 1]), grid.horizon_us, cfg.defect_rate)
            for name, parts in list(streamed.items()):
                streamed[name] = _with_tail(parts, dirty[name].iloc[len(sample[name]) :].reset_index(drop=True))
            tables.update({name: dirty[name] for name in tables})
        else:
            defects = inject_defects(tables, np.random.default_rng([cfg.seed, 1]), grid.horizon_us, cfg.defect_rate)
    else:
        defects = None

    meta: dict = {
        "horizon": pd.Timestamp(grid.horizon_us * 1000, tz="UTC").isoformat(),
        "start": pd.Timestamp(grid.start_us * 1000, tz="UTC").isoformat(),
        "seed": cfg.seed,
        "config": cfg.model_dump(mode="json"),
        "rows": {name: len(tables[name]) if name in tables else None for name in TABLES},
        "generator": f"signalscore {_version()}",
    }
    if defects is not None:
        meta["defects"] = defects
    return Company(tables=tables, truth=truth, meta=meta, streamed=streamed)


def _product_frame(prod: dict[str, np.ndarray], account_ids: np.ndarray, user_ids: np.ndarray) -> pd.DataFrame:
    # One login per active user-day and each feature at most once per user-day: unique by construction.
    r = _event_rows(prod["t"], dedupe=False)
    return _frame(
        "product_events",
        {
            "account_id": str_col(prod["acc"][r], account_ids),
            "user_id": str_col(prod["user"][r], user_ids),
            "occurred_at": ts_col(prod["t"][r]),
            "event": str_col(prod["event"][r], ga.PRODUCT_EVENTS),
            "duration_s": _float(prod["duration"][r]),
        },
    )


def _product_parts(
    state: dict,
    grid: Grid,
    accts: ga.AccountSim,
    day: np.ndarray,
    user: np.ndarray,
    account_ids: np.ndarray,
    user_ids: np.ndarray,
) -> Parts:
    """product_events in day-aligned slices; every call replays the same random stream, so parts are repeatable."""

    def parts() -> Iterator[pd.DataFrame]:
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = state
        for sl in ga.login_slices(day, PART_LOGINS):
            yield _product_frame(ga.product_event_block(rng, grid, accts, day[sl], user[sl]), account_ids, user_ids)

    return parts


def _with_tail(parts: Parts, tail: pd.DataFrame) -> Parts:
    def with_tail() -> Iterator[pd.DataFrame]:
        yield from parts()
        yield tail

    return with_tail


def write_company(company: Company, out: Path) -> None:
    """Write the data folder: one Parquet file per in-memory table, a folder `<table>/part-NNNNN.parquet` per
    streamed one, `_meta.json` (with the row counts of streamed tables filled in) and `_truth/p_true.parquet`.
    """
    out = Path(out)
    (out / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    for name, df in company.tables.items():
        _clear_folder(out / name)
        df.to_parquet(out / f"{name}.parquet", index=False)
    for name, parts in company.streamed.items():
        (out / f"{name}.parquet").unlink(missing_ok=True)  # a table is a file or a folder, never both
        _clear_folder(out / name)
        (out / name).mkdir()
        rows = 0
        for i, df in enumerate(parts()):
            df.to_parquet(out / name / f"part-{i:05d}.parquet", index=False)
            rows += len(df)
        company.meta.setdefault("rows", {})[name] = rows
    company.truth.to_parquet(out / TRUTH_DIR / TRUTH_FILE, index=False)
    (out / META_FILE).write_text(json.dumps(company.meta, indent=2) + "\n")


def _clear_folder(folder: Path) -> None:
    """Remove the part files a previous, larger run left (only those, then the folder if it is empty)."""
    if folder.is_dir():
        for part in folder.glob("part-*.parquet"):
            part.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()
