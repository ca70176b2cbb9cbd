"""One retrain: split by time, fit, calibrate, evaluate against a constant and the oracle, log, register."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from features.catalog import Feature, catalog_hash
from training.config import TrainingConfig
from training.fit import fit_scorer
from training.metrics import binary_metrics
from training.model import SignalscorePyfunc
from training.plots import evaluation_figure
from training.splits import time_split
from training.tracking import (
    CHALLENGER,
    CHAMPION,
    champion_version,
    ensure_experiment,
    pip_requirements,
    quiet_model_logging,
)


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


def _oracle_probabilities(test: pd.DataFrame, truth: pd.DataFrame | None) -> np.ndarray | None:
    """The generator's p_true on exactly the hold-out rows, in their order: the ceiling any model can reach."""
    if truth is None or truth.empty:
        return None
    joined = test[["entity_id", "as_of"]].merge(truth[["entity_id", "as_of", "p_true"]],
                                                on=["entity_id", "as_of"], how="left")
    if joined.p_true.isna().any():
        raise ValueError(f"_truth/ covers {joined.p_true.notna().sum()} of {len(test)} hold-out snapshots; "
                         "it does not match")
    return joined.p_true.to_numpy()


def _champion_auc(name: str, test: pd.DataFrame, features: list[str]) -> float | None:
    """The current champion's ROC AUC on the same hold-out, when it takes the same inputs."""
    try:
        champion = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
        scored = champion.predict(test[features])
    except Exception:
        return None
    return binary_metrics(test.label.to_numpy(), scored["probability"].to_numpy(), "c_")["c_roc_auc"]


def _decide(name: str, metrics: dict[str, float], test: pd.DataFrame, features: list[str],
            cfg: TrainingConfig) -> tuple[bool, str]:
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


def _log_artifacts(catalog: list[Feature], test: pd.DataFrame, p_test: np.ndarray, oracle: np.ndarray | None,
                   split_dates: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "catalog.json").write_text(json.dumps([asdict(f) for f in catalog], indent=2, default=str))
        (out / "split.json").write_text(json.dumps(split_dates, indent=2))
        evaluation_figure(test.label.to_numpy(), p_test, oracle).savefig(out / "evaluation.png", dpi=110)
        mlflow.log_artifacts(str(out))


def train_model(dataset: pd.DataFrame, model: str, catalog: list[Feature], cfg: TrainingConfig,
                label_horizon_days: int, *, registered_name: str, artifact_root: Path | None = None,
                truth: pd.DataFrame | None = None, params: dict | None = None,
                tags: dict | None = None) -> TrainResult:
    """Train, evaluate and register one model; returns the registered version and its hold-out metrics."""
    labelled = dataset[dataset["label"].notna()].reset_index(drop=True)
    split = time_split(labelled.as_of, pd.Timedelta(days=label_horizon_days), cfg.test_periods,
                       cfg.calibration_periods, cfg.early_stopping_periods)
    names = [f.name for f in catalog]
    categorical = [f.name for f in catalog if f.categorical]
    scorer, info = fit_scorer(labelled, split, names, categorical, cfg)

    test = labelled[split.test]
    y_test = test.label.to_numpy()
    p_test = scorer.predict_proba(test)
    metrics = binary_metrics(y_test, p_test, "test_", cfg.ece_bins)
    base_rate = float(labelled.loc[split.train, "label"].mean())
    constant = binary_metrics(y_test, np.full(len(test), base_rate), "baseline_constant_", cfg.ece_bins)
    metrics |= {k: v for k, v in constant.items() if k.endswith(("brier", "log_loss"))}
    oracle = _oracle_probabilities(test, truth)
    if oracle is not None:
        m = binary_metrics(y_test, oracle, "oracle_", cfg.ece_bins)
        metrics |= {k: m[k] for k in ("oracle_roc_auc", "oracle_brier", "oracle_ece")}
    metrics |= {f"rows_{k}": float(v.sum()) for k, v in
                (("train", split.train), ("calibration", split.calibration), ("test", split.test))}
    metrics |= {"test_positive_rate": float(y_test.mean()), "best_iteration": float(info["best_iteration"])}
    split_dates = {k: [f"{d:%Y-%m-%d}" for d in v] for k, v in split.dates.items()}

    ensure_experiment(f"signalscore-{model}", artifact_root)
    mlflow.set_experiment(f"signalscore-{model}")
    promoted, reason = _decide(registered_name, metrics, test, names, cfg)
    with mlflow.start_run(run_name=f"{model}-train") as run:
        mlflow.log_params(params or {})
        mlflow.set_tags({"model": model, "catalog_hash": catalog_hash(catalog),
                         "as_of_range": f"{labelled.as_of.min():%Y-%m-%d}..{labelled.as_of.max():%Y-%m-%d}",
                         "promotion": reason, **(tags or {})})
        mlflow.log_metrics(metrics)
        _log_artifacts(catalog, test, p_test, oracle, split_dates)
        example = test[names].head(50)
        pyfunc = SignalscorePyfunc(scorer)
        with quiet_model_logging():
            info_model = mlflow.pyfunc.log_model(
                name="model", python_model=pyfunc, registered_model_name=registered_name,
                signature=infer_signature(example, pyfunc.predict(None, example)),
                pip_requirements=pip_requirements(),
            )
    version = str(info_model.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(registered_name, CHALLENGER, version)
    client.set_model_version_tag(registered_name, version, "promotion", reason)
    if promoted:
        client.set_registered_model_alias(registered_name, CHAMPION, version)
    return TrainResult(model, registered_name, version, run.info.run_id, metrics, promoted, reason, split_dates)
