"""The same catalog gives the same features where the data already lives: DuckDB files and PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
from tiny import HORIZON, tiny_tables, ts

from features.config import FeaturesConfig
from features.dataset import build_dataset
from features.sources import DataError, open_data

POSTGRES_URL = os.environ.get("SIGNALSCORE_TEST_POSTGRES_URL")


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="set SIGNALSCORE_TEST_POSTGRES_URL to a PostgreSQL database "
                    "(.ci/run sets it to the local server) to compare the engine on PostgreSQL")
@pytest.mark.parametrize("model", ["conversion", "renewal"])
def test_postgres_tables_give_the_same_features_as_files(tiny_data, model):
    schema = f"signalscore_test_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as c:
        c.execute(sa.text(f"create schema {schema}"))
    try:
        for name, frame in tiny_tables().items():
            frame.to_sql(name, engine, schema=schema, index=False)
        url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        sep = "&" if "?" in url else "?"
        warehouse = open_data(f"{url}{sep}options=-csearch_path%3D{schema}", model=model, horizon=HORIZON)
        dates = [ts("2025-04-01"), ts("2025-06-01")]
        on_files = build_dataset(open_data(tiny_data), model, dates, FeaturesConfig())
        in_postgres = build_dataset(warehouse, model, dates, FeaturesConfig())
        pd.testing.assert_frame_equal(on_files, in_postgres, check_dtype=False, rtol=1e-9)
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f"drop schema {schema} cascade"))
        engine.dispose()


def test_a_database_without_the_required_tables_is_one_clear_error():
    with pytest.raises(DataError, match=r"cannot connect|not found"):
        open_data("postgresql://nobody@127.0.0.1:1/nothing", model="renewal")
