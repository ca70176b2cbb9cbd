"""One retrain: split, tune, fit, calibrate, evaluate against baselines and the oracle, log, register.

Each stage is a function of the previous one's output; only `train_model` talks to MLflow, at the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from features.catalog import Feature, catalog_hash
from training.baselines import LogisticBaseline, Scorecard
from training.config import TrainingConfig
from training.evaluate import rolling_backtest, segment_table
from training.fit import fit_data, fit_scorer, lightgbm_params
from training.metrics import binary_metrics, weighted_metrics
from training.model import Scorer, SignalscorePyfunc
from training.registry import set_champion
from training.report import Evaluation, log_evaluation
from training.routing import choose_route_threshold, route_metrics
from training.splits import TimeSplit, split_by_time
from training.tracking import (
    CHALLENGER,
    CHAMPION,
    champion_version,
    code_version,
    ensure_experiment,
    pip_requirements,
    quiet_model_logging,
)
from training.tune import TuningResult, study_name, tune

Progress = Callable[[str], None]
EVENT_LABEL = {"renewal": 0, "conversion": 1}  # the outcome a team acts on: churn, conversion


@dataclass
class TrainResult:
    model: str
    registered_name: str
    version: str
    run_id: str
    metrics: dict[str, float]
    promoted: bool
    promotion_reason: str
    split_dates: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class TrainingData:
    """What the caller knows about the rows: the catalog, the horizon, the truth, segments and notes."""

    dataset: pd.DataFrame  # entity_id, as_of, features, label (labelled rows only are used)
    model: str
    catalog: list[Feature]
    label_horizon_days: int
    truth: pd.DataFrame | None = None  # generated data: entity_id, as_of, p_true
    segments: pd.DataFrame | None = None  # extra columns to slice the hold-out by, aligned with `dataset`
    split: TimeSplit | None = None  # a prepared split (random, for a table without time); else by time
    notes: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A hash of every value of the training rows: two runs on the same data carry the same fingerprint."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes() + ",".join(frame.columns).encode()).hexdigest()


def oracle_for(frame: pd.DataFrame, truth: pd.DataFrame | None) -> pd.Series | None:
    """The generator's p_true per row (aligned with `frame`); None without truth. Read after predicting only."""
    if truth is None or truth.empty:
        return None
    joined = frame[["entity_id", "as_of"]].merge(truth[["entity_id", "as_of", "p_true"]],
                                                 on=["entity_id", "as_of"], how="left")
    return pd.Series(joined.p_true.to_numpy(), index=frame.index)


def _test_oracle(oracle: pd.Series | None, test: pd.DataFrame) -> np.ndarray | None:
    if oracle is None:
        return None
    values = oracle.loc[test.index]
    if values.isna().any():
        raise ValueError(f"_truth/ covers {values.notna().sum()} of {len(test)} hold-out snapshots; it does not match")
    return values.to_numpy()


def _baselines(labelled: pd.DataFrame, split: TimeSplit, catalog: list[Feature], cfg: TrainingConfig,
               test: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict]:
    """Both baselines learn on the rows LightGBM learns on; the scorecard's map to probability on the calibration."""
    names = [f.name for f in catalog]
    categorical = [f.name for f in catalog if f.categorical]
    train = labelled[split.train]
    y_train = train.label.to_numpy(dtype=float)
    logreg = LogisticBaseline(names, categorical, cfg.baselines.logreg_c, cfg.seed).fit(train, y_train)
    scores = {"logistic regression": logreg.predict_proba(test)}
    scorecard = Scorecard(names, {f.name: f.group for f in catalog}, cfg.baselines.scorecard_weights)
    try:
        scorecard.fit(train, y_train)
    except ValueError as error:  # e.g. no numeric measure relates to the label: nothing to compare with
        return scores, {"scorecard": f"not built: {error}"}
    calibration = labelled[split.calibration]
    scorecard.calibrate(calibration, calibration.label.to_numpy(dtype=float))
    scores["scorecard"] = scorecard.predict_proba(test)
    details = {"scorecard_weights": scorecard.weights_, "scorecard_directions": scorecard.directions_,
               "scorecard_groups": scorecard.groups_}
    return scores, details


def _tune(labelled: pd.DataFrame, split: TimeSplit, data_id: str, td: TrainingData, cfg: TrainingConfig,
          storage: str | None, progress: Progress) -> tuple[TuningResult, object]:
    names = [f.name for f in td.catalog]
    categorical = [f.name for f in td.catalog if f.categorical]
    data = fit_data(labelled, split, names, categorical)
    result = tune(data, cfg, study_name(td.model, data_id, cfg), storage, progress)
    return result, data


def _metrics(y: np.ndarray, p: np.ndarray, p_raw: np.ndarray, oracle: np.ndarray | None,
             baselines: dict[str, np.ndarray], weight: np.ndarray | None, base_rate: float,
             cfg: TrainingConfig) -> dict[str, float]:
    bins = cfg.ece_bins
    metrics = binary_metrics(y, p, "test_", bins)
    metrics["test_ece_uncalibrated"] = binary_metrics(y, p_raw, "u_", bins)["u_ece"]
    constant = binary_metrics(y, np.full(len(y), base_rate), "baseline_constant_", bins)
    metrics |= {k: v for k, v in constant.items() if k.endswith(("brier", "log_loss"))}
    for name, prefix in (("logistic regression", "baseline_logreg_"), ("scorecard", "baseline_scorecard_")):
        if name in baselines:
            metrics |= binary_metrics(y, baselines[name], prefix, bins)
    if oracle is not None:
        m = binary_metrics(y, oracle, "oracle_", bins)
        metrics |= {k: m[k] for k in ("oracle_roc_auc", "oracle_pr_auc", "oracle_brier", "oracle_log_loss",
                                      "oracle_ece", "oracle_top_decile_lift", "oracle_top_decile_capture")}
    if weight is not None:
        metrics |= weighted_metrics(y, p, weight, "test_arr_weighted_", bins)
        if oracle is not None:
            metrics["oracle_arr_weighted_roc_auc"] = weighted_metrics(y, oracle, weight, "o_", bins)["o_roc_auc"]
    return metrics


def _segments(model: str, extra: pd.DataFrame | None, test: pd.DataFrame, cfg: TrainingConfig) -> pd.DataFrame:
    """The configured segment columns, from the features or from the entity attributes the caller passed."""
    wanted = cfg.evaluation.segments.get(model, [])
    extra = extra.loc[test.index] if extra is not None else pd.DataFrame(index=test.index)
    columns = {c: test[c] if c in test.columns else extra[c] for c in wanted if c in test.columns or c in extra}
    return pd.DataFrame(columns, index=test.index)


def train_model(td: TrainingData, cfg: TrainingConfig, *, registered_name: str, artifact_root: Path | None = None,
                params: dict | None = None, study_storage: str | None = None,
                progress: Progress | None = None) -> TrainResult:
    """Train, evaluate and register one model; returns the registered version and its hold-out metrics."""
    note = progress or (lambda _: None)
    known = td.dataset["label"].notna().to_numpy()
    labelled = td.dataset[known].reset_index(drop=True)
    extra = td.segments[known].reset_index(drop=True) if td.segments is not None else None
    names = [f.name for f in td.catalog]
    categorical = [f.name for f in td.catalog if f.categorical]
    gap = pd.Timedelta(days=td.label_horizon_days)
    split = td.split if td.split is not None else split_by_time(labelled.as_of, gap, cfg)
    data_id = data_fingerprint(labelled[["entity_id", "as_of", *names, "label"]])  # what the model sees

    note(f"{td.model}: tuning ({cfg.tuning.trials} trials)")
    tuning, fit_sets = _tune(labelled, split, data_id, td, cfg, study_storage, note)
    note(f"{td.model}: fitting and calibrating")
    scorer, info = fit_scorer(labelled, split, names, categorical, cfg, tuning.params, fit_sets)

    test = labelled[split.test]
    y_test = test.label.to_numpy(dtype=float)
    p_test = scorer.predict_proba(test)
    oracle_all = oracle_for(labelled, td.truth)
    oracle = _test_oracle(oracle_all, test)
    note(f"{td.model}: baselines")
    baselines, baseline_details = _baselines(labelled, split, td.catalog, cfg, test)
    weight_column = cfg.evaluation.weight_column.get(td.model)
    weight = test[weight_column].to_numpy(dtype=float) if weight_column in test.columns else None
    base_rate = float(labelled.loc[split.train, "label"].mean())
    metrics = _metrics(y_test, p_test, scorer.predict_uncalibrated(test), oracle, baselines, weight, base_rate, cfg)
    metrics |= {f"rows_{k}": float(getattr(split, k).sum()) for k in ("train", "early_stop", "calibration", "test")}
    metrics |= {"test_positive_rate": float(y_test.mean()), "best_iteration": float(info["best_iteration"]),
                "tuning_trials_run": float(tuning.trials_run)}
    metrics |= {f"calibration_cv_log_loss_{k}": v for k, v in info["calibration_cv_log_loss"].items()}
    if tuning.study is not None:
        metrics["tuning_best_validation_log_loss"] = float(tuning.study.best_value)

    metadata = {}
    if td.model == "conversion":
        calibration = labelled[split.calibration]
        threshold, how = choose_route_threshold(calibration.label.to_numpy(), scorer.predict_proba(calibration),
                                                cfg.routing)
        metadata = {"route_threshold": threshold, "route_policy": how}
        metrics |= {"route_threshold": threshold, **route_metrics(y_test, p_test, threshold)}
    segments = segment_table(y_test, p_test, _segments(td.model, extra, test, cfg), cfg.evaluation.min_segment_rows,
                             cfg.ece_bins, oracle)
    backtest = pd.DataFrame()
    if td.split is None and cfg.evaluation.backtest_months:
        backtest = rolling_backtest(labelled, names, categorical, cfg, gap, tuning.params,
                                    EVENT_LABEL.get(td.model, 0), oracle_all, note)
    note(f"{td.model}: explaining and logging")
    evaluation = Evaluation(
        model=td.model, catalog=td.catalog, test=test, y=y_test, p=p_test, p_raw=scorer.predict_uncalibrated(test),
        oracle=oracle, baselines=baselines, baseline_details=baseline_details, explained=scorer.explain(test),
        segments=segments, backtest=backtest, tuning=tuning, split=split, metrics=metrics,
        calibration_method=info["calibration_method"], notes=[*td.notes, *tuning.notes],
        params=lightgbm_params(cfg, int(split.train.sum()), tuning.params), cfg=cfg,
    )
    return _log_and_register(td, evaluation, scorer, labelled, data_id, registered_name, artifact_root, params,
                             metadata)


def _log_and_register(td: TrainingData, ev: Evaluation, scorer: Scorer, labelled: pd.DataFrame, data_id: str,
                      registered_name: str, artifact_root: Path | None, params: dict | None,
                      metadata: dict) -> TrainResult:
    """One MLflow run with everything, the model version, its aliases; `metadata` travels with the model."""
    experiment = ensure_experiment(f"signalscore-{td.model}", artifact_root)
    names = [f.name for f in td.catalog]
    promoted, reason = decide(registered_name, ev.metrics, ev.test, names, ev.cfg)
    ev.promotion = (promoted, reason)
    split_dates = {k: [f"{d:%Y-%m-%d}" for d in v] for k, v in ev.split.dates.items()}
    has_time = labelled.as_of.notna().any()
    tags = {"model": td.model, "catalog_hash": catalog_hash(td.catalog), "data_fingerprint": data_id,
            "as_of_range": f"{labelled.as_of.min():%Y-%m-%d}..{labelled.as_of.max():%Y-%m-%d}" if has_time else "none",
            "split": "time" if td.split is None else "random (stratified; no time column)",
            "calibration_method": ev.calibration_method, "promotion": reason, "promoted": str(promoted).lower(),
            **code_version(), **td.tags}
    if ev.tuning.stopped_by_time:
        tags["warning_tuning"] = ev.tuning.notes[-1]
    if td.split is not None:
        tags["warning_split"] = "no time column: the split is random, so the hold-out flatters the model"
    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=f"{td.model}-train", experiment_id=experiment, nested=nested) as run:
        mlflow.log_params(params or {})
        mlflow.log_params({f"lightgbm.{k}": v for k, v in ev.params.items()})  # as LightGBM ran
        mlflow.set_tags(tags)
        mlflow.log_metrics({k: v for k, v in ev.metrics.items() if np.isfinite(v)})
        log_evaluation(ev, split_dates)
        example = ev.test[names].head(50)
        pyfunc = SignalscorePyfunc(scorer)
        with quiet_model_logging():
            logged = mlflow.pyfunc.log_model(
                name="model", python_model=pyfunc, registered_model_name=registered_name,
                signature=infer_signature(example, pyfunc.predict(None, example)),
                pip_requirements=pip_requirements(), metadata=metadata or None,
            )
    version = str(logged.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(registered_name, CHALLENGER, version)
    client.set_model_version_tag(registered_name, version, "promotion", reason)
    if promoted:
        set_champion(client, registered_name, version, reason, "promoted by the training rules")
    return TrainResult(td.model, registered_name, version, run.info.run_id, ev.metrics, promoted, reason,
                       split_dates, ev.notes)


def _champion_auc(name: str, test: pd.DataFrame, features: list[str]) -> float | None:
    """The current champion's ROC AUC on the same hold-out rows, scored from the columns it was trained on."""
    try:
        champion = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
        inputs = champion.metadata.get_input_schema().input_names() or features
        scored = champion.predict(test[inputs])
    except Exception:  # another feature set or format: the verdict is left to a person
        return None
    return binary_metrics(test.label.to_numpy(), scored["probability"].to_numpy(), "c_")["c_roc_auc"]


def decide(name: str, metrics: dict[str, float], test: pd.DataFrame, features: list[str],
           cfg: TrainingConfig) -> tuple[bool, str]:
    """DESIGN §6: the first version is champion; later ones must beat it on the same hold-out and meet the limits."""
    client = MlflowClient()
    if champion_version(client, name) is None:
        return True, "first model of this name: champion by default"
    if metrics["test_ece"] > cfg.registry.max_ece:
        return False, f"hold-out ECE {metrics['test_ece']:.4f} exceeds the limit {cfg.registry.max_ece}"
    old = _champion_auc(name, test, features)
    if old is None:
        return False, "the champion cannot score these inputs; compare and promote by hand"
    gain = metrics["test_roc_auc"] - old
    verdict = gain > cfg.registry.min_roc_auc_gain
    word = "beats" if verdict else "does not beat"
    needed = cfg.registry.min_roc_auc_gain
    new = metrics["test_roc_auc"]
    return verdict, f"hold-out ROC AUC {new:.4f} {word} the champion's {old:.4f} by more than {needed}"
