# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
workspace = "nb-workspace"  # a folder of its own (data/, mlflow.db, scores/ ...); never the demo's workspace
seed = 7  # the generator's defaults: a realistic company that still fits a laptop
accounts = 1200
leads = 20000
months = 36
threads = 1  # DuckDB threads

# %% [markdown]
# # 01 · Explore the signals
#
# What each signal family looks like on a generated B2B SaaS company, how customer cohorts hold up, and how
# churn (non-renewal) and lead conversion vary by segment — before any model is trained.
#
# The data is made by the package (`signalscore.journey.ensure_generated`, deterministic for a seed) into the
# workspace's `data/` folder and read back through `features.sources.open_data`, exactly as training reads it.
# Small tables come to pandas whole (`to_pandas(table)`); the two large event tables (product events, marketing
# activities) are aggregated in DuckDB through their Ibis table first, so the notebook stays light at any size.
# Everything here is description: the features the models use are defined once in `features/catalog.py`
# (`docs/features.md`), and nothing below feeds a model.

# %%
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # MLflow imports tqdm.auto; no widgets needed

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from ibis import _
from IPython.display import display
from matplotlib.ticker import PercentFormatter

from features.catalog import CATALOG, GROUPS
from features.dataset import build_dataset, default_as_ofs, entity_attributes
from features.sources import open_data, read_meta
from signalscore.config import load_settings
from signalscore.journey import ensure_generated
from signalscore.workspace import Workspace

pd.set_option("display.width", 160)
ENTRY = {f.name: f for f in CATALOG}
plt.rcParams.update({"figure.figsize": (11, 4), "axes.grid": True, "grid.alpha": 0.3})

# %%
settings = load_settings(None, [
    f"features.generate.seed={seed}", f"features.generate.accounts={accounts}",
    f"features.generate.leads={leads}", f"features.generate.months={months}", f"features.threads={threads}",
])
ws = Workspace(Path(workspace)).create()
if ensure_generated(settings, ws):
    print(f"reusing the generated data in {ws.data} (same generator settings)")
else:
    print(f"generated a company into {ws.data}")
meta = read_meta(ws.data)
source = open_data(ws.data, threads=threads)
print(f"data from {meta['start'][:10]} to the horizon {source.horizon:%Y-%m-%d} (seed {meta['seed']})")
display(pd.Series(meta["rows"], name="rows").to_frame())

# %% [markdown]
# ## The feature catalog: which family each signal belongs to
# Every feature is declared once, with its entity, factor group, source table and window. The renewal model's
# explanations add up points per group, so the groups below are the "signal families" of this notebook.

# %%
catalog = pd.DataFrame(
    [{"entity": f.entity, "group": f.group, "source": f.source, "feature": f.name} for f in CATALOG]
)
order = {g: i for i, g in enumerate(GROUPS["lead"] + GROUPS["account"])}
families = (catalog.groupby(["entity", "group", "source"]).feature.agg(["count", lambda s: ", ".join(s[:4])])
            .set_axis(["features", "for example"], axis=1).reset_index()
            .sort_values("group", key=lambda g: g.map(order), kind="stable"))
display(families.reset_index(drop=True))


# %%
def monthly(table: str, time_column: str, by: str, where=None) -> pd.DataFrame:
    """Rows per calendar month and category, counted where the data lives (DuckDB)."""
    t = source.table(table)
    if where is not None:
        t = t.filter(where)
    counts = (t.mutate(month=t[time_column].truncate("M")).group_by(["month", by])
              .aggregate(rows=_.count()).to_pandas())
    return counts.pivot_table(index="month", columns=by, values="rows", fill_value=0).sort_index()


def rate_by(frame: pd.DataFrame, column: str, event: str, order: tuple = (), min_rows: int = 30) -> pd.DataFrame:
    """Share of rows where `event` is true, per value of `column` (missing shown as "unknown").

    Values in `order` (bands, plans) keep that order, smallest at the bottom; others are sorted by rate.
    """
    key = frame[column].astype("object").where(frame[column].notna(), "unknown")
    out = frame.groupby(key)[event].agg(rate="mean", rows="size")
    out = out[out.rows >= min_rows]
    if order and set(out.index) <= {*order, "unknown"}:
        return out.reindex([v for v in (*order, "unknown") if v in out.index])
    return out.sort_values("rate")


def plot_rates(tables: dict[str, pd.DataFrame], overall: float, title: str, what: str) -> None:
    """One horizontal bar chart per segment column, three to a row, with the overall rate for reference."""
    rows = -(-len(tables) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(13, 3.6 * rows), layout="constrained", squeeze=False)
    for ax in axes.flat[len(tables):]:
        ax.set_visible(False)
    for ax, (name, table) in zip(axes.flat, tables.items(), strict=False):
        ax.barh(table.index.astype(str), table.rate, color="#0072B2")
        ax.axvline(overall, color="#D55E00", ls="--", label=f"overall {overall:.1%}")
        for y, (rate, n) in enumerate(zip(table.rate, table.rows, strict=True)):
            ax.text(rate, y, f" {rate:.0%} (n={n:,})", va="center", fontsize=8)
        ax.set(title=f"by {name.replace('_', ' ')}", xlabel=what)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.margins(x=0.35)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    plt.show()


# %% [markdown]
# ## Product usage
# `product_events`: one row per login or feature use, with the user and, for sessions and some features, a
# duration. It is by far the largest table; the usage features count logins, distinct users, features and
# session time over 30/90-day windows and compare them with seats.

# %%
events = monthly("product_events", "occurred_at", "event")
pe = source.table("product_events")
logins = (pe.filter(pe.event == "login").mutate(month=_.occurred_at.truncate("M"))
          .group_by(["account_id", "month"]).aggregate(logins=_.count(), users=_.user_id.nunique()).to_pandas())
sessions = (pe.filter(pe.event == "login").aggregate(**{f"{q:.0%}": _.duration_s.quantile(q) for q in (0.1, 0.5, 0.9)})
            .to_pandas().iloc[0] / 60)
print("minutes per login session, quantiles:", sessions.round(1).to_dict())

fig, (left, right) = plt.subplots(1, 2, layout="constrained")
events.div(1000).plot.area(ax=left, lw=0, cmap="tab10")
left.set(title="Product events per month, by event", ylabel="thousand events", xlabel="")
left.legend(fontsize=7, ncols=2)
right.hist(logins.logins, bins=np.logspace(0, np.log10(max(logins.logins.max(), 10)), 40), color="#0072B2")
right.set(xscale="log", title="Logins per account and month (accounts with ≥ 1 login)", xlabel="logins",
          ylabel="account-months")
plt.show()

# %% [markdown]
# ## Support history
# `tickets`: priority, category, when they were opened, closed and escalated, and a CSAT rating for some
# closed tickets (known only once the ticket is closed — point in time matters here).

# %%
tickets = source.to_pandas("tickets")
tickets["days_to_close"] = (tickets.closed_at - tickets.opened_at).dt.total_seconds() / 86400
priorities = ["low", "normal", "high", "urgent"]
summary = tickets.groupby("priority").agg(
    tickets=("ticket_id", "size"), median_days_to_close=("days_to_close", "median"),
    escalated=("escalated_at", lambda s: s.notna().mean()), csat_answered=("csat", lambda s: s.notna().mean()),
    mean_csat=("csat", "mean"),
).reindex(priorities)
display(summary.round(3))

fig, (left, right) = plt.subplots(1, 2, layout="constrained")
monthly("tickets", "opened_at", "priority")[priorities].plot(ax=left)
left.set(title="Tickets opened per month, by priority", xlabel="", ylabel="tickets")
tickets.csat.value_counts().sort_index().plot.bar(ax=right, color="#0072B2", rot=0)
right.set(title="CSAT of closed tickets (1–5)", xlabel="CSAT", ylabel="tickets")
plt.show()

# %% [markdown]
# ## Service utilization
# `service_usage`: training sessions, certifications, consulting hours, knowledge-base views, community posts
# and webinars — what the customer takes from the services around the product.

# %%
services = monthly("service_usage", "occurred_at", "service")
usage = source.to_pandas("service_usage")
display(usage.groupby("service").agg(rows=("account_id", "size"), accounts=("account_id", "nunique"),
                                     mean_quantity=("quantity", "mean")).round(2))
ax = services.plot(logy=True)
ax.set(title="Service use per month (log scale)", xlabel="", ylabel="rows")
plt.show()

# %% [markdown]
# ## Customer feedback
# `feedback` (NPS waves, CSAT and other surveys) and `conversations` (chat, email and calls with a sentiment
# between −1 and 1). Both belong to the "Customer Feedback" group of the renewal model.

# %%
feedback = source.to_pandas("feedback")
talks = source.to_pandas("conversations")
nps = feedback[feedback.survey == "nps"].copy()
nps_band = ENTRY["nps_category"]  # the catalog's bands: detractor 0–6, passive 7–8, promoter 9–10
nps["category"] = pd.cut(nps.score, list(nps_band.bins), labels=list(nps_band.labels), right=False)
net = nps.category.eq("promoter").mean() - nps.category.eq("detractor").mean()
print(f"{len(nps):,} NPS answers; net promoter score {100 * net:.0f}")

fig, (left, mid, right) = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
nps.score.value_counts().sort_index().plot.bar(ax=left, color="#0072B2", rot=0)
left.set(title="NPS answers (0–10)", xlabel="score", ylabel="answers")
quarterly = nps.set_index(nps.responded_at.dt.tz_convert(None).dt.to_period("Q")).category.groupby(level=0)
shares = quarterly.value_counts(normalize=True).unstack()[["detractor", "passive", "promoter"]]
shares.plot.bar(ax=mid, stacked=True, color=["#D55E00", "#999999", "#009E73"], width=0.85)
mid.set(title="NPS mix per quarter", xlabel="", ylabel="share of answers")
for direction, rows in talks.groupby("direction"):
    right.hist(rows.sentiment.dropna(), bins=40, alpha=0.6, label=direction)
right.set(title="Conversation sentiment", xlabel="sentiment (−1..1)", ylabel="conversations")
right.legend()
plt.show()

# %% [markdown]
# ## Marketing engagement
# `marketing_activities` holds both leads' touches (`lead_id` set) and customers' contacts' (`account_id` set):
# customers keep receiving newsletters, open them, attend webinars. The lead model scores the first kind; the
# renewal model has a small "Marketing Engagement" group built from the second — notebook 02 asks how far that
# lead-style view of a customer gets on its own.

# %%
ma = source.table("marketing_activities")
mix = (ma.mutate(who=ma.lead_id.notnull().ifelse("leads", "accounts"))
       .group_by(["who", "activity"]).aggregate(rows=_.count()).to_pandas()
       .pivot_table(index="activity", columns="who", values="rows", fill_value=0))
display((mix / mix.sum()).round(3).sort_values("leads", ascending=False))
ax = monthly("marketing_activities", "occurred_at", "activity", ma.account_id.notnull()).plot(logy=True)
ax.set(title="Customers' marketing activities per month (log scale)", xlabel="", ylabel="rows")
ax.legend(fontsize=7, ncols=2)
plt.show()

# %% [markdown]
# ## Firmographics and the commercial relationship
# `accounts` (industry, employees, country, segment) and `contracts` (start, end, ARR, seats, plan and, once
# known, the outcome). A contract's `end_date`, ARR, seats and plan are known from its start; its outcome only at
# the end.

# %%
accounts_t = source.to_pandas("accounts")
contracts = source.to_pandas("contracts")
contracts["length"] = np.where((contracts.end_date - contracts.start_date).dt.days < 100, "monthly", "annual")
display(pd.crosstab(accounts_t.industry.fillna("unknown"), accounts_t.segment, margins=True))

fig, (left, mid, right) = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
left.hist(accounts_t.employees, bins=np.logspace(0, np.log10(accounts_t.employees.max() + 1), 40), color="#0072B2")
left.set(xscale="log", title="Employees per account", xlabel="employees", ylabel="accounts")
plans = ["starter", "growth", "enterprise"]
plans = [p for p in plans if p in set(contracts.plan)] + sorted(set(contracts.plan) - set(plans))
mid.boxplot([contracts.loc[contracts.plan == p, "arr"] for p in plans], tick_labels=plans)
mid.set(yscale="log", title="ARR per contract, by plan", ylabel="ARR")
pd.crosstab(contracts.plan, contracts.length).reindex(plans).plot.bar(ax=right, rot=0)
right.set(title="Contracts by plan and length", xlabel="", ylabel="contracts")
plt.show()

# %% [markdown]
# ## Cohorts: accounts by start month and plan
# An account's cohort is the start of its first contract. The CRM's billing history reaches back before the event
# data starts, but only for the customers still on the books at that moment: those older cohorts are survivors
# by construction (everyone who left before the data starts is missing), so the retention heatmap shows only
# the cohorts that started inside the data window. Each cell is the share of the cohort's accounts that still
# hold a contract that many months after their first one started.

# %%
first = contracts.sort_values("start_date").groupby("account_id").first()
first["cohort"] = first.start_date.dt.tz_convert(None).dt.to_period("Q")
sizes = pd.crosstab(first.cohort, first.plan).reindex(columns=plans, fill_value=0)
ax = sizes.plot.bar(stacked=True, figsize=(12, 3.5), width=0.85)
ax.set(title="New accounts per quarter, by first plan", xlabel="first contract starts", ylabel="accounts")
plt.show()

offsets = np.arange(0, 37, 3)
checks = first[["start_date", "cohort"]].reset_index().merge(pd.DataFrame({"months_since": offsets}), how="cross")
checks["at"] = [s + pd.DateOffset(months=int(k)) for s, k in zip(checks.start_date, checks.months_since, strict=True)]
checks = checks[checks["at"] < source.horizon]
held = checks.merge(contracts[["account_id", "start_date", "end_date"]], on="account_id", suffixes=("", "_c"))
held = held[(held.start_date_c <= held["at"]) & (held.end_date > held["at"])]
checks["active"] = checks.set_index(["account_id", "months_since"]).index.isin(
    held.set_index(["account_id", "months_since"]).index)
retention = checks.pivot_table(index="cohort", columns="months_since", values="active", aggfunc="mean")
data_start = pd.Timestamp(meta["start"]).tz_convert(None).to_period("Q")
retention = retention[(retention.index >= data_start)
                      & (first.cohort.value_counts().reindex(retention.index) >= 10)]  # cohorts of 10+ accounts
fig, ax = plt.subplots(figsize=(12, 0.3 * len(retention) + 1.8), layout="constrained")
image = ax.imshow(retention.to_numpy(dtype=float), aspect="auto", cmap="viridis", vmin=0, vmax=1)
ax.set_yticks(range(len(retention)), [str(c) for c in retention.index], fontsize=7)
ax.set_xticks(range(len(offsets)), offsets)
ax.set(title="Share of each cohort still under contract", xlabel="months since the first contract started",
       ylabel="cohort (quarter)")
fig.colorbar(image, ax=ax, label="share active")
plt.show()

# %% [markdown]
# ## Churn (non-renewal) by segment
# Each contract whose outcome is known counts once: churn rate = churned ÷ (renewed + churned). Segments are
# the ones the training run reports its hold-out metrics by (`training.evaluation.segments`), plus the
# company-size band and the contract length. The employee bands are the catalog's `employee_band` bins.

# %%
band = ENTRY["employee_band"]
decided = contracts[contracts.outcome.isin(["renewed", "churned"])].copy()
decided["churned"] = decided.outcome.eq("churned")
firmographics = entity_attributes(source, "renewal", ["industry", "segment", "employees"])
decided = decided.merge(firmographics.rename(columns={"entity_id": "account_id"}), on="account_id", how="left")
decided["employee_band"] = pd.cut(decided.employees, list(band.bins), labels=list(band.labels), right=False)
columns = [*settings.training.evaluation.segments["renewal"], "employee_band", "length"]
known_order = (*band.labels, *plans, "SMB", "Mid-Market", "Enterprise", "monthly", "annual")
churn = {c: rate_by(decided, c, "churned", known_order) for c in columns if c in decided}
plot_rates(churn, decided.churned.mean(), f"Churn rate per contract ({len(decided):,} contracts with an outcome)",
           "churn rate")

# %% [markdown]
# What the renewal model learns from is slightly different: monthly snapshots of accounts whose contract ends
# within the label horizon (180 days), labelled renewed (1) or churned (0). The same rate, as the model sees it:

# %%
renewal = build_dataset(source, "renewal", default_as_ofs(source, settings.features), settings.features,
                        names=["plan"], labelled_only=True)
print(f"{len(renewal):,} labelled renewal snapshots of {renewal.entity_id.nunique():,} accounts; "
      f"churn rate {1 - renewal.label.mean():.1%} (per contract: {decided.churned.mean():.1%})")

# %% [markdown]
# ## Conversion by segment
# The conversion model's rows: every lead open at a month start, labelled 1 when it converts within 90 days.
# The segments come from the feature engine itself (`build_dataset` with only the firmographic features), so the
# employee band and the job function are exactly what the model sees.

# %%
segments = [*settings.training.evaluation.segments["conversion"], "seniority", "job_function"]
leads_view = build_dataset(source, "conversion", default_as_ofs(source, settings.features), settings.features,
                           names=segments, labelled_only=True)
every_lead = source.to_pandas("leads", ["lead_id", "converted_at"])
print(f"{len(leads_view):,} labelled lead snapshots of {leads_view.entity_id.nunique():,} leads; 90-day conversion "
      f"rate {leads_view.label.mean():.1%}; {every_lead.converted_at.notna().mean():.1%} of all leads ever converted")
conversion = {c: rate_by(leads_view, c, "label", band.labels) for c in segments if c in leads_view}
plot_rates(conversion, leads_view.label.mean(), "90-day conversion rate of open leads", "conversion rate")

# %% [markdown]
# ## What to take from this
# - Usage, support, service, feedback and marketing signals all arrive as events over time: the models see them
#   through windows ending just before each snapshot (`docs/concepts.md`), never the whole history.
# - Churn and conversion differ by segment, but segments alone leave most of the variation unexplained; the
#   signals over time carry the rest. Notebook 02 trains both models and measures that; notebook 03 explains one
#   account's score.
