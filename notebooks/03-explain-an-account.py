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
seed = 7  # the generator's defaults, as in notebooks 01 and 02
accounts = 1200
leads = 20000
months = 36
trials = 25  # used only when the workspace has no renewal model trained on this data yet (notebook 02 trains one)
backtest_months = 6
threads = 1
as_of = None  # the later scoring, "YYYY-MM-DD"; None: the data's horizon (what the nightly job scores)
months_back = 3  # the earlier scoring, this many months before
account_id = None  # None: the at-risk account whose score fell most between the two scorings

# %% [markdown]
# # 03 · Explain an account: from its score to its reasons and what changed
#
# What a customer-success manager sees for one account, and where it comes from. The renewal model scores every
# account twice, `months_back` months apart, exactly as the nightly job does (`signalscore.journey.run_score`,
# which writes `scores/renewal/<as_of>.parquet`); the second scoring compares itself with the first. Then one
# at-risk account is taken apart: its score and band, the baseline, the points per factor group (they add up to
# the score), the reasons in plain sentences, what changed since the earlier scoring, and the raw signal behind
# its top reason month by month. How points and reasons are computed: `docs/explanations.md`.

# %%
import os
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # MLflow imports tqdm.auto; no widgets needed
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

# %%
import json
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from rich.console import Console

from features.catalog import CATALOG, GROUPS
from features.contract import TABLES
from features.dataset import build_dataset, entity_attributes
from features.labels import month_starts
from features.sources import open_data, to_utc
from serving.explain import group_column
from serving.terminal import explanation, scored_row
from signalscore.config import flatten, load_settings
from signalscore.journey import ScoreRequest, ensure_generated, run_score, run_train
from signalscore.workspace import REGISTERED_NAME, Workspace

pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)
ENTRY = {f.name: f for f in CATALOG}

# %%
settings = load_settings(None, [
    f"features.generate.seed={seed}", f"features.generate.accounts={accounts}",
    f"features.generate.leads={leads}", f"features.generate.months={months}", f"features.threads={threads}",
    f"training.threads={threads}", f"training.tuning.trials={trials}",
    f"training.evaluation.backtest_months={backtest_months}",
])
ws = Workspace(Path(workspace)).create()
if ensure_generated(settings, ws):
    print(f"reusing the generated data in {ws.data} (same generator settings)")
else:
    print(f"generated a company into {ws.data}")

# %% [markdown]
# ## The model that scores
# The champion renewal model of this workspace, if it was trained on this very data (notebook 02 trains one);
# otherwise one is trained here first, as `signalscore train --model renewal` would.

# %%
ws.connect_mlflow()
client = MlflowClient()
NAME = REGISTERED_NAME["renewal"]
generator = {k: v for k, v in flatten(settings).items() if k.startswith("features.generate.")}


def trained_on_this_data(alias: str) -> bool:
    """Whether the version behind `alias` was trained on data generated with these settings."""
    try:
        version = client.get_model_version_by_alias(NAME, alias)
    except MlflowException:
        return False
    params = client.get_run(version.run_id).data.params
    return all(params.get(k) == v for k, v in generator.items())


alias = "champion"
if not trained_on_this_data(alias):
    print("no renewal model trained on this data in the workspace yet: training one")
    result = run_train(settings, ws, "renewal", ws.data)
    matplotlib.style.use("default")  # optuna's plots (drawn for the run) switch pyplot to its "ggplot" style
    alias = "champion" if result.promoted else "challenger"
version = client.get_model_version_by_alias(NAME, alias)
print(f"scoring with {NAME} v{version.version} (alias {alias})")

# %% [markdown]
# ## Score every account twice
# First the earlier date, then the later one: the later scoring compares each account with the latest earlier
# scoring in `scores/renewal/` (`score_change`, `change_reasons`).

# %%
source = open_data(ws.data, threads=threads)
later = to_utc(as_of) if as_of else source.horizon
earlier = later - pd.DateOffset(months=months_back)
scored = {}
for when in (earlier, later):
    scored[when] = run_score(settings, ws, ScoreRequest("renewal", ws.data, as_of=when.isoformat(), alias=alias))
    print(f"{when:%Y-%m-%d}: {len(scored[when].table):,} accounts scored by v{scored[when].version} "
          f"→ {ws.scores('renewal')}/{when:%Y-%m-%d}.parquet")
before, now = scored[earlier].table, scored[later].table

# %%
bands = settings.serving.health_bands
print(pd.crosstab(before.set_index("entity_id").band.reindex(now.entity_id).fillna("(not scored)").to_numpy(),
                  now.band.to_numpy(), rownames=[f"band {earlier:%Y-%m-%d}"], colnames=[f"band {later:%Y-%m-%d}"]))
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
left.hist(now.score, bins=40, color="#0072B2")
for name, cut in bands.items():
    if cut > 0:
        left.axvline(100 * cut, color="#D55E00", ls="--")
        left.text(100 * cut, left.get_ylim()[1] * 0.95, f" {name} from {100 * cut:.0f}", fontsize=8)
left.set(title=f"Health scores on {later:%Y-%m-%d}", xlabel="score", ylabel="accounts")
right.hist(now.score_change.dropna(), bins=40, color="#009E73")
right.set(title=f"Score change since {earlier:%Y-%m-%d}", xlabel="points", ylabel="accounts")
plt.show()

# %% [markdown]
# ## One at-risk account
# Unless `account_id` is given, the account in the `at_risk` band whose score fell most since the earlier scoring
# (then `critical`, then simply the lowest score).

# %%
if account_id is None:
    for band in ("at_risk", "critical"):
        fell = now[(now.band == band) & now.score_change.notna()]
        if len(fell):
            account_id = fell.sort_values("score_change", kind="stable").entity_id.iloc[0]
            break
    else:
        account_id = now.sort_values("score", kind="stable").entity_id.iloc[0]
row = now.set_index("entity_id").loc[account_id]
was = before.set_index("entity_id").loc[account_id] if account_id in set(before.entity_id) else None

crm = entity_attributes(source, "renewal", ["name", "industry", "segment", "employees", "owner"])
contracts = source.to_pandas("contracts")
active = contracts[(contracts.account_id == account_id) & (contracts.start_date < later)
                   & (contracts.end_date > later)].sort_values("start_date").tail(1)
print(crm[crm.entity_id == account_id].to_string(index=False))
print(active[["contract_id", "plan", "arr", "seats", "start_date", "end_date"]].to_string(index=False))
print(f"\n{account_id} on {later:%Y-%m-%d}: score {row.score:.1f} ({row.band}); probability of renewal "
      f"{row.probability:.3f}; percentile {row.percentile:.0f}; baseline score {row.baseline_score:.1f} "
      f"(model v{row.model_version})")
if was is not None:
    print(f"on {earlier:%Y-%m-%d}: score {was.score:.1f} ({was.band}); change {row.score_change:+.1f} points")

# %% [markdown]
# ## From the baseline to the score: points per factor group
# The baseline is the score of an average account of the training data; each factor group adds or takes points,
# and they add up to the score exactly. The right-hand chart puts the same groups at both dates side by side.

# %%
groups = {group_column(g): g for g in GROUPS["account"]}
points = pd.Series({g: float(row[c]) for c, g in groups.items() if c in row.index}).sort_values()
print(f"baseline {row.baseline_score:.2f} + points {points.sum():+.2f} = {row.baseline_score + points.sum():.2f} "
      f"(score {row.score:.2f}; difference {abs(row.baseline_score + points.sum() - row.score):.1e})")

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained", width_ratios=(1.3, 1))
start = row.baseline_score
left.bar(0, start, color="#999999")
left.text(0, start, f"{start:.1f}", ha="center", va="bottom", fontsize=8)
for i, value in enumerate(points, start=1):
    left.bar(i, value, bottom=start, color="#D55E00" if value < 0 else "#0072B2")
    left.text(i, max(start, start + value), f"{value:+.1f}", ha="center", va="bottom", fontsize=8)
    start += value
left.bar(len(points) + 1, row.score, color="#000000")
left.text(len(points) + 1, row.score, f"{row.score:.1f}", ha="center", va="bottom", fontsize=8)
left.set_xticks(range(len(points) + 2), ["baseline", *[g.replace(" ", "\n") for g in points.index], "score"],
                fontsize=8)
left.set(title=f"{account_id}: from the baseline to the score ({later:%Y-%m-%d})", ylabel="score",
         ylim=(0, 105))
if was is not None:
    pair = pd.DataFrame({f"{earlier:%Y-%m-%d}": {g: float(was[c]) for c, g in groups.items() if c in was.index},
                         f"{later:%Y-%m-%d}": points}).loc[points.index]
    pair.plot.barh(ax=right, color=["#999999", "#0072B2"])
    right.axvline(0, color="black", lw=0.8)
    right.set(title="Points per group at both scorings", xlabel="points")
else:
    right.set_visible(False)
plt.show()

# %% [markdown]
# ## The reasons
# The features that take most points away (most negative first), then those that add most, each with the value
# the model saw and its sentence — what the CRM shows.

# %% tags=["reasons"]
reasons = pd.DataFrame(json.loads(row.reasons or "[]"))
display(reasons)
for reason in reasons.itertuples():
    print(f"{'▼' if reason.points < 0 else '▲'} {reason.points:+6.1f}  {reason.sentence}")

# %% [markdown]
# ## What changed since the earlier scoring
# `score_change` is the score now minus the score at the earlier scoring; `change_reasons` lists the factor groups
# and the features whose points moved most, with the value then and now.

# %% tags=["changes"]
if pd.isna(row.score_change) or row.change_reasons is None:
    print(f"{account_id} was not scored on {earlier:%Y-%m-%d}: nothing to compare with")
else:
    change = json.loads(row.change_reasons)
    print(f"score change {row.score_change:+.1f} points since {earlier:%Y-%m-%d}")
    display(pd.DataFrame(change["groups"]))
    display(pd.DataFrame(change["features"]))

# %% [markdown]
# ## The signal behind the top reason, month by month
# The top reason's feature as the model saw it at each month start (`build_dataset` for this one account, with the
# catalog's ingredients of that feature when it is a ratio, a band or a movement), then the raw rows of its source
# table for this account, counted per month.

# %%
top = ENTRY[reasons.feature.iloc[0]] if len(reasons) else None
if top is None:
    print("no reasons: every point of this account is zero")
else:
    print(f"top reason: {top.name} ({top.group}) — {top.description}; source table {top.source}")
    names = [top.name] + [n for n in (top.numerator, top.denominator, top.of, top.previous) if n]
    dates = month_starts(later - pd.DateOffset(months=12), later)
    history = build_dataset(source, "renewal", dates, settings.features, names=names, entity_ids=[account_id])
    history = history.set_index("as_of")[names]
    display(history.round(2))
    fig, axes = plt.subplots(1, len(names), figsize=(4.3 * len(names), 3.2), layout="constrained", squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot(history.index.tz_convert(None), history[name].astype(float), "-o", color="#0072B2")
        ax.axvline(earlier.tz_convert(None), color="#999999", ls="--")
        ax.axvline(later.tz_convert(None), color="#000000", ls="--")
        ax.set(title=f"{name}\n({ENTRY[name].unit})", xlabel="as of")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.suptitle(f"{account_id}: the model's view at each month start (dashed: the two scorings)")
    plt.show()

# %%
if top is not None:
    spec = TABLES[top.source]
    if top.source in ("contracts", "accounts"):
        key = "account_id"
        display(source.to_pandas(top.source).query(f"{key} == @account_id"))
    else:
        rows = source.table(top.source)
        rows = rows.filter(rows.account_id == account_id).to_pandas()
        rows = rows[(rows[spec.event_time] >= dates[0]) & (rows[spec.event_time] < later)]
        wheres = [k.rstrip("!") for n in names for k in ENTRY[n].where]
        by = wheres[0] if wheres else None
        month = rows[spec.event_time].dt.tz_convert(None).dt.to_period("M").dt.to_timestamp()
        counts = (rows.groupby([month, rows[by]]).size().unstack(fill_value=0) if by
                  else rows.groupby(month).size().rename("rows").to_frame())
        ax = counts.plot(marker="o", figsize=(11, 3.6))
        ax.set(title=f"{account_id}: raw {top.source} rows per month" + (f", by {by}" if by else ""), xlabel="",
               ylabel="rows")
        ax.legend(fontsize=7, ncols=3)
        plt.show()

# %% [markdown]
# ## The same explanation in the terminal
# `signalscore explain --model renewal <account>` prints this panel from the scoring output — exactly what the CRM
# received.

# %% tags=["terminal"]
current, previous = scored_row(ws.scores("renewal"), account_id, f"{later:%Y-%m-%d}")
Console(width=110).print(explanation(current, previous))
