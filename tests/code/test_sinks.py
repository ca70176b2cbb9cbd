"""SQL sinks upsert one row per entity: re-running the same scoring never duplicates rows."""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

from serving.sinks import count_rows, upsert_sql

POSTGRES_URL = os.environ.get("SIGNALSCORE_TEST_POSTGRES_URL")


def _table(version: str, score: float) -> pd.DataFrame:
    return pd.DataFrame({
        "entity_id": ["A1", "A2", "A3"],
        "as_of": pd.Timestamp("2025-06-01", tz="UTC"),
        "model_version": version,
        "score": [score, 50.0, None],
        "reasons": ["[]", "[]", "[]"],
    })


def _check_idempotent_upsert(url: str) -> None:
    assert upsert_sql(_table("1", 80.0), url, "renewal") == 3
    assert upsert_sql(_table("2", 70.0), url, "renewal") == 3
    assert count_rows(url, "renewal") == 3
    engine = sa.create_engine(url)
    with engine.connect() as c:
        row = c.execute(sa.text("select model_version, score from account_health where entity_id = 'A1'")).one()
    engine.dispose()
    assert tuple(row) == ("2", 70.0)


def test_sqlite_upsert_is_idempotent(tmp_path):
    _check_idempotent_upsert(f"sqlite:///{tmp_path / 'crm.db'}")


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="set SIGNALSCORE_TEST_POSTGRES_URL to a PostgreSQL database "
                    "(.ci/run sets it to the local server) to run the PostgreSQL sink test")
def test_postgres_upsert_is_idempotent():
    """In a schema of its own, so the test never touches anyone's real tables."""
    schema = f"signalscore_test_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as c:
        c.execute(sa.text(f"create schema {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        _check_idempotent_upsert(f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}")
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f"drop schema {schema} cascade"))
        engine.dispose()
