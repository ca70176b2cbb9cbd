"""Vendor export mappings: the YAML that says how a CRM, marketing, support or product export becomes contract tables.

A mapping is data, not code, so a user whose Salesforce org names its ARR field `Annual_Value__c` copies the
shipped file, changes one line and passes `--mapping my.yaml`; nothing here needs to change. This module only
reads and checks a mapping (every key is known, every target is a contract column) so that a typo in a copied
mapping fails before any row is read, with the mapping and the key named. Applying a mapping to rows lives in
`features.exports`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from features.contract import TABLES
from features.sources import DataError

PARSE_KINDS = ("id", "string", "timestamp", "number", "int")
# The parse rule a contract kind implies, so a mapping only spells out what differs.
PARSE_OF_KIND = {"id": "id", "string": "string", "timestamp": "timestamp", "int": "int", "float": "number"}
UNMAPPED = ("keep", "null", "skip", "reject")
DEFAULT_NULLS = ("", "null", "none", "nan", "n/a", "#n/a")
TRUE_WORDS = ("true", "1", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "no", "n", "f")

COLUMN_KEYS = {
    "source", "required", "parse", "epoch", "format", "timezone", "dayfirst", "thousands", "map", "unmapped",
    "lower", "value", "default", "when", "cases", "add_months", "key", "split", "lookup", "fallback", "note",
}  # fmt: skip
FILE_KEYS = {"table", "export", "columns", "keep_when", "skip_reason", "ignore", "derive_outcome", "lookup_only"}
CONDITION_KEYS = {"column", "key", "is", "is_not", "contains", "present"}
TOP_KEYS = {"vendor", "title", "null_values", "files", "docs"}


class MappingError(DataError):
    """A mapping that cannot be used, or an export that lacks what the mapping requires; the message names both."""


@dataclass(frozen=True)
class Condition:
    """A test on one source column (or a key inside a JSON column); values compare trimmed and case-insensitive."""

    columns: tuple[str, ...]  # alternatives: the first present column is read
    key: str | None = None
    is_: tuple[str, ...] | None = None
    is_not: tuple[str, ...] | None = None
    contains: tuple[str, ...] | None = None
    present: bool | None = None
    shown: str = ""  # the values as the mapping wrote them, for messages

    def describe(self) -> str:
        """Plain words for a skip reason: what a skipped row had, e.g. "IsWon is not true"."""
        name = self.columns[0] + (f"[{self.key}]" if self.key else "")
        if self.present is not None:
            return f"{name} is {'empty' if self.present else 'set'}"
        if self.is_ is not None:
            return f"{name} is not {self.shown}"
        if self.is_not is not None:
            return f"{name} is {self.shown}"
        return f"{name} contains none of {self.shown}"


@dataclass(frozen=True)
class Case:
    """A canonical value chosen when every condition holds (checked before the value map)."""

    value: str | None
    when: tuple[Condition, ...]


@dataclass(frozen=True)
class Lookup:
    """Translate an id through another file of the same export (e.g. a Zendesk organization id to its external_id)."""

    file: str
    key: tuple[str, ...]  # alternatives, as for a column's `source`
    value: tuple[str, ...]


@dataclass(frozen=True)
class ColumnRule:
    """How one canonical column is filled from a file's rows."""

    target: str
    sources: tuple[str, ...] = ()  # alternatives, coalesced row by row in this order
    required: bool = False
    parse: str = "string"
    epoch: str = "auto"  # numeric timestamps: "s", "ms" or "auto" (by magnitude)
    format: str | None = None
    timezone: str = "UTC"  # what naive timestamps mean
    dayfirst: bool = False
    thousands: str | None = None
    map: dict[str, str | None] | None = None  # keys lower-cased
    unmapped: str = "keep"
    lower: bool = False
    value: str | None = None
    has_value: bool = False
    default: str | None = None
    when: tuple[Condition, ...] = ()
    cases: tuple[Case, ...] = ()
    add_months: int | None = None
    key: str | None = None  # read this key of a JSON object in the source column
    split: str | None = None  # keep the first item of a delimited list
    lookup: Lookup | None = None
    fallback: ColumnRule | None = None
    note: str | None = None

    def can_fill(self, present: set[str]) -> bool:
        """Whether some row could get a value given the (lower-cased) source columns present."""
        if self.has_value or self.default is not None or self.cases:
            return True
        if any(s.lower() in present for s in self.sources):
            return True
        return self.fallback is not None and self.fallback.can_fill(present)

    def all_sources(self) -> list[str]:
        """Every source column this rule may read (for the "not in the mapping" note)."""
        names = list(self.sources)
        for cond in (*self.when, *(c for case in self.cases for c in case.when)):
            names.extend(cond.columns)
        if self.fallback is not None:
            names.extend(self.fallback.all_sources())
        return names


@dataclass(frozen=True)
class FileRule:
    """One export file of a vendor (e.g. Salesforce `Lead`) and the canonical table it fills."""

    name: str
    table: str | None  # None: a helper file read only through lookups
    export: str = ""
    columns: tuple[ColumnRule, ...] = ()
    keep_when: tuple[Condition, ...] = ()
    skip_reason: str | None = None
    ignore: tuple[str, ...] = ()
    derive_outcome: int | None = None  # grace days for deriving renewed / churned from contract succession


@dataclass(frozen=True)
class Mapping:
    """A whole vendor mapping: which files it reads and how each becomes a contract table."""

    name: str
    path: Path
    title: str
    files: dict[str, FileRule]
    null_values: tuple[str, ...] = DEFAULT_NULLS
    docs: str = ""

    @property
    def label(self) -> str:
        """How messages name the mapping: its name and where it was read from."""
        return f"mapping {self.name} ({self.path})"

    def file(self, key: str) -> FileRule:
        """The file rule for a key given on the command line (case-insensitive)."""
        for name, rule in self.files.items():
            if name.lower() == key.lower():
                return rule
        raise MappingError(f"{self.label}: no file {key!r}; it reads {', '.join(self.files)}")


def mappings_dir() -> Path:
    """The folder of the mappings shipped with signalscore (package data of `features`)."""
    return Path(str(resources.files("features") / "mappings"))


def vendors() -> list[str]:
    """Names of the shipped mappings, e.g. salesforce, hubspot, marketo."""
    return sorted(p.stem for p in mappings_dir().glob("*.yaml"))


def mapping_path(vendor_or_path: str | Path) -> Path:
    """A shipped vendor's mapping file, or the user's own mapping file."""
    text = str(vendor_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise MappingError(f"mapping file {path} does not exist")
        return path
    path = mappings_dir() / f"{text.lower()}.yaml"
    if not path.is_file():
        raise MappingError(f"no mapping for vendor {text!r}; shipped: {', '.join(vendors())} (or pass a YAML file)")
    return path


def load_mapping(vendor_or_path: str | Path) -> Mapping:
    """Read and check a mapping; every problem in it is reported at once, naming the file and the key."""
    path = mapping_path(vendor_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise MappingError(f"mapping {path} is not valid YAML: {error}") from None
    problems: list[str] = []
    mapping = _mapping(raw, path, problems)
    if problems:
        raise MappingError(f"mapping {path}: " + "; ".join(problems))
    return mapping


def _mapping(raw: Any, path: Path, problems: list[str]) -> Mapping:
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict) or not raw["files"]:
        problems.append("expected a YAML object with `files:` (one entry per export file)")
        return Mapping(path.stem, path, "", {})
    _unknown(raw, TOP_KEYS, "top level", problems)
    files = {str(name): _file(str(name), spec, problems) for name, spec in raw["files"].items()}
    for rule in files.values():
        for column in rule.columns:
            for lookup in _lookups(column):
                if lookup.file not in files:
                    problems.append(f"files.{rule.name}.columns.{column.target}: lookup file {lookup.file!r} is not "
                                    "a file of this mapping")
    nulls = tuple(str(v).strip().lower() for v in raw.get("null_values", DEFAULT_NULLS))
    return Mapping(str(raw.get("vendor", path.stem)), path, str(raw.get("title", "")), files, nulls,
                   str(raw.get("docs", "")))


def _lookups(rule: ColumnRule) -> list[Lookup]:
    found = [rule.lookup] if rule.lookup else []
    return found + (_lookups(rule.fallback) if rule.fallback else [])


def _unknown(spec: dict, allowed: set[str], where: str, problems: list[str]) -> None:
    extra = sorted(set(map(str, spec)) - allowed)
    if extra:
        problems.append(f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})")


def _file(name: str, spec: Any, problems: list[str]) -> FileRule:
    where = f"files.{name}"
    if not isinstance(spec, dict):
        problems.append(f"{where}: expected an object")
        return FileRule(name, None)
    _unknown(spec, FILE_KEYS, where, problems)
    if spec.get("lookup_only"):
        return FileRule(name, None, export=str(spec.get("export", "")))
    table = spec.get("table")
    if table not in TABLES:
        problems.append(f"{where}.table: {table!r} is not a contract table ({', '.join(TABLES)})")
        return FileRule(name, None)
    columns = spec.get("columns") or {}
    rules = []
    for target, col in columns.items():
        if target not in TABLES[table].column_names:
            problems.append(f"{where}.columns.{target}: not a column of {table} "
                            f"({', '.join(TABLES[table].column_names)})")
            continue
        rules.append(_column(str(target), col, TABLES[table].column(target).kind, f"{where}.columns.{target}",
                             problems))
    unmapped_required = [c.name for c in TABLES[table].columns
                         if c.required and c.name not in columns and c.name not in [r.target for r in rules]]
    if unmapped_required:
        problems.append(f"{where}.columns: {', '.join(unmapped_required)} not mapped, but the data contract "
                        f"requires a value in every {table} row")
    grace = spec.get("derive_outcome")
    if grace is not None and (table != "contracts" or not isinstance(grace, dict)):
        problems.append(f"{where}.derive_outcome: only for contracts, as {{grace_days: N}}")
        grace = None
    return FileRule(
        name, table, export=str(spec.get("export", "")), columns=tuple(rules),
        keep_when=_conditions(spec.get("keep_when"), f"{where}.keep_when", problems),
        skip_reason=spec.get("skip_reason"), ignore=tuple(str(c) for c in spec.get("ignore") or ()),
        derive_outcome=None if grace is None else int(grace.get("grace_days", 30)),
    )


def _column(target: str, spec: Any, kind: str, where: str, problems: list[str]) -> ColumnRule:
    """A column rule from its YAML: a column name, a list of alternatives, or an object."""
    if isinstance(spec, str | list):
        spec = {"source": spec}
    if not isinstance(spec, dict):
        problems.append(f"{where}: expected a column name, a list of names or an object")
        return ColumnRule(target)
    _unknown(spec, COLUMN_KEYS, where, problems)
    parse = spec.get("parse", PARSE_OF_KIND[kind])
    if parse not in PARSE_KINDS:
        problems.append(f"{where}.parse: {parse!r} is not one of {', '.join(PARSE_KINDS)}")
    unmapped = spec.get("unmapped", "keep")
    if unmapped not in UNMAPPED:
        problems.append(f"{where}.unmapped: {unmapped!r} is not one of {', '.join(UNMAPPED)}")
    if str(spec.get("epoch", "auto")) not in ("auto", "s", "ms"):
        problems.append(f"{where}.epoch: expected auto, s or ms")
    sources = _names(spec.get("source", ()))
    if not sources and "value" not in spec and not spec.get("cases"):
        problems.append(f"{where}: needs `source`, `value` or `cases`")
    return ColumnRule(
        target, sources, bool(spec.get("required", False)), parse, str(spec.get("epoch", "auto")),
        spec.get("format"), str(spec.get("timezone", "UTC")), bool(spec.get("dayfirst", False)),
        spec.get("thousands"), _value_map(spec.get("map"), f"{where}.map", problems), unmapped,
        bool(spec.get("lower", False)), _text(spec.get("value")), "value" in spec, _text(spec.get("default")),
        _conditions(spec.get("when"), f"{where}.when", problems), _cases(spec.get("cases"), where, problems),
        spec.get("add_months"), spec.get("key"), spec.get("split"), _lookup(spec.get("lookup"), where, problems),
        _column(target, spec["fallback"], kind, f"{where}.fallback", problems) if "fallback" in spec else None,
        spec.get("note"),
    )


def _text(value: Any) -> str | None:
    """YAML scalars as the strings an export would hold (True -> "true"; None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _value_map(spec: Any, where: str, problems: list[str]) -> dict[str, str | None] | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        problems.append(f"{where}: expected source value: canonical value pairs")
        return None
    out: dict[str, str | None] = {}
    for key, value in spec.items():
        norm = (_text(key) or "").strip().lower()
        if norm in out and out[norm] != _text(value):
            problems.append(f"{where}: {key!r} appears twice (keys compare case-insensitively)")
        out[norm] = _text(value)
    return out


def _words(values: Any) -> tuple[str, ...]:
    """Condition values, lower-cased; YAML true / false stand for every common spelling of a boolean."""
    items = values if isinstance(values, list) else [values]
    words: list[str] = []
    for v in items:
        if isinstance(v, bool):
            words.extend(TRUE_WORDS if v else FALSE_WORDS)
        else:
            words.append(str(v).strip().lower())
    return tuple(words)


def _conditions(spec: Any, where: str, problems: list[str]) -> tuple[Condition, ...]:
    if spec is None:
        return ()
    items = spec if isinstance(spec, list) else [spec]
    out = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, dict) or "column" not in item:
            problems.append(f"{here}: expected {{column: NAME, is|is_not|contains|present: ...}}")
            continue
        _unknown(item, CONDITION_KEYS, here, problems)
        tests = [k for k in ("is", "is_not", "contains", "present") if k in item]
        if len(tests) != 1:
            problems.append(f"{here}: give exactly one of is, is_not, contains, present")
            continue
        column = item["column"]
        columns = (column,) if isinstance(column, str) else tuple(str(c) for c in column)
        given = item[tests[0]]
        shown = " / ".join(_text(v) or "" for v in (given if isinstance(given, list) else [given]))
        out.append(Condition(
            columns, item.get("key"),
            is_=_words(item["is"]) if "is" in item else None,
            is_not=_words(item["is_not"]) if "is_not" in item else None,
            contains=_words(item["contains"]) if "contains" in item else None,
            present=bool(item["present"]) if "present" in item else None,
            shown=shown,
        ))
    return tuple(out)


def _cases(spec: Any, where: str, problems: list[str]) -> tuple[Case, ...]:
    if spec is None:
        return ()
    if not isinstance(spec, list):
        problems.append(f"{where}.cases: expected a list of {{value: V, when: [...]}}")
        return ()
    return tuple(
        Case(_text(item.get("value")), _conditions(item.get("when"), f"{where}.cases[{i}].when", problems))
        for i, item in enumerate(spec) if isinstance(item, dict)
    )


def _lookup(spec: Any, where: str, problems: list[str]) -> Lookup | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) != {"file", "key", "value"}:
        problems.append(f"{where}.lookup: expected {{file: NAME, key: COLUMN, value: COLUMN}}")
        return None
    return Lookup(str(spec["file"]), _names(spec["key"]), _names(spec["value"]))


def _names(spec: Any) -> tuple[str, ...]:
    return (str(spec),) if isinstance(spec, str) else tuple(str(s) for s in spec)

