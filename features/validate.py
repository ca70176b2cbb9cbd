"""Validation at the door (the data contract): every row of every contract table is accepted or rejected, with a reason.

The checks are Ibis expressions, so they run where the data is (DuckDB over the data folder today): a table is
read in one pass that computes every rule at once, only the rejected rows are materialised (a small temp table
of the backend), and the accepted rows are the input minus those rows, kept lazy. Nothing big reaches pandas;
only the examples of each problem do.

Row identity is what makes "accepted + rejected == input" exact: every input row carries a stable position
(`filename`, `file_row_number` for Parquet; a materialised row number otherwise), the rejected rows are
recorded by that position, and the accepted rows are an anti-join on it. A row with several problems is rejected
once, with all its reasons joined by "; ".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from features.contract import SURVEY_RANGES, TABLES, Column, required_tables
from features.sources import DataError, DataSource, to_utc

SEP = "; "
FILE, ROW = "_sig_file", "_sig_row"  # the stable position of an input row
REASON = "reason"
UTC_TS = dt.Timestamp(timezone="UTC")
TARGET: dict[str, dt.DataType] = {"id": dt.string, "string": dt.string, "timestamp": UTC_TS, "int": dt.int64}
TARGET["float"] = dt.float64
NOT_A = {"timestamp": "a timestamp", "int": "an integer", "float": "a number"}

# Parents first, so a child can be rejected with its parent.
ORDER = ("accounts", "leads", *[t for t in TABLES if t not in ("accounts", "leads")])
# References besides `Table.parent`: a marketing touch on a customer's contact names the account.
# `leads.account_id` is deliberately not checked: the account is created from the lead, not the other way round,
# and a lead is not wrong because the account export is filtered.
EXTRA_PARENTS: dict[str, tuple[tuple[str, str], ...]] = {"marketing_activities": (("account_id", "accounts"),)}
# Times that must lie before the horizon: all timestamps except a contract's end_date, naturally in the future.
HORIZON_EXEMPT = {("contracts", "end_date")}
# (table, later, earlier, reason): orderings the contract demands.
ORDERINGS = (
    ("contracts", "end_date", "start_date", "end_date not after start_date", False),
    ("tickets", "closed_at", "opened_at", "closed_at before opened_at", True),
    ("tickets", "escalated_at", "opened_at", "escalated_at before opened_at", True),
)
_counter = itertools.count()


class ContractError(DataError):
    """A required table or column is missing: the run cannot start, and the message says which."""


@dataclass
class Problem:
    """One line of the report: which rule rejected how many rows of a table, with a few examples."""

    table: str
    column: str | None
    reason: str
    rows: int
    examples: list[dict] = field(default_factory=list)  # up to 3 rejected input rows as plain dicts


@dataclass
class Validation:
    """What came in, what passed, what did not and why; `accepted` is what the feature engine should read."""

    accepted: dict[str, ibis.Table]  # per table: passing rows, input columns cast to the contract kinds
    rejected: dict[str, ibis.Table]  # per table: rejected rows, input columns as given plus `reason`
    counts: dict[str, dict[str, int]]  # per table: input / accepted / rejected
    problems: list[Problem]
    horizon: pd.Timestamp | None = None

    def summary(self) -> str:
        """Plain words for a person: one line per table count, one line per problem with examples."""
        lines = []
        for name, c in self.counts.items():
            lines.append(f"{name}: {c['input']:,} rows, {c['accepted']:,} accepted, {c['rejected']:,} rejected")
        if not self.problems:
            lines.append("no problems found")
        for p in self.problems:
            where = f"{p.table}.{p.column}" if p.column else p.table
            shown = "; ".join(example_text(p, e) for e in p.examples)
            lines.append(f"{where}: {p.rows:,} row(s) rejected, {p.reason}" + (f" (e.g. {shown})" if shown else ""))
        return "\n".join(lines)


def example_text(problem: Problem, example: dict) -> str:
    """The identifying fields of an example row (keys, parent, the column at fault)."""
    spec = TABLES[problem.table]
    keys = [c for c in (spec.key, spec.parent[0] if spec.parent else None, problem.column) if c]
    keys = list(dict.fromkeys(k for k in keys if k in example))
    if problem.table == "feedback" and problem.column == "score":
        keys.append("survey")
    return ", ".join(f"{k}={example[k]!r}" for k in keys) or repr(example)


@dataclass
class _Rule:
    column: str | None
    reason: str
    flag: Callable[[ibis.Table], ibis.BooleanValue]  # built on the prepared table (raw + `_c_<col>` casts)


def _c(col: str) -> str:
    return f"_c_{col}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _numbered(source: DataSource, name: str, token: str) -> ibis.Table:
    """The input table plus its stable row position (FILE, ROW), identical in every later query."""
    con, path = source.con, source.tables.get(name)
    if con.name == "duckdb" and path is not None and (path.is_dir() or path.suffix == ".parquet"):
        pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
        view = f"_sig_in_{name}_{token}"
        con.raw_sql(
            f"CREATE OR REPLACE TEMP VIEW {_q(view)} AS SELECT * EXCLUDE (filename, file_row_number), "
            f"filename AS {FILE}, file_row_number AS {ROW} "
            f"FROM read_parquet({_lit(pattern)}, filename = true, file_row_number = true)"
        )
        return con.table(view)
    # CSV or another backend: number the rows once and keep that numbering (file order on one thread).
    raw = source.table(name)
    numbered = raw.mutate(**{FILE: ibis.literal(""), ROW: ibis.row_number()})
    return con.create_table(f"_sig_in_{name}_{token}", numbered, temp=True)


def _cast(value: ibis.Value, kind: str) -> tuple[ibis.Value, ibis.BooleanValue | None]:
    """The value as its contract kind, and (when a cast can fail) a flag for present-but-uncastable values."""
    have = value.type()
    target = TARGET[kind]
    if kind in ("id", "string"):
        if have.is_floating() or have.is_decimal():  # 123.0 -> "123", not "123.0"
            whole = value.cast(dt.float64) == value.cast(dt.float64).round()
            return ibis.ifelse(whole, value.cast(dt.int64).cast(dt.string), value.cast(dt.string)), None
        return (value if have.is_string() else value.cast(dt.string)), None
    if kind == "timestamp":
        if have.is_timestamp() or have.is_date() or have.is_null():
            return value.cast(UTC_TS), None
        if not have.is_string():  # numbers are not timestamps: there is no unit to read them in
            return ibis.null(UTC_TS), value.notnull()
    elif kind == "int":
        if have.is_integer() or have.is_null():
            return value.cast(target), None
        if have.is_floating() or have.is_decimal():
            as_float = value.cast(dt.float64)
            return ibis.ifelse(as_float == as_float.round(), as_float.cast(target), ibis.null(target)), (
                value.notnull() & (as_float != as_float.round())
            )
    elif kind == "float" and (have.is_numeric() or have.is_null()):
        return value.cast(target), None
    cast = value.try_cast(target)
    return cast, value.notnull() & cast.isnull()


def _fmt(x: float) -> str:
    return f"{x:g}"


def _range_reason(col: str, low: float | None, high: float | None, suffix: str = "") -> str:
    if low is not None and high is not None:
        span = f"{_fmt(low)} to {_fmt(high)}" if low < 0 else f"{_fmt(low)}–{_fmt(high)}"
        return f"{col} outside {span}{suffix}"
    return f"{col} below {_fmt(low)}{suffix}" if low is not None else f"{col} above {_fmt(high)}{suffix}"


def _f(expr: ibis.BooleanValue) -> ibis.BooleanValue:
    return expr.fill_null(False)


def _rules(name: str, present: list[str], cast_fail: dict[str, bool], horizon: pd.Timestamp | None) -> list[_Rule]:
    """Every row-level rule of one table, in report order; `cast_fail` says which columns can fail to cast."""
    spec = TABLES[name]
    rules: list[_Rule] = []
    for col in spec.columns:
        if col.name not in present:
            continue
        n, c = col.name, _c(col.name)
        if col.required:
            if col.kind == "id":
                rules.append(_Rule(n, f"missing {n}", lambda t, n=n, c=c: t[n].isnull() | _blank(t[c])))
            else:
                rules.append(_Rule(n, f"missing {n}", lambda t, n=n: t[n].isnull()))
        if cast_fail.get(n):
            rules.append(_Rule(n, f"{n} is not {NOT_A[col.kind]}", lambda t, n=n: t[f"_bad_{n}"]))
        rules.extend(_column_range(col))
        if col.kind == "timestamp" and horizon is not None and (name, n) not in HORIZON_EXEMPT:
            h = ibis.literal(horizon.to_pydatetime(), type=UTC_TS)
            rules.append(_Rule(n, f"{n} at or after the horizon", lambda t, c=c, h=h: t[c] >= h))
    if name == "feedback" and {"score", "survey"} <= set(present):
        for kind, (lo, hi) in SURVEY_RANGES.items():
            rules.append(
                _Rule(
                    "score",
                    _range_reason("score", lo, hi, f" for {kind}"),
                    lambda t, kind=kind, lo=lo, hi=hi: (
                        (t[_c("survey")] == kind) & ((t[_c("score")] < lo) | (t[_c("score")] > hi))
                    ),
                )
            )
    if name == "marketing_activities" and {"lead_id", "account_id"} <= set(present):
        rules.append(
            _Rule(
                "lead_id",
                "missing lead_id and account_id",
                lambda t: _blank(t[_c("lead_id")]) & _blank(t[_c("account_id")]),
            )
        )
    for table, later, earlier, reason, allow_equal in ORDERINGS:
        if table == name and {later, earlier} <= set(present):
            a, b = _c(later), _c(earlier)
            if allow_equal:
                rules.append(_Rule(later, reason, lambda t, a=a, b=b: t[a] < t[b]))
            else:
                rules.append(_Rule(later, reason, lambda t, a=a, b=b: t[a] <= t[b]))
    return rules


def _blank(value: ibis.StringValue) -> ibis.BooleanValue:
    """Null, empty or only whitespace; trimming runs only where a value starts with a blank (it is costly)."""
    starts_blank = value.startswith(" ") | value.startswith("\t")
    return value.isnull() | (value == "") | ibis.ifelse(starts_blank, value.strip() == "", False)


def _column_range(col: Column) -> list[_Rule]:
    if col.kind not in ("int", "float") or (col.low is None and col.high is None):
        return []
    c = _c(col.name)

    def flag(t: ibis.Table) -> ibis.BooleanValue:
        out = ibis.literal(False)
        if col.low is not None:
            out = out | (t[c] < col.low)
        if col.high is not None:
            out = out | (t[c] > col.high)
        return out

    return [_Rule(col.name, _range_reason(col.name, col.low, col.high), flag)]


def _check_contract(source: DataSource, model: str | None) -> None:
    """Missing required tables and missing columns, all in one message, before any row is read."""
    issues = []
    missing_tables = [t for t in required_tables(model) if not source.has(t)]
    if missing_tables:
        needed = f"the {model} model" if model else "signalscore"
        issues.append(f"required table(s) {', '.join(missing_tables)} not found; {needed} needs them")
    for name in source.tables:
        spec = TABLES[name]
        have = set(source.table(name).columns)
        missing = [c for c in spec.column_names if c not in have and c not in spec.optional_columns]
        if missing:
            issues.append(f"table {name} lacks column(s) {', '.join(missing)} (found: {', '.join(sorted(have))})")
    if issues:
        raise ContractError(f"{source.root}: " + "; ".join(issues))


def validate(source: DataSource, horizon: pd.Timestamp | str | None = None, model: str | None = None) -> Validation:
    """Check every present contract table against the data contract and split it into accepted and rejected rows.

    `horizon` is the extraction moment: the caller's (e.g. `--horizon`), else `_meta.json`'s. Without either the
    horizon rule is skipped: a horizon inferred from the latest time found cannot reject anything honestly (the
    newest row would reject itself). `Validation.horizon` says which horizon was checked (None: not checked).
    `model` picks the required tables (None: every table some model needs, as `open_data` does).
    """
    _check_contract(source, model)
    if horizon is not None:
        chosen: pd.Timestamp | None = to_utc(horizon)
    elif "horizon" in source.meta:
        chosen = to_utc(source.meta["horizon"])
    else:
        chosen = None
    token = f"{next(_counter)}"
    con = source.con
    accepted: dict[str, ibis.Table] = {}
    rejected: dict[str, ibis.Table] = {}
    counts: dict[str, dict[str, int]] = {}
    problems: list[Problem] = []
    status: dict[str, ibis.Table] = {}  # parent table -> (_sig_pk, _sig_ok) per distinct key

    for name in (t for t in ORDER if source.has(t)):
        spec = TABLES[name]
        numbered = _numbered(source, name, token)
        inputs = [c for c in numbered.columns if c not in (FILE, ROW)]
        present = [c for c in spec.column_names if c in inputs]

        casts, bad = {}, {}
        for col in spec.columns:
            if col.name in present:
                casts[_c(col.name)], fail = _cast(numbered[col.name], col.kind)
                if fail is not None:
                    bad[f"_bad_{col.name}"] = _f(fail)
        t = numbered.mutate(**casts, **bad)
        rules = _rules(name, present, {k[5:]: True for k in bad}, chosen)

        refs = ((spec.parent,) if spec.parent else ()) + EXTRA_PARENTS.get(name, ())
        for i, (col, parent) in enumerate(refs):
            if col not in present or parent not in status:
                continue  # a reference to a table that is absent cannot be checked
            ccol = _c(col)
            s = status[parent].rename({f"_pk{i}": "_sig_pk", f"_ok{i}": "_sig_ok"})
            t = t.left_join(s, t[_c(col)] == s[f"_pk{i}"]).select(*t.columns, s[f"_pk{i}"], s[f"_ok{i}"])
            rules.append(_Rule(col, f"unknown {col}", lambda t, c=ccol, i=i: ~_blank(t[c]) & t[f"_pk{i}"].isnull()))
            rules.append(
                _Rule(
                    col,
                    f"rejected with its parent {col}",
                    lambda t, i=i: t[f"_pk{i}"].notnull() & ~t[f"_ok{i}"].fill_null(False),
                )
            )

        flags = {f"_f{j}": _f(rule.flag(t)) for j, rule in enumerate(rules)}
        t = t.mutate(**flags)
        window = None
        if spec.key is None:  # event table: keep the first copy of an exact duplicate
            copies = _extra_copies(numbered, inputs, f"_sig_dup_{name}_{token}")
            t = t.left_join(copies, [FILE, ROW]).select(*t.columns, _sig_copy=copies[ROW].notnull())
            rules.append(_Rule(None, "duplicate row", lambda t: t["_sig_copy"]))  # set just below
            t = t.mutate(**{f"_f{len(rules) - 1}": t["_sig_copy"]})
        elif spec.key in present:  # keyed table: the first valid row in file order keeps the key
            any_bad = ibis.literal(False)
            for f in flags:
                any_bad = any_bad | t[f]
            window = ibis.window(group_by=t[_c(spec.key)], order_by=[any_bad.cast("int8"), t[FILE], t[ROW]])
            rules.append(_Rule(spec.key, f"duplicate key {spec.key}", lambda t: ibis.literal(False)))  # set below
        if window is not None:
            dup = (ibis.row_number().over(window) > 0) & ~_blank(t[_c(spec.key)])
            t = t.mutate(**{f"_f{len(rules) - 1}": dup})

        flag_cols = [f"_f{j}" for j in range(len(rules))]
        any_flag = ibis.literal(False)
        for f in flag_cols:
            any_flag = any_flag | t[f]
        t = t.filter(any_flag)  # the reasons are spelled out for the rejected rows only
        reason = ibis.literal(SEP).join(
            [ibis.ifelse(t[f"_f{j}"], rule.reason, ibis.null(dt.string)) for j, rule in enumerate(rules)]
        )
        bad_rows = t.select(*inputs, FILE, ROW, reason.name(REASON), *flag_cols)
        rej = con.create_table(f"_sig_rej_{name}_{token}", bad_rows, temp=True)

        n_in = int(numbered.count().to_pyarrow().as_py())
        n_rej = int(rej.count().to_pyarrow().as_py())
        per_rule: dict = {}
        if n_rej:  # per-rule counts and examples come from the (small) rejected table only
            per_rule = (
                rej.aggregate([rej[f].cast("int64").sum().name(f) for f in flag_cols]).to_pyarrow().to_pylist()[0]
            )
        counts[name] = {"input": n_in, "accepted": n_in - n_rej, "rejected": n_rej}
        for j, rule in enumerate(rules):
            rows = int(per_rule.get(f"_f{j}") or 0)
            if rows:
                sample = rej.filter(rej[f"_f{j}"]).order_by([FILE, ROW]).select(*inputs).limit(3)
                problems.append(Problem(name, rule.column, rule.reason, rows, _plain(sample)))

        rejected[name] = rej.order_by([FILE, ROW]).select(*inputs, REASON)
        keep = numbered.anti_join(rej.select(FILE, ROW), [FILE, ROW])
        accepted[name] = _as_contract(keep, name, inputs)
        if name in ("accounts", "leads") and spec.key in present:
            status[name] = _status(numbered, accepted[name], spec.key)

    return Validation(accepted, rejected, counts, problems, chosen)


def _extra_copies(numbered: ibis.Table, inputs: list[str], name: str) -> ibis.Table:
    """Positions of the 2nd, 3rd, ... copies of exactly duplicated rows (a small temp table).

    A group-by on a hash of the whole row finds the few candidate rows first, and only those are compared
    exactly (a hash collision only adds a candidate, never a false duplicate): sorting or grouping every row of a
    50M-row event table by all its columns would cost most of the validation time.
    """
    con = numbered._find_backend()
    hashed = numbered.mutate(_sig_h=ibis.struct({c: numbered[c] for c in inputs}).hash())
    groups = hashed.group_by("_sig_h").aggregate(_sig_n=ibis._.count()).filter(ibis._._sig_n > 1)
    groups = con.create_table(f"{name}_h", groups.select("_sig_h"), temp=True)
    candidates = hashed.semi_join(groups, "_sig_h").drop("_sig_h")
    order = ibis.window(group_by=[candidates[c] for c in inputs], order_by=[candidates[FILE], candidates[ROW]])
    extra = candidates.mutate(_sig_rn=ibis.row_number().over(order)).filter(ibis._._sig_rn > 0)
    return con.create_table(name, extra.select(FILE, ROW), temp=True)


def _as_contract(table: ibis.Table, name: str, inputs: list[str]) -> ibis.Table:
    """Contract columns cast to their kinds (absent optional columns as typed nulls), then any extra columns."""
    spec = TABLES[name]
    out = {}
    for col in spec.columns:
        out[col.name] = _cast(table[col.name], col.kind)[0] if col.name in inputs else ibis.null(TARGET[col.kind])
    extras = [c for c in inputs if c not in out]
    return table.select(**out, **{c: table[c] for c in extras})


def _status(numbered: ibis.Table, accepted: ibis.Table, key: str) -> ibis.Table:
    """Every distinct key of a parent table, and whether a row with that key was accepted (a small temp table)."""
    keys = numbered.select(_sig_pk=_cast(numbered[key], "id")[0]).filter(lambda t: ~_blank(t._sig_pk)).distinct()
    ok = accepted.select(_sig_ak=accepted[key]).distinct()
    joined = keys.left_join(ok, keys._sig_pk == ok._sig_ak).select(keys._sig_pk, _sig_ok=ok._sig_ak.notnull())
    return numbered._find_backend().create_table(f"_sig_status_{next(_counter)}", joined, temp=True)


def _plain(expr: ibis.Table) -> list[dict]:
    """Rows as plain Python dicts (timestamps as ISO strings, missing as None) for reports and JSON."""
    rows = expr.to_pyarrow().to_pylist()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in rows]


def write_rejected(validation: Validation, folder: Path | str) -> dict[str, Path]:
    """Write `<folder>/<table>.parquet` (input columns + `reason`) for each table with rejections."""
    folder = Path(folder)
    written: dict[str, Path] = {}
    for name, expr in validation.rejected.items():
        if validation.counts[name]["rejected"] == 0:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.parquet"
        expr.to_parquet(path)
        written[name] = path
    return written
