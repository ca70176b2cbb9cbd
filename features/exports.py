"""Vendor exports into contract tables: read the files a user exported, apply a mapping, write a data folder.

Users rarely hold data in the contract's shape; they hold a Salesforce Data Loader CSV, a HubSpot export, a
Marketo bulk extract. A mapping (`features/export_mapping.py`, YAML under `features/mappings/`) says which
column becomes which contract column; this module applies it and is careful about three things, because each
is where imports usually lose data without anyone noticing:

- **nothing silent**: a source column the mapping does not know is ignored *with a note*; a column the mapping
  needs and the file lacks stops the import with a message naming the mapping, the file and the column;
- **rows are accounted for**: every input row is imported, skipped on purpose (e.g. an open opportunity, a
  Marketo activity type that is not a marketing touch; counted per reason) or rejected because a value cannot
  be read (kept with its `reason`, as `features/validate.py` does): imported + skipped + rejected = input;
- **types are the contract's**: ids stay strings exactly as exported, timestamps become UTC (epoch seconds or
  milliseconds, ISO strings, or a stated format and time zone), so `signalscore validate` checks meaning, not
  spelling.

Everything here is pandas: exports are files a person downloaded, and the data folder written here is then read
by the Ibis engine like any other.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.contract import TABLES
from features.export_mapping import (
    ColumnRule,
    Condition,
    FileRule,
    Lookup,
    Mapping,
    MappingError,
    load_mapping,
    vendors,
)
from features.sources import DataError, to_utc

__all__ = ["FileReport", "ImportedTables", "MappingError", "load_export", "load_mapping", "vendors",
           "write_export"]

REASON = "reason"
UTC = "datetime64[us, UTC]"
ARROW_KIND = {"id": pa.string(), "string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"),
              "int": pa.int64(), "float": pa.float64()}
IMPORT_DIR = "_import"  # metadata of the data folder (names starting with `_` are never tables)


@dataclass
class FileReport:
    """What became of one export file: counts, the rows set aside with their reason, and what was not read."""

    key: str
    path: Path
    table: str
    rows: int
    imported: int
    skipped: dict[str, int]  # reason -> rows
    rejected: pd.DataFrame  # the source columns as exported, plus `reason`
    unmapped: list[str]  # source columns the mapping does not read
    absent: list[str] = field(default_factory=list)  # optional source columns the file lacks

    def line(self) -> str:
        """One line for a person: rows in, imported, skipped, rejected."""
        skipped = sum(self.skipped.values())
        return (f"{self.key} ({self.path.name}) → {self.table}: {self.rows:,} rows, {self.imported:,} imported, "
                f"{skipped:,} skipped, {len(self.rejected):,} rejected")


class ImportedTables(dict[str, pd.DataFrame]):
    """Contract tables by name (typed, every contract column present), plus how the import went."""

    def __init__(self, tables: dict[str, pd.DataFrame], mapping: Mapping, reports: list[FileReport],
                 notes: list[str]) -> None:
        super().__init__(tables)
        self.mapping = mapping
        self.reports = reports
        self.notes = notes

    def summary(self) -> str:
        """Plain words: one line per file, then every note."""
        return "\n".join([r.line() for r in self.reports] + [f"note: {n}" for n in self.notes])


# ---- reading files -------------------------------------------------------------------------------------------


@dataclass
class SourceFile:
    """An export file as text: `frame` trimmed with null markers as missing, `raw` exactly as read."""

    key: str
    path: Path
    raw: pd.DataFrame
    frame: pd.DataFrame

    def __post_init__(self) -> None:
        self._names: dict[str, str] = {}
        for name in reversed(list(self.frame.columns)):
            self._names[name.lower()] = name
        self._names.update({name: name for name in self.frame.columns})

    @property
    def present(self) -> set[str]:
        """Source column names, lower-cased (matching is case-insensitive: `ID` and `Id` are the same field)."""
        return {c.lower() for c in self.frame.columns}

    def find(self, name: str) -> str | None:
        return self._names.get(name, self._names.get(name.lower()))

    def subset(self, rows: pd.Series) -> SourceFile:
        return SourceFile(self.key, self.path, self.raw.loc[rows], self.frame.loc[rows])

    def coalesce(self, names: tuple[str, ...]) -> tuple[pd.Series, str]:
        """The first non-missing value of the named columns, row by row; and the name to quote in messages."""
        found = [c for c in (self.find(n) for n in names) if c is not None]
        out = self.frame[found[0]] if found else _missing(self.frame.index)
        for column in found[1:]:
            out = out.where(out.notna(), self.frame[column])
        return out, (found[0] if found else (names[0] if names else "value"))


def _missing(index: pd.Index) -> pd.Series:
    """An all-missing text column (the shape every value and reason column starts from)."""
    return pd.Series(np.nan, index=index, dtype="str")


def _as_text(series: pd.Series) -> pd.Series:
    """Typed values (Parquet, JSON) as an export would spell them: 123.0 -> "123", True -> "true"."""

    def text(value: object) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, dict | list):
            return json.dumps(value)
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        return str(value)

    return pd.Series([text(v) for v in series.tolist()], index=series.index, dtype="str")


def _records(path: Path) -> list[dict]:
    """JSON exports: an array, JSON lines, or an API page such as {"tickets": [...]}."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    return list(data)


def read_source(key: str, path: Path, nulls: tuple[str, ...]) -> SourceFile:
    """Read an export (CSV, TSV, Parquet, JSON / JSON lines) as text; nested JSON becomes dotted columns."""
    if not path.is_file():
        raise DataError(f"{key}: {path} " + ("is a folder, not a file" if path.is_dir() else "does not exist"))
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                              sep="\t" if suffix == ".tsv" else ",")
        elif suffix == ".parquet":
            raw = pd.read_parquet(path).apply(_as_text)
        elif suffix in (".json", ".jsonl", ".ndjson"):
            raw = pd.json_normalize(_records(path)).apply(_as_text)
        else:
            raise DataError(f"{key}: {path} is not a .csv, .tsv, .parquet, .json or .jsonl file")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{key}: cannot read {path}: {error}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    raw = raw.reset_index(drop=True)
    frame = raw.apply(lambda s: _clean(s, nulls)) if len(raw.columns) else raw
    return SourceFile(key, path, raw, frame)


def _clean(series: pd.Series, nulls: tuple[str, ...]) -> pd.Series:
    text = series.astype("str").str.strip()
    return text.mask(text.str.lower().isin(nulls))


# ---- conditions, maps, parsing -------------------------------------------------------------------------------


def _json_key(values: pd.Series, key: str) -> pd.Series:
    """One key of a JSON object per row (Marketo `attributes`); a list of {name, value} pairs works too."""

    def get(text: str) -> str | None:
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if isinstance(obj, list):
            obj = {i.get("name"): i.get("value") for i in obj if isinstance(i, dict)}
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value) if isinstance(value, dict | list) else str(value)

    out = _missing(values.index)
    have = values.notna()
    if have.any():
        out[have] = [get(t) for t in values[have]]
    return out


def _holds(cond: Condition, src: SourceFile, rows: pd.Series) -> pd.Series:
    """Whether the condition holds, computed only for `rows` (False elsewhere)."""
    out = pd.Series(False, index=src.frame.index)
    if not rows.any():
        return out
    values, _ = src.coalesce(cond.columns)
    values = values[rows]
    if cond.key:
        values = _json_key(values, cond.key)
    if cond.present is not None:
        out[rows] = values.notna() == cond.present
        return out
    norm = values.str.lower()
    if cond.is_ is not None:
        result = norm.isin(cond.is_)
    elif cond.is_not is not None:
        result = ~norm.isin(cond.is_not)
    else:
        result = pd.Series(False, index=values.index)
        for word in cond.contains or ():
            result |= norm.str.contains(word, regex=False).fillna(False).astype(bool)
    out[rows] = result.astype(bool)
    return out


def _all_hold(conds: tuple[Condition, ...], src: SourceFile) -> pd.Series:
    rows = pd.Series(True, index=src.frame.index)
    for cond in conds:
        rows = _holds(cond, src, rows)
    return rows


def _reasons(index: pd.Index, bad: pd.Series, values: pd.Series, text: str) -> pd.Series:
    """A reason per bad row, quoting its value: "CreatedDate 'yesterday' is not a timestamp"."""
    why = _missing(index)
    if bad.any():
        why[bad] = [text.format(value=v) for v in values[bad]]
    return why


@dataclass
class _Eval:
    """A column's values for the rows of a file, and why rows fail or are skipped because of it."""

    values: pd.Series
    reasons: list[pd.Series]
    skip: pd.Series
    skip_why: pd.Series


def _numbers(raw: pd.Series, rule: ColumnRule) -> pd.Series:
    text = raw.str.replace(rule.thousands, "", regex=False) if rule.thousands else raw
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _timestamps(raw: pd.Series, rule: ColumnRule) -> pd.Series:
    """UTC timestamps from epoch numbers (s / ms) or text (ISO 8601, else a stated or guessed format)."""
    out = pd.Series(pd.NaT, index=raw.index, dtype=UTC)
    have = raw.notna()
    epoch = have & raw.str.fullmatch(r"-?\d{9,}(\.\d+)?").fillna(False).astype(bool)
    if epoch.any():
        number = pd.to_numeric(raw[epoch], errors="coerce")
        digits = raw[epoch].str.split(".").str[0].str.lstrip("-").str.len()
        ms = (digits >= 12) if rule.epoch == "auto" else pd.Series(rule.epoch == "ms", index=number.index)
        seconds = number.where(~ms, number / 1000)
        out[epoch] = pd.to_datetime(seconds, unit="s", utc=True).astype(UTC)
    text = have & ~epoch
    if text.any():
        out[text] = _parse_text_times(raw[text], rule)
    return out


def _parse_text_times(raw: pd.Series, rule: ColumnRule) -> pd.Series:
    # An offset follows a time of day ("...10:00:00Z", "...10:00+02:00"); a bare date's "-15" is no offset.
    offset = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
    aware = raw.str.contains(offset, regex=True).fillna(False).astype(bool)
    if rule.timezone.upper() == "UTC":
        aware[:] = True  # naive values already mean UTC
    out = pd.Series(pd.NaT, index=raw.index, dtype=UTC)
    if aware.any():
        out[aware] = _to_datetime(raw[aware], rule, utc=True).astype(UTC)
    if (~aware).any():
        local = _to_datetime(raw[~aware], rule, utc=False)
        if getattr(local.dt, "tz", None) is None:
            local = local.dt.tz_localize(rule.timezone, ambiguous="NaT", nonexistent="NaT")
        out[~aware] = local.dt.tz_convert("UTC").astype(UTC)
    return out


def _to_datetime(raw: pd.Series, rule: ColumnRule, utc: bool) -> pd.Series:
    """The stated format, else ISO 8601 (fast), else any format pandas can read, for what ISO could not."""
    if rule.format:
        return pd.to_datetime(raw, format=rule.format, errors="coerce", utc=utc)
    parsed = pd.to_datetime(raw, format="ISO8601", errors="coerce", utc=utc)
    retry = parsed.isna()
    if retry.any():
        parsed[retry] = pd.to_datetime(raw[retry], format="mixed", errors="coerce", utc=utc,
                                       dayfirst=rule.dayfirst)
    return parsed


def _parse(raw: pd.Series, rule: ColumnRule, label: str) -> tuple[pd.Series, pd.Series]:
    """Text to the rule's kind; values present but unreadable get a reason."""
    index = raw.index
    if rule.parse in ("id", "string"):
        return raw, _missing(index)
    if rule.parse == "timestamp":
        values = _timestamps(raw, rule)
        if rule.add_months:
            values = (values + pd.DateOffset(months=int(rule.add_months))).astype(UTC)
        return values, _reasons(index, raw.notna() & values.isna(), raw, f"{label} {{value!r}} is not a timestamp")
    numbers = _numbers(raw, rule)
    if rule.parse == "int":
        whole = numbers.notna() & (numbers == numbers.round())
        bad = raw.notna() & ~whole
        values = numbers.where(whole).astype("Int64")
        return values, _reasons(index, bad, raw, f"{label} {{value!r}} is not an integer")
    bad = raw.notna() & numbers.isna()
    return numbers, _reasons(index, bad, raw, f"{label} {{value!r}} is not a number")


def _apply_map(raw: pd.Series, rule: ColumnRule, label: str, free: pd.Series) -> _Eval:
    """Source values to canonical ones; what the map lacks is kept, emptied, skipped or rejected (`unmapped`)."""
    table = rule.map or {}
    norm = raw.str.lower()
    hit = norm.isin(list(table))
    mapped = pd.Series([table.get(v) for v in norm.where(hit, None).tolist()], index=raw.index, dtype="str")
    miss = raw.notna() & ~hit & free
    values = mapped.where(hit, raw if rule.unmapped == "keep" else None)
    skip = miss if rule.unmapped == "skip" else pd.Series(False, index=raw.index)
    skip_why = _reasons(raw.index, skip, raw, f"{label} {{value}} is not in the mapping")
    reject = miss if rule.unmapped == "reject" else pd.Series(False, index=raw.index)
    why = _reasons(raw.index, reject, raw, f"{label} {{value!r}} is not one of the mapped values")
    return _Eval(values.astype("str"), [why], skip, skip_why)


def _translate(raw: pd.Series, label: str, lookup: Lookup, lookups: dict[str, SourceFile]) -> _Eval:
    """Ids through a helper file (e.g. Zendesk organization id -> the organization's external_id)."""
    index = raw.index
    helper = lookups[lookup.file]
    keys, key_name = helper.coalesce(lookup.key)
    vals, value_name = helper.coalesce(lookup.value)
    pairs = pd.DataFrame({"k": keys.str.lower(), "v": vals}).dropna(subset=["k"]).drop_duplicates("k")
    table = dict(zip(pairs.k, pairs.v, strict=True))  # ids and e-mails compare case-insensitively
    wanted = raw.str.lower()
    found = wanted.isin(list(table))
    values = pd.Series([table.get(v) for v in wanted.where(found, None).tolist()], index=index, dtype="str")
    unknown = raw.notna() & ~found
    empty = found & values.isna()
    why = [
        _reasons(index, unknown, raw, f"{label} {{value!r}} is not in {lookup.file} ({key_name})"),
        _reasons(index, empty, raw, f"{lookup.file} has no {value_name} for {label} {{value!r}}"),
    ]
    return _Eval(values, why, pd.Series(False, index=index), _missing(index))


def _cases(rule: ColumnRule, src: SourceFile) -> tuple[pd.Series, pd.Series]:
    """Rows decided by a case (first match wins) and their values."""
    index = src.frame.index
    hit = pd.Series(False, index=index)
    values = _missing(index)
    for case in rule.cases:
        match = _all_hold(case.when, src) & ~hit
        if case.value is not None:
            values[match] = case.value
        hit |= match
    return hit, values


def _evaluate(rule: ColumnRule, src: SourceFile, lookups: dict[str, SourceFile], notes: list[str]) -> _Eval:
    """One canonical column for every row of a file: source (or constant), lookup, cases, map, parse, fill."""
    index = src.frame.index
    reasons: list[pd.Series] = []
    skip, skip_why = pd.Series(False, index=index), _missing(index)
    if rule.has_value:
        raw, label = pd.Series([rule.value] * len(index), index=index, dtype="str"), "value"
    else:
        raw, label = src.coalesce(rule.sources)
        if rule.key:
            raw = _json_key(raw, rule.key)
        if rule.split:
            raw = raw.str.split(rule.split, n=1, regex=False).str[0].str.strip().astype("str")
            raw = raw.mask(raw == "")
        if rule.lower:
            raw = raw.str.lower()
        if rule.lookup and rule.lookup.file in lookups and raw.notna().any():
            translated = _translate(raw, label, rule.lookup, lookups)
            raw, reasons = translated.values, reasons + translated.reasons
        elif rule.lookup and raw.notna().any():
            notes.append(f"{src.key}: {rule.target} keeps {label} as exported; pass --file "
                         f"{rule.lookup.file}=FILE to translate it to {rule.lookup.file}.{rule.lookup.value[0]}")
    decided, case_values = _cases(rule, src)
    if rule.map is not None:
        mapped = _apply_map(raw, rule, label, ~decided)
        raw, reasons, skip, skip_why = mapped.values, reasons + mapped.reasons, mapped.skip, mapped.skip_why
    raw = raw.where(~decided, case_values)
    values, why = _parse(raw, rule, label)
    reasons.append(why)
    if rule.when:
        holds = _all_hold(rule.when, src)
        values = values.where(holds)
        reasons = [r.where(holds) for r in reasons]
    result = _Eval(values, reasons, skip, skip_why)
    return _fill(result, rule, src, lookups, notes)


def _fill(result: _Eval, rule: ColumnRule, src: SourceFile, lookups: dict[str, SourceFile],
          notes: list[str]) -> _Eval:
    """Rows still empty take the fallback rule's value, then the default."""
    values = result.values
    if rule.fallback is not None:
        empty = values.isna()
        other = _evaluate(rule.fallback, src, lookups, notes)
        values = values.where(~empty, other.values)
        result.reasons += [r.where(empty) for r in other.reasons]
        result.skip = result.skip | (other.skip & empty)
        result.skip_why = result.skip_why.where(result.skip_why.notna(), other.skip_why.where(empty))
    if rule.default is not None:
        default, _ = _parse(pd.Series([rule.default], dtype="str"), rule, "default")
        values = values.where(values.notna(), default.iloc[0])
    result.values = values
    return result


# ---- one file, the whole export ------------------------------------------------------------------------------


def _join(reasons: list[pd.Series], index: pd.Index) -> pd.Series:
    """All reasons of a row joined by "; " (a row with several problems is rejected once)."""
    out = _missing(index)
    if not reasons:
        return out
    frame = pd.concat(reasons, axis=1)
    bad = frame.notna().any(axis=1)
    if bad.any():
        out[bad] = ["; ".join(dict.fromkeys(v for v in row if isinstance(v, str)))
                    for row in frame[bad].itertuples(index=False)]
    return out


def _as_kind(values: pd.Series | None, kind: str, index: pd.Index) -> pd.Series:
    if values is None:
        values = _missing(index)
    if kind == "timestamp":
        return values.astype(UTC) if values.notna().any() else pd.Series(pd.NaT, index=index, dtype=UTC)
    if kind == "int":
        return pd.to_numeric(values, errors="coerce").astype("Int64")
    if kind == "float":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    return values.astype("str")


def _typed(table: str, columns: dict[str, pd.Series], index: pd.Index) -> pd.DataFrame:
    """Every contract column in contract order and kind; columns the mapping does not fill are empty."""
    return pd.DataFrame({c.name: _as_kind(columns.get(c.name), c.kind, index) for c in TABLES[table].columns},
                        index=index)


def _used_columns(rule: FileRule) -> set[str]:
    names = [*rule.ignore, *(c for cond in rule.keep_when for c in cond.columns)]
    for column in rule.columns:
        names.extend(column.all_sources())
    return {n.lower() for n in names}


def _absent(rule: FileRule, src: SourceFile) -> list[str]:
    """Optional source columns the file lacks (their canonical columns stay empty), as "Title (job_title)"."""
    have = src.present
    derived = {"outcome", "outcome_at"} if rule.derive_outcome is not None else set()
    return [f"{c.sources[0]} ({c.target})" for c in rule.columns
            if c.sources and not c.can_fill(have) and c.target not in derived]


def _convert(rule: FileRule, src: SourceFile, lookups: dict[str, SourceFile],
             notes: list[str]) -> tuple[pd.DataFrame, FileReport]:
    """One export file into rows of its contract table, with every other row accounted for."""
    if rule.table is None:
        raise MappingError(f"{rule.name} is a lookup file and fills no table")
    keep = _all_hold(rule.keep_when, src)
    skipped: Counter[str] = Counter()
    if (~keep).any():
        skipped[rule.skip_reason or " or ".join(c.describe() for c in rule.keep_when)] += int((~keep).sum())
    kept = src.subset(keep)
    index = kept.frame.index
    columns: dict[str, pd.Series] = {}
    reasons: list[pd.Series] = []
    skip, skip_why = pd.Series(False, index=index), _missing(index)
    for column in rule.columns:
        result = _evaluate(column, kept, lookups, notes)
        columns[column.target] = result.values
        reasons += result.reasons
        skip_why = skip_why.where(skip_why.notna(), result.skip_why.where(result.skip & ~skip))
        skip |= result.skip
    skipped.update(skip_why[skip].value_counts().to_dict())
    reason = _join(reasons, index)
    bad = reason.notna() & ~skip
    good = ~bad & ~skip
    rejected = kept.raw[bad].assign(**{REASON: reason[bad]}).reset_index(drop=True)
    frame = _typed(rule.table, {k: v[good] for k, v in columns.items()}, index[good])
    unmapped = [c for c in src.frame.columns if c.lower() not in _used_columns(rule)]
    report = FileReport(rule.name, src.path, rule.table, len(src.frame), len(frame), dict(skipped), rejected,
                        unmapped, _absent(rule, src))
    return frame.reset_index(drop=True), report


def _check_columns(mapping: Mapping, chosen: dict[str, SourceFile]) -> None:
    """Every column the mapping needs and the files lack, in one message that says what to do."""
    problems = []
    for key, src in chosen.items():
        rule = mapping.file(key)
        where = f"file {rule.name} ({src.path})"
        found = ", ".join(src.frame.columns) or "no columns"
        for missing, what in _missing_columns(rule, src, mapping):
            problems.append(f"{where}: required column {missing} not found ({what}); found: {found}")
    if problems:
        raise MappingError(
            f"{mapping.label}: " + "; ".join(problems)
            + f". Export the column, or copy the mapping (signalscore import --vendor {mapping.name} "
            "--print-mapping > my.yaml), point `source` at your column and pass --mapping my.yaml"
        )


def _missing_columns(rule: FileRule, src: SourceFile, mapping: Mapping) -> list[tuple[str, str]]:
    have = src.present
    out = []
    for other in mapping.files.values():  # a file other files look up ids through needs those columns
        for column in other.columns:
            for lookup in (column.lookup, column.fallback.lookup if column.fallback else None):
                if lookup and lookup.file == rule.name:
                    out += [(" or ".join(names), f"{other.name}.{column.target} is looked up through it")
                            for names in (lookup.key, lookup.value) if not any(n.lower() in have for n in names)]
    out = list(dict.fromkeys(out))
    if rule.table is None:
        return out
    table = TABLES[rule.table]
    for column in rule.columns:
        needed = column.required or table.column(column.target).required
        if needed and not column.can_fill(have):
            names = " or ".join(column.sources + (column.fallback.sources if column.fallback else ()))
            why = ", which the data contract requires" if table.column(column.target).required else ""
            out.append((names, f"it fills {rule.table}.{column.target}{why}"))
    for cond in rule.keep_when:
        if not any(c.lower() in have for c in cond.columns):
            out.append((" or ".join(cond.columns), "it decides which rows are imported"))
    return out


def _choose(mapping: Mapping, files: dict[str, Path | str] | Path | str) -> dict[str, Path]:
    """File keys of the mapping -> paths; a lone path is the mapping's first file."""
    if isinstance(files, Path | str):
        first = next(iter(mapping.files))
        return {first: Path(files)}
    if not files:
        raise MappingError(f"{mapping.label}: no files given; it reads {', '.join(mapping.files)}")
    chosen = {mapping.file(key).name: Path(path) for key, path in files.items()}
    if all(mapping.files[k].table is None for k in chosen):
        raise MappingError(f"{mapping.label}: {', '.join(chosen)} only help other files; give one of "
                           f"{', '.join(k for k, r in mapping.files.items() if r.table)} too")
    return chosen


def _latest(tables: dict[str, list[pd.DataFrame]]) -> pd.Timestamp | None:
    """The latest event time imported: the stand-in horizon when none was given."""
    latest = None
    for name, frames in tables.items():
        column = TABLES[name].event_time
        for frame in frames:
            if column and frame[column].notna().any():
                value = frame[column].max()
                latest = value if latest is None or value > latest else latest
    return latest


def derive_outcomes(contracts: pd.DataFrame, grace_days: int, horizon: pd.Timestamp) -> tuple[pd.DataFrame, int, int]:
    """Fill an empty `outcome` from what happened next: CRMs rarely record "renewed" or "churned" as such.

    A contract is *renewed* when a later contract of the same account starts no later than `grace_days` after
    its end and runs past it (known at its end_date); *churned* when its end is more than `grace_days` before
    the horizon and no such contract exists (known at end_date + grace); otherwise it stays open. Outcomes a
    source column gave are kept.
    """
    frame = contracts.reset_index(drop=True)
    grace = pd.Timedelta(days=grace_days)
    todo = frame.outcome.isna() & frame.end_date.notna() & frame.account_id.notna() & frame.start_date.notna()
    pos = frame.assign(_pos=frame.index)[["_pos", "account_id", "start_date", "end_date"]].dropna()
    pairs = pos.merge(pos, on="account_id", suffixes=("", "_next"))
    later = pairs[(pairs._pos != pairs._pos_next) & (pairs.start_date_next > pairs.start_date)
                  & (pairs.start_date_next <= pairs.end_date + grace) & (pairs.end_date_next > pairs.end_date)]
    followed = frame.index.isin(later._pos.unique())
    renewed = todo & followed & (frame.end_date < horizon)
    churned = todo & ~followed & (frame.end_date + grace < horizon)
    frame.loc[renewed, "outcome"] = "renewed"
    frame.loc[renewed, "outcome_at"] = frame.end_date[renewed]
    frame.loc[churned, "outcome"] = "churned"
    frame.loc[churned, "outcome_at"] = frame.end_date[churned] + grace
    return frame, int(renewed.sum()), int(churned.sum())


def load_export(vendor_or_mapping: str | Path, files: dict[str, Path | str] | Path | str,
                horizon: str | pd.Timestamp | None = None) -> ImportedTables:
    """Read a vendor's export files and return contract tables (a dict) carrying the import's notes and reports.

    `vendor_or_mapping` is a shipped mapping's name (`signalscore import --print-mapping` shows it) or a path to
    a YAML mapping; `files` maps the mapping's file names (case-insensitive, e.g. `Lead`) to paths, or is one path
    for the mapping's first file. `horizon` (the extraction moment) bounds derived contract outcomes.
    Raises `MappingError` (a `DataError`) when the mapping or a file lacks something it needs.
    """
    mapping = load_mapping(vendor_or_mapping)
    chosen = {key: read_source(key, path, mapping.null_values) for key, path in _choose(mapping, files).items()}
    _check_columns(mapping, chosen)
    lookups = chosen  # any file of the export can translate ids for another
    notes: list[str] = []
    parts: dict[str, list[pd.DataFrame]] = {}
    reports: list[FileReport] = []
    by_file: dict[str, pd.DataFrame] = {}
    for key, src in chosen.items():
        rule = mapping.files[key]
        if rule.table is None:
            continue
        frame, report = _convert(rule, src, lookups, notes)
        by_file[key] = frame
        reports.append(report)
        parts.setdefault(rule.table, []).append(frame)
    _derive(mapping, by_file, parts, horizon, notes)
    notes = list(dict.fromkeys(notes)) + _report_notes(reports, parts)
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
    return ImportedTables(tables, mapping, reports, notes)


def _derive(mapping: Mapping, by_file: dict[str, pd.DataFrame], parts: dict[str, list[pd.DataFrame]],
            horizon: str | pd.Timestamp | None, notes: list[str]) -> None:
    wanted = {k: mapping.files[k].derive_outcome for k in by_file if mapping.files[k].derive_outcome is not None}
    if not wanted:
        return
    at = to_utc(horizon) if horizon is not None else _latest(parts)
    if at is None:
        return
    if horizon is None:
        notes.append(f"no --horizon: contract outcomes are derived as of the latest time imported ({at:%Y-%m-%d})")
    parts["contracts"] = []
    for key, frame in by_file.items():
        if mapping.files[key].table != "contracts":
            continue
        if key in wanted:
            frame, renewed, churned = derive_outcomes(frame, wanted[key], at)
            notes.append(f"{key}: outcome derived from contract succession for {renewed + churned:,} contracts "
                         f"({renewed:,} renewed, {churned:,} churned; grace {wanted[key]} days)")
        parts["contracts"].append(frame)


def _report_notes(reports: list[FileReport], parts: dict[str, list[pd.DataFrame]]) -> list[str]:
    """The notes a person must see: unread columns, absent optional columns, skips, rejections, shared tables."""
    notes = []
    for r in reports:
        if r.unmapped:
            notes.append(f"{r.key}: {len(r.unmapped)} column(s) not in the mapping, ignored: {', '.join(r.unmapped)}")
        if r.absent:
            notes.append(f"{r.key}: optional column(s) absent, left empty: {', '.join(r.absent)}")
        for why, rows in sorted(r.skipped.items(), key=lambda kv: -kv[1])[:5]:
            notes.append(f"{r.key}: {rows:,} row(s) skipped: {why}")
        if len(r.skipped) > 5:
            notes.append(f"{r.key}: {len(r.skipped) - 5} more skip reason(s)")
        if len(r.rejected):
            top = r.rejected[REASON].value_counts().head(3)
            shown = "; ".join(f"{why} ({n})" for why, n in top.items())
            notes.append(f"{r.key}: {len(r.rejected):,} row(s) rejected, e.g. {shown}")
    for table in parts:
        sources = [r.key for r in reports if r.table == table]
        if len(sources) > 1:
            notes.append(f"{table} combines {' and '.join(sources)}: if they describe the same records, import one")
    return notes


# ---- writing a data folder -----------------------------------------------------------------------------------


def _existing(out: Path, table: str) -> list[Path]:
    return [p for p in (out / f"{table}.parquet", out / f"{table}.csv", out / table) if p.exists()]


def write_export(imported: ImportedTables, out: Path | str, horizon: str | pd.Timestamp | None = None,
                 replace: bool = False) -> dict[str, Path]:
    """Write `<out>/<table>.parquet` for every imported table, the set-aside rows and a report under `_import/`.

    An existing table is never overwritten silently: without `replace` the import stops and says which. The
    horizon, when given, goes to `_meta.json` (other keys there are kept), so `validate` checks times against it.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; give a folder (the data folder to write)")
    out.mkdir(parents=True, exist_ok=True)
    clashes = {t: _existing(out, t) for t in imported if _existing(out, t)}
    if clashes and not replace:
        names = ", ".join(p.name for paths in clashes.values() for p in paths)
        raise DataError(f"{out}: {names} already exist; pass --replace to overwrite, or import into another folder")
    for paths in clashes.values():
        for path in paths:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    written = {}
    for table, frame in imported.items():
        columns = TABLES[table].columns
        arrays = [_arrow(frame[c.name], c.kind) for c in columns]
        path = out / f"{table}.parquet"
        pq.write_table(pa.Table.from_arrays(arrays, names=[c.name for c in columns]), path)
        written[table] = path
    _write_side(imported, out)
    if horizon is not None:
        meta_path = out / "_meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        meta["horizon"] = to_utc(horizon).isoformat()
        meta_path.write_text(json.dumps(meta, indent=2))
    return written


def _arrow(values: pd.Series, kind: str) -> pa.Array:
    """A column in the contract's Arrow type (all-empty columns keep their type, timestamps stay UTC)."""
    missing = values.isna().to_numpy()
    if kind == "timestamp":
        naive = values.dt.tz_convert(None).to_numpy()
        return pa.array(naive, type=pa.timestamp("us"), mask=missing).cast(ARROW_KIND[kind])
    plain = values.astype(object).where(~missing, None).tolist()
    return pa.array(plain, type=ARROW_KIND[kind])


def rejected_path(out: Path, mapping: Mapping, key: str) -> Path:
    return out / IMPORT_DIR / "rejected" / f"{mapping.name}-{key}.csv"


def _write_side(imported: ImportedTables, out: Path) -> None:
    """Set-aside rows (source columns as exported + `reason`) and the import report, as folder metadata."""
    mapping = imported.mapping
    files = {}
    for r in imported.reports:
        path = rejected_path(out, mapping, r.key)
        if len(r.rejected):
            path.parent.mkdir(parents=True, exist_ok=True)
            r.rejected.to_csv(path, index=False)
        elif path.exists():
            path.unlink()  # a stale file from an earlier import of the same export
        files[r.key] = {"path": str(r.path), "table": r.table, "rows": r.rows, "imported": r.imported,
                        "skipped": r.skipped, "rejected": len(r.rejected), "unmapped": r.unmapped,
                        "absent": r.absent}
    report = {"mapping": mapping.name, "mapping_path": str(mapping.path), "files": files, "notes": imported.notes,
              "rows": {t: len(f) for t, f in imported.items()}}
    (out / IMPORT_DIR).mkdir(parents=True, exist_ok=True)
    (out / IMPORT_DIR / f"{mapping.name}.json").write_text(json.dumps(report, indent=2))
