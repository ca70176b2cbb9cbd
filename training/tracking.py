"""MLflow: experiments, the logged pyfunc and the champion / challenger aliases (never stages)."""

from __future__ import annotations

import logging
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

CHAMPION, CHALLENGER = "champion", "challenger"
RUNTIME_PACKAGES = ("lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "mlflow")


def ensure_experiment(name: str, artifact_root: Path | None) -> str:
    """The experiment id, creating it with artifacts under the workspace when the store is local."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (artifact_root / name).resolve().as_uri() if artifact_root is not None else None
    return mlflow.create_experiment(name, artifact_location=location)


def pip_requirements() -> list[str]:
    """Pinned to what trained the model; passing them skips MLflow's slow requirement detection."""
    return [f"{name}=={metadata.version(name)}" for name in RUNTIME_PACKAGES]


def champion_version(client: MlflowClient, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None



@contextmanager
def quiet_model_logging() -> Iterator[None]:
    """MLflow warns about cloudpickle and input examples on every log; our model takes neither risk."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input example.*")
            yield
    finally:
        logger.setLevel(level)


def code_version() -> dict[str, str]:
    """The git commit of the code that trained (and whether it had uncommitted changes), when it is a checkout."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
        if not commit:
            return {"git_commit": "unknown (not a git checkout)"}
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown (git not available)"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}
