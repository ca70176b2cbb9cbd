"""Where the tables come from: a data folder (Parquet / CSV / folders of Parquet) opened in an Ibis backend.

Only paths and connections live here; everything that computes on the tables takes the connection, so the
same feature definitions run on DuckDB today and on another Ibis backend later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from features.contract import TABLES, required_tables


class DataError(ValueError):
    """Input data that signalscore cannot use; the message names the table and column and says why."""


@dataclass
class DataSource:
    """An opened data folder: which contract tables exist, the horizon, and an Ibis connection over them."""

    root: Path
    con: ibis.BaseBackend
    tables: dict[str, Path] = field(default_factory=dict)
    horizon: pd.Timestamp | None = None
    horizon_given: bool = False  # from --horizon or _meta.json, not guessed from the latest row
    meta: dict = field(default_factory=dict)
    overrides: dict[str, ibis.Table] = field(default_factory=dict)
    validation: Any = None  # the Validation that produced the overrides, when one ran

    def has(self, table: str) -> bool:
        return table in self.tables

    def table(self, name: str) -> ibis.Table:
        """The table as the engine should see it: the validated rows once validation has run."""
        return self.overrides[name] if name in self.overrides else self.con.table(name)

    def replace_tables(self, tables: dict[str, ibis.Table]) -> None:
        self.overrides.update(tables)

    def to_pandas(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        expr = self.table(name)
        if columns:
            expr = expr.select(*columns)
        return expr.to_pandas()


def find_tables(root: Path) -> dict[str, Path]:
    """Contract tables in a data folder; names starting with `_` are metadata and never tables."""
    found: dict[str, Path] = {}
    for path in sorted(root.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        name = path.name.split(".")[0]
        if name in TABLES and (path.is_dir() or path.suffix in (".parquet", ".csv")):
            found[name] = path
    return found


def read_meta(root: Path) -> dict:
    meta_path = root / "_meta.json"
    return json.loads(meta_path.read_text()) if meta_path.exists() else {}


def _register(con: ibis.BaseBackend, name: str, path: Path) -> None:
    if path.is_dir():
        con.read_parquet(str(path / "**" / "*.parquet"), table_name=name)
    elif path.suffix == ".csv":
        con.read_csv(str(path), table_name=name)
    else:
        con.read_parquet(str(path), table_name=name)


def _latest_timestamp(source: DataSource) -> pd.Timestamp | None:
    """The horizon of last resort: the latest event time found in any table."""
    latest = None
    for name in source.tables:
        column = TABLES[name].event_time
        if column is None:
            continue
        value = source.table(name)[column].max().to_pandas()
        if value is not None and not pd.isna(value) and (latest is None or value > latest):
            latest = value
    return None if latest is None else pd.Timestamp(latest)


def is_database_url(location: Path | str) -> bool:
    return "://" in str(location)


def _check_required(where: str, tables: dict, model: str | None, expected: str) -> None:
    missing = [t for t in required_tables(model) if t not in tables]
    if missing:
        needed = f"the {model} model" if model else "signalscore"
        raise DataError(f"{where}: required table(s) {', '.join(missing)} not found; {needed} needs them ({expected})")


def _open_database(url: str, model: str | None) -> tuple[ibis.BaseBackend, dict[str, Path]]:
    """Tables already in a warehouse: the same feature definitions run there through Ibis."""
    try:
        con = ibis.connect(url.replace("postgresql+psycopg://", "postgres://").replace("postgresql://", "postgres://"))
    except Exception as error:
        raise DataError(f"cannot connect to {url.split('@')[-1]}: {error}") from None
    tables = {name: Path(name) for name in con.list_tables() if name in TABLES}
    _check_required(url.split("@")[-1], tables, model, "expected tables named as in the data contract")
    return con, tables


def open_data(root: Path | str, model: str | None = None, horizon: str | None = None, threads: int = 1,
              memory_limit: str = "3GB") -> DataSource:
    """Open a data folder (or a database URL); a missing required table stops here with one clear message."""
    if is_database_url(root):
        con, tables = _open_database(str(root), model)
        source = DataSource(root=Path(str(root).split("@")[-1]), con=con, tables=tables, horizon_given=bool(horizon))
        source.horizon = to_utc(horizon) if horizon else _latest_timestamp(source)
        return source
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    tables = find_tables(root)
    _check_required(str(root), tables, model, "expected <table>.parquet, <table>.csv or a folder <table>/ of Parquet")
    con = ibis.duckdb.connect(threads=threads, memory_limit=memory_limit, preserve_insertion_order=False)
    con.raw_sql("SET TimeZone = 'UTC'")
    for name, path in tables.items():
        _register(con, name, path)
    meta = read_meta(root)
    source = DataSource(root=root, con=con, tables=tables, meta=meta)
    chosen = horizon or meta.get("horizon")
    source.horizon_given = bool(chosen)
    source.horizon = to_utc(chosen) if chosen else _latest_timestamp(source)
    return source


def to_utc(value: str | pd.Timestamp) -> pd.Timestamp:
    """Parse a date or timestamp as UTC (naive values are taken to be UTC already), to the whole second."""
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).floor("s")


def read_truth(root: Path, model: str) -> pd.DataFrame | None:
    """The generator's p_true per snapshot; for evaluation only, after predicting (never for features)."""
    path = Path(root) / "_truth" / "p_true.parquet"
    if not path.exists():
        return None
    truth = pd.read_parquet(path)
    return truth[truth.model == model].drop(columns="model").reset_index(drop=True)
