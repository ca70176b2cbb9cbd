"""Sinks: files replaced whole, SQL current scores upserted only when they change, history appended once per run.

The SQL cases run on SQLite always and on PostgreSQL when SIGNALSCORE_TEST_POSTGRES_URL names a server, each in a
schema of its own there, so runs never collide with each other or touch anyone's real tables.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from serving import sinks
from serving.sinks import SinkError, SqlSink, count_rows, open_sink, redact, upsert_sql

POSTGRES_URL = os.environ.get("SIGNALSCORE_TEST_POSTGRES_URL")
NEEDS_POSTGRES = pytest.mark.skipif(
    not POSTGRES_URL, reason="set SIGNALSCORE_TEST_POSTGRES_URL to a PostgreSQL database (.ci/run sets it to the "
    "local server) to run the PostgreSQL sink tests")
REASONS = json.dumps([{"feature": "logins_30d", "group": "usage", "value": 3.0, "points": -1.25,
                       "sentence": 'Logins fell to 3, "well below" peers, this month'}])


def _table(version: str = "1", score: float = 80.0, scored_at: str = "2025-06-02 03:00") -> pd.DataFrame:
    """A small serving table with every kind of §7 column: floats with a gap, JSON text, None, UTC timestamps."""
    return pd.DataFrame({
        "entity_id": ["A1", "A2", "A3"],
        "as_of": pd.Timestamp("2025-06-01", tz="UTC"),
        "model": "renewal",
        "model_version": version,
        "probability": [score / 100, 0.5, np.nan],
        "score": [score, 50.0, np.nan],
        "band": ["healthy", "at_risk", None],
        "points_usage": [1.5, -2.25, np.nan],
        "reasons": [REASONS, "[]", "[]"],
        "change_reasons": [None, '[{"group": "usage", "points": -1.0}]', None],
        "scored_at": pd.Timestamp(scored_at, tz="UTC"),
    })


def _read(url: str, table: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return pd.read_sql(sa.text(f"select * from {table} order by 1, 2"), c)
    finally:
        engine.dispose()


def _postgres_schema_url() -> Iterator[str]:
    assert POSTGRES_URL
    schema = f"signalscore_test_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as c:
        c.execute(sa.text(f"create schema {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f"drop schema {schema} cascade"))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, NEEDS_POSTGRES])])
def sql_url(request, tmp_path) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.db'}"
    else:
        yield from _postgres_schema_url()


# --- files ---------------------------------------------------------------------------------------------------------

def test_parquet_round_trip_keeps_values_and_types(tmp_path):
    path = tmp_path / "out" / "scores.parquet"
    result = open_sink(str(path), "renewal").write(_table(), "r1")
    assert (result.written, result.unchanged, result.failed, result.history) == (3, 0, 0, 0)
    assert result.target == str(path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), _table())
    assert [p.name for p in path.parent.iterdir()] == ["scores.parquet"]  # no temporary file left behind


def test_csv_round_trip_keeps_json_text_and_offsets(tmp_path):
    path = tmp_path / "scores.csv"
    open_sink(str(path), "renewal").write(_table(), "r1")
    raw = path.read_text()
    assert "2025-06-02T03:00:00+00:00" in raw and "2025-06-01T00:00:00+00:00" in raw
    back = pd.read_csv(path)
    original = _table()
    assert [json.loads(r) for r in back.reasons] == [json.loads(r) for r in original.reasons]
    assert json.loads(back.change_reasons[1]) == [{"group": "usage", "points": -1.0}]
    assert back.change_reasons.isna().tolist() == [True, False, True]
    for column in ["probability", "score", "points_usage"]:
        np.testing.assert_allclose(back[column], original[column], rtol=0, atol=1e-12)
    assert (pd.to_datetime(back.scored_at, utc=True) == original.scored_at).all()
    assert back.band.tolist()[:2] == ["healthy", "at_risk"]


def test_file_rewrite_replaces_the_whole_file(tmp_path):
    path = tmp_path / "scores.parquet"
    sink = open_sink(str(path), "renewal")
    sink.write(_table(), "r1")
    sink.write(_table().iloc[:1], "r2")
    assert len(pd.read_parquet(path)) == 1


def test_file_targets_that_cannot_be_written_are_refused(tmp_path):
    folder = tmp_path / "scores.parquet"
    folder.mkdir()
    with pytest.raises(SinkError, match="directory"):
        open_sink(str(folder), "renewal")
    with pytest.raises(SinkError, match=r"scores\.txt.*no known suffix.*sqlite:///"):
        open_sink(str(tmp_path / "scores.txt"), "renewal")


@pytest.mark.parametrize("target", ["mysql://u:secret@db/crm", "s3://bucket/scores.parquet", "crm", ""])
def test_unsupported_target_names_it_and_the_supported_forms(target):
    with pytest.raises(SinkError) as error:
        open_sink(target, "renewal")
    message = str(error.value)
    assert repr(redact(target)) in message and "postgresql://" in message and ".parquet" in message
    assert "secret" not in message


def test_unknown_model_is_refused():
    with pytest.raises(SinkError, match="unknown model 'churn'"):
        open_sink("sqlite:///crm.db", "churn")


# --- credentials ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
    ("postgresql+psycopg://svc:p%40ss:w@db.internal:5433/crm?sslmode=require",
     "postgresql+psycopg://svc:***@db.internal:5433/crm?sslmode=require"),
    ("postgresql://svc:p@ss@host/db", "postgresql://svc:***@host/db"),
    ("postgresql://host/db?user=svc&password=secret&sslmode=require",
     "postgresql://host/db?user=svc&password=***&sslmode=require"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
    ("sqlite:////var/crm.db", "sqlite:////var/crm.db"),
    ("/data/scores.parquet", "/data/scores.parquet"),
])
def test_redact_hides_passwords_only(url, shown):
    assert redact(url) == shown


def test_connection_error_is_plain_and_hides_the_password():
    sink = open_sink("postgresql+psycopg://svc:hunter2@127.0.0.1:1/crm?connect_timeout=2", "renewal")
    with pytest.raises(SinkError) as error:
        sink.write(_table(), "r1")
    message = str(error.value)
    assert "postgresql+psycopg://svc:***@127.0.0.1:1/crm" in message and "hunter2" not in message
    assert "[SQL:" not in message and "\n" not in message


def test_sqlite_file_that_cannot_be_opened_is_a_sink_error(tmp_path):
    with pytest.raises(SinkError, match=r"cannot connect to sqlite:///.*missing.*unable to open database file"):
        open_sink(f"sqlite:///{tmp_path / 'missing' / 'crm.db'}", "renewal").write(_table(), "r1")


# --- SQL -----------------------------------------------------------------------------------------------------------

def test_same_write_twice_is_unchanged_and_history_is_once_per_run(sql_url):
    sink = open_sink(sql_url, "renewal")
    first = sink.write(_table(), "r1")
    assert (first.written, first.unchanged, first.failed, first.history) == (3, 0, 0, 3)
    again = sink.write(_table(), "r1")  # the same run written twice: nothing new anywhere
    assert (again.written, again.unchanged, again.history) == (0, 3, 0)
    rescored = sink.write(_table(scored_at="2025-06-03 03:00"), "r2")  # same data scored again, a new run
    assert (rescored.written, rescored.unchanged, rescored.history) == (0, 3, 3)

    current = _read(sql_url, "account_health")
    assert sorted(current.entity_id) == ["A1", "A2", "A3"] and count_rows(sql_url, "renewal") == 3
    assert set(current.run_id) == {"r1"}  # unchanged rows keep the run that last changed them
    history = _read(sql_url, "account_health_history")
    assert history.groupby("run_id").entity_id.apply(sorted).to_dict() == {"r1": ["A1", "A2", "A3"],
                                                                            "r2": ["A1", "A2", "A3"]}
    a1 = current.set_index("entity_id").loc["A1"]
    assert a1.reasons == REASONS and json.loads(a1.reasons)[0]["points"] == -1.25
    assert pd.isna(current.set_index("entity_id").loc["A3", "score"])


def test_changed_score_is_written_and_float_noise_is_not(sql_url):
    sink = open_sink(sql_url, "renewal")
    sink.write(_table(), "r1")
    noisy = _table()
    noisy["points_usage"] = noisy["points_usage"] + 1e-14
    assert sink.write(noisy, "r2").unchanged == 3
    changed = _table(version="2", score=70.0)
    changed["model_version"] = ["2", "1", "1"]  # only A1 differs now
    result = sink.write(changed, "r3")
    assert (result.written, result.unchanged, result.history) == (1, 2, 3)
    current = _read(sql_url, "account_health").set_index("entity_id")
    assert (current.loc["A1", "score"], current.loc["A1", "model_version"], current.loc["A1", "run_id"]) == \
        (70.0, "2", "r3")
    assert current.loc["A2", "run_id"] == "r1"
    only_new = sink.write(pd.concat([changed, _table().assign(entity_id="B9").iloc[:1]]), "r4")
    assert (only_new.written, only_new.unchanged) == (1, 3)


def test_a_grown_table_gets_its_new_column(sql_url):
    sink = open_sink(sql_url, "renewal")
    sink.write(_table(), "r1")
    grown = _table()
    grown.insert(8, "points_support", [0.5, -0.5, np.nan])
    result = sink.write(grown, "r2")
    assert set(result.added_columns) == {"account_health.points_support",
                                         "account_health_history.points_support"}
    assert (result.written, result.unchanged) == (2, 1)  # A3's new value is missing, as the added column's is
    current = _read(sql_url, "account_health").set_index("entity_id")
    assert current.loc["A1", "points_support"] == 0.5 and current.loc["A2", "points_support"] == -0.5
    history = _read(sql_url, "account_health_history")
    assert history.points_support.notna().sum() == 2 and len(history) == 6


def test_a_failed_write_leaves_both_tables_as_they_were(sql_url, monkeypatch):
    sink = open_sink(sql_url, "renewal")
    sink.write(_table(), "r1")
    before = (_read(sql_url, "account_health"), _read(sql_url, "account_health_history"))

    def fail(*_args, **_kwargs):  # the current rows are upserted by now, inside the transaction
        raise RuntimeError("disk full")

    monkeypatch.setattr(SqlSink, "_append_history", fail)
    grown = _table(version="2", score=10.0)
    grown["points_new"] = 1.0
    with pytest.raises(RuntimeError, match="disk full"):
        sink.write(grown, "r2")
    pd.testing.assert_frame_equal(_read(sql_url, "account_health"), before[0])  # no new column either
    pd.testing.assert_frame_equal(_read(sql_url, "account_health_history"), before[1])


def test_a_database_error_mid_write_is_a_sink_error_and_rolls_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    sink = open_sink(url, "renewal")
    sink.write(_table(), "r1")
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("create trigger refuse before insert on account_health_history when new.entity_id = 'A3' "
                          "begin select raise(abort, 'A3 refused'); end"))
    engine.dispose()
    before = (_read(url, "account_health"), _read(url, "account_health_history"))
    with pytest.raises(SinkError, match=r"sqlite:///.*rolled back, nothing was written.*A3 refused"):
        sink.write(_table(version="2", score=10.0), "r2")
    pd.testing.assert_frame_equal(_read(url, "account_health"), before[0])
    pd.testing.assert_frame_equal(_read(url, "account_health_history"), before[1])


def test_repeated_entities_are_refused_before_writing(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with pytest.raises(SinkError, match="repeated: A1"):
        open_sink(url, "renewal").write(pd.concat([_table(), _table().iloc[:1]]), "r1")
    assert not (tmp_path / "crm.db").exists()  # refused before connecting


def test_many_rows_are_written_in_chunks(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    big = pd.concat([_table().assign(entity_id=[f"{e}-{i}" for e in "ABC"]) for i in range(700)], ignore_index=True)
    result = SqlSink(url, "conversion", chunk=500).write(big, "r1")
    assert (result.written, result.history) == (2100, 2100) and count_rows(url, "conversion") == 2100
    assert SqlSink(url, "conversion", chunk=500).write(big, "r1").unchanged == 2100


# --- the first API, still used by the scoring job -------------------------------------------------------------------

def _check_idempotent_upsert(url: str) -> None:
    assert upsert_sql(_table("1", 80.0), url, "renewal") == 3
    assert upsert_sql(_table("1", 80.0), url, "renewal") == 3
    assert upsert_sql(_table("2", 70.0), url, "renewal") == 3
    assert count_rows(url, "renewal") == 3
    engine = sa.create_engine(url)
    with engine.connect() as c:
        row = c.execute(sa.text("select model_version, score from account_health where entity_id = 'A1'")).one()
        runs = c.execute(sa.text("select count(distinct run_id) from account_health_history")).scalar_one()
    engine.dispose()
    assert tuple(row) == ("2", 70.0) and runs == 2  # the same table twice is one run


def test_upsert_sql_is_idempotent(sql_url):
    _check_idempotent_upsert(sql_url)


def test_upsert_sql_upgrades_a_table_written_by_the_first_version(tmp_path):
    """Tables from before the history existed have no run_id column: it is added, not an error."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("create table account_health (entity_id text primary key, score float)"))
        c.execute(sa.text("insert into account_health values ('A1', 80.0), ('Z9', 1.0)"))
    engine.dispose()
    result = open_sink(url, "renewal").write(_table(), "r1")
    assert "account_health.run_id" in result.added_columns and result.written == 3
    assert count_rows(url, "renewal") == 4  # entities not scored this time keep their last score


def test_write_parquet_still_writes_any_suffix(tmp_path):
    path = sinks.write_parquet(_table(), tmp_path / "2025-06-01.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), _table())
