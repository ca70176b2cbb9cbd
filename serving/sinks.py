"""Where scores go: Parquet and CSV files, and SQL tables (SQLite or PostgreSQL) through SQLAlchemy 2.

`open_sink(target, model)` picks the sink from the target's form; `sink.write(table, run_id)` writes one scoring
run and says what happened in a `SinkResult`. Any sink that cannot be written raises `SinkError`, whose message
names the target with the password removed, so logs and CLI output never carry credentials.

Files are replaced atomically (temporary file + rename): readers see the previous file or the new one, never half
of one. SQL writes run in one transaction: the current score per entity is upserted into `lead_scores` /
`account_health` (only rows whose values changed are written, so a CRM that syncs on change is not flooded by
re-runs), and one row per entity is appended to `<table>_history`, keyed by (run_id, entity_id) so re-writing the
same run is a no-op. A failure anywhere rolls the whole write back, schema changes included.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from serving.config import CrmConfig

log = logging.getLogger(__name__)

TABLE_OF_MODEL = {"conversion": "lead_scores", "renewal": "account_health"}
HISTORY_SUFFIX = "_history"
# Bookkeeping columns that differ on every run of the same data: they must not make a row count as changed.
IGNORED_FOR_UNCHANGED = frozenset({"scored_at", "run_id"})
FLOAT_TOLERANCE = 1e-12
SUPPORTED_TARGETS = ("PATH.parquet", "PATH.csv", "sqlite:///PATH", "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB",
                     "postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DB", "hubspot://[HOST[:PORT]][/OBJECT]",
                     "salesforce://HOST[:PORT][/SOBJECT]")
CRM_SCHEMES = ("hubspot", "salesforce")  # written by serving.crm
_SQL_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgresql+psycopg": "postgresql"}


@dataclass
class SinkResult:
    """What one write did, for the job's log and ledger."""

    target: str  # the URL or path, with any password removed
    written: int  # rows inserted or updated in the current-score table (files: the file's rows)
    unchanged: int  # entities whose current row already held exactly these values (SQL only; files: 0)
    failed: int  # rows that could not be written: always 0 here, a write either succeeds whole or raises
    history: int  # rows appended to the history table (SQL only; 0 when the run_id was already written)
    added_columns: tuple[str, ...] = ()  # "table.column" added to existing tables because the schema grew
    dead_letter: str | None = None  # CRM sinks: the file listing the records that were not written, with reasons


class SinkError(RuntimeError):
    """A sink that cannot be written; the message names the target (password removed) and why."""


class Sink(Protocol):
    """Anything the scoring job can hand its serving table to."""

    def write(self, table: pd.DataFrame, run_id: str) -> SinkResult: ...


# --- targets and credentials -------------------------------------------------------------------------------------

# scheme://user:PASSWORD@host… — greedy up to the last "@", so a password containing "@" is hidden whole
# (a query holding "@" is over-redacted, which is the safe direction).
_USERINFO_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*:)(?P<password>.*)@")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with its password replaced by ***, so it can be logged; anything else is returned as it is."""
    hidden = _USERINFO_PASSWORD.sub(lambda m: f"{m['head']}***@", url, count=1)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}***", hidden)


def _scheme(target: str) -> str | None:
    return target.split("://", 1)[0].lower() if "://" in target else None


def _unsupported(target: str, why: str) -> SinkError:
    return SinkError(f"cannot write scores to {redact(target)!r}: {why}; supported targets: "
                     f"{', '.join(SUPPORTED_TARGETS)}")


def open_sink(target: str, model: str, *, crm: CrmConfig | None = None, state_dir: Path | None = None,
              progress: Callable[..., None] | None = None) -> Sink:
    """The sink for a target, chosen by its form; raises SinkError for anything it cannot write.

    Only the form is checked here (no connection is opened; a CRM sink checks that its token is set), so a job
    can validate all its sinks before scoring. CRM sinks keep their journal and dead-letter files in `state_dir`.
    """
    if model not in TABLE_OF_MODEL:
        raise SinkError(f"cannot write scores to {redact(target)!r}: unknown model {model!r} "
                        f"(expected one of {', '.join(TABLE_OF_MODEL)})")
    scheme = _scheme(target)
    if scheme in CRM_SCHEMES:
        from serving.crm import CrmSink  # the CRM module builds on this one

        if state_dir is None:
            raise SinkError(f"cannot write scores to {redact(target)}: a CRM sink needs a state folder for its "
                            "journal")
        return CrmSink(target, model, crm or CrmConfig(), state_dir, progress=progress)
    if scheme is not None:
        if scheme not in _SQL_SCHEMES:
            raise _unsupported(target, f"{scheme}:// is not a supported database or file form")
        return SqlSink(target, model)
    path = Path(target)
    suffix = path.suffix.lower()
    if suffix not in _FILE_SINKS:
        raise _unsupported(target, f"no known suffix ({suffix or 'none'})")
    if path.is_dir():
        raise SinkError(f"cannot write scores to {target!r}: it is a directory, expected a file path")
    return _FILE_SINKS[suffix](path)


# --- files --------------------------------------------------------------------------------------------------------

def _atomic_write(path: Path, dump: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, then rename over the target.

    The rename is atomic on one filesystem, so a reader (or a crash) sees either the old file or the new one. The
    temporary name is unique so two writers of the same file cannot clobber each other's half-written data.
    """
    if path.is_dir():
        raise SinkError(f"cannot write {path}: it is a directory, expected a file path")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            dump(tmp)
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())  # the data is on disk before the rename makes it visible
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise SinkError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except (ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid / ArrowTypeError: a column it cannot store
        raise SinkError(f"cannot write {path}: {exc}") from exc


def _utc(series: pd.Series) -> pd.Series:
    """Timestamps in UTC; naive ones are taken to be UTC already (the serving table's convention)."""
    return series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")


def _csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as ISO-8601 text with an explicit offset, so no reader guesses the time zone."""
    out = table.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = _utc(out[column]).map(lambda t: t.isoformat(), na_action="ignore").astype(object)
    return out


class _FileSink:
    """One file holding exactly the table given; `run_id` is not stored (the path identifies the run)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = str(path)

    def _dump(self, table: pd.DataFrame, tmp: Path) -> None:
        raise NotImplementedError

    def write(self, table: pd.DataFrame, run_id: str) -> SinkResult:
        _atomic_write(self.path, lambda tmp: self._dump(table, tmp))
        log.info("wrote %d rows to %s (run %s)", len(table), self.target, run_id)
        return SinkResult(self.target, written=len(table), unchanged=0, failed=0, history=0)


class ParquetSink(_FileSink):
    """Parquet keeps dtypes (time zones included), the format the scores folder and the report read."""

    def _dump(self, table: pd.DataFrame, tmp: Path) -> None:
        table.to_parquet(tmp, index=False)


class CsvSink(_FileSink):
    """CSV for tools that read nothing else; JSON columns stay JSON text, quoted by the CSV writer."""

    def _dump(self, table: pd.DataFrame, tmp: Path) -> None:
        _csv_frame(table).to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")


_FILE_SINKS: dict[str, type[_FileSink]] = {".parquet": ParquetSink, ".csv": CsvSink}


def write_parquet(table: pd.DataFrame, path: Path) -> Path:
    """Replace `path` with the table atomically, whatever its suffix (the scoring job's own score files)."""
    _atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
    return path


# --- SQL ----------------------------------------------------------------------------------------------------------

def _sql_type(series: pd.Series) -> sa.types.TypeEngine:
    if pd.api.types.is_datetime64_any_dtype(series):
        return sa.DateTime(timezone=True)
    if pd.api.types.is_bool_dtype(series):
        return sa.Boolean()
    if pd.api.types.is_float_dtype(series):
        return sa.Float(precision=53)
    if pd.api.types.is_integer_dtype(series):
        return sa.BigInteger()
    return sa.Text()


def _tables(frame: pd.DataFrame, current_name: str) -> tuple[sa.Table, sa.Table]:
    """The current-score table (one row per entity) and its append-only history (one row per run and entity)."""
    metadata = sa.MetaData()

    def values() -> list[sa.Column]:
        return [sa.Column(c, _sql_type(frame[c])) for c in frame.columns if c != "entity_id"]

    current = sa.Table(current_name, metadata, sa.Column("entity_id", sa.Text, primary_key=True), *values(),
                       sa.Column("run_id", sa.Text))
    history_name = f"{current_name}{HISTORY_SUFFIX}"
    history = sa.Table(history_name, metadata, sa.Column("run_id", sa.Text, primary_key=True),
                       sa.Column("entity_id", sa.Text, primary_key=True), *values(),
                       sa.Index(f"ix_{history_name}_entity_id", "entity_id"))  # one entity's past scores
    return current, history


def _python_values(series: pd.Series) -> list[Any]:
    """Plain Python values with None for missing ones: what every DBAPI driver binds without complaint."""
    missing = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series):
        # Both databases keep microseconds; flooring here makes the stored value equal the compared one.
        values = list(_utc(series).dt.floor("us").dt.to_pydatetime())
    elif pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype="float64", na_value=np.nan).tolist()
    else:
        values = [v.item() if isinstance(v, np.generic) else v for v in series.to_numpy(dtype=object)]
    return [None if m else v for v, m in zip(values, missing, strict=True)]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    names = list(frame.columns)
    columns = [_python_values(frame[c]) for c in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _same(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Per row: does the stored value equal the new one? Missing equals missing; floats within FLOAT_TOLERANCE."""
    new_missing = new.isna().to_numpy()
    old_missing = old.isna().to_numpy()
    both = ~new_missing & ~old_missing
    if pd.api.types.is_float_dtype(new):
        a = new.to_numpy(dtype="float64", na_value=np.nan)
        b = pd.to_numeric(old, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            equal = (a == b) | (np.abs(a - b) <= FLOAT_TOLERANCE)
    elif pd.api.types.is_datetime64_any_dtype(new):
        a = _utc(new).dt.floor("us").dt.tz_localize(None).to_numpy()
        # SQLite hands back naive UTC datetimes, PostgreSQL aware ones: utc=True reads both the same way.
        b = pd.to_datetime(old, utc=True, errors="coerce").dt.tz_localize(None).to_numpy()
        equal = a == b
    else:
        a = np.where(new_missing, None, new.to_numpy(dtype=object))
        b = np.where(old_missing, None, old.to_numpy(dtype=object))
        equal = np.array([x == y for x, y in zip(a, b, strict=True)], dtype=bool)
    return (new_missing & old_missing) | (both & equal)


def _plain_error(exc: BaseException, url: str) -> str:
    """The driver's own message on one line, without SQLAlchemy's SQL echo or any password."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc).split("\n(Background on this error")[0].split("\n[SQL:")[0]
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    try:
        password = sa.engine.make_url(url).password
    except sa.exc.ArgumentError:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text or type(exc).__name__


def _begin_immediate(engine: sa.Engine) -> None:
    """Make SQLite transactions real: BEGIN IMMEDIATE before anything, DDL included.

    Python's sqlite3 module neither begins a transaction before CREATE / ALTER nor takes the write lock up front;
    this is SQLAlchemy's documented recipe, with IMMEDIATE so a concurrent writer waits instead of deadlocking.
    """

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _engine(url: str, writer: bool = True) -> sa.Engine:
    """An engine for the URL; a writer's SQLite connections take the write lock when their transaction begins."""
    target = redact(url)
    try:
        engine = sa.create_engine(url)
    except ModuleNotFoundError as exc:
        raise SinkError(f"cannot write to {target}: its database driver ({exc.name}) is not installed "
                        "(for PostgreSQL: pip install 'signalscore[postgres]')") from exc
    except sa.exc.ArgumentError as exc:
        raise SinkError(f"cannot write to {target}: not a valid database URL ({_plain_error(exc, url)})") from exc
    if writer and engine.dialect.name == "sqlite":
        _begin_immediate(engine)
    return engine


def _insert(connection: sa.Connection) -> Callable[[sa.Table], Any]:
    """The dialect's INSERT, the one with ON CONFLICT."""
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SqlSink:
    """Current scores and their history in one SQLite or PostgreSQL database."""

    def __init__(self, url: str, model: str, chunk: int = 500) -> None:
        if _SQL_SCHEMES.get(_scheme(url) or "") is None:
            raise _unsupported(url, "not an SQL URL")
        if model not in TABLE_OF_MODEL:
            raise SinkError(f"cannot write to {redact(url)}: unknown model {model!r}")
        self.url = url
        self.model = model
        self.chunk = chunk
        self.target = redact(url)
        self.table_name = TABLE_OF_MODEL[model]

    def write(self, table: pd.DataFrame, run_id: str) -> SinkResult:
        """Upsert the changed current scores and append the run to the history, all in one transaction."""
        frame = self._checked(table, run_id)
        engine = _engine(self.url)
        try:
            try:
                connection = engine.connect()
            except sa.exc.SQLAlchemyError as exc:
                raise SinkError(f"cannot connect to {self.target}: {_plain_error(exc, self.url)}") from exc
            with connection:
                try:
                    with connection.begin():
                        result = self._write(connection, frame, run_id)
                except sa.exc.SQLAlchemyError as exc:
                    raise SinkError(f"cannot write to {self.target} (rolled back, nothing was written): "
                                    f"{_plain_error(exc, self.url)}") from exc
        finally:
            engine.dispose()
        log.info("%s: %d rows written, %d unchanged, %d appended to %s%s (run %s)", self.target, result.written,
                 result.unchanged, result.history, self.table_name, HISTORY_SUFFIX, run_id)
        return result

    def _checked(self, table: pd.DataFrame, run_id: str) -> pd.DataFrame:
        """Refuse tables the upsert would mangle: without entity ids, with repeated ones, or with our run_id."""
        if not isinstance(run_id, str) or not run_id:
            raise SinkError(f"cannot write to {self.target}: run_id must be a non-empty string")
        if "entity_id" not in table.columns:
            raise SinkError(f"cannot write to {self.target}: the table has no entity_id column")
        if "run_id" in table.columns:
            raise SinkError(f"cannot write to {self.target}: the table already has a run_id column; "
                            "the sink adds it from the run_id argument")
        if table["entity_id"].isna().any():
            raise SinkError(f"cannot write to {self.target}: {int(table['entity_id'].isna().sum())} rows have no "
                            "entity_id")
        frame = table.reset_index(drop=True)
        frame["entity_id"] = frame["entity_id"].astype(str)
        repeated = frame["entity_id"][frame["entity_id"].duplicated()].unique().tolist()
        if repeated:
            raise SinkError(f"cannot write to {self.target}: entity_id must be unique (one current score per "
                            f"entity), repeated: {', '.join(repeated[:5])}{' …' if len(repeated) > 5 else ''}")
        return frame

    def _write(self, connection: sa.Connection, frame: pd.DataFrame, run_id: str) -> SinkResult:
        dialect = connection.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise SinkError(f"cannot write to {self.target}: {dialect} is not supported (use sqlite or postgresql)")
        current, history = _tables(frame, self.table_name)
        added = self._ensure(connection, current) + self._ensure(connection, history)
        compared = [c for c in frame.columns if c != "entity_id" and c not in IGNORED_FOR_UNCHANGED]
        stored = self._stored(connection, current, frame["entity_id"].tolist(), compared)
        changed = self._changed(frame, stored, compared)
        records = _records(frame)
        for record in records:
            record["run_id"] = run_id
        self._upsert(connection, current, [r for r, c in zip(records, changed, strict=True) if c])
        appended = self._append_history(connection, history, records)
        written = int(changed.sum())
        return SinkResult(self.target, written=written, unchanged=len(frame) - written, failed=0, history=appended,
                          added_columns=tuple(added))

    def _ensure(self, connection: sa.Connection, table: sa.Table) -> list[str]:
        """Create the table, or add the columns it lacks: a new factor group must not stop the nightly job."""
        inspector = sa.inspect(connection)
        if not inspector.has_table(table.name):
            table.create(connection)
            return []
        existing = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in existing]
        quote = connection.dialect.identifier_preparer.quote
        for column in missing:
            if column.primary_key:
                raise SinkError(f"cannot write to {self.target}: table {table.name} exists without the key column "
                                f"{column.name}; it was not created by signalscore")
            type_ = column.type.compile(dialect=connection.dialect)
            ddl = f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {type_}"
            connection.execute(sa.DDL(ddl.replace("%", "%%")))
        if missing:
            log.warning("%s: added columns %s to %s", self.target, ", ".join(c.name for c in missing), table.name)
        return [f"{table.name}.{c.name}" for c in missing]

    def _stored(self, connection: sa.Connection, current: sa.Table, entity_ids: list[str],
                columns: list[str]) -> pd.DataFrame:
        """The current rows of these entities, read in chunks; locked on PostgreSQL until the commit."""
        selected = [current.c.entity_id, *(current.c[c] for c in columns)]
        rows: list[Any] = []
        for ids in _chunks(entity_ids, self.chunk):
            query = sa.select(*selected).where(current.c.entity_id.in_(ids))
            if connection.dialect.name == "postgresql":
                query = query.with_for_update()  # no other writer changes them between the compare and the write
            rows.extend(tuple(row) for row in connection.execute(query))
        return pd.DataFrame.from_records(rows, columns=["entity_id", *columns]).set_index("entity_id")

    @staticmethod
    def _changed(frame: pd.DataFrame, stored: pd.DataFrame, columns: list[str]) -> np.ndarray:
        """Per row of the frame: new entity, or some compared value differs from the stored one."""
        old = stored.reindex(pd.Index(frame["entity_id"], dtype=object))
        changed = ~frame["entity_id"].isin(stored.index).to_numpy()
        for column in columns:
            changed |= ~_same(frame[column].reset_index(drop=True), old[column].reset_index(drop=True))
        return changed

    def _upsert(self, connection: sa.Connection, current: sa.Table, records: list[dict[str, Any]]) -> None:
        """INSERT … ON CONFLICT (entity_id) DO UPDATE, one executemany per chunk of rows.

        executemany compiles the statement once; a multi-row VALUES clause would be compiled again per chunk,
        which costs far more than the database's work at these sizes.
        """
        if not records:
            return
        statement = _insert(connection)(current)
        updates = {name: statement.excluded[name] for name in records[0] if name != "entity_id"}
        statement = statement.on_conflict_do_update(index_elements=["entity_id"], set_=updates)
        for chunk in _chunks(records, self.chunk):
            connection.execute(statement, list(chunk))

    def _append_history(self, connection: sa.Connection, history: sa.Table, records: list[dict[str, Any]]) -> int:
        """Insert the run's rows; rows of a run_id already written are skipped, so re-writing a run adds nothing."""
        if not records:
            return 0
        statement = _insert(connection)(history).on_conflict_do_nothing(index_elements=["run_id", "entity_id"])
        # Counted, not summed from rowcount: psycopg's executemany reports -1. RETURNING would be exact too but is
        # several times slower on PostgreSQL; the (run_id, entity_id) key makes these counts index-only.
        count = sa.select(sa.func.count()).select_from(history).where(history.c.run_id == records[0]["run_id"])
        before = connection.execute(count).scalar_one()
        for chunk in _chunks(records, self.chunk):
            connection.execute(statement, list(chunk))
        return int(connection.execute(count).scalar_one() - before)


# --- the first API, kept for its callers --------------------------------------------------------------------------

def content_run_id(table: pd.DataFrame) -> str:
    """A run id derived from the table's contents: writing the very same table twice is the same run."""
    digest = hashlib.sha256("\x1f".join(map(str, table.columns)).encode())
    try:
        digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to their text
        digest.update(table.to_csv(index=False).encode())
    return f"content-{digest.hexdigest()[:16]}"


def upsert_sql(table: pd.DataFrame, url: str, model: str, chunk: int = 500) -> int:
    """Write the table to `lead_scores` / `account_health` (and its history) under a content-derived run id.

    Returns the rows now current for these entities (written + unchanged, i.e. len(table)), as it always did; use
    `open_sink(url, model).write(table, run_id)` for the split and a real run id.
    """
    result = SqlSink(url, model, chunk=chunk).write(table, content_run_id(table))
    return result.written + result.unchanged


def count_rows(url: str, model: str) -> int:
    """Rows in the model's current-score table: one per entity ever scored."""
    engine = _engine(url, writer=False)
    try:
        with engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(sa.table(TABLE_OF_MODEL[model]))
            return int(connection.execute(query).scalar_one())
    except sa.exc.SQLAlchemyError as exc:
        raise SinkError(f"cannot count rows in {redact(url)}: {_plain_error(exc, url)}") from exc
    finally:
        engine.dispose()
