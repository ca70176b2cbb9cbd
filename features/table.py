"""Bring your own table: one prepared row per entity snapshot (CSV or Parquet) turned into a training set.

A user who already has a table such as the Telco churn export trains from it with `--table FILE --label COLUMN`.
This module reads the file and decides, column by column, what the model may use, in a way the user can audit:
every ignored or converted column and every set-aside row is named in `notes` (for the run log) or in
`rejected` (for the workspace), never dropped silently. Each kept column becomes an "attribute" catalog entry, so
training, explanation and the run log treat it like any feature the engine builds.

Nothing here writes files or depends on randomness: the same file and options give the same table. The caller
decides where `rejected` goes and, when there is no time column, splits at random (see `training.splits`).
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from features.catalog import Entity, Feature
from features.sources import DataError

MODEL_ENTITY: dict[str, Entity] = {"renewal": "account", "conversion": "lead"}
RESERVED = ("entity_id", "as_of", "label")  # the frame's own columns; a feature may not take these names
POSITIVE_TOKENS = frozenset({"yes", "y", "true", "t", "1"})
NEGATIVE_TOKENS = frozenset({"no", "n", "false", "f", "0"})
NUMERIC_SHARE = 0.99  # a text column is numeric when this share of its non-blank values parse as numbers
ID_SHARE, ID_MIN_ROWS = 0.95, 50  # a text column with a distinct value on this share of > this many rows is an id
SAFE_NAME = re.compile(r"[A-Za-z0-9_]+")
OTHER = "Other"
AS_OF_DTYPE = "datetime64[us, UTC]"


class TableError(DataError):
    """A prepared table signalscore cannot train from; the message names the file, the column and the rows."""


@dataclass
class PreparedTable:
    """A prepared table ready for training, with everything that was set aside or changed on the way."""

    frame: pd.DataFrame  # entity_id (str), as_of (UTC, all NaT without a time column), features, label (0/1)
    catalog: list[Feature]  # one "attribute" entry per feature column, in file order
    rejected: pd.DataFrame  # the file's rows that were set aside: `row` (1-based data row), `reason`, raw columns
    notes: list[str] = field(default_factory=list)  # plain English, for the run log
    has_time: bool = False


def read_prepared_table(path: Path, model: str, label: str, positive: str | None = None,
                        id_column: str | None = None, time_column: str | None = None,
                        groups: Path | None = None) -> PreparedTable:
    """Read a prepared table and derive the label, the snapshot keys and one catalog entry per usable column.

    Problems that make training meaningless (no such file or column, a label that is not binary, a bad
    groups.yaml) raise `TableError`; problems of single rows (no label, an unreadable time) set the row aside in
    `rejected` with a reason, because one bad row should not stop a table of thousands.
    """
    path = Path(path)
    if model not in MODEL_ENTITY:
        raise TableError(f"{path.name}: unknown model {model!r}; expected one of {', '.join(MODEL_ENTITY)}")
    raw = read_raw_table(path, id_column)
    if raw.empty:
        raise TableError(f"{path.name} has no data rows")
    notes = [f"Read {len(raw):,} rows and {raw.shape[1]} columns from {path.name}."]
    label = _resolve_column(raw, label, "label", path, notes)
    id_col = _resolve_column(raw, id_column, "id", path, notes) if id_column else None
    time_col = _resolve_column(raw, time_column, "time", path, notes) if time_column else None
    roles = {"label": label, "id": id_col, "time": time_col}
    chosen = [c for c in roles.values() if c is not None]
    if len(set(chosen)) < len(chosen):
        named = ", ".join(f"--{role} {c}" for role, c in roles.items() if c is not None)
        raise TableError(f"{path.name}: the label, id and time must be different columns ({named})")

    reasons: list[list[str]] = [[] for _ in range(len(raw))]
    y = _labels(raw[label], label, positive, path, notes)
    _reject(reasons, y.isna(), f"missing label ({label})")
    entity_id = _entity_ids(raw, id_col, reasons)
    as_of = _times(raw, time_col, path, reasons)

    bad = np.array([bool(r) for r in reasons])
    rejected = _rejected_rows(raw, bad, reasons)
    if bad.all():
        raise TableError(f"{path.name}: every row was set aside; first reasons: "
                         f"{'; '.join(dict.fromkeys(rejected.reason.head(50)))}")
    if bad.any():
        by_reason = rejected.reason.str.split("; ").explode().value_counts()
        listed = ", ".join(f"{n:,} with {r}" for r, n in by_reason.items())
        notes.append(f"Set aside {bad.sum():,} of {len(raw):,} rows ({listed}); they are listed with the reason in "
                     "the rejected rows.")
    keep = ~bad
    kept = raw[keep].reset_index(drop=True)

    features = [c for c in raw.columns if c not in chosen]
    columns, ignored = _analyse_columns(raw, kept, features, notes)
    if not columns:
        raise TableError(f"{path.name}: no column is left to learn from (besides {', '.join(chosen)}); "
                         f"ignored: {'; '.join(ignored) or 'none'}")
    names = _safe_names(list(columns), notes)
    group_of = _read_groups(groups, raw.columns, chosen, names, notes) if groups else {}
    catalog = [_feature(c, names[c], MODEL_ENTITY[model], group_of.get(c, OTHER), path.name, columns[c])
               for c in columns]
    if groups is None:
        notes.append(f"All {len(catalog)} features are in group {OTHER} (pass --groups groups.yaml to group them).")

    frame = pd.concat([
        pd.DataFrame({"entity_id": entity_id[keep].reset_index(drop=True),
                      "as_of": as_of[keep].reset_index(drop=True)}),
        table_features(kept, catalog),
        pd.DataFrame({"label": y[keep].to_numpy(dtype="float64")}),
    ], axis=1)
    if time_col is None:
        notes.append("No time column: training will split the rows at random, stratified by label, keeping identical "
                     "rows together; the test score then says how well the model ranks rows like these, not how it "
                     "does on later data.")
    _note_duplicates(frame, id_col, time_col, notes)
    return PreparedTable(frame=frame, catalog=catalog, rejected=rejected, notes=notes, has_time=time_col is not None)


def read_raw_table(path: Path, id_column: str | None = None) -> pd.DataFrame:
    """The file as pandas reads it (ids as text, so "00123" keeps its zeros); column names as strings."""
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        raise TableError(f"table {path} does not exist" if not path.exists() else f"table {path} is not a file")
    if not name.endswith((".csv", ".csv.gz", ".parquet")):
        raise TableError(f"{path.name}: expected a .csv, .csv.gz or .parquet file")
    try:
        raw = pd.read_parquet(path) if name.endswith(".parquet") else _read_csv(path, id_column)
    except UnicodeDecodeError:
        raise TableError(f"{path.name} is not UTF-8 text; save it as UTF-8 CSV") from None
    except (ValueError, OSError, pd.errors.ParserError) as error:  # ParserError, ArrowInvalid are ValueErrors
        raise TableError(f"{path.name} cannot be read: {error}") from None
    raw.columns = [str(c) for c in raw.columns]
    return raw.reset_index(drop=True)


def _read_csv(path: Path, id_column: str | None) -> pd.DataFrame:
    dtype = {id_column: str} if id_column else None
    raw = pd.read_csv(path, dtype=dtype, low_memory=False)
    if raw.shape[1] == 1:  # a semicolon- or tab-separated export read as one column
        for sep in (";", "\t"):
            if sep in str(raw.columns[0]):
                return pd.read_csv(path, sep=sep, dtype=dtype, low_memory=False)
    return raw


def table_features(raw: pd.DataFrame, catalog: list[Feature]) -> pd.DataFrame:
    """The catalog's feature columns from a raw table, converted exactly as for training.

    Scoring new rows of the same table must apply the same conversions (text numbers → float, blank → missing,
    categories → strings with None for missing), so this is the one place that does them.
    """
    missing = [f.column for f in catalog if f.column not in raw.columns]
    if missing:
        raise TableError(f"the table lacks the model's column(s) {', '.join(map(str, missing))}")
    return pd.DataFrame({f.name: _as_category(raw[f.column]) if f.categorical else _as_number(raw[f.column])
                         for f in catalog}, index=raw.index)


def _as_number(values: pd.Series) -> pd.Series:
    """float64 with NaN for blanks, text that is not a number and ±inf (which LightGBM would treat as a value)."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        text = _text(values)
        numbers = pd.to_numeric(text, errors="coerce")
    else:
        numbers = values
    out = pd.Series(np.asarray(numbers, dtype="float64"), index=values.index)
    return out.where(np.isfinite(out), np.nan)


def _as_category(values: pd.Series) -> pd.Series:
    """Strings as the engine writes categories: object dtype, None (never "nan") where missing or blank."""
    text = _text(values)
    return text.astype(object).where(text.notna(), None)


def _text(values: pd.Series) -> pd.Series:
    """Each present value as text (bools as "True"/"False"); missing and blank text as missing."""
    out = pd.Series(None, index=values.index, dtype=object)
    present = values.notna()
    if present.any():
        text = values[present].astype(str)
        out[present] = text.where(text.str.strip() != "", None).astype(object)
    return out


def _resolve_column(raw: pd.DataFrame, wanted: str, role: str, path: Path, notes: list[str]) -> str:
    """The column the user named, tolerating case and surrounding spaces; else an error with the closest name."""
    columns = list(raw.columns)
    if wanted in columns:
        return wanted
    loose = [c for c in columns if c.strip().lower() == wanted.strip().lower()]
    if len(loose) == 1:
        notes.append(f"Took column {loose[0]!r} as the {role} column for --{role} {wanted!r}.")
        return loose[0]
    close = difflib.get_close_matches(wanted, columns, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise TableError(f"{path.name}: no {role} column {wanted!r}{hint} Columns: {_listing(columns, 30)}")


def _token(value: object) -> str | None:
    """A label value as a comparable token: trimmed, lower case, 1.0 → "1"; None when missing or blank."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(float(value))
    text = str(value).strip().lower()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _labels(values: pd.Series, column: str, positive: str | None, path: Path, notes: list[str]) -> pd.Series:
    """1.0 / 0.0 per row, NaN where the label is missing; raises unless the column has exactly two outcomes."""
    tokens = values.map(_token).astype(object)
    present = tokens.dropna()
    where = f"label column {column!r} of {path.name}"
    if present.empty:
        raise TableError(f"{where} has no values")
    spelling = _spellings(values, tokens)
    counts = present.value_counts()
    found = ", ".join(f"{spelling[t]!r} ({n:,})" for t, n in counts.head(10).items())
    found += f" and {len(counts) - 10} more" if len(counts) > 10 else ""
    if len(counts) > 2:
        raise TableError(f"{where} is not binary: it has {len(counts)} distinct values: {found}; map it to two "
                         "outcomes first (e.g. Yes/No)")
    if positive is not None:
        wanted = _token(positive)
        if wanted not in counts.index:
            raise TableError(f"{where}: --positive {positive!r} is not one of its values: {found}")
        if len(counts) < 2:
            raise TableError(f"{where} is not binary: every labelled row is {found}; training needs both outcomes")
        y = (tokens == wanted).astype("float64")
    else:
        unknown = [t for t in counts.index if t not in POSITIVE_TOKENS | NEGATIVE_TOKENS]
        if unknown:
            raise TableError(f"{where} is not binary as yes/no, true/false or 1/0: values found: {found}; pass "
                             "--positive VALUE to say which value is the positive outcome")
        sides = {t in POSITIVE_TOKENS for t in counts.index}
        if len(sides) < 2:  # one value, or two spellings of one side such as "yes" and "y"
            raise TableError(f"{where} is not binary: every labelled row is one outcome ({found}); training needs "
                             "both")
        wanted = next(t for t in counts.index if t in POSITIVE_TOKENS)
        y = tokens.isin(list(POSITIVE_TOKENS)).astype("float64")
    y[tokens.isna()] = np.nan
    other = next(t for t in counts.index if t != wanted)
    notes.append(f"Label {column}: {spelling[wanted]!r} is the positive outcome (1) and {spelling[other]!r} is 0; "
                 f"{counts[wanted] / len(present):.1%} of {len(present):,} labelled rows are positive.")
    return y


def _spellings(values: pd.Series, tokens: pd.Series) -> dict[str, str]:
    """The most common way each label token is written in the file, for messages in the user's own words."""
    pairs = pd.DataFrame({"token": tokens, "raw": values.astype(str).str.strip()}).dropna(subset=["token"])
    common = pairs.groupby("token")["raw"].agg(lambda s: s.value_counts().index[0])
    return common.to_dict()


def _reject(reasons: list[list[str]], mask: pd.Series | np.ndarray, reason: str | Iterable[str]) -> None:
    texts = [reason] * len(reasons) if isinstance(reason, str) else list(reason)
    for i in np.flatnonzero(np.asarray(mask)):
        reasons[i].append(texts[i])


def _entity_ids(raw: pd.DataFrame, id_col: str | None, reasons: list[list[str]]) -> pd.Series:
    """The id column as text, or "row-<n>" (the 1-based data row) so a scored row can be found in the file."""
    if id_col is None:
        return pd.Series([f"row-{n}" for n in range(1, len(raw) + 1)], dtype=object)
    values = raw[id_col]
    if pd.api.types.is_float_dtype(values):  # Parquet ids with gaps arrive as 1001.0
        whole = values.dropna().map(float.is_integer).all()
        values = values.map(lambda v: v if pd.isna(v) else str(int(v)) if whole else str(v))
    ids = _text(values)
    _reject(reasons, ids.isna(), f"missing id ({id_col})")
    return ids.astype(object)


def _times(raw: pd.DataFrame, time_col: str | None, path: Path, reasons: list[list[str]]) -> pd.Series:
    """UTC timestamps from the time column (naive values are taken to be UTC); NaT everywhere without one."""
    if time_col is None:
        return pd.Series(pd.NaT, index=raw.index, dtype=AS_OF_DTYPE)
    values = raw[time_col]
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
        text = values.astype(object).where(values.notna(), None)
    elif pd.api.types.is_numeric_dtype(values):
        raise TableError(f"{path.name}: time column {time_col!r} holds numbers, not dates; write dates such as "
                         "2024-01-31 or 2024-01-31T09:30:00Z")
    else:
        text = _text(values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": the retry below handles it
            parsed = pd.to_datetime(text, utc=True, errors="coerce")
            retry = parsed.isna() & text.notna()
            if retry.any():  # a column mixing formats: parse the rest one by one
                parsed = parsed.astype(AS_OF_DTYPE)
                parsed[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    parsed = parsed.astype(AS_OF_DTYPE)
    _reject(reasons, text.isna(), f"missing time ({time_col})")
    unreadable = parsed.isna() & text.notna()
    _reject(reasons, unreadable, [f"time ({time_col}) is not a date: {v!r}" for v in text])
    return parsed


def _rejected_rows(raw: pd.DataFrame, bad: np.ndarray, reasons: list[list[str]]) -> pd.DataFrame:
    """The set-aside rows as read, led by their 1-based data row and the reasons joined by "; "."""
    rows = raw[bad].rename(columns=lambda c: f"{c} (file)" if c in ("row", "reason") else c)
    lead = pd.DataFrame({"row": np.flatnonzero(bad) + 1,
                         "reason": ["; ".join(r) for r, b in zip(reasons, bad, strict=True) if b]},
                        index=rows.index)
    return pd.concat([lead, rows], axis=1).reset_index(drop=True)


def _analyse_columns(raw: pd.DataFrame, kept: pd.DataFrame, candidates: list[str],
                     notes: list[str]) -> tuple[dict[str, str | None], list[str]]:
    """Which columns become features and, with a note each, which are ignored and why.

    A feature maps to None when categorical, else to the format its sentences show numbers with.
    """
    columns: dict[str, str | None] = {}
    ignored: list[str] = []
    coerced: list[str] = []
    for c in candidates:
        why, categorical, note = _column_kind(raw[c], kept[c])
        if why:
            ignored.append(f"{c} ({why})")
            continue
        if note:
            coerced.append(note)
        converted = _as_category(kept[c]) if categorical else _as_number(kept[c])
        if converted.isna().all():
            ignored.append(f"{c} (empty in every row)")
        elif converted.nunique(dropna=False) == 1:
            ignored.append(f"{c} (the same value, {converted.iloc[0]!r}, in every row)")
        else:
            columns[c] = None if categorical else _number_format(converted)
    if ignored:
        notes.append(f"Ignored {len(ignored)} column(s): {'; '.join(ignored)}.")
    notes.extend(coerced)
    return columns, ignored


def _column_kind(whole: pd.Series, values: pd.Series) -> tuple[str | None, bool, str | None]:
    """(why it is ignored or None, categorical?, a note on a conversion) for one column of the kept rows."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "dates are not features; pass the snapshot time as --time or derive a number from it", False, None
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return None, True, None
    if pd.api.types.is_numeric_dtype(dtype):
        numbers = whole.to_numpy()
        if pd.api.types.is_integer_dtype(dtype) and len(numbers) > ID_MIN_ROWS and any(
                np.array_equal(numbers, np.arange(start, start + len(numbers))) for start in (0, 1)):
            return "it counts the rows 0, 1, 2, … (a saved row index); a row's position says nothing", False, None
        return None, False, None
    text = _text(values).dropna()
    if text.empty:
        return "empty in every row", False, None
    numbers = pd.to_numeric(text.str.strip(), errors="coerce")
    if numbers.notna().mean() >= NUMERIC_SHARE:
        blanks = len(values) - len(text)
        odd = text[numbers.isna()]
        note = f"Column {values.name} holds numbers written as text: read as numbers"
        note += f"; {blanks:,} blank value(s) became missing" if blanks else ""
        if len(odd):
            note += f"; {len(odd):,} value(s) that are not numbers became missing (e.g. {odd.iloc[0]!r})"
        return None, False, note + "."
    distinct = text.nunique()
    if len(values) > ID_MIN_ROWS and distinct >= ID_SHARE * len(values):
        return (f"a distinct value on {distinct / len(values):.0%} of rows: it looks like an identifier; "
                "pass it as --id"), True, None
    return None, True, None


def _safe_names(columns: list[str], notes: list[str]) -> dict[str, str]:
    """Names LightGBM and MLflow accept ([A-Za-z0-9_]); already-safe names are kept and win any clash."""
    taken = set(RESERVED)
    names: dict[str, str] = {}
    for c in columns:
        if SAFE_NAME.fullmatch(c) and c not in taken:
            names[c] = c
            taken.add(c)
    for c in columns:
        if c in names:
            continue
        base = re.sub(r"[^A-Za-z0-9_]+", "_", c).strip("_") or "column"
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        names[c] = name
        taken.add(name)
    renamed = [f"{c!r} → {names[c]}" for c in columns if names[c] != c]
    if renamed:
        notes.append(f"Renamed {len(renamed)} column(s) to names LightGBM and MLflow accept: "
                     f"{_listing(renamed, 20)}.")
    return {c: names[c] for c in columns}


def _read_groups(path: Path, all_columns: Iterable[str], not_features: list[str], names: dict[str, str],
                 notes: list[str]) -> dict[str, str]:
    """groups.yaml (group → list of columns) as column → group; a name may be the file's or the safe one."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"groups file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise TableError(f"{path.name} is not valid YAML: {error}") from None
    shape = f"{path.name} must map each group to a list of columns, e.g.\nProduct Usage: [logins, tenure]"
    if not isinstance(data, dict) or not data:
        raise TableError(shape)
    all_columns = list(all_columns)
    by_safe = {safe: c for c, safe in names.items()}
    group_of: dict[str, str] = {}
    unknown: list[str] = []
    twice: list[str] = []
    not_used: list[str] = []
    for group, members in data.items():
        if not isinstance(group, str) or not group.strip() or not isinstance(members, list) or not all(
                isinstance(m, str | int | float) and not isinstance(m, bool) for m in members):
            raise TableError(f"{shape}\n(group {group!r} is {members!r})")
        for member in map(str, members):
            column = member if member in all_columns else by_safe.get(member)
            if column is None:
                unknown.append(member)
            elif column in group_of:
                twice.append(member)
            elif column not in names:
                not_used.append(member)
            else:
                group_of[column] = group.strip()
    if unknown:
        raise TableError(f"{path.name} names column(s) the table does not have: {', '.join(map(repr, unknown))}; "
                         f"columns: {_listing(all_columns, 30)}")
    if twice:
        raise TableError(f"{path.name} puts column(s) in more than one group: {', '.join(map(repr, twice))}")
    if not_used:
        kinds = f" ({', '.join(not_features)} are the label/id/time)" if not_features else ""
        notes.append(f"{path.name} maps column(s) that are not features: {', '.join(not_used)}{kinds}.")
    others = [names[c] for c in names if c not in group_of]
    notes.append(f"{path.name} puts {len(group_of)} feature(s) in {len(set(group_of.values()))} group(s)"
                 + (f"; {len(others)} other feature(s) go to group {OTHER}: {_listing(others, 20)}." if others
                    else "."))
    return group_of


def _number_format(values: pd.Series) -> str:
    """The fewest decimals (up to 4) that show the column's values exactly: "tenure is 12", "charges is 29.85"."""
    finite = values[np.isfinite(values)].to_numpy()
    for decimals in range(5):
        if np.allclose(np.round(finite, decimals), finite, rtol=0, atol=1e-9):
            return f".{decimals}f"
    return ".4f"


def _feature(column: str, name: str, entity: Entity, group: str, source: str, number_format: str | None) -> Feature:
    """An "attribute" entry whose sentences quote the user's own column name and value."""
    categorical = number_format is None
    escaped = column.replace("{", "{{").replace("}", "}}")
    value = "{value}" if categorical else f"{{value:{number_format}}}"
    return Feature(name, entity=entity, group=group, source=source, kind="attribute", column=column,
                   categorical=categorical, unit="category" if categorical else "value",
                   description=f"Column {column} of {source}", template=f"{escaped} is {value}",
                   missing=f"{column} is missing")


def _note_duplicates(frame: pd.DataFrame, id_col: str | None, time_col: str | None, notes: list[str]) -> None:
    """Repeated ids are legal (several snapshots) but worth knowing: they can put one entity in train and test."""
    if id_col is None:
        return
    keys = ["entity_id", "as_of"] if time_col else ["entity_id"]
    repeated = frame.duplicated(keys, keep=False)
    if repeated.any():
        what = f"id ({id_col}) and time ({time_col})" if time_col else f"id ({id_col})"
        example = frame.loc[repeated, "entity_id"].iloc[0]
        notes.append(f"{repeated.sum():,} rows share their {what} with another row (e.g. {example!r}); each is kept "
                     "as its own snapshot.")


def _listing(items: list[str], limit: int) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
