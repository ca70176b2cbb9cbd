"""Pictures a reviewer would rather look at than read: ROC, reliability, gains, SHAP, back-test and tuning.

Every function returns a bare ``matplotlib.figure.Figure``. Figures are built without pyplot wherever the drawing
library allows it, so no global backend state leaks into servers, MLflow runs or tests; the one exception (optuna's
plots, which only draw through pyplot) is closed in pyplot right after drawing, which keeps the Figure savable.

Colours come from the Okabe–Ito palette (distinguishable under the common colour-vision deficiencies) and lines
also differ by style or marker, so the pictures survive a grey-scale printout.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import colormaps, rc_context
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from sklearn.metrics import roc_curve

from training.metrics import equal_count_bins, expected_calibration_error

if TYPE_CHECKING:
    import optuna
    from matplotlib.axes import Axes

# Okabe & Ito (2008): blue, vermillion, bluish green, orange, reddish purple, sky blue, yellow, black.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
REFERENCE = "#777777"  # random / perfect-calibration reference lines
# Feature-value colour scale for the beeswarm: viridis is CVD-safe; its palest yellow end is cut because small
# dots in pale yellow vanish on white. Grey (missing / categorical) stays distinct from every colour left.
# A *linear-segmented* map on purpose: for a categorical row shap 0.51 replaces a map that has ``.colors`` (any
# ListedColormap) by that colour list for every later row, which breaks the plot.
_VALUE_CMAP = LinearSegmentedColormap.from_list("viridis_trimmed", colormaps["viridis"](np.linspace(0.0, 0.88, 32)))
BEESWARM_ROWS = 5000


def _reliability(y: np.ndarray, p: np.ndarray, bins: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Mean prediction and observed rate per equal-count bin (the same bins as the ECE, so the picture matches)."""
    bin_of = equal_count_bins(p, bins)
    chunks = [bin_of == b for b in np.unique(bin_of)]
    return np.array([p[c].mean() for c in chunks]), np.array([y[c].mean() for c in chunks])


def evaluation_figure(y: np.ndarray, p: np.ndarray, oracle: np.ndarray | None = None) -> Figure:
    """ROC and reliability of the model (and the oracle, an upper reference) on the time hold-out.

    A bare Figure (no pyplot): no global backend state, safe in servers and tests.
    """
    y = np.asarray(y, dtype=np.float64)
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    roc_ax, rel_ax = fig.subplots(1, 2)
    for (name, scores), colour, style in zip((("model", p), ("oracle", oracle)), OKABE_ITO, _STYLES, strict=False):
        if scores is None:
            continue
        scores = np.asarray(scores, dtype=np.float64)
        fpr, tpr, _ = roc_curve(y, scores)
        roc_ax.plot(fpr, tpr, style, color=colour, label=name)
        mean_p, rate = _reliability(y, scores)
        rel_ax.plot(mean_p, rate, style + "o", color=colour, ms=4, label=name)
    roc_ax.plot([0, 1], [0, 1], ":", color=REFERENCE, label="random")
    roc_ax.set(title="ROC on the time hold-out", xlabel="false positive rate", ylabel="true positive rate")
    rel_ax.plot([0, 1], [0, 1], ":", color=REFERENCE, label="perfect calibration")
    rel_ax.set(title="Reliability (15 equal-count bins)", xlabel="mean predicted probability",
               ylabel="observed rate")
    roc_ax.legend()
    rel_ax.legend()
    return fig


def reliability_figure(y: np.ndarray, p_before: np.ndarray, p_after: np.ndarray, bins: int = 15) -> Figure:
    """Reliability diagram on the hold-out before calibration (raw booster) and after, predictions underneath.

    The calibrator is justified only if the "after" curve hugs the diagonal more closely than "before"; the ECE in
    the legend is the number behind that impression (same equal-count bins as ``expected_calibration_error``).
    The histogram underneath shows where the predictions actually sit: a bin far off the diagonal matters little
    if few entities fall there. Its count axis is logarithmic because churn/conversion scores pile up near 0.
    """
    y = np.asarray(y, dtype=np.float64)
    curves = {"before calibration (raw booster)": np.asarray(p_before, dtype=np.float64),
              "after calibration": np.asarray(p_after, dtype=np.float64)}
    fig = Figure(figsize=(6.5, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1))
    rel_ax = fig.add_subplot(grid[0])
    hist_ax = fig.add_subplot(grid[1], sharex=rel_ax)
    upper = 0.0
    for (name, p), colour, style, marker in zip(curves.items(), OKABE_ITO, _STYLES, _MARKERS, strict=False):
        mean_p, rate = _reliability(y, p, bins)
        ece = expected_calibration_error(y, p, bins)
        rel_ax.plot(mean_p, rate, style, marker=marker, ms=5, color=colour, label=f"{name}: ECE {ece:.4f}")
        upper = max(upper, float(np.nanmax(p)), float(np.nanmax(rate)))
    upper = min(1.0, 1.05 * upper) if upper > 0 else 1.0
    rel_ax.plot([0, upper], [0, upper], ":", color=REFERENCE, label="perfect calibration")
    rel_ax.set(title=f"Reliability on the time hold-out ({bins} equal-count bins, n={len(y):,})",
               ylabel="observed rate in bin", xlim=(0, upper), ylim=(0, upper))
    rel_ax.tick_params(labelbottom=False)
    rel_ax.legend(loc="upper left")
    edges = np.linspace(0.0, upper, 41)
    for (name, p), colour, style in zip(curves.items(), OKABE_ITO, _STYLES, strict=False):
        hist_ax.hist(p, bins=edges, histtype="step", linestyle=style, color=colour, lw=1.5, label=name)
    hist_ax.set_yscale("log")
    hist_ax.set(xlabel="predicted probability", ylabel="entities (log)")
    return fig


def _gains_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share targeted vs share of positives captured, ranking by score; tied scores enter together.

    Taking only the end of each tie group (and joining points by straight lines) draws the expected curve under
    a random tie break, so a coarse scorecard is not flattered or penalised by the row order.
    """
    order = np.argsort(-score, kind="stable")
    ranked_y, ranked_s = y[order], score[order]
    group_end = np.r_[ranked_s[1:] != ranked_s[:-1], True]
    captured = np.cumsum(ranked_y)[group_end] / ranked_y.sum()
    targeted = np.arange(1, len(score) + 1)[group_end] / len(score)
    return np.r_[0.0, targeted], np.r_[0.0, captured]


def _decile_lift(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Positive rate per score decile (1 = highest scores) over the overall rate; ties never split a decile."""
    decile = 10 - equal_count_bins(score, 10)  # bin 9 (highest scores) -> decile 1
    base = y.mean()
    return np.array([y[decile == d].mean() / base if (decile == d).any() else np.nan for d in range(1, 11)])


def gains_figure(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """Cumulative gains and lift by decile, one line / bar set per scorer, against random targeting.

    This is the picture sales and customer-success teams read: "calling the top 20% reaches x% of the
    conversions". ``scores`` maps a display name to scores for the same rows as ``y`` (any monotone scale works:
    probabilities, points, oracle risk). Higher score = more likely positive.
    """
    y = np.asarray(y, dtype=np.float64)
    if not len(scores):
        raise ValueError("gains_figure needs at least one scorer")
    if y.sum() <= 0:
        raise ValueError("gains are undefined without a positive outcome in y")
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    gain_ax, lift_ax = fig.subplots(1, 2)
    width = 0.8 / len(scores)
    deciles = np.arange(1, 11)
    for k, (name, raw) in enumerate(scores.items()):
        score = np.asarray(raw, dtype=np.float64)
        if score.shape != y.shape or not np.isfinite(score).all():
            raise ValueError(f"scores[{name!r}] must be finite and shaped like y {y.shape}")
        colour, style = OKABE_ITO[k % len(OKABE_ITO)], _STYLES[k % len(_STYLES)]
        targeted, captured = _gains_curve(y, score)
        gain_ax.plot(targeted, captured, style, color=colour, lw=1.8, label=name)
        lift_ax.bar(deciles + (k - (len(scores) - 1) / 2) * width, _decile_lift(y, score), width=width,
                    color=colour, hatch=(None, "//", "..", "xx")[k % 4], edgecolor="white", label=name)
    gain_ax.plot([0, 1], [0, 1], ":", color=REFERENCE, label="random targeting")
    gain_ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    gain_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    gain_ax.set(title=f"Cumulative gains on the hold-out (n={len(y):,}, {int(y.sum()):,} positives)",
                xlabel="share of entities targeted (highest scores first)", ylabel="share of positives captured",
                xlim=(0, 1), ylim=(0, 1.02))
    gain_ax.legend(loc="lower right")
    lift_ax.axhline(1.0, ls=":", color=REFERENCE, label="random targeting (lift 1)")
    lift_ax.set_xticks(deciles, [f"{d}" for d in deciles])
    lift_ax.set(title="Lift by score decile", xlabel="score decile (1 = top 10% of scores)",
                ylabel="positive rate / overall rate")
    lift_ax.legend(loc="upper right")
    return fig


@contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    """shap's beeswarm jitters with ``np.random`` (global state): make it reproducible and leave no trace."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _sample_rows(n: int, rows: int = BEESWARM_ROWS, seed: int = 0) -> np.ndarray:
    """Deterministic subsample for scatter plots: 50k dots add ink, not information, and slow the render."""
    if n <= rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:rows])


def _colour_data(values: pd.DataFrame) -> np.ndarray:
    """Feature values as shap colours them: numeric → float with NaN (grey); anything else stays object (grey)."""
    columns = []
    for name in values.columns:
        col = values[name]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            columns.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            columns.append(col.to_numpy(dtype=object))
    if all(c.dtype == np.float64 for c in columns):
        return np.column_stack(columns) if columns else np.empty((len(values), 0))
    out = np.empty((len(values), len(columns)), dtype=object)
    for j, c in enumerate(columns):
        out[:, j] = c
    return out


def _beeswarm(ax: Axes, contrib: np.ndarray, data: np.ndarray | None, names: list[str], colour: object,
              colour_label: str) -> None:
    """shap's beeswarm into a given axes, in the given row order (first name on top), reproducibly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # shap 0.51 import vs matplotlib 3.11: not ours
        import shap

    explanation = shap.Explanation(values=contrib, data=data, feature_names=names)
    with _seeded_global_numpy(0), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanpercentile of an all-missing feature: drawn grey
        shap.plots.beeswarm(explanation, max_display=len(names), order=np.arange(len(names)), ax=ax, show=False,
                            plot_size=None, color=colour, color_bar=data is not None, s=10, alpha=0.8,
                            color_bar_label=colour_label, group_remaining_features=False)
    ax.tick_params("y", labelsize=10)


def shap_summary_figures(contrib: pd.DataFrame, values: pd.DataFrame, group_of: Mapping[str, str],
                         max_features: int = 20) -> tuple[Figure, Figure]:
    """SHAP beeswarm by feature, and the same by factor group (the level at which reasons are reported).

    ``contrib`` holds TreeSHAP log-odds contributions (one column per feature, the expected value excluded);
    ``values`` the raw feature values for the same rows in the same order, with at least ``contrib``'s columns.
    Features missing from ``group_of`` are pooled as "(ungrouped)". Importance (the order) is computed on all
    rows; the swarms show a deterministic sample of ``BEESWARM_ROWS`` rows. Colour is the feature value (low →
    high within that feature, 5th–95th percentile); grey marks missing or categorical values, for which a colour
    scale would mean nothing. Features beyond ``max_features`` are summed into one last grey row so the
    picture still accounts for the whole score.

    Returns (feature figure, group figure).
    """
    if len(contrib) != len(values):
        raise ValueError(f"contrib has {len(contrib)} rows but values has {len(values)}")
    missing = [c for c in contrib.columns if c not in values.columns]
    if missing:
        raise ValueError(f"values lacks the contribution columns {missing[:5]}")
    names = [str(c) for c in contrib.columns]
    matrix = contrib.to_numpy(dtype=np.float64, na_value=0.0)
    sample = _sample_rows(len(matrix))
    note = f"{len(sample):,} of {len(matrix):,} rows shown" if len(sample) < len(matrix) else f"{len(matrix):,} rows"

    # Figure 1: by feature.
    importance = np.abs(matrix).mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    top, rest = order[:max_features], order[max_features:]
    shown = matrix[np.ix_(sample, top)]
    data = _colour_data(values.iloc[sample][[contrib.columns[i] for i in top]])
    labels = [names[i] for i in top]
    if len(rest):
        shown = np.column_stack([shown, matrix[np.ix_(sample, rest)].sum(axis=1)])
        filler = np.full((len(sample), 1), np.nan, dtype=data.dtype)
        data = np.hstack([data, filler])
        labels.append(f"sum of {len(rest)} other features")
    feature_fig = Figure(figsize=(9, 0.4 * len(labels) + 2.0), layout="constrained")
    ax = feature_fig.add_subplot()
    _beeswarm(ax, shown, data, labels, _VALUE_CMAP, "feature value (grey: missing or categorical)")
    ax.set_xlabel("SHAP contribution to the score (log-odds)", fontsize=11)
    ax.set_title(f"Top {len(top)} of {len(names)} features by mean |SHAP| ({note})")

    # Figure 2: by factor group; a group's contribution is the sum of its features' (SHAP is additive).
    group_names = [group_of.get(n, "(ungrouped)") for n in names]
    groups = list(dict.fromkeys(group_names))
    sums = np.column_stack([matrix[:, [g == grp for g in group_names]].sum(axis=1) for grp in groups])
    group_importance = np.abs(sums).mean(axis=0)
    group_order = np.argsort(-group_importance, kind="stable")
    ordered = [groups[i] for i in group_order]
    group_fig = Figure(figsize=(12, 0.45 * len(groups) + 2.0), layout="constrained")
    bar_ax, swarm_ax = group_fig.subplots(1, 2, width_ratios=(1, 1.6))
    positions = np.arange(len(groups))[::-1]  # most important on top, as in the swarm
    bar_ax.barh(positions, group_importance[group_order], color=OKABE_ITO[0])
    for pos, value in zip(positions, group_importance[group_order], strict=True):
        bar_ax.text(value, pos, f" {value:.3f}", va="center", fontsize=9)
    bar_ax.set_yticks(positions, ordered)
    bar_ax.set_ylim(-1, len(groups))
    bar_ax.margins(x=0.15)
    bar_ax.set(title=f"Mean |group contribution| ({len(matrix):,} rows)",
               xlabel="mean |sum of the group's SHAP values| (log-odds)")
    _beeswarm(swarm_ax, sums[np.ix_(sample, group_order)], None, ordered, OKABE_ITO[0], "")
    swarm_ax.set_xlabel("group contribution per entity (log-odds)", fontsize=11)
    swarm_ax.set_title(f"Per-entity group contributions ({note})")
    return feature_fig, group_fig


def _month_labels(month: pd.Series) -> tuple[pd.Series, list[str]]:
    """Sort key and "YYYY-MM" labels when months parse as dates; otherwise keep the given text and order."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": we fall back below
            parsed = pd.to_datetime(month)
    except (ValueError, TypeError):
        return pd.Series(np.arange(len(month)), index=month.index), [str(m) for m in month]
    if parsed.isna().any():
        return pd.Series(np.arange(len(month)), index=month.index), [str(m) for m in month]
    return parsed, list(parsed.dt.strftime("%Y-%m"))


def backtest_figure(table: pd.DataFrame) -> Figure:
    """Month-by-month back-test: does the model keep ranking well, and does flagging beat random targeting?

    ``table``: ``month`` (Timestamp or str), ``roc_auc``, optional ``oracle_roc_auc`` (NaN where unknown),
    ``catch_rate`` (share of the month's outcome events among flagged entities) and ``flag_share`` (share flagged:
    what random targeting would catch). The bar label is catch rate / flag share, i.e. the lift over random.
    """
    need = {"month", "roc_auc", "catch_rate", "flag_share"}
    if not need <= set(table.columns):
        raise ValueError(f"backtest table lacks {sorted(need - set(table.columns))}")
    key, _ = _month_labels(table["month"])
    t = table.assign(_key=key.to_numpy()).sort_values("_key", kind="stable").reset_index(drop=True)
    _, labels = _month_labels(t["month"])
    x = np.arange(len(t))
    fig = Figure(figsize=(max(8.0, 0.55 * len(t) + 3), 7), layout="constrained")
    auc_ax, catch_ax = fig.subplots(2, 1, sharex=True)

    auc_ax.plot(x, t["roc_auc"].astype(float), "-o", color=OKABE_ITO[0], label="model")
    if "oracle_roc_auc" in t and t["oracle_roc_auc"].notna().any():
        auc_ax.plot(x, t["oracle_roc_auc"].astype(float), "--s", color=OKABE_ITO[1],
                    label="oracle (upper reference)")
    auc_ax.axhline(0.5, ls=":", color=REFERENCE, label="random (0.5)")
    auc_ax.set(title="ROC AUC per back-test month", ylabel="ROC AUC")
    auc_ax.legend(loc="lower left")

    catch = t["catch_rate"].astype(float).to_numpy()
    share = t["flag_share"].astype(float).to_numpy()
    catch_ax.bar(x, catch, width=0.7, color=OKABE_ITO[2], label="caught by the flagged entities")
    catch_ax.hlines(share, x - 0.4, x + 0.4, colors="black", linestyles="--",
                    label="random targeting (= share flagged)")
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = catch / share
    for xi, c, lf in zip(x, catch, lift, strict=True):
        if np.isfinite(c) and np.isfinite(lf):
            catch_ax.text(xi, c, f"×{lf:.1f}", ha="center", va="bottom", fontsize=8)
    catch_ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    top = np.nanmax(np.r_[catch, share, 0.0])
    catch_ax.set_ylim(0, 1.3 * top if top > 0 else 1.0)  # headroom for the lift labels and the legend
    catch_ax.set(title="Share of the month's outcome events caught (label: lift over random)",
                 ylabel="catch rate", xlabel="month")
    catch_ax.set_xticks(x, labels, rotation=45 if len(t) > 6 else 0, ha="right" if len(t) > 6 else "center")
    catch_ax.legend(loc="upper left", ncols=2)
    return fig


def study_figures(study: optuna.Study) -> dict[str, Figure]:
    """Optuna optimisation history, hyperparameter importances and parallel coordinates of a single-objective study.

    optuna draws only through pyplot, so each figure is closed in pyplot as soon as it is drawn: pyplot forgets it
    (no leak across runs) while the Figure still saves. Importances (fANOVA, seeded so reruns agree) and parallel
    coordinates need at least two completed trials with a tuned parameter; otherwise only "history" is returned.
    """
    import optuna
    from matplotlib import pyplot as plt
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import matplotlib as optuna_mpl

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    tuned = {name for t in complete for name, dist in t.distributions.items() if not dist.single()}
    makers = {"history": optuna_mpl.plot_optimization_history}
    if len(complete) >= 2 and tuned:
        makers["importance"] = lambda s: optuna_mpl.plot_param_importances(
            s, evaluator=FanovaImportanceEvaluator(seed=0))
        makers["parallel_coordinate"] = optuna_mpl.plot_parallel_coordinate
    out: dict[str, Figure] = {}
    # optuna calls plt.style.use("ggplot"), which would restyle every later figure of the process (the next model's
    # plots included): rc_context puts the caller's style back.
    with warnings.catch_warnings(), rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, make in makers.items():
            ax = make(study)
            ax.set_title(f"{ax.get_title()} ({len(complete)} completed trials)")
            fig = ax.figure
            plt.close(fig)
            out[name] = fig
    return out
