"""Running under `mlflow run`: log into the run MLflow created, and nest the training runs under it.

`mlflow run` starts a run, then calls our command with MLFLOW_RUN_ID and MLFLOW_TRACKING_URI set. Training
logs into its own experiments (DESIGN §6), where a run id from another experiment cannot be resumed; so the
entry point takes the id out of the environment, reopens that run as the parent, and every run training starts
becomes its child (`mlflow.parentRunId`). The parent gets each child's headline metrics and run id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from signalscore.workspace import Workspace

RUN_ID_VARIABLE = "MLFLOW_RUN_ID"
HEADLINE = ("test_roc_auc", "test_brier", "test_ece", "oracle_roc_auc", "baseline_logreg_roc_auc",
            "baseline_scorecard_roc_auc")


@contextmanager
def project_run(ws: Workspace) -> Iterator[object | None]:
    """The `mlflow run` parent run while the command runs; None when not under `mlflow run`."""
    run_id = os.environ.pop(RUN_ID_VARIABLE, None)
    if run_id is None:
        yield None
        return
    import mlflow

    ws.connect_mlflow()
    try:
        with mlflow.start_run(run_id=run_id) as run:
            yield run
    finally:
        os.environ[RUN_ID_VARIABLE] = run_id


def log_to_project_run(result) -> None:
    """A trained model's headline metrics, version and run id on the parent run."""
    import mlflow

    m = result.metrics
    mlflow.log_metrics({f"{result.model}_{k}": m[k] for k in HEADLINE if k in m})
    mlflow.set_tags({f"{result.model}_run_id": result.run_id, f"{result.model}_model": result.registered_name,
                     f"{result.model}_version": result.version, f"{result.model}_promoted": str(result.promoted)})


def log_summary(values: dict[str, float], tags: dict[str, str] | None = None) -> None:
    """Counts from generate / features / score on the parent run (when there is one)."""
    import mlflow

    if mlflow.active_run() is None:
        return
    mlflow.log_metrics({k: float(v) for k, v in values.items()})
    if tags:
        mlflow.set_tags(tags)
