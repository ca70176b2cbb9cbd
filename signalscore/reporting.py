"""`signalscore report`: open the data (when there is any), read the report's settings, write the site.

Shared by the `report` command and `demo`, so both build the same site the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from features.sources import DataSource
from serving.report import Bands, write_report
from signalscore.config import Settings
from signalscore.journey import Report, open_for
from signalscore.workspace import Workspace


def report_data(ws: Workspace, data: Path | str | None) -> Path | str | None:
    """The data to read signals from: --data when given, else the workspace's data/ folder when it has one."""
    if data is not None:
        return data
    return ws.data if ws.data.is_dir() and any(ws.data.iterdir()) else None


def run_report(settings: Settings, ws: Workspace, data: Path | str | None = None, report: Report | None = None,
               progress: Callable[..., None] | None = None) -> tuple[Path, Path | str | None]:
    """Write `<workspace>/report/` from the latest scorings; returns the first page and the data it read."""
    where = report_data(ws, data)
    source: DataSource | None = None
    if where is not None:
        if progress is not None:
            progress("opening the data")
        source = open_for(settings, where, "renewal" if _has_accounts(ws) else "conversion", report=report)
    bands = Bands(health=settings.serving.health_bands, grades=settings.serving.lead_grades)
    return write_report(ws.root, source, settings.serving.report, progress, bands), where


def _has_accounts(ws: Workspace) -> bool:
    return any(ws.scores("renewal").glob("*.parquet"))
