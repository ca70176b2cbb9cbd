"""Optuna search over LightGBM's capacity and regularisation, judged on the early-stopping periods.

The trial budget decides the result: TPE is seeded and trials run one after another, so the same data, seed
and budget give the same parameters. The time cap only stops a runaway search (and says so). The study lives
in the workspace under a name made of the data fingerprint and the search space, so an interrupted search
resumes, and a finished one is reused instead of searched again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna_integration import LightGBMPruningCallback

from training.config import TrainingConfig
from training.fit import TUNABLE, FitData, train_booster

METRIC = "binary_logloss"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class TuningResult:
    params: dict  # the tuned LightGBM parameters ({} when tuning is off)
    study: optuna.Study | None = None
    trials_run: int = 0  # trials run now (a resumed study ran the others before)
    stopped_by_time: bool = False
    notes: list[str] = field(default_factory=list)


def suggest(trial: optuna.Trial, n_train: int) -> dict:
    """The search space: tree size, leaf size, learning rate, column/row sampling and L2."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 3, 63, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 20, max(21, min(2000, n_train // 20)), log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 100.0, log=True),
    }


def study_name(model: str, data_fingerprint: str, cfg: TrainingConfig) -> str:
    """Same data, seed and search settings → same study, so a search resumes instead of restarting."""
    space = json.dumps({"lightgbm": cfg.lightgbm.model_dump(), "seed": cfg.seed,
                        "startup": cfg.tuning.startup_trials, "pruning": cfg.tuning.pruning}, sort_keys=True)
    return f"{model}-{data_fingerprint[:12]}-{hashlib.sha256(space.encode()).hexdigest()[:8]}"


def _configured(cfg: TrainingConfig, n_train: int) -> dict:
    """The configured parameters as the first trial: a search never ends worse than the defaults."""
    values = {name: getattr(cfg.lightgbm, name) for name in TUNABLE}
    high = max(21, min(2000, n_train // 20))
    values["min_child_samples"] = int(min(max(values["min_child_samples"], 20), high))
    values["num_leaves"] = int(min(max(values["num_leaves"], 3), 63))
    return values


def tune(data: FitData, cfg: TrainingConfig, name: str, storage: str | None,
         progress: Callable[[str], None] | None = None) -> TuningResult:
    """Run the remaining trials of the budget and return the best trial's parameters."""
    budget = cfg.tuning.trials
    if budget == 0:
        return TuningResult({}, notes=["tuning off (training.tuning.trials = 0): configured parameters"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=cfg.tuning.startup_trials)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=cfg.tuning.startup_trials, n_warmup_steps=50)
              if cfg.tuning.pruning else optuna.pruners.NopPruner())
    if storage is not None and not cfg.tuning.resume:
        _delete_study(name, storage)
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize", sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    done = sum(t.state in FINISHED for t in study.trials)
    notes = [f"resumed study {name}: {done} trials already finished"] if done else []
    if not study.trials:
        study.enqueue_trial(_configured(cfg, data.n_train))

    def objective(trial: optuna.Trial) -> float:
        tuned = suggest(trial, data.n_train)
        callbacks = []
        if cfg.tuning.pruning:  # every 10th round: each report is a write to the study's database
            callbacks.append(LightGBMPruningCallback(trial, METRIC, valid_name="early_stop", report_interval=10))
        booster = train_booster(data, cfg, tuned, callbacks)
        trial.set_user_attr("best_iteration", booster.best_iteration)
        return float(booster.best_score["early_stop"][METRIC])

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if progress is not None:
            finished = sum(t.state in FINISHED for t in study.trials)
            progress(f"tuning: trial {finished}/{budget}, best validation log loss {study.best_value:.4f}")

    remaining = max(0, budget - done)
    started = time.monotonic()
    timeout = cfg.tuning.timeout_minutes * 60 if cfg.tuning.timeout_minutes else None
    if remaining:
        study.optimize(objective, n_trials=remaining, timeout=timeout, callbacks=[report], gc_after_trial=False)
    ran = sum(t.state in FINISHED for t in study.trials) - done
    stopped = ran < remaining
    if stopped:
        notes.append(f"tuning stopped by the time cap ({cfg.tuning.timeout_minutes} min) after {ran} of "
                     f"{remaining} trials ({time.monotonic() - started:.0f} s): the result depends on machine speed")
    best = {k: v for k, v in study.best_trial.params.items() if k in TUNABLE}
    return TuningResult(best, study, ran, stopped, notes)


def _delete_study(name: str, storage: str) -> None:
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=name, storage=storage)
