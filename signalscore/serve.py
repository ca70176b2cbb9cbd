"""`signalscore serve`: the online API (serving/api.py) wired to the workspace's registry and to data checked at
the door.

Serving may not import `signalscore`, so what needs the composed settings and the journey's door — opening and
validating the data as every other command does (`journey.open_for`), the registered names, MLflow's connection, the
token from the environment — happens here, and the app receives ready objects.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from features.sources import DataSource, is_database_url
from serving.api import ServedModel, create_app
from signalscore.config import ConfigError, Settings
from signalscore.journey import Report, open_for
from signalscore.workspace import REGISTERED_NAME, Workspace


def folder_signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Every file under the data folder with its size and modification time: a new extraction changes it."""
    files = (p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts))
    return tuple(sorted((str(p.relative_to(root)), s.st_size, s.st_mtime_ns) for p in files for s in [p.stat()]))


class WatchedData:
    """The data as `open_for` opens it (validated; rejected rows left out), opened again when the folder changes.

    The folder is looked at (a stat per file) at most every `check_seconds`, so a nightly extraction written into
    it is served from the next request after that, at its new horizon. A database is opened once, at the horizon it
    had then: restart `serve` to move it (validating a warehouse on a timer would cost more than it gives).
    """

    def __init__(self, settings: Settings, data: Path | str, model: str | None, check_seconds: float,
                 report: Report | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings, self.data, self.model, self.report = settings, data, model, report
        self.check_seconds, self.clock = check_seconds, clock
        self._lock = threading.Lock()
        self._source: DataSource | None = None
        self._signature: tuple = ()
        self._checked = -float("inf")

    def __call__(self) -> DataSource:
        with self._lock:
            if self._source is not None and (is_database_url(self.data)
                                             or self.clock() - self._checked < self.check_seconds):
                return self._source
            self._checked = self.clock()
            signature = () if is_database_url(self.data) else folder_signature(Path(self.data))
            if self._source is None or signature != self._signature:
                # ws=None: the online API does not rewrite the workspace's rejected/ files the batch keeps
                self._source = open_for(self.settings, self.data, self.model, report=self.report)
                self._signature = signature
            return self._source


def api_token(env_name: str, no_auth: bool) -> str | None:
    """The bearer token from the named environment variable; refusing to serve without one unless asked to."""
    if no_auth:
        return None
    token = os.environ.get(env_name, "").strip()
    if not token:
        raise ConfigError(f"the API needs a bearer token: set the environment variable {env_name} (or name another "
                          "one with --token-env), or pass --no-auth to serve without authentication")
    return token


def build_app(settings: Settings, ws: Workspace, data: Path | str | None, models: list[str], *,
              token: str | None, registered_name: str | None = None, alias: str | None = None,
              report: Report | None = None) -> FastAPI:
    """The app for `models`, scoring with the workspace's registry; the data is opened and checked now, so data that
    breaks the contract stops `serve` before it listens (DataError)."""
    ws.connect_mlflow()
    cfg = settings.serving if alias is None else settings.serving.model_copy(update={"alias": alias})
    served = [ServedModel(m, registered_name or REGISTERED_NAME[m], ws.scores(m)) for m in models]
    watched = None
    if data is not None:
        watched = WatchedData(settings, data, models[0] if len(models) == 1 else None,
                              settings.serving.api.data_check_seconds, report)
        watched()
    return create_app(served, cfg, token=token, data=watched, features_cfg=settings.features)
