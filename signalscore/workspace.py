"""The workspace layout: every output of signalscore has one fixed place under one folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mlflow

DEFAULT_WORKSPACE = Path("signalscore-workspace")
_URIS_WE_SET: set[str] = set()  # workspace stores this process pointed MLflow at
REGISTERED_NAME = {"conversion": "signalscore-conversion", "renewal": "signalscore-renewal"}


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        return self.root / "mlartifacts"

    @property
    def studies_db(self) -> Path:
        """Optuna studies: a search interrupted or re-run resumes from here."""
        return self.root / "studies.db"

    @property
    def studies_url(self) -> str:
        return f"sqlite:///{self.studies_db.resolve()}"

    @property
    def crm_db(self) -> Path:
        return self.root / "crm.db"

    @property
    def crm_url(self) -> str:
        return f"sqlite:///{self.crm_db.resolve()}"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def sinks(self) -> Path:
        """CRM sinks' journals (what each CRM confirmed) and dead-letter files."""
        return self.root / "sinks"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def scores(self, model: str) -> Path:
        return self.root / "scores" / model

    @property
    def local_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db.resolve()}"

    def tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI when the user (or `mlflow run`) set it, else this workspace's SQLite store.

        `mlflow.set_tracking_uri` exports the variable itself, so a URI this process set for another workspace
        must not count as the user's choice.
        """
        given = os.environ.get("MLFLOW_TRACKING_URI")
        return given if given and given not in _URIS_WE_SET else self.local_tracking_uri

    def uses_local_store(self) -> bool:
        """True when runs go to this workspace's SQLite store (MLflow itself exports the URI it is given)."""
        return self.tracking_uri() == self.local_tracking_uri

    def create(self) -> Workspace:
        for folder in (self.root, self.rejected, self.runs, self.report):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def connect_mlflow(self) -> None:
        """Point MLflow at this workspace (or at MLFLOW_TRACKING_URI when the user set one)."""
        self.create()
        uri = self.tracking_uri()
        if uri == self.local_tracking_uri:
            _URIS_WE_SET.add(uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
