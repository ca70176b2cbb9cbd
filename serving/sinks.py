"""Where scores go: Parquet files and SQL tables (SQLite or PostgreSQL) through SQLAlchemy.

SQL writes upsert the current score per entity in one transaction, so re-running the same scoring never
duplicates a row and a failure half-way leaves the previous scores intact.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

TABLE_OF_MODEL = {"conversion": "lead_scores", "renewal": "account_health"}


def write_parquet(table: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(path)  # readers never see half a file
    return path


def _sql_type(series: pd.Series) -> sa.types.TypeEngine:
    if pd.api.types.is_datetime64_any_dtype(series):
        return sa.DateTime(timezone=True)
    if pd.api.types.is_float_dtype(series):
        return sa.Float(precision=53)
    if pd.api.types.is_integer_dtype(series):
        return sa.BigInteger()
    return sa.Text()


def _table(metadata: sa.MetaData, name: str, frame: pd.DataFrame) -> sa.Table:
    columns = [sa.Column("entity_id", sa.Text, primary_key=True)]
    columns += [sa.Column(c, _sql_type(frame[c])) for c in frame.columns if c != "entity_id"]
    return sa.Table(name, metadata, *columns)


def _records(frame: pd.DataFrame) -> list[dict]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v) for k, v in row.items()}
        for row in clean.to_dict(orient="records")
    ]


def upsert_sql(table: pd.DataFrame, url: str, model: str, chunk: int = 500) -> int:
    """Insert or update one row per entity in `lead_scores` / `account_health`; returns rows written."""
    engine = sa.create_engine(url)
    name = TABLE_OF_MODEL[model]
    metadata = sa.MetaData()
    target = _table(metadata, name, table)
    metadata.create_all(engine)
    dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(engine.dialect.name)
    if dialect is None:
        raise ValueError(f"SQL sink {engine.dialect.name} is not supported (use sqlite or postgresql)")
    records = _records(table)
    with engine.begin() as connection:
        for start in range(0, len(records), chunk):
            statement = dialect.insert(target).values(records[start:start + chunk])
            updates = {c.name: statement.excluded[c.name] for c in target.columns if c.name != "entity_id"}
            connection.execute(statement.on_conflict_do_update(index_elements=["entity_id"], set_=updates))
    engine.dispose()
    return len(records)


def count_rows(url: str, model: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        n = connection.execute(sa.text(f"select count(*) from {TABLE_OF_MODEL[model]}")).scalar_one()
    engine.dispose()
    return int(n)
